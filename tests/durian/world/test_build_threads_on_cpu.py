"""durian.world.build: the same config and code build the same weights whatever the caller's torch
thread count (the build pins its own), and the caller gets its thread count back."""

import json

import torch

from durian.world.build import build_world
from durian.world.task import WorldConfig

SMALL = WorldConfig(train_size=4, val_size=4, test_size=4, sft_size=64, vision_pretrain_steps=12, sft_steps=12)


def test_the_weights_do_not_depend_on_the_callers_thread_count(tmp_path):
    before = torch.get_num_threads()
    hashes = {}
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            world = build_world(tmp_path / f"threads-{threads}", SMALL, log=lambda *_: None)
            assert torch.get_num_threads() == threads
            manifest = json.loads((world / "manifest.json").read_text())
            hashes[threads] = manifest["weights_sha256"]
            assert (world / "model" / "model.safetensors").stat().st_size > 0
    finally:
        torch.set_num_threads(before)
    assert hashes[1] == hashes[2], hashes
