"""``hydra/launcher=decoderlab_joblib`` (what ``launcher=joblib`` selects): hydra-joblib-launcher's
parallel jobs on this machine, through loky's process pool, that survive a killed worker process
and stop cleanly on Ctrl-C (``decoderlab.runtime.job_pool``)."""

# No ``from __future__ import annotations``: Hydra's plugin discovery executes this module
# without registering it in sys.modules, where dataclasses look up string annotations.
from collections.abc import Sequence
from dataclasses import dataclass

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


@dataclass
class JobPoolLauncherConf:
    """``hydra.launcher.n_jobs``: jobs at once (-1: one per core), as hydra-joblib-launcher's."""

    _target_: str = "hydra_plugins.decoderlab_launchers.joblib_launcher.JobPoolLauncher"
    n_jobs: int = -1


ConfigStore.instance().store(
    group="hydra/launcher",
    name="decoderlab_joblib",
    node=JobPoolLauncherConf,
    provider="decoderlab",
)


class JobPoolLauncher(Launcher):
    """Hydra launcher running each batch in ``n_jobs`` worker processes (``JobPool``)."""

    def __init__(self, n_jobs: int = -1) -> None:
        self.n_jobs = n_jobs
        self.pool = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        from decoderlab.runtime.job_pool import JobPool

        self.pool = JobPool(self.n_jobs, hydra_context, config, task_function)

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        assert self.pool is not None, "setup() first"
        return self.pool.launch(job_overrides, initial_job_idx)
