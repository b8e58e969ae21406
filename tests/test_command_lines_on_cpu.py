"""Command lines as a user calls them, through ``python -m`` in a fresh process (issue 13 item 9).

``eval.run --scoring judge`` and ``eval.fixtures`` are in ``tests/eval`` (test_judge_on_cpu.py,
test_run_on_cpu.py); ``durian.toy`` is here.
"""

import json
import shutil
import subprocess
import sys

FIGURES = {"train_share_with_reward_variance", "train_sampled_accuracy", "val_greedy_accuracy", "val_greedy_format"}


def toy(*args: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "durian.toy", *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_python_m_durian_toy_check_reuses_the_world_and_prints_its_learnability(smoke_world):
    """``--check`` on the built world: no rebuild, then the learnability figures as JSON, inside the
    bounds the world is built for (sampled rewards vary on train prompts; greedy val accuracy is
    neither nil nor saturated)."""
    before = (smoke_world / "manifest.json").stat().st_mtime_ns
    done = toy("--out", str(smoke_world), "--check", timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines()[0] == f"smoke world {smoke_world.name.rsplit('-', 1)[-1]} already built in {smoke_world}"
    figures = json.loads(done.stdout[done.stdout.index("{"):])
    assert set(figures) == FIGURES and all(0.0 <= value <= 1.0 for value in figures.values())
    assert figures["train_share_with_reward_variance"] >= 0.30, figures
    assert 0.05 < figures["val_greedy_accuracy"] < 0.80, figures
    assert (smoke_world / "manifest.json").stat().st_mtime_ns == before


def test_python_m_durian_toy_refuses_a_world_of_another_config_in_one_line(smoke_world, tmp_path):
    """A folder holding a finished world (its manifest) built with seed 0, asked for seed 1: refused
    with one line naming the folder, before any build or check, and left as it was."""
    world = tmp_path / "world"
    world.mkdir()
    shutil.copy(smoke_world / "manifest.json", world / "manifest.json")
    manifest = (world / "manifest.json").read_bytes()
    assert json.loads(manifest)["config"]["seed"] == 0
    done = toy("--out", str(world), "--seed", "1", "--check", timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [(f"python -m durian.toy: {world} holds a smoke world with another config or "
                                         "code version; remove it first")]
    assert [p.name for p in world.iterdir()] == ["manifest.json"] and (world / "manifest.json").read_bytes() == manifest
    assert not world.with_name("world.building").exists()
