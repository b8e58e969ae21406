"""The method's settings: the open choices (docs/method.md §10) as one validated object, read from
any mapping (a verl/Hydra ``algorithm.durian`` node, a YAML file, keyword arguments)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from durian.advantage import (
    DEFAULT_NUM_REASONING_GROUPS,
    DEFAULT_PERCEPTUAL_QUANTILES,
    DEFAULT_WEIGHTS,
    check_quantiles,
    check_weights,
)


@dataclasses.dataclass(frozen=True)
class DurianConfig:
    weights: tuple[float, float, float] = DEFAULT_WEIGHTS
    num_reasoning_groups: int = DEFAULT_NUM_REASONING_GROUPS
    perceptual_quantiles: tuple[float, float] = DEFAULT_PERCEPTUAL_QUANTILES
    confidence_reduce: str = "mean"
    eps: float = 1e-6

    def __post_init__(self) -> None:
        object.__setattr__(self, "weights", check_weights(self.weights))
        object.__setattr__(self, "perceptual_quantiles", check_quantiles(self.perceptual_quantiles))
        groups = self.num_reasoning_groups
        if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
            raise ValueError(f"num_reasoning_groups: must be an integer >= 1, got {groups!r}")
        if self.confidence_reduce not in ("mean", "sum"):
            raise ValueError(f"confidence_reduce: must be 'mean' or 'sum', got {self.confidence_reduce!r}")
        if not (isinstance(self.eps, int | float) and 0 < self.eps < float("inf")):
            raise ValueError(f"eps: must be a positive finite number, got {self.eps!r}")

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> DurianConfig:
        values = dict(mapping or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown Durian setting(s) {unknown}; known: {sorted(known)}")
        for key in ("weights", "perceptual_quantiles"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)
