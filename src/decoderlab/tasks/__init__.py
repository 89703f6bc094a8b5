"""Tasks: what the network sees, what it must produce, and the data modules that serve it."""

from __future__ import annotations

import pydoc
from collections.abc import Mapping
from typing import Any

from decoderlab.tasks.sizes import check_data_sizes


def check_data_config(data: Mapping[str, Any]) -> None:
    """Refuse a bad data config before a run writes anything: its size knobs
    (``check_data_sizes``) and whatever its data module's ``check_config(data)`` checks (an
    image folder: its files). Raises ValueError naming the knob or file and what is allowed."""
    check_data_sizes(data)
    check = getattr(pydoc.locate(str(data.get("_target_", ""))), "check_config", None)
    if check is not None:
        check(data)
