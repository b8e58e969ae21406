"""transformers' image processors remember their last outputs by the images' content, in every verl
process (speed only).

verl's agent loop runs a prompt's image through the image processor once per rollout for the
prompt's tokens and twice more for the finished sequence's multimodal inputs (the reward's, then the
stored sequence's), and the ``hf`` rollout server once more to generate: 32 times per prompt at the
study's 8 rollouts, for the same pixels.
``install()`` makes ``BaseImageProcessor.__call__`` look the call up first, by the images' size, mode
and bytes and the call's keyword arguments, per processor; a repeat returns copies of the first
call's arrays, so a caller that changes what it got changes nothing for the next one. Calls with
other inputs (positional options, tensors, unusual keyword values) go straight to transformers.
"""

from __future__ import annotations

import hashlib
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

CAPACITY = 64  # per processor: a study step's 16 prompts, with room for validation's

_original: Callable[..., Any] | None = None
_memos: dict[int, OrderedDict] = {}  # id(processor) -> its calls, least recently used first


def original() -> Callable[..., Any]:
    """transformers' own ``BaseImageProcessor.__call__``, whether or not :func:`install` has run."""
    from transformers.image_processing_utils import BaseImageProcessor

    return _original if _original is not None else BaseImageProcessor.__call__


def image_key(image: Any) -> tuple | None:
    """What the output depends on: a PIL image's size, mode and bytes, an array's shape, type and bytes."""
    import numpy as np
    from PIL import Image

    if isinstance(image, Image.Image):
        return ("pil", image.size, image.mode, hashlib.blake2b(image.tobytes(), digest_size=16).digest())
    if isinstance(image, np.ndarray):
        data = np.ascontiguousarray(image)
        return ("array", data.shape, data.dtype.str, hashlib.blake2b(data.tobytes(), digest_size=16).digest())
    return None


def _plain(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return value is None or isinstance(value, (bool, int, float, str))


def call_key(images: Any, args: tuple, kwargs: dict[str, Any]) -> tuple | None:
    """The call's key, or None where it cannot be told from its inputs' content."""
    if args:
        return None
    images = list(images) if isinstance(images, (list, tuple)) else [images]
    keys = tuple(image_key(image) for image in images)
    options = {k: (v.value if hasattr(v, "value") and isinstance(v.value, str) else v) for k, v in kwargs.items()}
    if not keys or None in keys or not _plain(options):  # TensorType("pt") counts by its value
        return None
    return keys, repr(sorted(options.items()))


def _copy(output: Any) -> Any:
    import numpy as np
    import torch
    from transformers.feature_extraction_utils import BatchFeature

    values = {key: value.clone() if isinstance(value, torch.Tensor) else
              value.copy() if isinstance(value, np.ndarray) else value for key, value in output.items()}
    return BatchFeature(values) if isinstance(output, BatchFeature) else values


def remembered_call(self, images: Any, *args: Any, **kwargs: Any) -> Any:
    key = call_key(images, args, kwargs)
    if key is None:
        return original()(self, images, *args, **kwargs)
    memo = _memos.get(id(self))
    if memo is None:
        memo = _memos[id(self)] = OrderedDict()
        weakref.finalize(self, _memos.pop, id(self), None)  # an id can be reused once the processor is gone
    if key in memo:
        memo.move_to_end(key)
    else:
        memo[key] = original()(self, images, **kwargs)
        while len(memo) > CAPACITY:
            memo.popitem(last=False)
    return _copy(memo[key])


def install() -> None:
    """Idempotent."""
    global _original
    from transformers.image_processing_utils import BaseImageProcessor

    if BaseImageProcessor.__call__ is not remembered_call:
        _original = BaseImageProcessor.__call__
        BaseImageProcessor.__call__ = remembered_call
