"""Feeding the Durian estimators inside verl's two trainers (verl 0.9.1), through the inputs
channel (``durian.recipe.inputs``); this module never imports the estimators.

* v1 trainer (``trainer.use_v1=true``, verl's default): :class:`DurianTrainer`, registered as
  ``trainer.v1.trainer_mode=durian``. It is verl's sync trainer whose ``_compute_advantage`` also
  reads ``uid``, ``old_log_probs`` and ``extra_info`` of the same rows from the
  TransferQueue, provides them to the estimator, and logs its per-group metrics.
* legacy trainer (``trainer.use_v1=false``): ``RayPPOTrainer.fit`` calls the module-level
  ``verl.trainer.ppo.ray_trainer.compute_advantage`` and offers no hook, so :func:`install`
  wraps that function (and ``compute_data_metrics``, to log the metrics) in that module.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import transfer_queue as tq
from tensordict.tensorclass import NonTensorData
from transfer_queue import KVBatchMeta
from verl.trainer.ppo import ray_trainer
from verl.trainer.ppo.v1 import PPOTrainerSync, register_trainer

from durian.recipe.inputs import (
    DURIAN_ESTIMATORS,
    DurianInputs,
    current_inputs,
    entropy_from_extra_info,
    estimator_name,
    inputs_from_dataproto,
    provide,
    settings_from_config,
)
from durian.recipe.sampler import with_group_filter, with_poll_interval
from durian.step_stats import advantage_statistics, reward_statistics

TRAINER_MODE = "durian"
METRICS_KEY = "durian_metrics"  # legacy trainer: DataProto.meta_info key carrying the metrics
_WRAPPED = "__durian_wraps__"


def _legacy_compute_advantage(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def compute_advantage(data, adv_estimator, *args, **kwargs):
        if estimator_name(adv_estimator) not in DURIAN_ESTIMATORS or current_inputs() is not None:
            return original(data, adv_estimator, *args, **kwargs)  # not Durian, or the v1 trainer fed it
        with provide(inputs_from_dataproto(data)) as inputs:
            data = original(data, adv_estimator, *args, **kwargs)
        data.meta_info[METRICS_KEY] = dict(inputs.metrics)
        return data

    setattr(compute_advantage, _WRAPPED, original)
    return compute_advantage


def _legacy_compute_data_metrics(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def compute_data_metrics(batch, *args, **kwargs):
        metrics = original(batch, *args, **kwargs)
        metrics.update(batch.meta_info.get(METRICS_KEY, {}))
        return metrics

    setattr(compute_data_metrics, _WRAPPED, original)
    return compute_data_metrics


def install() -> None:
    """Wrap the legacy trainer's two module-level functions once; the v1 trainer registers itself
    when this module is imported."""
    for name, wrap in (
        ("compute_advantage", _legacy_compute_advantage),
        ("compute_data_metrics", _legacy_compute_data_metrics),
    ):
        current = getattr(ray_trainer, name)
        if not hasattr(current, _WRAPPED):
            setattr(ray_trainer, name, wrap(current))


def _as_list(values: Any) -> list[Any]:
    # TransferQueue hands non-tensor fields back as a NonTensorStack, a tensordict LinkedList or a numpy array.
    items = values.tolist() if hasattr(values, "tolist") else list(values)
    return [item.data if isinstance(item, NonTensorData) else item for item in items]


@register_trainer(TRAINER_MODE)
class DurianTrainer(PPOTrainerSync):
    """verl's sync trainer whose advantage step feeds the Durian estimators."""

    # PPOTrainer branches on ``self.trainer_mode == "sync"`` (replay buffer, checkpoints, rollout
    # submission) and reads ``trainer.v1.<mode>`` settings: Durian must behave as "sync" there.
    @property
    def trainer_mode(self) -> str:
        return "sync"

    @trainer_mode.setter
    def trainer_mode(self, value: str) -> None:  # PPOTrainer.__init__ assigns trainer.v1.trainer_mode
        if value not in (TRAINER_MODE, "sync"):
            raise ValueError(f"trainer.v1.trainer_mode: DurianTrainer runs as '{TRAINER_MODE}', got {value!r}")

    def __init__(self, config: Any):
        super().__init__(config)
        if estimator_name(config.algorithm.adv_estimator) in DURIAN_ESTIMATORS:
            settings_from_config(config.algorithm)  # fail now, not after the first rollout

    def _build_replay_buffer(self):
        """verl's replay buffer, with DAPO's group filter by the arm's rule and the scale's poll
        interval (durian.recipe.sampler)."""
        kwargs = self.config.trainer.v1.sampler.get("sampler_kwargs")
        return with_poll_interval(with_group_filter(super()._build_replay_buffer(), kwargs), kwargs)

    def _compute_advantage(self, batch: KVBatchMeta, metrics: dict) -> KVBatchMeta:
        if estimator_name(self.config.algorithm.adv_estimator) not in DURIAN_ESTIMATORS:
            batch = super()._compute_advantage(batch, metrics)
        else:
            with provide(self._durian_inputs(batch)) as inputs:
                batch = super()._compute_advantage(batch, metrics)
            metrics.update(inputs.metrics)
        metrics.update(self._step_statistics(batch))
        return batch

    def _step_statistics(self, batch: KVBatchMeta) -> dict[str, float]:
        """Appendix A's effective / extreme-sample counts of this step's batch, for every arm, and
        what the arm's advantages gave extreme prompts' lone rollouts beside the other rollouts."""
        fields = ["uid", "rm_scores", "response_mask", "advantages"]
        data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=fields)
        uid = np.array(_as_list(data["uid"]), dtype=object)
        tensors = data.select("rm_scores", "response_mask", "advantages").to_padded_tensor()
        mask = tensors["response_mask"].float()
        real = mask.sum(dim=-1) > 0  # verl pads batches with empty dummy rows
        scores = tensors["rm_scores"].sum(dim=-1)[real].tolist()
        per_rollout = (tensors["advantages"] * mask).sum(dim=-1) / mask.sum(dim=-1).clamp(min=1)
        uid = uid[real.numpy()]
        return {**reward_statistics(scores, uid), **advantage_statistics(per_rollout[real].tolist(), scores, uid)}

    def _durian_inputs(self, batch: KVBatchMeta) -> DurianInputs:
        """The rows of ``batch`` in the order the parent reads them (same keys, same padding)."""
        fields = ["uid", "old_log_probs", "extra_info"]
        data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=fields)
        missing = [field for field in fields if field not in data]
        if missing:
            raise ValueError(f"Durian needs the TransferQueue fields {missing} for its advantage step; they are not stored")
        uid = np.array(_as_list(data["uid"]), dtype=object)
        extra_info = _as_list(data["extra_info"])
        # Padded like the parent pads it: to the longest response of these rows.
        old_log_probs = data.select("old_log_probs").to_padded_tensor()["old_log_probs"]
        entropy = entropy_from_extra_info(extra_info, uid)
        return DurianInputs(uid=uid, visual_entropy=entropy, old_log_probs=old_log_probs)
