"""hparams_search=optuna with a trial that fails: the Optuna study records it as FAIL (the
study's trials as optimization_results.yaml lists them), every other trial runs, the best trial
and the report are written, and the multirun exits 1 naming the failed trial.

(Optuna 2.10's SQLite storage does not work with SQLAlchemy 2, so the study stays in memory.)"""

from __future__ import annotations

import math
import re
from types import SimpleNamespace

import pytest
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf

from hydra_plugins.decoderlab_sweepers._optuna_impl import trial_values
from tests.cli_runs import BUDGET, read_metrics, run_in_process
from tests.conftest import SHIPPED_DATA

TRIALS = 4
# lr 1e6 diverges at the first step (DivergenceError); 1e-3 trains. A continuous eps makes every
# trial a configuration of its own (the report counts a repeated one as a duplicate).
SEARCH = ("model.optimizer.lr=choice(1000000.0,0.001)", "model.optimizer.eps=interval(1e-8,1e-6)")


@pytest.fixture(scope="module")
def study_run(tmp_path_factory):
    """decoderlab-train -m hparams_search=optuna with a search in which some trials diverge."""
    root = tmp_path_factory.mktemp("optuna")
    sweep_dir = root / "sweep"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DECODERLAB_DATA_DIR", str(SHIPPED_DATA))
        patch.setenv("DECODERLAB_OUTPUT_DIR", str(root / "outputs"))
        result = run_in_process(
            "-m",
            "hparams_search=optuna",
            *BUDGET,
            "trainer.max_epochs=1",
            *SEARCH,
            f"hydra.sweeper.n_trials={TRIALS}",
            f"hydra.sweep.dir={sweep_dir}",
        )
    results_file = sweep_dir / "optimization_results.yaml"
    if not results_file.is_file():
        pytest.fail(f"no optimization_results.yaml:\n{result.stderr[-3000:]}")
    results = OmegaConf.to_container(OmegaConf.load(results_file))
    trials = [SimpleNamespace(**t) for t in results["trials"]]
    return SimpleNamespace(sweep_dir=sweep_dir, result=result, results=results, trials=trials)


@pytest.mark.slow
def test_every_trial_runs_and_failed_ones_are_recorded_as_failed(study_run):
    trials = study_run.trials
    assert len(trials) == TRIALS
    assert [t.number for t in trials] == list(range(TRIALS))
    diverging = [t.number for t in trials if t.params["model.optimizer.lr"] == 1e6]
    # the sampler's seed (1) draws a diverging learning rate before the last trial
    assert diverging and min(diverging) < TRIALS - 1
    for trial in trials:
        record = read_metrics(study_run.sweep_dir / str(trial.number))
        if trial.number in diverging:
            assert trial.state == "FAIL" and trial.values is None
            assert record["status"] == "failed"
            assert record["error"].startswith("DivergenceError")
        else:
            assert trial.state == "COMPLETE"
            assert record["status"] == "ok"
            assert trial.values == [record["test"]["test/loss"]]


@pytest.mark.slow
def test_the_best_trial_and_the_failed_ones_are_written(study_run):
    results = study_run.results
    completed = [t for t in study_run.trials if t.state == "COMPLETE"]
    best = min(completed, key=lambda t: t.values[0])
    assert results["best_params"] == best.params
    assert best.params["model.optimizer.lr"] == 0.001
    assert results["best_value"] == best.values[0]
    failed = [t.number for t in study_run.trials if t.state == "FAIL"]
    assert [f["trial"] for f in results["failed_trials"]] == failed
    assert [f["job"] for f in results["failed_trials"]] == failed
    for entry in results["failed_trials"]:
        assert "model.optimizer.lr=1000000.0" in entry["overrides"]
        assert entry["error"] == "returned nan"
    assert (study_run.sweep_dir / "report.md").is_file()


@pytest.mark.slow
def test_the_multirun_exits_1_naming_the_failed_trials(study_run):
    result = study_run.result
    failed = [t.number for t in study_run.trials if t.state == "FAIL"]
    assert result.returncode == 1, result.stderr[-3000:]
    assert f"decoderlab: {len(failed)} of {TRIALS} jobs failed: {failed[0]} (" in result.stderr
    assert re.search(
        r"model\.optimizer\.lr=1000000\.0 model\.optimizer\.eps=\S+: failed: DivergenceError",
        result.stderr,
    )


def _job(status: JobStatus, value: object) -> JobReturn:
    job = JobReturn(status=status)
    job._return_value = value
    return job


@pytest.mark.parametrize(
    "job, objectives, expected",
    [
        (_job(JobStatus.COMPLETED, 0.25), 1, ([0.25], None)),
        (_job(JobStatus.COMPLETED, [0.25, 2]), 2, ([0.25, 2.0], None)),
        (_job(JobStatus.COMPLETED, math.nan), 1, (None, "returned nan")),
        (_job(JobStatus.COMPLETED, math.inf), 1, (None, "returned inf")),
        (_job(JobStatus.COMPLETED, None), 1, (None, "returned None, not 1 number(s)")),
        (_job(JobStatus.COMPLETED, [0.25]), 2, (None, "returned 1 values for 2 objectives")),
        (_job(JobStatus.FAILED, RuntimeError("boom")), 1, (None, "RuntimeError: boom")),
    ],
    ids=["value", "two_objectives", "nan", "inf", "none", "too_few", "raised"],
)
def test_trial_values_accepts_only_finite_numbers(job, objectives, expected):
    assert trial_values(job, objectives) == expected
