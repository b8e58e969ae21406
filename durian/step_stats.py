"""Per-step reward statistics of paper appendix A, for every arm.

Per prompt (its n rollouts): *effective* when its rewards are not all equal (a non-zero GRPO
advantage), *extreme success* when exactly one rollout is wrong, *extreme failure* when exactly
one is right. A rollout is right when its reward reaches the accuracy weight (0.9): the format
term alone is 0.1 (DAPO's overlong penalty can push a right but overlong answer below it).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from durian.reward import ACCURACY_WEIGHT


def reward_statistics(scores: Sequence[float], uid: Sequence[object], prefix: str = "durian_stats/") -> dict[str, float]:
    scores = np.asarray(scores, dtype=np.float64)
    uid = np.asarray(uid, dtype=object)
    if scores.shape != uid.shape:
        raise ValueError(f"scores: {scores.shape[0]} values for {uid.shape[0]} uids")
    _, inverse = np.unique(uid.astype(str), return_inverse=True)
    prompts = int(inverse.max()) + 1 if inverse.size else 0
    size = np.bincount(inverse, minlength=prompts)
    right = np.bincount(inverse, weights=scores >= ACCURACY_WEIGHT - 1e-6, minlength=prompts)
    low = np.full(prompts, np.inf)
    high = np.full(prompts, -np.inf)
    np.minimum.at(low, inverse, scores)
    np.maximum.at(high, inverse, scores)
    several = size >= 2
    counts = {
        "effective": int(np.sum(high > low)),
        "extreme_success": int(np.sum(several & (right == size - 1))),
        "extreme_failure": int(np.sum(several & (right == 1))),
    }
    out = {f"{prefix}prompts": float(prompts), f"{prefix}accuracy": float(right.sum() / max(size.sum(), 1))}
    for name, count in counts.items():
        out[f"{prefix}{name}"] = float(count)
        out[f"{prefix}{name}_share"] = count / prompts if prompts else 0.0
    return out
