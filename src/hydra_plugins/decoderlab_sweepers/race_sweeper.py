"""The racing sweeper, ``hydra/sweeper=race``: spend seeds on the candidates still in contention.

    decoderlab-train -m experiment=compare_decoders hydra/sweeper=race [hydra.sweeper.max_seeds=8]

The candidates are the combinations of the swept parameters other than ``seed`` (from
``hydra.sweeper.params`` and the command line, in Hydra's basic sweeper's order). The race
(``decoderlab.stats.racing.Race``)
chooses the seeds: 1, 2, ... up to ``max_seeds``; a ``seed`` sweep
or value given is not used, and the log says so. Each round is launched through the configured
launcher (basic, joblib, submitit, ...), its job numbers following the previous round's, so run
directories are ``<sweep dir>/0``, ``1``, ... as usual. After each round the sweeper reads every
job's metric from its ``metrics.json``, lets the race decide, prints each decision on one line,
and rewrites ``<sweep dir>/race.json`` (atomically; ``decoderlab.records.RaceRecord``: the
race's state, plus per candidate its ``overrides`` and ``decoder``). The race is written again
before each round is launched, that round marked unfinished.

Resuming (the same command with ``hydra.sweep.dir=<dir> resume=true``): finished jobs return
their record without training, so the race replays its decisions and finds the same jobs under
the same numbers; a round that would run other jobs than the ones ``race.json`` recorded (other
knobs, or a job whose result changed) stops the sweep before launching it.
"""

# No ``from __future__ import annotations``: Hydra's plugin discovery executes this module
# without registering it in sys.modules, where dataclasses look up string annotations.
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from decoderlab.records import RACE_FILE, RaceRound, RunRecord
from decoderlab.stats.racing import Race, RaceSettings, RaceSettingsError

log = logging.getLogger(__name__)

SEED_KEY = "seed"


@dataclass
class RaceSweeperConf:
    """``hydra/sweeper=race``'s settings (``hydra.sweeper.<knob>``): the race's knobs (see
    ``decoderlab.stats.racing.RaceSettings``; ``metric`` and ``alpha`` default to the report's),
    ``max_batch_size`` (jobs handed to the launcher at once, null: a whole round) and ``params``
    (the sweep, as for Hydra's basic sweeper)."""

    _target_: str = "hydra_plugins.decoderlab_sweepers.race_sweeper.RaceSweeper"
    initial_seeds: int = 3
    seeds_per_round: int = 1
    max_seeds: int = 10
    # the report's primary metric and level (conf/train.yaml ``report``), so both agree
    alpha: float = "${report.alpha}"  # type: ignore[assignment]
    metric: str = "${report.metric}"
    max_jobs: int | None = None
    max_batch_size: int | None = None
    params: dict[str, str] | None = None


ConfigStore.instance().store(
    group="hydra/sweeper", name="race", node=RaceSweeperConf, provider="decoderlab"
)


def _stop(message: str) -> SystemExit:
    return SystemExit(f"decoderlab: hydra/sweeper=race: {message}")


def job_result(job: JobReturn, metric: str) -> tuple[float | None, str | None, RunRecord | None]:
    """(value of ``metric``, None, record) for a job whose metrics.json says ok, else (None,
    reason, record or None).

    A job failed when Hydra says so or it returned NaN (``IsolateJobFailures``'s mark): its
    directory's metrics.json is then not trusted to be its own (a resumed job refused another
    job's directory). Raises SystemExit when an ok record has no ``metric``.
    """
    from decoderlab.records import FAILED, OK, read_run_record

    if job.status == JobStatus.FAILED:
        return None, f"the job raised {job._return_value!r}", None
    output_dir = Path(job.hydra_cfg.hydra.runtime.output_dir)
    try:
        record = read_run_record(output_dir)
    except (OSError, ValueError) as err:
        return None, f"no readable metrics.json ({err})", None
    returned = job.return_value
    if isinstance(returned, float) and math.isnan(returned):
        error = record.error if record.status == FAILED else None
        return None, error or f"the job failed (see the sweep's log for {output_dir})", None
    if record.status != OK:
        return None, f"status {record.status}: {record.error}", record
    measured = {**record.test, **record.ffcr}
    if metric not in measured:
        raise _stop(
            f"hydra.sweeper.metric={metric}: not in {output_dir / 'metrics.json'}; choose one "
            f"of: {', '.join(sorted(measured))}"
        )
    value = measured[metric]
    if value is None or not math.isfinite(value):
        return None, f"{metric} is not finite", record
    return float(value), None, record


class RaceSweeper(Sweeper):
    """Hydra sweeper that races the swept configurations over seeds (module docstring); takes
    ``RaceSweeperConf``'s settings as keyword arguments. Bad knobs stop the sweep with a message
    naming the knob and its allowed values before anything is written or launched."""

    def __init__(
        self,
        initial_seeds: int,
        seeds_per_round: int,
        max_seeds: int,
        alpha: float,
        metric: str,
        max_jobs: int | None = None,
        max_batch_size: int | None = None,
        params: dict[str, str] | None = None,
    ) -> None:
        self.settings = RaceSettings(
            initial_seeds, seeds_per_round, max_seeds, alpha, metric, max_jobs
        )
        try:
            self.settings.check()
        except RaceSettingsError as err:
            raise _stop(f"hydra.sweeper.{err}") from err
        if max_batch_size is not None and max_batch_size < 1:
            raise _stop(
                f"hydra.sweeper.max_batch_size={max_batch_size}: must be a positive integer, "
                "or null for a whole round at once"
            )
        self.max_batch_size = max_batch_size
        self.params = dict(params or {})
        self.hydra_context: HydraContext | None = None
        self.config: DictConfig | None = None
        self.launcher = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context = hydra_context
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def candidates(self, arguments: Sequence[str]) -> dict[str, list[str]]:
        """{label: overrides} of every combination of the swept parameters but ``seed``; the
        label is the swept ``key=value`` pairs, the overrides also hold the fixed ones."""
        from decoderlab.runtime import sweep_jobs

        given = sweep_jobs.sweep_arguments(self.params, arguments)
        overrides = sweep_jobs.parse(given, config_loader=self.hydra_context.config_loader)
        seeds = [o for o in overrides if o.get_key_element().lstrip("+~") == SEED_KEY]
        if seeds:
            log.warning(
                "hydra/sweeper=race chooses the seeds (1, 2, ... up to max_seeds=%d): %s not used",
                self.settings.max_seeds,
                ", ".join(o.input_line or f"seed={o.get_value_element_as_str()}" for o in seeds),
            )
        kept = [o for o in overrides if o not in seeds]
        swept = {f"{o.get_key_element()}=" for o in kept if o.is_sweep_override()}
        jobs = sweep_jobs.expand(kept)
        return {" ".join(o for o in job if o.startswith(tuple(swept))): job for job in jobs}

    def sweep(self, arguments: list[str]) -> list[Sequence[JobReturn]]:
        from decoderlab.records import write_race_record
        from decoderlab.runtime.progress import write_plan

        assert self.config is not None and self.launcher is not None
        candidates = self.candidates(arguments)
        try:
            race = Race(list(candidates), self.settings)
        except RaceSettingsError as err:
            raise _stop(str(err)) from err
        sweep_dir = Path(self.config.hydra.sweep.dir)
        recorded = self._recorded_rounds(sweep_dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        decoders: dict[str, str | None] = dict.fromkeys(candidates)

        def save() -> None:
            record = race.state()
            for label, entry in record.candidates.items():
                entry.overrides, entry.decoder = list(candidates[label]), decoders[label]
            write_race_record(sweep_dir, record)

        metric = self.settings.metric
        returns: list[Sequence[JobReturn]] = []
        while (jobs := race.next_round()) is not None:
            first, number = race.jobs_run, len(race.rounds) + 1
            batch = [[*candidates[c], f"{SEED_KEY}={s}"] for c, s in jobs]
            seeds = sorted({s for _, s in jobs})
            print(
                f"race: round {number}: {len(jobs) // len(seeds)} candidates x seeds "
                f"{', '.join(map(str, seeds))} (jobs {first}-{first + len(jobs) - 1})",
                flush=True,
            )
            self._check_replay(recorded, race.state().rounds[-1], sweep_dir)
            save()
            # the progress lines' "done/planned", timed from this multirun's first round
            write_plan(sweep_dir, first + len(jobs), started=time.time() if number == 1 else None)
            self.validate_batch_is_legal(batch)
            results = self._launch(batch, first)
            values, failures = {}, {}
            for job, result in zip(jobs, results, strict=True):
                value, reason, record = job_result(result, metric)
                if value is None:
                    failures[job] = reason
                else:
                    values[job] = value
                    decoders[job[0]] = decoders[job[0]] or record.decoder
            decisions = race.record(values, failures)
            self._check_replay(recorded, race.state().rounds[-1], sweep_dir)
            for decision in decisions:
                print(f"race: {decision.describe(metric)}", flush=True)
            if not decisions:
                print(
                    f"race: round {number}: nothing dropped; best so far {race.best} "
                    f"({len(race.survivors)} candidates racing)",
                    flush=True,
                )
            save()
            returns.append(results)
        print(
            f"race: stopped after round {len(race.rounds)} ({race.stop}, {race.jobs_run} jobs): "
            f"{'winner' if len(race.survivors) == 1 else 'survivors'} "
            f"{', '.join(race.survivors) or 'none'}; best {race.best}",
            flush=True,
        )
        save()
        return returns

    def _launch(self, batch: list[list[str]], first: int) -> list[JobReturn]:
        """Launch ``batch`` as jobs ``first``, ``first + 1``, ... in chunks of max_batch_size."""
        size = self.max_batch_size or len(batch)
        results: list[JobReturn] = []
        for start in range(0, len(batch), size):
            chunk = batch[start : start + size]
            results.extend(self.launcher.launch(chunk, initial_job_idx=first + start))
        return results

    def _recorded_rounds(self, sweep_dir: Path) -> list[RaceRound]:
        """The rounds race.json recorded when this sweep resumes a race, else []."""
        from decoderlab.records import read_race_record

        path = sweep_dir / RACE_FILE
        if not (self.config.get("resume") and path.is_file()):
            return []
        try:
            return read_race_record(sweep_dir).rounds
        except (OSError, ValueError) as err:
            raise _stop(
                f"resume=true: {path} cannot be read ({err}); resume a race only from its own "
                "intact race.json, or race again in a fresh hydra.sweep.dir"
            ) from err

    @staticmethod
    def _check_replay(recorded: list[RaceRound], now: RaceRound, sweep_dir: Path) -> None:
        """Stop when a resumed race's round ``now`` (planned or finished) runs other jobs, or
        finished with other decisions, than the same round in the recorded race."""
        before = next((r for r in recorded if r.round == now.round), None)
        if before is None:
            return

        def jobs(r: RaceRound) -> str:
            return ", ".join(f"{j.job}: {j.candidate} seed {j.seed}" for j in r.jobs)

        def decisions(r: RaceRound) -> str:
            dropped = [f"{d.candidate} ({d.action})" for d in r.decisions]
            return ", ".join(dropped) or "nothing"

        if before.jobs != now.jobs:
            change = f"would run jobs {jobs(now)}, where the recorded race ran {jobs(before)}"
        elif before.finished and now.finished and decisions(before) != decisions(now):
            change = (
                f"dropped {decisions(now)}, where the recorded race dropped {decisions(before)}"
            )
        else:
            return
        raise _stop(
            f"resume=true: round {now.round} {change} ({sweep_dir / RACE_FILE}). A resumed "
            "race must replay the same decisions (same knobs and sweep, same job results); race "
            "again in a fresh hydra.sweep.dir."
        )
