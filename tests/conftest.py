"""Shared fixtures. The smoke world is built once per (config, code) hash and cached outside
the checkout (``$DURIAN_CACHE``, default ``~/.cache/durian-repro``), so reruns reuse it."""

import fcntl
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs one worker per core: torch's thread pool in each of them would oversubscribe
    # the cores (its spinning threads made in-process model tests 4x slower); set before torch loads
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def cache_root() -> Path:
    return Path(os.environ.get("DURIAN_CACHE", Path.home() / ".cache" / "durian-repro"))


# Files that start verl or the whole workflow (minutes each) run first: under xdist, started last,
# they would finish the run alone on one core.
FIRST = ("test_train_on_cpu.py", "test_end_to_end_on_cpu.py", "test_study_step_on_cpu.py")


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: item.path.name not in FIRST)  # stable: the rest keeps its order


@pytest.fixture(scope="session")
def smoke_world() -> Path:
    from durian.world.build import build_world
    from durian.world.task import WorldConfig

    config = WorldConfig()
    return build_world(cache_root() / f"smoke-world-{config.key()}", config)


@pytest.fixture(scope="session")
def smoke_data(smoke_world) -> dict[str, Path]:
    """The smoke world's train and val rows with their visual entropy (computed once, cached)."""
    from durian.data.precompute import VisionTower, precompute_entropy

    out = smoke_world / "entropy"
    paths = {split: out / f"{split}.parquet" for split in ("train", "val")}
    with open(smoke_world.with_name(smoke_world.name + ".entropy.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # test workers take turns: one computes, the others reuse
        missing = [split for split, path in paths.items() if not path.exists()]
        if missing:
            tower = VisionTower(str(smoke_world / "model"))
            for split in missing:
                precompute_entropy(smoke_world / "data" / f"{split}.parquet", paths[split], tower, progress=False)
    return paths
