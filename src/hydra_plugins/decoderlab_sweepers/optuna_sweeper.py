"""hydra-optuna-sweeper, with failed trials told to the study as failed and the search going on.

hydra-optuna-sweeper 1.3.0 tells a trial whose job failed or returned NaN with its values and
``state=FAIL``, which Optuna refuses ("Values were told. Values cannot be specified when state
is TrialState.PRUNED or TrialState.FAIL."), so the first failed trial ends the whole search:
later trials never run and no ``optimization_results.yaml`` is written (facebookresearch/hydra
issue #2237). The fix its maintainers agreed on (hydra PR #3451, after the review of #3333) is
to tell a failure without values; ``FailureTolerantOptunaSweeper`` does that. Selected with
``hydra/sweeper=decoderlab_optuna`` (``conf/hparams_search/optuna.yaml``); its settings are the
plugin's (``OptunaSweeperConf``), except that ``max_failure_rate`` defaults to 1.0.

Optuna is imported only when a sweep starts (``_optuna_impl``), as the plugin itself does, so
Hydra's plugin discovery stays fast.
"""

# No ``from __future__ import annotations``: Hydra's plugin discovery executes this module
# without registering it in sys.modules, where dataclasses look up string annotations.
from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra_plugins.hydra_optuna_sweeper.config import OptunaSweeperConf
from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper


@dataclass
class FailureTolerantOptunaSweeperConf(OptunaSweeperConf):
    """``OptunaSweeperConf`` for ``FailureTolerantOptunaSweeper``.

    ``max_failure_rate``: the share of failed trials in one batch (``n_jobs`` trials) above
    which no further batch is launched; 1.0 (the default here) never stops the search.
    """

    _target_: str = "hydra_plugins.decoderlab_sweepers.optuna_sweeper.FailureTolerantOptunaSweeper"
    max_failure_rate: float = 1.0


ConfigStore.instance().store(
    group="hydra/sweeper",
    name="decoderlab_optuna",
    node=FailureTolerantOptunaSweeperConf,
    provider="decoderlab",
)


class FailureTolerantOptunaSweeper(OptunaSweeper):
    """Hydra's Optuna sweeper whose failed trials are recorded as FAIL in the study.

    Takes ``FailureTolerantOptunaSweeperConf``'s settings as keyword arguments.
    """

    def __init__(self, **settings: Any) -> None:
        from hydra_plugins.decoderlab_sweepers._optuna_impl import (
            FailureTolerantOptunaSweeperImpl,
        )

        self.sweeper = FailureTolerantOptunaSweeperImpl(**settings)
