"""Size knobs of the data modules: null (all) or a positive integer, nothing else.

A cap of 0 or -1 used to be read as "no cap" (``images[:cap] if cap else images``) and a run
trained on everything without a word; here every such value is refused, by name, before a
run writes its record (``check_data_sizes``, called by ``decoderlab-train``) and again when a
data module is built in Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# caps: the first N images (MNIST) or N patches (natural images) of a split; null = all
CAP_KNOBS = ("train_size", "val_size", "test_size")
# counts that must be given: batch sizes and a patch's side in pixels
COUNT_KNOBS = ("batch_size", "eval_batch_size", "patch_size")


class DataConfigError(ValueError):
    """A data config no run can use (a size knob, an image folder's file): the message names
    what is wrong and what is allowed."""


class SizeError(DataConfigError):
    """A size knob holds something other than null (all) or a positive integer."""


def _is_positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def check_cap(owner: str, name: str, value: Any) -> None:
    """Raise SizeError unless ``value`` is None (all) or a positive integer."""
    if value is None or _is_positive_int(value):
        return
    raise SizeError(
        f"{owner}.{name}={value!r} is not allowed: {name} is null (all of the split) or a "
        "positive integer (how many to use); 0, negative numbers and fractions have no meaning"
    )


def check_count(owner: str, name: str, value: Any) -> None:
    """Raise SizeError unless ``value`` is a positive integer."""
    if not _is_positive_int(value):
        raise SizeError(f"{owner}.{name}={value!r} is not allowed: {name} is a positive integer")


def check_data_sizes(data: Mapping[str, Any], owner: str = "data") -> None:
    """Check every size knob present in a data config (``cfg.data``); raise SizeError naming
    the first bad one."""
    for name in CAP_KNOBS:
        if name in data:
            check_cap(owner, name, data[name])
    for name in COUNT_KNOBS:
        if name in data:
            check_count(owner, name, data[name])
