"""Difficulty scores: perceptual (visual entropy, docs/method.md §2) and reasoning (confidence, §3)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Literal

import torch

from durian.checks import check_finite

Route = Literal["auto", "gram", "covariance"]


def visual_entropy(features: torch.Tensor, route: Route = "auto") -> float:
    """Entropy of the normalised eigenvalues of the patch-feature covariance of one image.

    ``features`` is [P, d] (P patches). The non-zero eigenvalues of the P x P Gram matrix
    Fc Fc^T and of the d x d covariance Fc^T Fc are the same, so ``auto`` takes the smaller.
    Features with no spread (P = 1, or all patches equal) have entropy 0.
    """
    return float(visual_entropies([features], route=route)[0])


def visual_entropies(features: Sequence[torch.Tensor], route: Route = "auto") -> torch.Tensor:
    """Batched :func:`visual_entropy` for images with different patch counts -> float64 [n].

    Images of the same shape share one batched eigendecomposition.
    """
    if route not in ("auto", "gram", "covariance"):
        raise ValueError(f"route: must be 'auto', 'gram' or 'covariance', got {route!r}")
    by_shape: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, f in enumerate(features):
        if not isinstance(f, torch.Tensor) or f.ndim != 2 or f.shape[0] < 1 or f.shape[1] < 1:
            shape = tuple(f.shape) if isinstance(f, torch.Tensor) else type(f).__name__
            raise ValueError(f"features: image {i} must be a non-empty [P, d] tensor, got {shape}")
        if not bool(torch.isfinite(f).all()):
            raise ValueError(f"features: non-finite value (NaN or inf) in image {i}")
        by_shape[tuple(f.shape)].append(i)

    device = features[0].device if len(features) else torch.device("cpu")
    out = torch.zeros(len(features), dtype=torch.float64, device=device)
    for (patches, dims), indices in by_shape.items():
        x = torch.stack([features[i] for i in indices]).to(torch.float64)
        x = x - x.mean(dim=1, keepdim=True)
        use_gram = route == "gram" or (route == "auto" and patches <= dims)
        matrix = x @ x.transpose(1, 2) if use_gram else x.transpose(1, 2) @ x
        out[torch.tensor(indices, device=device)] = _eigen_entropy(torch.linalg.eigvalsh(matrix))
    return out


def _eigen_entropy(eigenvalues: torch.Tensor) -> torch.Tensor:
    lam = eigenvalues.clamp(min=0)
    total = lam.sum(dim=-1, keepdim=True)
    p = lam / torch.where(total > 0, total, torch.ones_like(total))
    return -torch.special.xlogy(p, p).sum(dim=-1)


def sequence_confidence(
    token_logprobs: torch.Tensor,
    mask: torch.Tensor,
    group_size: int,
    reduce: Literal["mean", "sum"] = "mean",
) -> torch.Tensor:
    """Eq. 14-15: per prompt, the mean over its G rollouts of each rollout's log-probability.

    Rows are rollouts, grouped prompt-major (rows k*G .. k*G+G-1 belong to prompt k, as verl
    lays them out). ``reduce="mean"`` length-normalises each rollout (docs/method.md §10), ``"sum"``
    is eq. 14 as printed. Returns [N / group_size].
    """
    if reduce not in ("mean", "sum"):
        raise ValueError(f"reduce: must be 'mean' or 'sum', got {reduce!r}")
    if not isinstance(token_logprobs, torch.Tensor) or token_logprobs.ndim != 2:
        raise ValueError("token_logprobs: expected a [N, T] tensor")
    if not isinstance(mask, torch.Tensor) or mask.shape != token_logprobs.shape:
        got = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(f"mask: expected shape {tuple(token_logprobs.shape)} like token_logprobs, got {got}")
    rows = token_logprobs.shape[0]
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
        raise ValueError(f"group_size: must be an integer >= 1, got {group_size!r}")
    if rows == 0 or rows % group_size:
        raise ValueError(f"group_size: {rows} rows do not split into groups of {group_size}")

    weights = mask.to(token_logprobs.dtype)
    # einsum runs as a batched BLAS dot here, ~3x faster than (x * w).sum(-1) or vecdot on CPU.
    totals = torch.einsum("nt,nt->n", token_logprobs, weights)
    if not bool(torch.isfinite(totals).all()):
        # Slow path: tell non-finite values under the mask from those in padding.
        masked = torch.where(mask.bool(), token_logprobs, torch.zeros_like(token_logprobs))
        check_finite("token_logprobs", masked)
        totals = masked.sum(dim=-1)
    if reduce == "mean":
        lengths = weights.sum(dim=-1)
        if bool((lengths == 0).any()):
            first = int((lengths == 0).nonzero()[0, 0])
            raise ValueError(f"mask: response at row {first} has no tokens, its mean log-prob is undefined")
        totals = totals / lengths
    return totals.view(rows // group_size, group_size).mean(dim=1)
