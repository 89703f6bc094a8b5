"""Checks of a composed config before anything is built: types, the device, the output folder.

``check_argument_types`` compares every scalar argument of every ``_target_`` node with the
type hints of the target's ``__init__`` (or of the function), so ``trainer.max_epochs=abc``
fails at once with the key, the value and the expected type instead of deep inside training.
``check_accelerator`` says what to do when ``trainer=gpu`` meets a machine without a GPU.
``CheckConfig`` and ``CheckOutputDir`` (Hydra callbacks) refuse such a config, or a run or
sweep directory that cannot be created, before Hydra writes anything.
"""

from __future__ import annotations

import inspect
import os
import pydoc
import types
import typing
from collections.abc import Callable, Iterator
from os import PathLike
from pathlib import Path
from typing import Any, Literal, Union

import torch
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError, MissingMandatoryValue

from decoderlab.tasks import check_data_config
from decoderlab.tasks.sizes import DataConfigError

SCALARS = (bool, int, float, str, type(None))


class ConfigTypeError(TypeError):
    """A config value does not have the type its ``_target_`` expects."""


class DeviceUnavailableError(RuntimeError):
    """The config asks for an accelerator this machine does not have."""


def accepts(hint: Any, value: Any) -> bool | None:
    """Whether a scalar ``value`` fits ``hint``; None when the hint cannot be checked.

    Handles int, float (an int is fine), bool (no int), str, None, Literal, Optional, Union
    and plain classes (a str fits a path class); generics (containers, callables) and type
    variables are left to the target.
    """
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin is Literal:
        return any(value == v and type(value) is type(v) for v in typing.get_args(hint))
    if origin in (Union, types.UnionType):
        verdicts = [accepts(arg, value) for arg in typing.get_args(hint)]
        if True in verdicts:
            return True
        return None if None in verdicts else False
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if inspect.isclass(hint):
        try:
            path_from_str = isinstance(value, str) and issubclass(hint, PathLike)
            return isinstance(value, hint) or path_from_str
        except TypeError:  # e.g. a Protocol that is not runtime-checkable
            return None
    return None


def describe(hint: Any) -> str:
    """A hint as a reader writes it: ``int or None``, ``one of 'a', 'b'``."""
    origin = typing.get_origin(hint)
    if origin is Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(hint))
    if origin in (Union, types.UnionType):
        return " or ".join(describe(arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return "None"
    return getattr(hint, "__name__", str(hint))


def _parameters(target: str) -> tuple[Callable[..., Any], dict[str, Any]] | None:
    """The callable behind ``target`` and its parameters' type hints, or None if unknown."""
    obj = pydoc.locate(target)
    function = obj.__init__ if inspect.isclass(obj) else obj
    if not callable(function):
        return None
    try:
        return function, typing.get_type_hints(function)
    except Exception:  # unresolvable annotations: nothing to check against
        return None


def _target_nodes(node: Any, key: str = "") -> Iterator[tuple[str, DictConfig]]:
    """(dotted key, node) for every config node with a ``_target_``, depth first."""
    if isinstance(node, DictConfig):
        if "_target_" in node:
            yield key, node
        children = ((k, v) for k, v in node.items_ex(resolve=False) if k != "hydra")
    elif isinstance(node, ListConfig):
        children = enumerate(node)
    else:
        return
    for name, child in children:
        yield from _target_nodes(child, f"{key}.{name}" if key else str(name))


def check_argument_types(cfg: DictConfig, interpolations: bool = True) -> None:
    """Raise ConfigTypeError for the first scalar argument its target's type hints reject;
    with ``interpolations=False`` only values written out (an override such as
    ``trainer.max_epochs=two``), not those taken from elsewhere in the config."""
    for key, node in _target_nodes(cfg):
        found = _parameters(str(node._target_))
        if found is None:
            continue
        function, hints = found
        defaults = {name: p.default for name, p in inspect.signature(function).parameters.items()}
        for name in node:
            if str(name).startswith("_") or name not in hints:
                continue
            if not interpolations and OmegaConf.is_interpolation(node, name):
                continue
            try:
                value = node[name]
            except (InterpolationResolutionError, MissingMandatoryValue):
                continue  # known once the run starts (e.g. its directory): checked then
            if not isinstance(value, SCALARS) or (value is None and defaults.get(name) is None):
                continue
            if accepts(hints[name], value) is False:
                raise ConfigTypeError(
                    f"{key}.{name}={value!r} ({type(value).__name__}) is not valid: "
                    f"{node._target_} expects {name}: {describe(hints[name])}"
                )


def check_accelerator(cfg: DictConfig) -> None:
    """Raise DeviceUnavailableError when ``trainer.accelerator`` is gpu/cuda and torch sees none."""
    accelerator = str(OmegaConf.select(cfg, "trainer.accelerator", default="auto"))
    if accelerator not in ("gpu", "cuda") or torch.cuda.is_available():
        return
    if accelerator == "gpu" and torch.backends.mps.is_available():
        return
    raise DeviceUnavailableError(
        f"trainer.accelerator={accelerator} needs a CUDA GPU but torch finds none "
        f"(torch.cuda.is_available() is False; torch {torch.__version__}, built for CUDA "
        f"{torch.version.cuda}). Use trainer=cpu, or trainer=default to take what is there."
    )


def unwritable_reason(directory: Path) -> str | None:
    """Why ``directory`` cannot be created or written to, or None; creates nothing."""
    existing = directory
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    return None


class CheckOutputDir(Callback):
    """Stop with a clear message when the run (or sweep) directory cannot be created."""

    def _check(self, config: DictConfig, key: str) -> None:
        directory = Path(str(OmegaConf.select(config, key)))
        reason = unwritable_reason(directory)
        if reason:
            raise SystemExit(
                f"decoderlab: cannot write the output directory {directory} ({key}): {reason}. "
                "Choose another with hydra.run.dir / hydra.sweep.dir or DECODERLAB_OUTPUT_DIR."
            )

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config, "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config, "hydra.sweep.dir")


class CheckConfig(Callback):
    """Stop with the ``check_argument_types``, ``check_accelerator`` or ``check_data_config``
    (size knobs, an image folder's files) message before Hydra
    creates the run (or sweep) directory, so a refused config leaves nothing behind. In a
    sweep the values every job shares are checked here; swept ones when each job starts."""

    def _check(self, config: DictConfig) -> None:
        try:
            # the run's directory and Hydra's runtime values are not known yet
            check_argument_types(config, interpolations=False)
            check_accelerator(config)
            check_data_config(config.data)
        except (ConfigTypeError, DeviceUnavailableError, DataConfigError) as err:
            raise SystemExit(f"decoderlab: {type(err).__name__}: {err}") from err

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config)
