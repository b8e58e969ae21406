"""Shared fixtures. The smoke world is built once per (config, code) hash and cached outside
the checkout (``$DURIAN_CACHE``, default ``~/.cache/durian-repro``), so reruns reuse it."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def cache_root() -> Path:
    return Path(os.environ.get("DURIAN_CACHE", Path.home() / ".cache" / "durian-repro"))


@pytest.fixture(scope="session")
def smoke_world() -> Path:
    from durian.toy import WorldConfig, build_world

    config = WorldConfig()
    return build_world(cache_root() / f"smoke-world-{config.key()}", config)
