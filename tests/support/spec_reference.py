"""Loop-by-loop implementation of the method (docs/method.md §1-§6), written from the text, for checking
the vectorised code.

Plain Python and numpy, one sample at a time: slow, but each line maps to an equation.
"""

from __future__ import annotations

import math

import numpy as np


def percentile(values, q):
    """Linear interpolation between order statistics (numpy's default method)."""
    return float(np.quantile(np.asarray(values, dtype=np.float64), q))


def perceptual_groups(entropy, low=0.25, high=0.75):
    tau25, tau75 = percentile(entropy, low), percentile(entropy, high)
    groups = []
    for h in entropy:
        if h <= tau25:
            groups.append(0)  # S1 (checked first where S1 and S3 overlap)
        elif h >= tau75:
            groups.append(2)  # S3
        else:
            groups.append(1)  # S2
    return groups


def reasoning_groups(confidence, b):
    groups = []
    for c in confidence:
        group = b - 1  # the largest value belongs to the last group
        for u in range(b):
            lo, hi = percentile(confidence, u / b), percentile(confidence, (u + 1) / b)
            if lo <= c < hi:
                group = u
                break
        groups.append(group)
    return groups


def shared_std_advantage(scores, groups, eps=1e-6):
    scores = [list(map(float, row)) for row in scores]
    advantages = []
    for s, row in enumerate(scores):
        pooled = [r for t, other in enumerate(scores) if groups[t] == groups[s] for r in other]
        if len(pooled) > 1:
            m = sum(pooled) / len(pooled)
            sigma = math.sqrt(sum((r - m) ** 2 for r in pooled) / (len(pooled) - 1))
        else:
            sigma = 0.0
        own_mean = sum(row) / len(row)
        if max(row) == min(row):
            advantages.append([0.0] * len(row))
        else:
            advantages.append([(r - own_mean) / (sigma + eps) for r in row])
    return advantages


def durian_advantage(scores, entropy, confidence, weights, b, eps=1e-6):
    w_ori, w_percep, w_reason = weights
    grpo = shared_std_advantage(scores, list(range(len(scores))), eps)
    percep = shared_std_advantage(scores, perceptual_groups(entropy), eps)
    reason = shared_std_advantage(scores, reasoning_groups(confidence, b), eps)
    return [
        [w_ori * a + w_percep * p + w_reason * r for a, p, r in zip(ra, rp, rr)]
        for ra, rp, rr in zip(grpo, percep, reason)
    ]


def visual_entropy(features):
    """Eq. 6-9 through the d x d covariance, eigenvalues by numpy."""
    f = np.asarray(features, dtype=np.float64)
    centred = f - f.mean(axis=0, keepdims=True)
    cov = centred.T @ centred / max(f.shape[0] - 1, 1)
    lam = np.clip(np.linalg.eigvalsh(cov), 0, None)
    if lam.sum() == 0:
        return 0.0
    p = lam / lam.sum()
    return float(-sum(pk * math.log(pk) for pk in p if pk > 0))


def sequence_confidence(token_logprobs, mask, group_size, reduce="mean"):
    per_rollout = []
    for lp_row, m_row in zip(token_logprobs, mask):
        picked = [float(lp) for lp, m in zip(lp_row, m_row) if m]
        total = sum(picked)
        per_rollout.append(total / len(picked) if reduce == "mean" else total)
    return [sum(per_rollout[k : k + group_size]) / group_size for k in range(0, len(per_rollout), group_size)]
