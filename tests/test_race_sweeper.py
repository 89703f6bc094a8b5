"""``hydra/sweeper=race`` end to end through ``decoderlab-train -m`` on a tiny budget: rounds,
run directories, race.json and the report's race section, decisions checked against the paired
test on the runs' own records, a resume (under another launcher) that retrains nothing, and bad
knobs refused before anything runs."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf

from decoderlab.records import RunRecord, read_run_record, write_run_record
from decoderlab.stats.paired import WORSE, compare_to_best
from decoderlab.stats.racing import DROPPED, MAX_SEEDS, ONE_LEFT
from hydra_plugins.decoderlab_sweepers.race_sweeper import RaceSweeper, job_result
from tests.cli_runs import BUDGET, read_metrics, run_in_process
from tests.conftest import SHIPPED_DATA
from tests.tiny_sweep import run_sweep

CANDIDATES = ("resize_conv", "transposed_conv_k2", "pixel_shuffle")
KNOBS = {"initial_seeds": 2, "seeds_per_round": 1, "max_seeds": 4}


def race_args(decoders: str = ",".join(CANDIDATES), **knobs) -> list[str]:
    """The race's overrides: experiment=compare_decoders (which sweeps seed=1,2,3 too: the race
    replaces it), the decoders, and KNOBS updated by ``knobs``."""
    return [
        "experiment=compare_decoders",
        "hydra/sweeper=race",
        f"model/decoder={decoders}",
        *(f"hydra.sweeper.{k}={v}" for k, v in {**KNOBS, **knobs}.items()),
    ]


RACE = race_args()


@pytest.fixture(scope="module")
def race_run(tmp_path_factory):
    sweep_dir = tmp_path_factory.mktemp("race") / "sweep"
    result = run_sweep(sweep_dir, *RACE, timeout=600)
    if not (sweep_dir / "race.json").is_file():
        pytest.fail(f"no race.json:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    race = json.loads((sweep_dir / "race.json").read_text())
    jobs = [j for r in race["rounds"] for j in r["jobs"]]
    return SimpleNamespace(sweep_dir=sweep_dir, result=result, race=race, jobs=jobs)


@pytest.mark.slow
def test_the_race_runs_rounds_of_ordinary_jobs_and_records_them(race_run):
    race, jobs, sweep_dir = race_run.race, race_run.jobs, race_run.sweep_dir
    assert race_run.result.returncode == 0, race_run.result.stderr[-3000:]
    assert "seed=1,2,3 not used" in race_run.result.stdout  # Hydra logs to stdout

    # job numbers run on across rounds: directories 0, 1, ..., one per job, nothing else
    assert [j["job"] for j in jobs] == list(range(race["jobs_run"]))
    assert sorted(int(p.name) for p in sweep_dir.iterdir() if p.name.isdigit()) == list(
        range(race["jobs_run"])
    )
    assert race["rounds"][0]["seeds"] == [1, 2]
    assert all(len(r["seeds"]) == 1 for r in race["rounds"][1:])
    assert all(r["finished"] for r in race["rounds"])
    for job in jobs:
        record = read_metrics(sweep_dir / str(job["job"]))
        candidate = race["candidates"][job["candidate"]]
        assert (record["status"], record["seed"]) == ("ok", job["seed"])
        assert record["decoder"] == candidate["decoder"]
        assert candidate["values"][str(job["seed"])] == record["test"]["test/loss"]

    assert set(race["candidates"]) == {f"model/decoder={d}" for d in CANDIDATES}
    for name, candidate in race["candidates"].items():
        assert name in candidate["overrides"]
        if candidate["status"] == DROPPED:  # no seed after the round that dropped it
            assert len(candidate["seeds_run"]) == 2 + candidate["dropped_in_round"] - 1
        else:
            assert candidate["status"] in ("winner", "survived")
    survivors = [c for c in race["candidates"].values() if c["status"] != DROPPED]
    if race["stop_reason"] == MAX_SEEDS:
        assert all(c["seeds_run"] == [1, 2, 3, 4] for c in survivors)
    else:
        assert race["stop_reason"] == ONE_LEFT and len(survivors) == 1


@pytest.mark.slow
def test_each_decision_is_the_paired_test_on_the_runs_records_and_is_printed(race_run):
    """Replay the race from the run directories' metrics.json: after each round the candidates
    dropped are exactly those compare_to_best calls worse than the best over the survivors."""
    race, sweep_dir = race_run.race, race_run.sweep_dir
    values: dict[str, dict[int, float]] = {}
    for number, round_ in enumerate(race["rounds"], start=1):
        for job in round_["jobs"]:
            record = read_metrics(sweep_dir / str(job["job"]))
            values.setdefault(job["candidate"], {})[job["seed"]] = record["test"]["test/loss"]
        verdicts = compare_to_best(
            {c: values[c] for c in round_["survivors_before"]}, "test/loss", 0.05
        )
        worse = {c.decoder: c for c in verdicts.comparisons if c.verdict == WORSE}
        assert {d["candidate"] for d in round_["decisions"]} == set(worse)
        assert round_["best"] == verdicts.best
        for decision in round_["decisions"]:
            assert decision["p_holm"] == pytest.approx(worse[decision["candidate"]].p_holm)
            line = f"race: round {number}: dropped {decision['candidate']}: worse than"
            assert line in race_run.result.stdout
    printed = re.findall(r"^race: round \d+: dropped ", race_run.result.stdout, re.M)
    assert len(printed) == sum(len(r["decisions"]) for r in race["rounds"])
    assert f"race: stopped after round {len(race['rounds'])}" in race_run.result.stdout

    report = (sweep_dir / "report.md").read_text()
    assert "## Race" in report
    for name, candidate in race["candidates"].items():
        row = next(line for line in report.splitlines() if line.startswith(f"| `{name}` |"))
        assert f"| {len(candidate['seeds_run'])} |" in row


@pytest.mark.slow
def test_resuming_the_race_under_another_launcher_retrains_nothing(race_run):
    sweep_dir = race_run.sweep_dir
    before = {p: p.read_bytes() for p in sweep_dir.glob("*/metrics.json")}

    result = run_sweep(
        sweep_dir, *RACE, "resume=true", "launcher=joblib", "hydra.launcher.n_jobs=2"
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert {p: p.read_bytes() for p in sweep_dir.glob("*/metrics.json")} == before
    race = json.loads((sweep_dir / "race.json").read_text())
    assert race["rounds"] == race_run.race["rounds"]
    assert race["stop_reason"] == race_run.race["stop_reason"]


@pytest.mark.slow
def test_a_resume_whose_race_would_differ_stops_before_launching(race_run, tmp_path):
    sweep_dir = race_run.sweep_dir
    recorded = (sweep_dir / "race.json").read_bytes()
    dirs = sorted(p.name for p in sweep_dir.iterdir())

    result = run_sweep(sweep_dir, *race_args(initial_seeds=3), "resume=true")

    assert result.returncode == 1
    assert "resume=true: round 1 would run jobs" in result.stderr
    assert (sweep_dir / "race.json").read_bytes() == recorded
    assert sorted(p.name for p in sweep_dir.iterdir()) == dirs


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (race_args(initial_seeds=1), "hydra.sweeper.initial_seeds=1: must be an integer >= 2"),
        (race_args(alpha=1.5), "hydra.sweeper.alpha=1.5: must be a number in (0, 1)"),
        # metric and alpha default to the report's
        ([*race_args(), "report.alpha=2"], "hydra.sweeper.alpha=2.0: must be a number in (0, 1)"),
        ([*race_args(), "report.metric=val/loss"], "hydra.sweeper.metric=val/loss: must be"),
        (
            race_args(initial_seeds=3, max_seeds=2),
            "hydra.sweeper.max_seeds=2: must be an integer >= initial_seeds (3)",
        ),
        (race_args(max_jobs=5), "max_jobs=5: must be at least the first round's 3 candidates"),
        (
            race_args("resize_conv"),
            "candidates=['model/decoder=resize_conv']: a race needs 2 or more candidates",
        ),
    ],
)
def test_bad_knobs_stop_the_sweep_before_any_job(args, message, tmp_path, monkeypatch):
    monkeypatch.setenv("DECODERLAB_DATA_DIR", str(SHIPPED_DATA))
    monkeypatch.setenv("DECODERLAB_OUTPUT_DIR", str(tmp_path / "outputs"))
    sweep_dir = tmp_path / "sweep"

    result = run_in_process("-m", *args, f"hydra.sweep.dir={sweep_dir}")

    assert result.returncode == 1
    assert f"decoderlab: hydra/sweeper=race: {message}" in result.stderr
    written = sorted(p.name for p in sweep_dir.iterdir()) if sweep_dir.exists() else []
    assert written == []  # no job, no race, no progress plan


# --- the sweeper's parts on fabricated jobs (no training) ---


def job(output_dir: Path, status=JobStatus.COMPLETED, value: object = 0.5) -> JobReturn:
    """A JobReturn as Hydra's run_job makes it for a job that ran in ``output_dir``."""
    hydra_cfg = OmegaConf.create({"hydra": {"runtime": {"output_dir": str(output_dir)}}})
    return JobReturn(hydra_cfg=hydra_cfg, status=status, _return_value=value)


def write_record(directory: Path, **fields) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    fields = {"status": "ok", "decoder": "d", "seed": 1, "test": {"test/loss": 0.25}, **fields}
    write_run_record(directory, RunRecord(**fields))
    return directory


def test_a_finished_job_gives_its_records_metric(tmp_path):
    run = write_record(tmp_path / "0", test={"test/loss": 0.25, "test/psnr": 17.5})
    assert job_result(job(run), "test/loss") == (0.25, None, read_run_record(run))
    assert job_result(job(run), "test/psnr")[0] == 17.5


def test_a_failed_job_is_a_failure_with_its_reason(tmp_path):
    failed = write_record(tmp_path / "0", status="failed", error="DivergenceError: loss nan")
    # IsolateJobFailures turns a job's exception into a completed job returning NaN
    assert job_result(job(failed, value=math.nan), "test/loss")[:2] == (
        None,
        "DivergenceError: loss nan",
    )
    raised = job(failed, status=JobStatus.FAILED, value=RuntimeError("boom"))
    assert job_result(raised, "test/loss")[:2] == (None, "the job raised RuntimeError('boom')")
    missing = job(tmp_path / "1")
    assert job_result(missing, "test/loss")[0] is None
    assert "no readable metrics.json" in job_result(missing, "test/loss")[1]


def test_a_failed_job_never_takes_the_value_of_another_jobs_record(tmp_path):
    """resume=true refused a directory holding another job's (ok) record: the job failed, and
    the record there is not its own."""
    other = write_record(tmp_path / "0", seed=7)
    value, reason, _ = job_result(job(other, value=math.nan), "test/loss")
    assert value is None and reason.startswith("the job failed")


def test_a_metric_the_records_lack_stops_the_race_naming_the_ones_they_have(tmp_path):
    run = write_record(tmp_path / "0")
    with pytest.raises(SystemExit, match=r"hydra.sweeper.metric=test/cbe5: not in .*test/loss"):
        job_result(job(run), "test/cbe5")


def test_a_round_goes_to_the_launcher_in_batches_with_continuing_job_numbers():
    launched = []

    class Launcher:
        def launch(self, batch, initial_job_idx):
            launched.append((list(batch), initial_job_idx))
            return [f"job {initial_job_idx + i}" for i in range(len(batch))]

    sweeper = RaceSweeper(2, 1, 4, 0.05, "test/loss", max_batch_size=2)
    sweeper.launcher = Launcher()
    batch = [[f"seed={s}"] for s in range(5)]

    assert sweeper._launch(batch, 10) == [f"job {n}" for n in range(10, 15)]
    assert [(len(b), first) for b, first in launched] == [(2, 10), (2, 12), (1, 14)]
    assert [o for b, _ in launched for o in b] == batch


@pytest.mark.slow
def test_failed_jobs_drop_their_candidates_as_failed_and_the_race_goes_on(tmp_path, monkeypatch):
    """lr 1e6 diverges at the first step (DivergenceError): both candidates with it fail every
    seed and leave the race as failed; the others run; the multirun exits 1 naming the jobs."""
    monkeypatch.setenv("DECODERLAB_DATA_DIR", str(SHIPPED_DATA))
    monkeypatch.setenv("DECODERLAB_OUTPUT_DIR", str(tmp_path / "outputs"))
    sweep_dir = tmp_path / "sweep"

    result = run_in_process(
        "-m",
        *race_args("resize_conv,transposed_conv_k2", max_seeds=3),
        "model.optimizer.lr=0.001,1000000.0",
        *BUDGET,
        "trainer.max_epochs=1",
        f"hydra.sweep.dir={sweep_dir}",
    )

    assert result.returncode == 1
    race = json.loads((sweep_dir / "race.json").read_text())
    statuses = {name: c["status"] for name, c in race["candidates"].items()}
    diverging = {n for n in statuses if "lr=1000000.0" in n}
    assert len(diverging) == 2 and len(statuses) == 4
    for name in diverging:
        candidate = race["candidates"][name]
        assert (candidate["status"], candidate["dropped_in_round"]) == ("failed", 1)
        assert candidate["seeds_run"] == [1, 2] and candidate["values"] == {}
        assert all(r.startswith("DivergenceError") for r in candidate["failed_seeds"].values())
    assert [d["action"] for d in race["rounds"][0]["decisions"]].count("failed") == 2
    later = [j["candidate"] for r in race["rounds"][1:] for j in r["jobs"]]
    assert later and not set(later) & diverging
    assert "every seed failed (DivergenceError" in result.stdout
