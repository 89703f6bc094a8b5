"""The sweep loop of ``FailureTolerantOptunaSweeper`` (imports Optuna; see ``optuna_sweeper``)."""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
from hydra.core.utils import JobReturn
from hydra_plugins.hydra_optuna_sweeper._impl import (
    OptunaSweeperImpl,
    create_params_from_overrides,
)
from omegaconf import OmegaConf
from optuna.distributions import BaseDistribution
from optuna.trial import TrialState

log = logging.getLogger(__name__)

RESULTS_FILE = "optimization_results.yaml"


def trial_values(job: JobReturn, objectives: int) -> tuple[list[float] | None, str | None]:
    """(values, None) for a job that returned ``objectives`` finite numbers, else (None, why).

    A job fails when it raised, returned something else, or returned NaN or an infinity (what
    decoderlab's jobs return when their run failed; Optuna cannot rank them either).
    """
    try:
        value = job.return_value  # re-raises the job's exception when it failed
    except Exception as err:  # noqa: BLE001 - any failure of the job fails the trial
        return None, f"{type(err).__name__}: {err}"
    try:
        values = [float(value)] if objectives == 1 else [float(v) for v in value]
    except (TypeError, ValueError):
        return None, f"returned {value!r}, not {objectives} number(s)"
    if len(values) != objectives:
        return None, f"returned {len(values)} values for {objectives} objectives"
    if not all(math.isfinite(v) for v in values):
        return None, f"returned {value}"
    return values, None


class FailureTolerantOptunaSweeperImpl(OptunaSweeperImpl):
    """``OptunaSweeperImpl`` whose ``sweep`` tells a failed trial ``state=FAIL`` without values,
    runs every trial, and lists the failed ones in ``optimization_results.yaml``.

    The search space, trial overrides and study are the plugin's; the grid sampler is not
    supported (a grid is Hydra's basic sweeper's job).
    """

    def sweep(self, arguments: list[str]) -> None:
        assert self.config is not None and self.launcher is not None
        study, distributions, fixed = self._create_study(arguments)
        objectives = len(study.directions)
        failed: list[dict[str, Any]] = []
        to_go = self.n_trials
        while to_go > 0:
            trials = [study.ask() for _ in range(min(to_go, self.n_jobs))]
            overrides = self._configure_trials(trials, distributions, fixed)
            returns = self.launcher.launch(overrides, initial_job_idx=self.job_idx)
            batch_failures = 0
            launched = zip(trials, returns, overrides, strict=True)
            for offset, (trial, job, job_overrides) in enumerate(launched):
                values, reason = trial_values(job, objectives)
                if values is not None:
                    study.tell(trial, values)
                    continue
                study.tell(trial, state=TrialState.FAIL)  # no values: Optuna refuses them
                batch_failures += 1
                failed.append(
                    {
                        "trial": trial.number,
                        "job": self.job_idx + offset,
                        "overrides": list(job_overrides),
                        "error": reason,
                    }
                )
                log.warning(
                    "trial %d (job %d: %s) failed: %s; the search goes on",
                    *(failed[-1][k] for k in ("trial", "job")),
                    " ".join(job_overrides),
                    reason,
                )
            self.job_idx += len(returns)
            to_go -= len(returns)
            if batch_failures / len(returns) > self.max_failure_rate:
                log.error(
                    "%d of %d trials of the last batch failed (max_failure_rate=%s): "
                    "no further trials",
                    batch_failures,
                    len(returns),
                    self.max_failure_rate,
                )
                break
        self._save_results(study, failed)

    def _create_study(
        self, arguments: list[str]
    ) -> tuple[optuna.Study, dict[str, BaseDistribution], dict[str, Any]]:
        """The study (created, or loaded from ``storage``), the searched distributions and the
        fixed parameters, from ``params``, ``search_space`` and the command line, as the plugin
        builds them."""
        if isinstance(self.sampler, functools.partial) and (
            self.sampler.func is optuna.samplers.GridSampler
        ):
            raise ValueError(
                "hydra.sweeper.sampler=grid is not supported by decoderlab_optuna; sweep a grid "
                "with Hydra's basic sweeper (decoderlab-train -m key=a,b,c)"
            )
        self._process_searchspace_config()
        searched, fixed = create_params_from_overrides(
            [*self._parse_sweeper_params_config(), *arguments]
        )
        distributions = {**(self.search_space_distributions or {}), **searched}
        for name in fixed:
            distributions.pop(name, None)
        study = optuna.create_study(
            study_name=self.study_name,
            storage=self.storage,
            sampler=self.sampler,
            directions=self._get_directions(),
            load_if_exists=True,
        )
        log.info("Study %s (storage %s, sampler %s)", study.study_name, self.storage, self.sampler)
        return study, distributions, fixed

    def _save_results(self, study: optuna.Study, failed: Sequence[dict[str, Any]]) -> None:
        """Write ``optimization_results.yaml``: the plugin's fields (``best_params`` and
        ``best_value``, or the Pareto ``solutions``; null when no trial completed), every trial
        of the study as it records it (``trials``: number, state, params, values) and
        ``failed_trials`` (trial and job number, overrides, error)."""
        completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        results: dict[str, Any] = {"name": "optuna"}
        if len(study.directions) > 1:
            results["solutions"] = [
                {"params": t.params, "values": t.values} for t in study.best_trials
            ]
        else:
            best = study.best_trial if completed else None
            results["best_params"] = best.params if best else None
            results["best_value"] = best.value if best else None
            log.info(
                "Best parameters: %s, value: %s", results["best_params"], results["best_value"]
            )
        results["trials"] = [
            {"number": t.number, "state": t.state.name, "params": t.params, "values": t.values}
            for t in study.get_trials(deepcopy=False)
        ]
        results["failed_trials"] = list(failed)
        OmegaConf.save(OmegaConf.create(results), Path(self.config.hydra.sweep.dir) / RESULTS_FILE)
