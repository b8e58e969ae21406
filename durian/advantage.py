"""Durian's difficulty-aware advantages (docs/method.md §2-§6), pure torch and vectorised.

Every function takes one row per prompt ("sample") and returns one value per rollout:
``scores[B, G]`` are the G rollout rewards of each of the B samples. The sample's own
mean is always subtracted (GRPO's intra-group contrast); only the scale differs:

* GRPO: each sample's own std;
* Durian: a std pooled over all rewards of the samples in the same difficulty group;
* group mean / batch std: one group spanning the batch (Lite PPO, TRL ``scale_rewards="batch"``).

A sample whose G rewards are all equal gets exactly zero advantage, whatever its group.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch

from durian.checks import check_finite, check_vector
from durian.experiment import check_weights  # the one check of a weights triple

DEFAULT_WEIGHTS = (0.1, 0.2, 0.7)  # (alpha_Ori, alpha_Percep, alpha_Reason), best mean in Table 3
DEFAULT_NUM_REASONING_GROUPS = 12  # best in Table 2
DEFAULT_PERCEPTUAL_QUANTILES = (0.25, 0.75)


def _quantile(values: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Linear-interpolation quantiles (numpy's default), computed in float64."""
    return torch.quantile(values.to(torch.float64), q.to(torch.float64))


def perceptual_groups(entropy: torch.Tensor, quantiles: Sequence[float] = DEFAULT_PERCEPTUAL_QUANTILES) -> torch.Tensor:
    """Eq. 10: 0 for H <= q_low, 2 for H >= q_high, 1 in between (batch quantiles, 25/75 by default).

    Where q_low == q_high (many ties) the two outer sets overlap; S1 wins, so every sample
    is in exactly one group.
    """
    check_vector("entropy", entropy)
    check_finite("entropy", entropy)
    low, high = check_quantiles(quantiles)
    h = entropy.to(torch.float64)
    q_low, q_high = _quantile(h, torch.tensor([low, high]))
    groups = torch.ones_like(h, dtype=torch.long)
    groups[h >= q_high] = 2
    groups[h <= q_low] = 0
    return groups


def check_quantiles(quantiles: Sequence[float]) -> tuple[float, float]:
    values = tuple(float(q) for q in quantiles)
    if len(values) != 2 or not 0.0 <= values[0] <= values[1] <= 1.0:
        raise ValueError(f"perceptual_quantiles: expected (low, high) with 0 <= low <= high <= 1, got {values}")
    return values  # type: ignore[return-value]


def reasoning_groups(confidence: torch.Tensor, num_groups: int) -> torch.Tensor:
    """Eq. 16: group u in 0..b-1 holds q(u/b) <= c < q((u+1)/b); the maximum goes to b-1."""
    check_vector("confidence", confidence)
    check_finite("confidence", confidence)
    _check_num_groups("num_groups", num_groups)
    c = confidence.to(torch.float64)
    inner = _quantile(c, torch.arange(1, num_groups, dtype=torch.float64) / num_groups)
    return torch.searchsorted(inner, c, right=True)


def shared_std_advantage(scores: torch.Tensor, groups: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Eq. 11-13 / 17-19: (r - own mean) / (unbiased std pooled over the group's rewards + eps)."""
    _check_scores(scores)
    check_vector("groups", groups, length=scores.shape[0])
    if groups.dtype not in (torch.int32, torch.int64) or (groups.numel() and int(groups.min()) < 0):
        raise ValueError("groups: must be non-negative integer group ids")
    _check_eps(eps)
    return _scale_by_group_std(scores, _centred(scores), groups, eps)[0]


def _scale_by_group_std(
    scores: torch.Tensor, centred: torch.Tensor, groups: torch.Tensor, eps: float
) -> tuple[torch.Tensor, torch.Tensor]:
    std = pooled_group_std(scores, groups)
    return centred / (std[groups].unsqueeze(1) + eps), std


def pooled_group_std(scores: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """Unbiased std of all rewards of each group id (0 for a group with fewer than 2 rewards)."""
    num_groups = int(groups.max()) + 1 if groups.numel() else 0
    x = scores.to(torch.float64)
    size = torch.zeros(num_groups, dtype=torch.float64).index_add_(0, groups, torch.full_like(x[:, 0], x.shape[1]))
    total = torch.zeros(num_groups, dtype=torch.float64).index_add_(0, groups, x.sum(1))
    mean = total / size.clamp(min=1)
    squares = ((x - mean[groups].unsqueeze(1)) ** 2).sum(1)
    ss = torch.zeros(num_groups, dtype=torch.float64).index_add_(0, groups, squares)
    std = torch.where(size > 1, (ss / (size - 1).clamp(min=1)).sqrt(), torch.zeros_like(ss))
    return std.to(scores.dtype)


def grpo_advantage(scores: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Eq. 2: every sample is its own group."""
    _check_scores(scores)
    return shared_std_advantage(scores, torch.arange(scores.shape[0]), eps)


def group_mean_batch_std_advantage(scores: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """The sample's own mean, one std over every reward of the batch (Durian with one bucket).

    verl's ``reinforce_plus_plus_baseline`` is not this: it whitens token-weighted over the
    batch and re-centres, so zero-variance prompts get non-zero advantages there.
    """
    _check_scores(scores)
    return shared_std_advantage(scores, torch.zeros(scores.shape[0], dtype=torch.long), eps)


def durian_advantage(
    scores: torch.Tensor,
    entropy: torch.Tensor,
    confidence: torch.Tensor,
    weights: Sequence[float] = DEFAULT_WEIGHTS,
    num_reasoning_groups: int = DEFAULT_NUM_REASONING_GROUPS,
    eps: float = 1e-6,
    *,
    perceptual_quantiles: Sequence[float] = DEFAULT_PERCEPTUAL_QUANTILES,
) -> torch.Tensor:
    """Eq. 20: alpha_Ori * A^GRPO + alpha_Percep * A^Perceptual + alpha_Reason * A^Reasoning."""
    return durian_advantage_with_groups(
        scores, entropy, confidence, weights, num_reasoning_groups, eps, perceptual_quantiles=perceptual_quantiles
    )[0]


def durian_advantage_with_groups(
    scores: torch.Tensor,
    entropy: torch.Tensor,
    confidence: torch.Tensor,
    weights: Sequence[float] = DEFAULT_WEIGHTS,
    num_reasoning_groups: int = DEFAULT_NUM_REASONING_GROUPS,
    eps: float = 1e-6,
    *,
    perceptual_quantiles: Sequence[float] = DEFAULT_PERCEPTUAL_QUANTILES,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """:func:`durian_advantage` plus the group ids and pooled stds it used (for metrics)."""
    _check_scores(scores)
    batch = scores.shape[0]
    check_vector("entropy", entropy, length=batch)
    check_vector("confidence", confidence, length=batch)
    check_finite("entropy", entropy)
    check_finite("confidence", confidence)
    w_ori, w_percep, w_reason = check_weights(weights)
    _check_num_groups("num_reasoning_groups", num_reasoning_groups)
    check_quantiles(perceptual_quantiles)
    _check_eps(eps)

    centred = _centred(scores)
    advantage = torch.zeros_like(centred)
    info: dict[str, torch.Tensor] = {}
    if w_ori:
        advantage += w_ori * _scale_by_group_std(scores, centred, torch.arange(batch), eps)[0]
    if w_percep:
        groups = perceptual_groups(entropy, perceptual_quantiles)
        term, info["perceptual_std"] = _scale_by_group_std(scores, centred, groups, eps)
        advantage += w_percep * term
        info["perceptual_groups"] = groups
    if w_reason:
        groups = reasoning_groups(confidence, num_reasoning_groups)
        term, info["reasoning_std"] = _scale_by_group_std(scores, centred, groups, eps)
        advantage += w_reason * term
        info["reasoning_groups"] = groups
    return advantage, info


def ablation_weights(weights: Sequence[float], keep: str) -> tuple[float, float, float]:
    """Figure 3's ablations: "perceptual" drops alpha_Reason, "reasoning" drops alpha_Percep,
    and the two weights left are rescaled to sum to 1 (docs/method.md §10)."""
    w_ori, w_percep, w_reason = check_weights(weights)
    if keep == "perceptual":
        kept = (w_ori, w_percep, 0.0)
    elif keep == "reasoning":
        kept = (w_ori, 0.0, w_reason)
    else:
        raise ValueError(f"keep: must be 'perceptual' or 'reasoning', got {keep!r}")
    total = sum(kept)
    if total == 0:
        raise ValueError(f"weights: {weights} leave nothing to rescale when keeping only {keep}")
    return tuple(w / total for w in kept)  # type: ignore[return-value]


def _centred(scores: torch.Tensor) -> torch.Tensor:
    """r - the sample's mean, exactly 0 for a sample whose rewards are all equal."""
    centred = scores - scores.mean(dim=1, keepdim=True)
    constant = scores.amax(dim=1) == scores.amin(dim=1)
    return centred.masked_fill(constant.unsqueeze(1), 0.0)


def _check_scores(scores: torch.Tensor) -> None:
    if not isinstance(scores, torch.Tensor) or scores.ndim != 2:
        shape = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
        raise ValueError(f"scores: expected a tensor of shape [B, G], got {shape}")
    if scores.shape[0] < 1 or scores.shape[1] < 1:
        raise ValueError(f"scores: need at least one sample and one rollout, got shape {tuple(scores.shape)}")
    if not scores.is_floating_point():
        raise ValueError(f"scores: expected a floating-point tensor, got {scores.dtype}")
    check_finite("scores", scores)


def _check_num_groups(name: str, num_groups: int) -> None:
    if isinstance(num_groups, bool) or not isinstance(num_groups, numbers.Integral) or num_groups < 1:
        raise ValueError(f"{name}: must be an integer >= 1, got {num_groups!r}")


def _check_eps(eps: float) -> None:
    if not (eps > 0 and eps < float("inf")):
        raise ValueError(f"eps: must be a positive finite number, got {eps!r}")
