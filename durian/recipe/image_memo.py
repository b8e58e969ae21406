"""transformers' image processors remember their last outputs by the images' content, in every verl
process (speed only).

verl's agent loop runs a prompt's image through the image processor once per rollout for the
prompt's tokens and twice more for the finished sequence's multimodal inputs (the reward's, then the
stored sequence's), and the ``hf`` rollout server once more to generate: 32 times per prompt at the
study's 8 rollouts, for the same pixels.
``install()`` makes ``BaseImageProcessor.__call__`` look the call up first, by the images' size, mode
and bytes, the call's keyword arguments and the processor's own settings (``_valid_kwargs_names``); a
repeat returns copies of the first call's outputs, so a caller that changes what it got changes
nothing for the next one. Calls with other inputs (positional options, tensors, palette images,
unusual keyword values) go straight to transformers. Each processor keeps at most ``CAPACITY``
outputs and ``CAPACITY_BYTES`` of arrays (a paper-scale image's ``pixel_values`` is ~100 MB); verl
calls it from several threads (its agent loop's executor, the ``hf`` server's), hence the lock.
"""

from __future__ import annotations

import copy
import hashlib
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

CAPACITY = 64  # per processor: a study step's 16 prompts, with room for validation's
CAPACITY_BYTES = 256 * 2**20
_KEYED_MODES = ("RGB", "RGBA", "L")  # modes whose bytes are the whole image (a palette image's are not)

_original: Callable[..., Any] | None = None
_memos: dict[int, OrderedDict] = {}  # id(processor) -> its calls, least recently used first
_lock = threading.Lock()


def original() -> Callable[..., Any]:
    """transformers' own ``BaseImageProcessor.__call__``, whether or not :func:`install` has run."""
    from transformers.image_processing_utils import BaseImageProcessor

    return _original if _original is not None else BaseImageProcessor.__call__


def image_key(image: Any) -> tuple | None:
    """What the output depends on: a PIL image's size, mode and bytes, an array's shape, type and bytes."""
    import numpy as np
    from PIL import Image

    if isinstance(image, Image.Image) and image.mode in _KEYED_MODES:
        return ("pil", image.size, image.mode, hashlib.blake2b(image.tobytes(), digest_size=16).digest())
    if isinstance(image, np.ndarray) and not image.dtype.hasobject:
        data = np.ascontiguousarray(image)
        return ("array", data.shape, data.dtype.str, hashlib.blake2b(data.tobytes(), digest_size=16).digest())
    return None


def _settled(value: Any) -> Any:
    """An enum (TensorType, a resampling filter) by its value, a dataclass (``SizeDict``) by its fields."""
    import dataclasses
    import enum

    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def _plain(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return value is None or isinstance(value, (bool, int, float, str))


def call_key(processor: Any, images: Any, args: tuple, kwargs: dict[str, Any]) -> tuple | None:
    """The call's key, or None where it cannot be told from its inputs' content."""
    if args:
        return None
    images = list(images) if isinstance(images, (list, tuple)) else [images]
    keys = tuple(image_key(image) for image in images)
    options = {name: _settled(value) for name, value in kwargs.items()}
    settings = {name: _settled(getattr(processor, name, None)) for name in getattr(processor, "_valid_kwargs_names", ())}
    if not keys or None in keys or not _plain(options) or not _plain(settings):
        return None
    return keys, repr(sorted(options.items())), repr(sorted(settings.items()))


def _nbytes(output: Any) -> int:
    return sum(int(getattr(value, "nbytes", 0)) for value in output.values())


def _copy(output: Any) -> Any:
    import numpy as np
    import torch

    values = {key: value.clone() if isinstance(value, torch.Tensor) else
              value.copy() if isinstance(value, np.ndarray) else copy.deepcopy(value) for key, value in output.items()}
    if not hasattr(output, "data"):
        return values
    out = copy.copy(output)  # a BatchFeature keeps its other attributes
    out.data = values
    return out


def remembered_call(self, images: Any, *args: Any, **kwargs: Any) -> Any:
    key = call_key(self, images, args, kwargs)
    if key is None:
        return original()(self, images, *args, **kwargs)
    with _lock:
        memo = _memos.get(id(self))
        if memo is None:
            memo = _memos[id(self)] = OrderedDict()
            weakref.finalize(self, _memos.pop, id(self), None)  # an id can be reused once the processor is gone
        output = memo.get(key)
        if output is not None:
            memo.move_to_end(key)
    if output is None:
        output = original()(self, images, **kwargs)  # outside the lock: two threads may both compute
        with _lock:
            memo[key] = output
            while len(memo) > CAPACITY or (len(memo) > 1 and sum(_nbytes(o) for o in memo.values()) > CAPACITY_BYTES):
                memo.popitem(last=False)
    return _copy(output)


def install() -> None:
    """Idempotent."""
    global _original
    from transformers.image_processing_utils import BaseImageProcessor

    if BaseImageProcessor.__call__ is not remembered_call:
        _original = BaseImageProcessor.__call__
        BaseImageProcessor.__call__ = remembered_call
