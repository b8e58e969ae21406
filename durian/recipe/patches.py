"""Runtime patch for verl 0.9.1 issue #7899: 3D (mRoPE) ``position_ids`` of equal-length batches.

verl packs per-sample ``(k, L_i)`` position ids with ``torch.nested.as_nested_tensor``. When every
``L_i`` is equal, torch makes the k axis ragged (values ``(B*k, L)``) instead of the sequence axis
(values ``(k, sum L_i)``), and verl's ``maybe_fix_3d_position_ids`` then blindly sets
``_ragged_idx = 2``: ``update_actor`` dies in ``split_with_sizes``, and ``chunk_tensordict``'s
fallback silently hands the old-log-prob pass truncated positions.

``install()`` (called by ``durian.recipe.plugin`` at ``import verl``, in every process) swaps in
``maybe_fix_3d_position_ids`` below, which reads the layout from values and offsets.
``upstream_is_fixed()`` says when the pinned verl no longer needs it.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from tensordict import TensorDict

_NAME = "maybe_fix_3d_position_ids"
# Rope components per token: Qwen2-VL's 3 axes, or verl's text row + 3 axes. Only used to break
# the one tie the layout leaves open (see sequence_ragged).
MROPE_AXES = (3, 4)

_original: Callable[[TensorDict], None] | None = None


def _defining_module() -> ModuleType:
    # Imported lazily: the plugin imports this module while verl/__init__.py is still running.
    from verl.utils import tensordict_utils

    return tensordict_utils


def _verl_function() -> Callable[[TensorDict], None]:
    return _original if _original is not None else getattr(_defining_module(), _NAME)


def __getattr__(name: str) -> Callable[[TensorDict], None]:
    # ORIGINAL: verl's own function, whether or not install() has run.
    if name == "ORIGINAL":
        return _verl_function()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def sequence_ragged(nt: torch.Tensor) -> torch.Tensor:
    """``nt`` (3D jagged, per sample ``(k, L_i)``) ragged on the sequence axis; ``nt`` itself if it already is."""
    if nt._lengths is not None:  # a narrowed view: verl never builds position ids that way
        return nt
    values, offsets = nt._values, nt._offsets
    rows, cols = values.shape
    bounds = offsets.tolist()
    batch, total = len(bounds) - 1, bounds[-1]
    # Two layouts fit position ids; _ragged_idx is not trusted since both bugs corrupt it.
    # values (k, sum L_i), sample i = values[:, o_i:o_{i+1}]: verl's and torch's unequal-length packing
    by_sequence = cols == total
    # values (B*k, L), sample i = values[o_i:o_{i+1}]: torch's equal-length packing
    by_axis = rows == total and len({b - a for a, b in itertools.pairwise(bounds)}) == 1
    if by_sequence and by_axis and batch > 1:
        # Square values fit both readings (k = rows or k = rows / B); only one can be an mRoPE width.
        by_sequence = rows in MROPE_AXES
        by_axis = rows // batch in MROPE_AXES
    if by_sequence:
        if nt._ragged_idx == 2:
            return nt
        return torch.nested.nested_tensor_from_jagged(values, offsets, jagged_dim=2)
    if by_axis:
        k = rows // batch
        values = values.reshape(batch, k, cols).transpose(0, 1).reshape(k, batch * cols)
        offsets = torch.arange(0, batch * cols + 1, cols, dtype=offsets.dtype, device=offsets.device)
        return torch.nested.nested_tensor_from_jagged(values, offsets, jagged_dim=2)
    raise ValueError(
        f"3D jagged position_ids fit no known layout: values {tuple(values.shape)}, offsets {bounds}, "
        f"_ragged_idx {nt._ragged_idx}"
    )


def maybe_fix_3d_position_ids(data: TensorDict) -> None:
    """Drop-in for verl's: make 3D jagged ``position_ids`` ragged on the sequence axis, in place."""
    if "position_ids" not in data:
        return
    position_ids = data["position_ids"]
    if position_ids.is_nested and position_ids.dim() == 3:
        fixed = sequence_ragged(position_ids)
        if fixed is not position_ids:
            data["position_ids"] = fixed


def install() -> None:
    """Replace verl's function in its module and in every loaded module that imported it by name.

    Modules imported later copy the replacement from the defining module, so verl's consumers
    (verl.workers.engine.base, verl.workers.engine_workers, verl.workers.engine_workers_tinker)
    need not be imported here. Idempotent.
    """
    global _original
    _original = _verl_function()
    for loaded in list(sys.modules.values()):
        if isinstance(loaded, ModuleType) and vars(loaded).get(_NAME) is _original:
            setattr(loaded, _NAME, maybe_fix_3d_position_ids)


def upstream_is_fixed() -> bool:
    """Whether verl's own code, unpatched, now gets an equal-length batch's positions right."""
    from tensordict import TensorDict
    from verl.workers.utils.padding import left_right_2_no_padding

    batch, axes, prompt, response = 3, 4, 5, 6
    seq = prompt + response
    samples = [torch.arange(axes * seq).view(axes, seq) + 100 * i for i in range(batch)]
    data = TensorDict(
        {
            "input_ids": torch.ones(batch, seq, dtype=torch.long),
            "attention_mask": torch.ones(batch, seq, dtype=torch.long),
            "response_mask": torch.ones(batch, response, dtype=torch.long),
            "position_ids": torch.stack(samples),
        },
        batch_size=[batch],
    )
    data = left_right_2_no_padding(data)
    try:
        _verl_function()(data)
        position_ids = data["position_ids"]
        return (
            position_ids._ragged_idx == 2
            and torch.equal(position_ids.values(), torch.cat(samples, dim=1))
            and all(torch.equal(a, b) for a, b in zip(position_ids.unbind(), samples, strict=True))
        )
    except (RuntimeError, ValueError):
        return False
