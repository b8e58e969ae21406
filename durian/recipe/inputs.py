"""The per-step inputs channel between verl's trainer and the Durian estimators.

verl hands a registered estimator only rewards, the response mask, uids and ``config``
(``config.algorithm``). Durian also needs each row's old (rollout-policy) log-probs and its
prompt's ``extra_info.visual_entropy``: the trainer (``durian.recipe.trainer``) reads them, puts
them in a :class:`DurianInputs`, makes it current with :func:`provide` around verl's advantage
step, and reads back the per-group metrics the estimator (``durian.recipe.estimators``) wrote
into it. Both modules import this one; neither imports the other.

Settings live in the run's config under ``algorithm.durian`` (verl keeps ``algorithm`` a
DictConfig and never builds ``AlgoConfig`` from it, so an extra key passes), e.g.
``+algorithm.durian.weights=[0.4,0.3,0.3] +algorithm.durian.num_reasoning_groups=6``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from durian.config import DurianConfig
from durian.experiment import DURIAN_ESTIMATORS  # the estimators that need DurianInputs

__all__ = [
    "DURIAN_ESTIMATORS",
    "DurianInputs",
    "current_inputs",
    "entropy_from_extra_info",
    "estimator_name",
    "inputs_from_dataproto",
    "provide",
    "settings_from_config",
]

SETTINGS_KEY = "durian"  # algorithm.durian
ENTROPY_KEY = "visual_entropy"  # extra_info.visual_entropy


@dataclasses.dataclass
class DurianInputs:
    """Per-row inputs, in the batch's row order, plus the metrics the estimator leaves behind."""

    uid: np.ndarray  # [N], compared with the estimator's ``index`` to catch misaligned rows
    visual_entropy: torch.Tensor  # [N], the row's prompt's entropy
    old_log_probs: torch.Tensor  # [N, T], aligned with response_mask
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)


_CURRENT: ContextVar[DurianInputs | None] = ContextVar("durian_inputs", default=None)


@contextlib.contextmanager
def provide(inputs: DurianInputs) -> Iterator[DurianInputs]:
    """Make ``inputs`` visible to the Durian estimators called inside the block."""
    token = _CURRENT.set(inputs)
    try:
        yield inputs
    finally:
        _CURRENT.reset(token)


def current_inputs() -> DurianInputs | None:
    return _CURRENT.get()


def estimator_name(adv_estimator: Any) -> str:
    return str(getattr(adv_estimator, "value", adv_estimator))


def settings_from_config(config: Any) -> DurianConfig:
    """``algorithm.durian`` of the run (defaults when absent); a bad value raises naming its key."""
    node = config.get(SETTINGS_KEY) if config is not None else None
    if isinstance(node, DictConfig):
        node = OmegaConf.to_container(node, resolve=True)
    if node is not None and not isinstance(node, Mapping):
        raise ValueError(f"algorithm.{SETTINGS_KEY}: expected a mapping of Durian settings, got {node!r}")
    try:
        return DurianConfig.from_mapping(node)
    except (TypeError, ValueError) as error:
        raise ValueError(f"algorithm.{SETTINGS_KEY}: {error}") from error


def entropy_from_extra_info(extra_info: Sequence[Any], uid: Sequence[Any]) -> torch.Tensor:
    """``extra_info[i]["visual_entropy"]`` of every row as float64 [N]; names the row when absent."""
    values = []
    for row, info in enumerate(extra_info):
        value = info.get(ENTROPY_KEY) if isinstance(info, Mapping) else None
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(
                f"extra_info.{ENTROPY_KEY}: row {row} (uid {uid[row]!r}) has {value!r}, need a finite number; "
                "precompute it into the dataset (python -m durian.data.precompute)"
            )
        values.append(float(value))
    return torch.tensor(values, dtype=torch.float64)


def inputs_from_dataproto(data: Any) -> DurianInputs:
    """Durian's inputs from a legacy-trainer DataProto (old_log_probs, uid and extra_info present)."""
    if "old_log_probs" not in data.batch:
        raise ValueError("Durian needs the old (rollout policy) log-probs: the batch has no 'old_log_probs'")
    for key in ("uid", "extra_info"):
        if key not in data.non_tensor_batch:
            raise ValueError(f"Durian needs non_tensor_batch['{key}'] (the dataset's {key}); the batch has none")
    uid = np.asarray(data.non_tensor_batch["uid"])
    entropy = entropy_from_extra_info(list(data.non_tensor_batch["extra_info"]), uid)
    return DurianInputs(uid=uid, visual_entropy=entropy, old_log_probs=data.batch["old_log_probs"])
