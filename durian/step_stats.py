"""Per-step reward statistics of paper appendix A, for every arm.

Per prompt (its n rollouts): *effective* when its rewards are not all equal (a non-zero GRPO
advantage), *extreme success* when exactly one rollout is wrong, *extreme failure* when exactly
one is right. A rollout is right when its reward reaches the accuracy weight (0.9): the format
term alone is 0.1 (DAPO's overlong penalty can push a right but overlong answer below it).

:func:`advantage_statistics` shows what an arm's normalization does to extreme prompts: the mean
absolute advantage of the *lone* rollout of an extreme prompt (the one right answer of an extreme
failure, the one wrong answer of an extreme success) beside that of the rollouts of the other
effective prompts (the paper's premise: GRPO's per-prompt std inflates the former).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from durian.reward import ACCURACY_WEIGHT


def _groups(scores: np.ndarray, uid: np.ndarray):
    """Per rollout its prompt's index; per prompt whether it is effective, an extreme success (one
    rollout of several wrong) or an extreme failure (one of several right)."""
    if scores.shape != uid.shape:
        raise ValueError(f"scores: {scores.shape[0]} values for {uid.shape[0]} uids")
    _, inverse = np.unique(uid.astype(str), return_inverse=True)
    prompts = int(inverse.max()) + 1 if inverse.size else 0
    size = np.bincount(inverse, minlength=prompts)
    right = np.bincount(inverse, weights=_right(scores), minlength=prompts)
    low = np.full(prompts, np.inf)
    high = np.full(prompts, -np.inf)
    np.minimum.at(low, inverse, scores)
    np.maximum.at(high, inverse, scores)
    several = size >= 2
    return inverse, high > low, several & (right == size - 1), several & (right == 1)


def _right(scores: np.ndarray) -> np.ndarray:
    return scores >= ACCURACY_WEIGHT - 1e-6


def reward_statistics(scores: Sequence[float], uid: Sequence[object], prefix: str = "durian_stats/") -> dict[str, float]:
    scores = np.asarray(scores, dtype=np.float64)
    _, effective, success, failure = _groups(scores, np.asarray(uid, dtype=object))
    prompts = effective.size
    counts = {"effective": int(effective.sum()), "extreme_success": int(success.sum()),
              "extreme_failure": int(failure.sum())}
    out = {f"{prefix}prompts": float(prompts), f"{prefix}accuracy": float(_right(scores).sum() / max(scores.size, 1))}
    for name, count in counts.items():
        out[f"{prefix}{name}"] = float(count)
        out[f"{prefix}{name}_share"] = count / prompts if prompts else 0.0
    return out


def advantage_statistics(advantages: Sequence[float], scores: Sequence[float], uid: Sequence[object],
                         prefix: str = "durian_stats/") -> dict[str, float]:
    """Mean |advantage| (one value per rollout) of extreme prompts' lone rollouts and of the other
    effective prompts' rollouts; a key is left out on a step without such rollouts."""
    advantages = np.abs(np.asarray(advantages, dtype=np.float64))
    scores = np.asarray(scores, dtype=np.float64)
    if advantages.shape != scores.shape:
        raise ValueError(f"advantages: {advantages.shape[0]} values for {scores.shape[0]} scores")
    inverse, effective, success, failure = _groups(scores, np.asarray(uid, dtype=object))
    right = _right(scores)
    lone = (failure[inverse] & right) | (success[inverse] & ~right)
    other = effective[inverse] & ~success[inverse] & ~failure[inverse]
    out = {}
    for name, mask in (("lone_advantage", lone), ("other_advantage", other)):
        if mask.any():
            out[f"{prefix}{name}"] = float(advantages[mask].mean())
    return out
