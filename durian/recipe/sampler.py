"""DAPO's dynamic sampling by EasyR1's rule, inside verl 0.9.1's sync replay buffer.

verl's ``ReplayBuffer`` evicts a finished prompt group iff its filter metric is equal across the
group (``verl/trainer/ppo/v1/replay_buffer.py``, ``_dapo_filtered_keys``) and refills the batch.
EasyR1, whose defaults the paper ran (@a23fb5b ``verl/trainer/ray_trainer.py`` L518-539,
``online_filtering``), keeps a group iff ``low < mean(score) < high`` with (0.01, 0.99). With the
paper's reward (0, 0.1, 0.9 or 1 per rollout) and n = 8 that drops only the all-0 and all-1 groups
and keeps, e.g., all-0.1 groups (formatted, all wrong), whose rewards then enter Durian's pooled std.

The rule is a setting of the arm, ``trainer.v1.sampler.sampler_kwargs`` (verl hands these to its
replay buffer): ``group_filter`` is ``mean_band`` (EasyR1's) or ``equal`` (verl's own, untouched),
``group_filter_low`` / ``group_filter_high`` the band. :func:`with_group_filter` swaps the buffer
verl built for :class:`MeanBandReplayBuffer` with the same constructor arguments.
``poll_interval`` (a scale's setting) is how often the buffer checks for finished rollouts.
"""

from __future__ import annotations

import inspect
import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

RULES = ("mean_band", "equal")
RULE_KEY, LOW_KEY, HIGH_KEY = "group_filter", "group_filter_low", "group_filter_high"
# verl's sync buffer waits this long between checks for finished rollouts (its constructor's
# ``poll_interval``, 2 s, which no config key reaches): on CPU a step's generation took a multiple of it
POLL_KEY = "poll_interval"


def filter_settings(sampler_kwargs: Mapping[str, Any] | None) -> tuple[str, float, float]:
    """(rule, low, high) from ``trainer.v1.sampler.sampler_kwargs``; no rule given: verl's ``equal``."""
    kwargs = dict(sampler_kwargs or {})
    rule = kwargs.get(RULE_KEY, "equal")
    if rule not in RULES:
        raise ValueError(f"trainer.v1.sampler.sampler_kwargs.{RULE_KEY}: must be one of {list(RULES)}, got {rule!r}")
    low, high = float(kwargs.get(LOW_KEY, 0.01)), float(kwargs.get(HIGH_KEY, 0.99))
    if not low < high:
        raise ValueError(f"trainer.v1.sampler.sampler_kwargs: {LOW_KEY} ({low}) must be below {HIGH_KEY} ({high})")
    return rule, low, high


def keep_group(values: Sequence[float], rule: str, low: float = 0.01, high: float = 0.99) -> bool:
    """Whether dynamic sampling keeps a prompt whose rollouts scored ``values``."""
    if rule == "equal":  # verl: a group of more than one equal score carries no signal
        return not (len(values) > 1 and float(np.std(values)) == 0.0)
    if rule == "mean_band":  # EasyR1: strictly inside the band
        return low < float(np.mean(values)) < high
    raise ValueError(f"group filter rule: must be one of {list(RULES)}, got {rule!r}")


def _replay_buffer_class():
    from verl.trainer.ppo.v1.replay_buffer import ReplayBuffer

    return ReplayBuffer


class _MeanBand:
    """Mixed into verl's ReplayBuffer (see :func:`mean_band_class`): its DAPO classification only."""

    group_filter_low = 0.01
    group_filter_high = 0.99

    def _group_scores(self, partition_id: str, uids: set[str]) -> dict[str, list[float]]:
        """Each finished group's filter metric, read from the TransferQueue as verl's filter reads it:
        ``reward`` is the summed ``rm_scores``; any other name a ``reward_extra_info`` field."""
        import transfer_queue as tq

        keys = [key for key in self.partitions[partition_id] if key.split("_")[0] in uids]
        scores: dict[str, list[float]] = defaultdict(list)
        if not keys:
            return scores
        canonical = self.filter_groups_metric == "reward"
        field = "rm_scores" if canonical else "extra_fields"
        data = tq.kv_batch_get(keys=keys, partition_id=partition_id, select_fields=[field])
        for key, value in zip(keys, list(data[field]), strict=True):
            if canonical:
                scores[key.split("_")[0]].append(float(value.sum().item()))
                continue
            fields = getattr(value, "data", value)
            info = fields.get("reward_extra_info", {}) if isinstance(fields, dict) else {}
            if self.filter_groups_metric not in info:
                raise RuntimeError(f"group {key.split('_')[0]}: no DAPO metric {self.filter_groups_metric!r} "
                                   f"in reward_extra_info (has {sorted(info)})")
            scores[key.split("_")[0]].append(float(info[self.filter_groups_metric]))
        return scores

    def _dapo_filtered_keys(self, partition_id: str) -> tuple[set[str], Counter]:
        if partition_id == "val" or self.filter_groups_metric is None:
            return set(), Counter()
        finished = self.finished_keys[partition_id]
        cache = self._dapo_classification_cache[partition_id]  # uid -> group mean if evicted, else None
        for uid in cache.keys() - finished:
            del cache[uid]
        new = finished - cache.keys()
        scores = self._group_scores(partition_id, new)
        if missing := sorted(new - scores.keys()):
            raise RuntimeError(f"finished groups without trajectories for DAPO metric "
                               f"{self.filter_groups_metric!r}: {missing[:5]}")
        for uid in new:
            values = scores[uid]
            keep = keep_group(values, "mean_band", self.group_filter_low, self.group_filter_high)
            cache[uid] = None if keep else round(float(np.mean(values)), 6)
        evicted = {uid: mean for uid, mean in cache.items() if mean is not None}
        return set(evicted), Counter(evicted.values())


_CLASSES: dict[type, type] = {}


def mean_band_class(base: type | None = None) -> type:
    """verl's ReplayBuffer with EasyR1's classification (made once per base class)."""
    base = base or _replay_buffer_class()
    if base not in _CLASSES:
        _CLASSES[base] = type("MeanBandReplayBuffer", (_MeanBand, base), {"__module__": __name__})
    return _CLASSES[base]


def with_group_filter(buffer: Any, sampler_kwargs: Mapping[str, Any] | None) -> Any:
    """``buffer`` (verl's freshly built sync ReplayBuffer) by the configured rule: itself for verl's
    ``equal`` rule or when DAPO is off, else a :class:`MeanBandReplayBuffer` with its arguments."""
    rule, low, high = filter_settings(sampler_kwargs)
    if rule == "equal" or getattr(buffer, "filter_groups_metric", None) is None:
        return buffer
    base = _replay_buffer_class()
    if type(buffer) is not base:
        raise TypeError(f"group_filter {rule!r} needs verl's sync ReplayBuffer, got {type(buffer).__name__}")
    names = [name for name in inspect.signature(base.__init__).parameters if name != "self"]
    missing = [name for name in names if not hasattr(buffer, name)]
    if missing:  # verl changed its constructor: fail now, not with a half-built buffer
        raise RuntimeError(f"verl's ReplayBuffer keeps no attribute for its arguments {missing}; "
                           f"durian.recipe.sampler needs updating for this verl")
    swapped = mean_band_class(base)(**{name: getattr(buffer, name) for name in names})
    swapped.group_filter_low, swapped.group_filter_high = low, high
    print(f"durian: DAPO group filter {rule}: keep a group iff {low} < mean({buffer.filter_groups_metric}) < {high}",
          flush=True)
    return swapped


def poll_interval(sampler_kwargs: Mapping[str, Any] | None) -> float | None:
    """``sampler_kwargs.poll_interval`` in seconds, checked; None when unset (verl's own interval)."""
    value = dict(sampler_kwargs or {}).get(POLL_KEY)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise ValueError(f"trainer.v1.sampler.sampler_kwargs.{POLL_KEY}: must be a finite number of seconds > 0, "
                         f"got {value!r}")
    return float(value)


def with_poll_interval(buffer: Any, sampler_kwargs: Mapping[str, Any] | None) -> Any:
    """``buffer`` checking for finished rollouts every ``sampler_kwargs.poll_interval`` seconds
    (unset: verl's own interval)."""
    value = poll_interval(sampler_kwargs)
    if value is None:
        return buffer
    if not hasattr(buffer, POLL_KEY):
        raise RuntimeError(f"{type(buffer).__name__} has no {POLL_KEY}: durian.recipe.sampler needs updating for this verl")
    buffer.poll_interval = value
    return buffer
