"""A sweep's job list, as Hydra's basic sweeper expands it: one definition for every reader.

Sweep progress (jobs planned), the run-directory check of ``resume=true`` (which job a job
directory must hold) and the racing sweeper (its candidates) all need the jobs a sweep
launches. They take them from ``expand``, built on Hydra's public override parser
(``OverridesParser``, ``Override.sweep_string_iterator``) with the basic sweeper's rules:
``hydra.sweeper.params`` first, then the command line; a key given again keeps its first
position and takes its last value; jobs are the cartesian product in that key order.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override


class UnsupportedSweepError(ValueError):
    """A sweep the basic sweeper cannot expand (a range or interval of floats, for Optuna)."""


def basic_sweeper_target() -> str:
    """``_target_`` of Hydra's basic sweeper (``hydra/sweeper=basic``), from its ConfigStore."""
    from hydra.core.plugins import Plugins

    Plugins.instance()  # registers the core plugins' configs on first use
    return ConfigStore.instance().load("hydra/sweeper/basic.yaml").node._target_


def sweep_arguments(params: Mapping[str, Any] | None, overrides: Sequence[str]) -> list[str]:
    """A sweeper's ``params`` (``{key: "a,b"}``) as ``key=a,b`` followed by ``overrides``."""
    return [f"{key}={value}" for key, value in (params or {}).items()] + list(overrides)


def parse(arguments: Sequence[str], config_loader: Any = None) -> list[Override]:
    """``arguments`` parsed by Hydra's override grammar (``glob(...)`` needs the loader)."""
    return OverridesParser.create(config_loader=config_loader).parse_overrides(list(arguments))


def expand(overrides: Sequence[Override | str]) -> list[list[str]]:
    """Every job's overrides (``key=value`` strings) in the basic sweeper's job order.

    ``overrides`` are parsed overrides or strings to parse. UnsupportedSweepError for a sweep
    that is not a list of values (``interval(...)``).
    """
    parsed = [o if isinstance(o, Override) else parse([o])[0] for o in overrides]
    choices: dict[str, list[str]] = {}
    for override in parsed:
        key = override.get_key_element()
        if not override.is_sweep_override():
            choices[key] = [f"{key}={override.get_value_element_as_str()}"]
        elif override.is_discrete_sweep():
            choices[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]
        else:
            raise UnsupportedSweepError(
                f"{override.input_line}: the basic sweeper expands lists, choice() and range(); "
                "an interval() is for a search sweeper (hparams_search=optuna)"
            )
    return [list(job) for job in itertools.product(*choices.values())]
