"""Which job a run is: a hash of its composed config without the keys that only say where and how
it runs.

Two runs with the same ``config_hash`` trained the same model on the same data with the same
seed and budget; they may differ in their folders, torch threads, progress bar, or whether they
were resumed. ``metrics.json`` records the hash, and a resumed run continues a directory's run
only when the hashes agree (``decoderlab.runtime.resume``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from omegaconf import DictConfig, OmegaConf

# Keys that say where or how a run happens, not what it trains: folders (``paths`` and the
# top-level ``data_dir``/``log_dir``/``output_dir``), continuing (``resume``, ``ckpt_path``), the
# display, torch threads, the metric a sweeper reads, the report's settings, and Hydra's own node.
RUN_ONLY_KEYS = (
    "hydra",
    "paths",
    "data_dir",
    "log_dir",
    "output_dir",
    "resume",
    "ckpt_path",
    "print_config",
    "threads",
    "optimized_metric",
    "report",
    "callbacks.progress_bar",
)
# Config groups that only choose where jobs run (their keys are among RUN_ONLY_KEYS)
RUN_ONLY_GROUPS = ("launcher",)
# Where the seed enters the config (``data.seed`` interpolates ``seed``): pass as ``ignore`` to
# hash a configuration across seeds.
SEED_KEYS = ("seed", "data.seed")


def _placeholders(node: Any, key: str) -> Any:
    """``node`` with every leaf replaced by the constant ``<dotted key>``."""
    if isinstance(node, dict):
        return {k: _placeholders(v, f"{key}.{k}") for k, v in node.items()}
    return f"<{key}>"


def _parent(tree: dict[str, Any], key: str) -> tuple[dict[str, Any] | None, str]:
    """The dict holding the dotted ``key`` in ``tree`` (None if a parent is missing), and the
    last part of the key."""
    *parents, leaf = key.split(".")
    node: Any = tree
    for parent in parents:
        node = node.get(parent) if isinstance(node, dict) else None
    return (node if isinstance(node, dict) else None), leaf


def job_config(cfg: DictConfig, ignore: Iterable[str] = ()) -> dict[str, Any]:
    """The resolved config of the job ``cfg`` describes, without ``RUN_ONLY_KEYS`` and ``ignore``.

    Dropped keys are first replaced by constants, so what interpolates them (a checkpoint folder
    ``${paths.output_dir}/checkpoints``) resolves the same wherever the run lives, and no Hydra
    runtime is needed (``cfg`` may be a run's ``.hydra/config.yaml``).
    """
    dropped = (*RUN_ONLY_KEYS, *ignore)
    plain = OmegaConf.to_container(cfg, resolve=False)
    for key in dropped:
        parent, leaf = _parent(plain, key)
        if parent is not None and leaf in parent:
            parent[leaf] = _placeholders(parent[leaf], key)
    resolved = OmegaConf.to_container(OmegaConf.create(plain), resolve=True)
    for key in dropped:
        parent, leaf = _parent(resolved, key)
        if parent is not None:
            parent.pop(leaf, None)
    return resolved


def config_hash(cfg: DictConfig, ignore: Iterable[str] = ()) -> str:
    """SHA-256 (first 16 hex digits) of ``job_config(cfg, ignore)`` as sorted, compact JSON.

    Equal for the same job wherever and however it runs; ``ignore=SEED_KEYS`` gives one hash per
    configuration across seeds.
    """
    text = json.dumps(job_config(cfg, ignore), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
