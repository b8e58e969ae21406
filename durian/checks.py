"""Input validation shared by the method's functions: errors name the argument and the sample."""

from __future__ import annotations

import torch


def check_vector(name: str, values: torch.Tensor, length: int | None = None) -> None:
    if not isinstance(values, torch.Tensor) or values.ndim != 1:
        shape = tuple(values.shape) if isinstance(values, torch.Tensor) else type(values).__name__
        raise ValueError(f"{name}: expected a 1-D tensor, got {shape}")
    if values.numel() == 0:
        raise ValueError(f"{name}: is empty")
    if length is not None and values.shape[0] != length:
        raise ValueError(f"{name}: expected {length} values (one per sample), got {values.shape[0]}")


def check_finite(name: str, values: torch.Tensor) -> None:
    """Raise naming the first sample (row) holding a NaN or inf."""
    if not values.is_floating_point():
        return
    bad = ~torch.isfinite(values)
    if bool(bad.any()):
        rows = bad.reshape(bad.shape[0], -1).any(dim=1) if bad.ndim else bad.reshape(1)
        first = int(rows.nonzero()[0, 0])
        raise ValueError(f"{name}: non-finite value (NaN or inf) at sample index {first}")
