"""One expansion of a sweep's job list: the same jobs, in the same order, as Hydra's basic
sweeper launches (its own ``split_arguments`` is the independent reference)."""

from __future__ import annotations

import pytest
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser

from decoderlab.runtime import sweep_jobs
from decoderlab.runtime.progress import planned_jobs


def basic_sweepers_jobs(arguments: list[str]) -> list[list[str]]:
    parsed = OverridesParser.create().parse_overrides(arguments)
    return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


@pytest.mark.parametrize(
    "arguments",
    [
        ["model/decoder=a,b,c", "seed=1,2", "trainer.max_epochs=1"],
        ["seed=range(1,4)", "+data.x=choice(u,v)", "~logger"],
        ["seed=1,2", "data.batch_size=16,32", "seed=3,4,5"],  # a key again: last values
        ["data.name='a,b',c", "model.lr=0.1"],  # quoted comma
        ["trainer.max_epochs=1"],
    ],
)
def test_expand_gives_the_basic_sweepers_jobs_in_its_order(arguments):
    assert sweep_jobs.expand(arguments) == basic_sweepers_jobs(arguments)


def test_params_come_before_the_command_line():
    arguments = sweep_jobs.sweep_arguments({"seed": "1,2"}, ["model/decoder=a,b"])
    assert arguments == ["seed=1,2", "model/decoder=a,b"]
    assert sweep_jobs.expand(arguments)[:2] == [
        ["seed=1", "model/decoder=a"],
        ["seed=1", "model/decoder=b"],
    ]


def test_an_interval_is_refused_with_what_expands():
    with pytest.raises(sweep_jobs.UnsupportedSweepError, match=r"optim.lr=interval.*optuna"):
        sweep_jobs.expand(["optim.lr=interval(0.1,1.0)"])


def test_the_basic_sweepers_target_is_hydras():
    assert sweep_jobs.basic_sweeper_target() == (
        "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
    )


def test_progress_plans_as_many_jobs_as_expand_gives():
    sweeper = {"_target_": sweep_jobs.basic_sweeper_target(), "params": {"seed": "range(1,4)"}}
    assert planned_jobs(sweeper, ["model/decoder=a,b", "seed=1,2"]) == 4
