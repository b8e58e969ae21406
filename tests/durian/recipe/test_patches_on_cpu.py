"""durian.recipe.patches: verl #7899, 3D (mRoPE) position_ids of equal-length batches.

Batches go through verl's real packing (left_right_2_no_padding) and splitting (chunk_tensordict).
"""

import importlib.metadata
import json
import os
import pickle
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch
from tensordict import TensorDict
from verl.utils import tensordict_utils as tu
from verl.workers.utils.padding import left_right_2_no_padding

from durian.recipe import patches

NAME = "maybe_fix_3d_position_ids"
KNOWN_CONSUMERS = ("verl.workers.engine.base", "verl.workers.engine_workers", "verl.workers.engine_workers_tinker")


def padded_batch(lengths: list[int], axes: int) -> tuple[TensorDict, list[torch.Tensor]]:
    """verl's left/right padded batch; every position value is unique so any mix-up shows."""
    width = max(lengths)
    seq = 2 * width
    mask = torch.zeros(len(lengths), seq, dtype=torch.long)
    position_ids = torch.zeros(len(lengths), axes, seq, dtype=torch.long)
    truth = []
    for i, length in enumerate(lengths):
        prompt = max(1, min(width, length - 1 - i % 2))  # vary the prompt/response split
        valid = slice(width - prompt, width - prompt + length)
        mask[i, valid] = 1
        truth.append(torch.arange(axes * length).view(axes, length) + 1000 * i)
        position_ids[i, :, valid] = truth[-1]
    data = TensorDict(
        {
            "input_ids": torch.randint(1, 100, (len(lengths), seq)),
            "attention_mask": mask,
            "response_mask": mask[:, width:],
            "position_ids": position_ids,
        },
        batch_size=[len(lengths)],
    )
    return left_right_2_no_padding(data), truth


def pickled(data: TensorDict) -> TensorDict:
    """The Ray hop: consolidate + pickle, which resets a sequence-ragged tensor's _ragged_idx to 1."""
    return pickle.loads(pickle.dumps(data.consolidate()))


def assert_sequence_ragged(data: TensorDict, truth: list[torch.Tensor]) -> None:
    position_ids = data["position_ids"]
    lengths = torch.tensor([t.shape[1] for t in truth])
    assert position_ids._ragged_idx == 2
    assert torch.equal(position_ids.offsets(), torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)]))
    # what the FSDP engine feeds the model (remove-padding path)
    assert torch.equal(position_ids.values(), torch.cat(truth, dim=1))
    got = position_ids.unbind()
    assert len(got) == len(truth) and all(torch.equal(a, b) for a, b in zip(got, truth))
    # padded path of the FSDP engine
    axes, longest = truth[0].shape[0], int(lengths.max())
    padded = torch.nested.to_padded_tensor(position_ids, padding=0, output_size=(len(truth), axes, longest))
    for row, sample in zip(padded, truth):
        assert torch.equal(row[:, : sample.shape[1]], sample) and not row[:, sample.shape[1] :].any()
    # micro-batch split of the old-log-prob pass without dynamic batch size
    chunks = tu.chunk_tensordict(data, len(truth))
    assert all(torch.equal(c["position_ids"].unbind()[0], t) for c, t in zip(chunks, truth))


@pytest.mark.parametrize("axes", [3, 4])
def test_original_breaks_equal_length_batches(axes: int) -> None:
    data, truth = padded_batch([20] * 4, axes)
    assert data["position_ids"]._ragged_idx == 1  # torch made the axis dimension ragged
    patches.ORIGINAL(data)
    with pytest.raises(RuntimeError, match="split_with_sizes"):  # the update_actor crash
        data["position_ids"].unbind()
    # old-log-prob path: chunk_tensordict catches that and rebuilds from the wrong offsets
    got = [c["position_ids"].unbind()[0] for c in tu.chunk_tensordict(data, 4)]
    assert [tuple(g.shape) for g in got] == [(axes, axes)] * 4  # silently truncated positions
    assert not torch.equal(got[0], truth[0])


LENGTHS = [[7], [4], [5, 5], [8, 8], [2, 2], [20, 20, 20, 20], [5, 9, 3, 12], [1, 6]]


@pytest.mark.parametrize("path", ["packed", "pickled", "original_then_pickled", "original_applied"])
@pytest.mark.parametrize("lengths", LENGTHS, ids=str)
@pytest.mark.parametrize("axes", [3, 4])
def test_patched_gives_per_sample_positions(axes: int, lengths: list[int], path: str) -> None:
    data, truth = padded_batch(lengths, axes)
    if path.startswith("original"):
        patches.ORIGINAL(data)
    if path.endswith("pickled"):
        data = pickled(data)
    patches.maybe_fix_3d_position_ids(data)
    assert_sequence_ragged(data, truth)
    # idempotent
    before = data["position_ids"]
    patches.maybe_fix_3d_position_ids(data)
    assert data["position_ids"] is before


def test_consistent_tensor_left_alone() -> None:
    for position_ids in (
        padded_batch([5, 9, 3], 4)[0]["position_ids"],  # torch's own packing
        tu.nested_tensor_from_tensor_list([torch.zeros(4, 3), torch.ones(4, 3)], ragged_idx=2),  # verl's
    ):
        data = TensorDict({"position_ids": position_ids}, batch_size=[position_ids.shape[0]])
        patches.maybe_fix_3d_position_ids(data)
        assert data["position_ids"] is position_ids


def test_other_tensors_untouched() -> None:
    data, _ = padded_batch([6, 6], 4)
    padded = torch.zeros(2, 4, 6, dtype=torch.long)
    flat = TensorDict({"position_ids": data["input_ids"]}, batch_size=[2])  # 2D jagged (text-only model)
    for td in (flat, TensorDict({"position_ids": padded}, batch_size=[2]), TensorDict({}, batch_size=[2])):
        before = dict(td.items())
        patches.maybe_fix_3d_position_ids(td)
        assert all(td[k] is v for k, v in before.items())


def test_unknown_layout_is_loud() -> None:
    broken = torch.nested.nested_tensor_from_jagged(torch.zeros(4, 10), torch.tensor([0, 3, 7]))
    with pytest.raises(ValueError, match="no known layout"):
        patches.maybe_fix_3d_position_ids(TensorDict({"position_ids": broken}, batch_size=[2]))


def consumer_modules() -> list[str]:
    """verl modules whose source names the function, found in the installed verl (not a fixed list)."""
    root = Path(tu.__file__).parents[1]
    found = []
    for path in sorted(root.rglob("*.py")):
        if re.search(rf"^from\s+\S+\s+import\s[^#\n]*\b{NAME}\b", path.read_text(), re.MULTILINE):
            found.append(".".join(path.relative_to(root.parent).with_suffix("").parts))
    return found


def test_import_verl_installs_patch_everywhere() -> None:
    """A fresh process (like a Ray worker) that only imports verl holds the patch in every consumer."""
    consumers = consumer_modules()
    assert set(KNOWN_CONSUMERS) <= set(consumers), consumers
    script = f"""
import importlib, json, sys
import durian.recipe.patches as vp
assert "verl" not in sys.modules, "importing durian.recipe.patches must not import verl"
import verl  # the verl.plugins entry point runs durian.recipe.plugin -> patches.install()
from verl.utils.tensordict_utils import {NAME} as defined
held = {{name: getattr(importlib.import_module(name), "{NAME}") is vp.{NAME} for name in {consumers!r}}}
print(json.dumps({{"defined": defined is vp.{NAME}, "held": held, "original": vp.ORIGINAL.__module__}}))
"""
    env = {k: v for k, v in os.environ.items() if k != "VERL_USE_EXTERNAL_PLUGINS"}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result == {
        "defined": True,
        "held": dict.fromkeys(consumers, True),
        "original": "verl.utils.tensordict_utils",
    }


def test_install_replaces_copies_imported_before_it() -> None:
    original = patches.ORIGINAL
    early = types.ModuleType("verl._durian_early_consumer")
    setattr(early, NAME, original)
    sys.modules[early.__name__] = early
    try:
        patches.install()
        patches.install()
        assert getattr(early, NAME) is patches.maybe_fix_3d_position_ids
        assert getattr(tu, NAME) is patches.maybe_fix_3d_position_ids
        assert patches.ORIGINAL is original and original.__module__ == "verl.utils.tensordict_utils"
    finally:
        del sys.modules[early.__name__]


def test_upstream_check_detects_a_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    # Were verl's function correct, the check would say so.
    monkeypatch.setattr(patches, "_original", patches.maybe_fix_3d_position_ids)
    assert patches.upstream_is_fixed()


def test_upstream_not_fixed() -> None:
    assert not patches.upstream_is_fixed(), "verl fixed #7899 upstream; drop durian.recipe.patches"


def test_verl_pin() -> None:
    version = importlib.metadata.version("verl")
    assert version == "0.9.1", (
        f"verl is {version}, not 0.9.1: re-check durian.recipe.patches against verl issue #7899 "
        "(upstream_is_fixed(), the consumer modules), then update this pin"
    )
