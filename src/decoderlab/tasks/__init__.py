"""Tasks: what the network sees, what it must produce, and the data modules that serve it."""

from __future__ import annotations

import pydoc
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

from decoderlab.tasks.sizes import DataConfigError, check_data_sizes


def check_data_config(data: Mapping[str, Any]) -> None:
    """Refuse a bad data config before a run writes anything: its size knobs
    (``check_data_sizes``) and whatever its data module's ``check_config(data)`` checks (an
    image folder: its files), and that no value it needs is left unset (``???``). Raises
    DataConfigError (a ValueError) naming the knob or file and what is allowed."""
    if isinstance(data, DictConfig) and (missing := sorted(OmegaConf.missing_keys(data))):
        raise DataConfigError(
            f"data.{missing[0]} is not set: this data config needs it, e.g. "
            f"data.{missing[0]}=... on the command line"
        )
    check_data_sizes(data)
    check = getattr(pydoc.locate(str(data.get("_target_", ""))), "check_config", None)
    if check is not None:
        check(data)
