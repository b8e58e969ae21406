"""A CPU platform for verl 0.9.1, so the real trainer runs on machines without accelerators.

Selected only by configuration: ``VERL_PLATFORM=cpu`` in the driver's and the Ray workers'
environment (the smoke scale sets it, with ``VERL_ENGINE_DEVICE=cuda`` so verl picks its
FSDP engine, and Ray started with one logical GPU). Nothing here changes a GPU run. The platform
must be registered before anything asks verl for its platform (importing verl's trainer does):
the smoke scale has verl import ``durian.world.plugin`` first (``VERL_USE_EXTERNAL_MODULES``).

What the platform provides: device name ``cpu``, the gloo backend, Ray scheduling on the
logical "GPU" resource, and ``CPUDeviceModule``, a stand-in for the ``torch.cuda`` calls verl
makes through ``get_torch_device()`` (streams, memory stats, RNG state, caches).
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import torch

PLATFORM = "cpu"


def selected() -> bool:
    return os.environ.get("VERL_PLATFORM", "").strip().lower() == PLATFORM


class _Stream:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def synchronize(self) -> None:
        pass

    def wait_stream(self, other: Any) -> None:
        pass

    def wait_event(self, event: Any) -> None:
        pass

    def record_event(self, event: Any = None) -> _Event:
        return _Event()


class _Event:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def record(self, stream: Any = None) -> None:
        pass

    def synchronize(self) -> None:
        pass

    def wait(self, stream: Any = None) -> None:
        pass

    def query(self) -> bool:
        return True


def _total_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _available_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class CPUDeviceModule:
    """What verl calls on ``torch.cuda`` via ``get_torch_device()``, answered for the CPU."""

    Stream = _Stream
    Event = _Event

    @staticmethod
    def is_available() -> bool:
        return True

    @staticmethod
    def device_count() -> int:
        return 1

    @staticmethod
    def current_device() -> int:
        return 0

    @staticmethod
    def set_device(device: Any) -> None:
        pass

    @staticmethod
    def get_device_name(device: Any = None) -> str:
        return "cpu"

    @staticmethod
    def synchronize(device: Any = None) -> None:
        pass

    @staticmethod
    def empty_cache() -> None:
        pass

    @staticmethod
    def ipc_collect() -> None:
        pass

    @staticmethod
    def current_stream(device: Any = None) -> _Stream:
        return _Stream()

    @staticmethod
    def stream(stream: Any = None) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    @staticmethod
    def mem_get_info(device: Any = None) -> tuple[int, int]:
        return _available_memory(), _total_memory()

    @staticmethod
    def memory_allocated(device: Any = None) -> int:
        return _rss()

    memory_reserved = memory_allocated
    max_memory_allocated = memory_allocated
    max_memory_reserved = memory_allocated

    @staticmethod
    def reset_peak_memory_stats(device: Any = None) -> None:
        pass

    @staticmethod
    def set_per_process_memory_fraction(fraction: float, device: Any = None) -> None:
        pass

    @staticmethod
    def get_rng_state(device: Any = None) -> torch.Tensor:
        return torch.get_rng_state()

    @staticmethod
    def set_rng_state(state: torch.Tensor, device: Any = None) -> None:
        torch.set_rng_state(state)

    @staticmethod
    def manual_seed(seed: int) -> None:
        torch.manual_seed(seed)

    manual_seed_all = manual_seed


def _platform_class():
    from verl.plugin.platform.platform_base import PlatformBase

    class PlatformCPU(PlatformBase):
        device_name = "cpu"
        vendor_name = "cpu"
        device_module = CPUDeviceModule

        def is_available(self) -> bool:
            return True

        def is_platform_available(self, use_smi_check: bool = False) -> bool:
            return selected()  # never auto-detected: only VERL_PLATFORM=cpu picks it

        def current_device(self) -> torch.device:  # verl passes it as a device: `.to(get_device_id())`
            return torch.device("cpu")

        def device_count(self) -> int:
            return 1

        def set_device(self, device_index: int) -> None:
            pass

        def synchronize(self, device_index: int | None = None) -> None:
            pass

        def manual_seed(self, seed: int) -> None:
            torch.manual_seed(seed)

        def manual_seed_all(self, seed: int) -> None:
            torch.manual_seed(seed)

        def set_allocator_settings(self, settings: str) -> None:
            pass

        def empty_cache(self) -> None:
            pass

        def get_device_capability(self, device_index: int = 0) -> tuple[int | None, int | None]:
            return None, None

        def communication_backend_name(self) -> str:
            return "gloo"

        def visible_devices_envvar(self) -> str:
            return "CUDA_VISIBLE_DEVICES"

        def ray_resource_name(self) -> str:
            return "GPU"  # Ray is started with one logical GPU that stands for the CPU

        def ray_resource_options(self, num_gpus: float) -> dict[str, Any]:
            return {"num_gpus": num_gpus}

        def ray_noset_envvars(self) -> list[str]:
            return ["RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES"]

        def is_ipc_supported(self) -> bool:
            return False

        @contextlib.contextmanager
        def nvtx_range(self, msg: str):
            yield

        def profiler_start(self) -> None:
            pass

        def profiler_stop(self) -> None:
            pass

        def cudart(self) -> Any:
            return None

    return PlatformCPU


def _gloo_only(init_process_group):
    """verl asks for "cpu:gloo,<device>:<backend>", i.e. "cpu:gloo,cpu:gloo" here: torch wants "gloo"."""

    def wrapper(*args: Any, **kwargs: Any):
        backend = kwargs.get("backend", args[0] if args else None)
        if isinstance(backend, str) and all(part.strip() in ("cpu:gloo", "gloo") for part in backend.split(",")):
            if args:
                args = ("gloo", *args[1:])
            else:
                kwargs["backend"] = "gloo"
        return init_process_group(*args, **kwargs)

    wrapper.durian_original = init_process_group  # type: ignore[attr-defined]
    return wrapper


def _unpinned_offload() -> None:
    """FSDP2's CPUOffloadPolicy pins host memory by default (verl's ref model uses it): a CUDA call."""
    from torch.distributed.fsdp import CPUOffloadPolicy

    init = CPUOffloadPolicy.__init__
    if getattr(init, "durian_original", None):
        return

    def unpinned(self, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        object.__setattr__(self, "pin_memory", False)

    unpinned.durian_original = init  # type: ignore[attr-defined]
    CPUOffloadPolicy.__init__ = unpinned


def install() -> None:
    """Register the platform (always: registering picks nothing); adapt torch when it is selected."""
    from verl.plugin.platform.platform_manager import PlatformRegistry

    if PlatformRegistry.get(PLATFORM) is None:
        PlatformRegistry.register(platform=PLATFORM)(_platform_class())
    if not selected():
        return
    if not hasattr(torch.distributed.init_process_group, "durian_original"):
        torch.distributed.init_process_group = _gloo_only(torch.distributed.init_process_group)
    _unpinned_offload()
