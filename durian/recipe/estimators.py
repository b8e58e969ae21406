"""Durian's advantages as verl advantage estimators (``algorithm.adv_estimator=durian`` etc.).

The estimators read each row's old log-probs and visual entropy from the inputs the trainer
provides (``durian.recipe.inputs``) and leave their per-group metrics there; settings come from
``algorithm.durian`` (docs/method.md §5, §10).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from durian.advantage import ablation_weights, durian_advantage_with_groups, group_mean_batch_std_advantage
from durian.difficulty import sequence_confidence
from durian.recipe.inputs import ENTROPY_KEY, DurianInputs, current_inputs, settings_from_config

GROUP_MEAN_BATCH_STD = "group_mean_batch_std"


@dataclasses.dataclass(frozen=True)
class RowGroups:
    """Rows ``order[k*G:(k+1)*G]`` are the G rollouts of prompt k (k = 0..B-1)."""

    order: torch.Tensor
    num_prompts: int
    group_size: int

    def to_grid(self, per_row: torch.Tensor) -> torch.Tensor:
        return per_row[self.order].view(self.num_prompts, self.group_size, *per_row.shape[1:])


def group_rows(index: Any, response_mask: torch.Tensor) -> RowGroups:
    """Group rows by uid, wherever they sit in the batch (verl's balance_batch reorders rows).

    A uid none of whose rows holds a response token is left out: that is verl's synthetic
    padding (``upsample_batch_to_divisible_size``), and such rows add nothing to the loss.
    """
    if index is None:
        raise ValueError("index: the Durian estimators need the rows' uids (non_tensor_batch['uid'])")
    index = np.asarray(index)
    rows = response_mask.shape[0]
    if index.shape != (rows,):
        raise ValueError(f"index: expected {rows} uids, one per row, got shape {index.shape}")
    uids, inverse = np.unique(index, return_inverse=True)
    has_tokens = np.zeros(len(uids), dtype=bool)
    np.logical_or.at(has_tokens, inverse, (response_mask.sum(dim=-1) > 0).cpu().numpy())
    counts = np.bincount(inverse, minlength=len(uids))[has_tokens]
    if counts.size and counts.min() != counts.max():
        sizes = {str(u): int(c) for u, c in zip(uids[has_tokens], counts)}
        raise ValueError(f"index: every uid needs the same number of rollouts, got rollouts per uid {sizes}")
    order = np.argsort(inverse, kind="stable")
    order = order[has_tokens[inverse[order]]]
    group_size = int(counts[0]) if counts.size else 0
    return RowGroups(torch.from_numpy(order), int(counts.size), group_size)


def _scatter(groups: RowGroups, grid: torch.Tensor, response_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    per_row = torch.zeros(response_mask.shape[0], dtype=grid.dtype, device=grid.device)
    per_row[groups.order.to(grid.device)] = grid.reshape(-1)
    advantages = per_row.unsqueeze(-1) * response_mask
    return advantages, advantages


def _require_inputs(index: Any, response_mask: torch.Tensor) -> DurianInputs:
    inputs = current_inputs()
    if inputs is None:
        raise RuntimeError(
            "the Durian estimators need each row's old log-probs and extra_info.visual_entropy, and none were "
            "provided: with trainer.use_v1=true set trainer.v1.trainer_mode=durian; the legacy trainer is fed "
            "by durian.recipe.trainer.install() (run at `import verl` by the durian plugin)"
        )
    if not np.array_equal(np.asarray(inputs.uid), np.asarray(index)):
        raise ValueError("Durian inputs are not row-aligned with the batch: their uids differ from index")
    if tuple(inputs.old_log_probs.shape) != tuple(response_mask.shape):
        raise ValueError(
            f"old_log_probs: shape {tuple(inputs.old_log_probs.shape)} differs from response_mask "
            f"{tuple(response_mask.shape)}"
        )
    return inputs


def _per_prompt_entropy(groups: RowGroups, entropy: torch.Tensor, index: np.ndarray) -> torch.Tensor:
    grid = groups.to_grid(entropy.to(torch.float64).cpu())
    differs = (grid != grid[:, :1]).any(dim=1)
    if bool(differs.any()):
        row = int(groups.order[int(differs.nonzero()[0, 0]) * groups.group_size])
        raise ValueError(f"extra_info.{ENTROPY_KEY}: rollouts of uid {index[row]!r} disagree; rows are misaligned")
    return grid[:, 0]


def _group_metrics(info: dict[str, torch.Tensor], num_prompts: int, num_reasoning_groups: int) -> dict[str, float]:
    metrics: dict[str, float] = {"durian/num_prompts": float(num_prompts)}
    for kind, count in (("perceptual", 3), ("reasoning", num_reasoning_groups)):
        if f"{kind}_groups" not in info:
            continue
        sizes = torch.bincount(info[f"{kind}_groups"], minlength=count)
        std = info[f"{kind}_std"]
        for g in range(count):
            metrics[f"durian/{kind}_size_{g}"] = float(sizes[g])
            if sizes[g] > 0:
                metrics[f"durian/{kind}_std_{g}"] = float(std[g])
        metrics[f"durian/{kind}_groups_used"] = float((sizes > 0).sum())
    return metrics


def _durian(
    token_level_rewards: torch.Tensor, response_mask: torch.Tensor, index: Any, config: Any, ablation: str | None
) -> tuple[torch.Tensor, torch.Tensor]:
    settings = settings_from_config(config)
    weights = settings.weights if ablation is None else ablation_weights(settings.weights, ablation)
    inputs = _require_inputs(index, response_mask)
    groups = group_rows(index, response_mask)
    if groups.num_prompts == 0:
        zeros = torch.zeros_like(token_level_rewards)
        return zeros, zeros
    index = np.asarray(index)
    scores = groups.to_grid(token_level_rewards.sum(dim=-1))
    entropy = _per_prompt_entropy(groups, inputs.visual_entropy, index)
    confidence = sequence_confidence(
        inputs.old_log_probs[groups.order].float().cpu(),
        response_mask[groups.order].cpu(),
        groups.group_size,
        settings.confidence_reduce,
    )
    advantage, info = durian_advantage_with_groups(
        scores.cpu(),
        entropy,
        confidence,
        weights,
        settings.num_reasoning_groups,
        settings.eps,
        perceptual_quantiles=settings.perceptual_quantiles,
    )
    inputs.metrics.update(_group_metrics(info, groups.num_prompts, settings.num_reasoning_groups))
    return _scatter(groups, advantage.to(token_level_rewards.device), response_mask)


def durian_estimator(token_level_rewards, response_mask, index=None, config=None, **_: Any):
    """Eq. 20 with the run's weights (``algorithm.durian.weights``)."""
    return _durian(token_level_rewards, response_mask, index, config, None)


def durian_perceptual_estimator(token_level_rewards, response_mask, index=None, config=None, **_: Any):
    """Figure 3's "+perceptual": alpha_Reason = 0, the other two rescaled."""
    return _durian(token_level_rewards, response_mask, index, config, "perceptual")


def durian_reasoning_estimator(token_level_rewards, response_mask, index=None, config=None, **_: Any):
    """Figure 3's "+reasoning": alpha_Percep = 0, the other two rescaled."""
    return _durian(token_level_rewards, response_mask, index, config, "reasoning")


def group_mean_batch_std_estimator(token_level_rewards, response_mask, index=None, config=None, **_: Any):
    """The prompt's own mean, one unbiased std over every reward of the batch (not verl's
    ``reinforce_plus_plus_baseline``, which whitens token-weighted and re-centres)."""
    settings = settings_from_config(config)
    groups = group_rows(index, response_mask)
    if groups.num_prompts == 0:
        zeros = torch.zeros_like(token_level_rewards)
        return zeros, zeros
    scores = groups.to_grid(token_level_rewards.sum(dim=-1))
    return _scatter(groups, group_mean_batch_std_advantage(scores, settings.eps), response_mask)


ESTIMATORS = {
    "durian": durian_estimator,
    "durian_perceptual": durian_perceptual_estimator,
    "durian_reasoning": durian_reasoning_estimator,
    GROUP_MEAN_BATCH_STD: group_mean_batch_std_estimator,
}


def install() -> None:
    """Register the estimators with verl (idempotent). Safe while ``verl/__init__`` is still
    running (the plugin's case): verl has bound ``DataProto`` by then, all core_algos needs."""
    from verl.trainer.ppo.core_algos import register_adv_est

    for name, fn in ESTIMATORS.items():
        register_adv_est(name)(fn)
