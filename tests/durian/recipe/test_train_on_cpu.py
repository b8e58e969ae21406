"""verl's real trainer on CPU with the tiny Qwen2.5-VL: the arms, Durian's inputs, DAPO's filter,
the Hugging Face export and resumption. Each run starts Ray and verl's workers (~1-2 min)."""

import json

import pytest
from process_tree import still_naming

from durian.recipe import launch as launcher
from durian.world import probe, task


def read_metrics(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def smoke_run(smoke_world, smoke_data, out, arm: str, **kwargs) -> dict:
    """train()'s arguments for one smoke run of ``arm`` on the smoke world's data."""
    return dict(scale="smoke", arm=arm, model=str(smoke_world / "model"), train_files=str(smoke_data["train"]),
                val_files=str(smoke_data["val"]), out=out / arm, time_limit=600, **kwargs)


def test_durian_on_dapo_trains_with_its_inputs_and_filter_and_resumes_after_a_kill(smoke_world, smoke_data, tmp_path,
                                                                                  capsys):
    """One run serves all: dapo-durian is killed after its first checkpoint, resumed to step 2, then
    relaunched as a kill before step 2's log would leave it."""
    extra = {"+algorithm.durian.num_reasoning_groups": 4}
    kwargs = smoke_run(smoke_world, smoke_data, tmp_path, "dapo-durian", steps=2, extra=extra)
    with pytest.raises(launcher.TrainingFailed, match="stopped on purpose after checkpoint 1"):
        launcher.train(**kwargs, stop_after_checkpoint=1)
    assert still_naming(str(kwargs["out"]), within=5) == []  # verl and every Ray process of the killed attempt
    run = launcher.train(**kwargs)
    metrics = read_metrics(run)
    assert [m["step"] for m in metrics] == [1, 2]
    attempts = sorted((run / "attempts").glob("*.jsonl"))
    assert len(attempts) == 2
    resumed_steps = [json.loads(line)["step"] for line in attempts[1].read_text().splitlines()]
    assert resumed_steps == [2]  # the second attempt did not start over
    timing = json.loads((run / "timing.json").read_text())["attempts"]
    assert [(a["attempt"], a["exit_code"]) for a in timing][1] == ("002", 0)
    assert all(a["seconds"] > 0 for a in timing)

    # The folder as a kill between verl's save of step 2 and its log of step 2 leaves it: a relaunch
    # rewinds verl's tracker to checkpoint 1 and verl trains step 2 again, instead of losing its line.
    attempts[1].write_text("")
    run = launcher.train(**kwargs)
    assert "checkpoint 2 has no logged metrics" in capsys.readouterr().out
    metrics = read_metrics(run)
    assert [m["step"] for m in metrics] == [1, 2]
    assert [json.loads(line)["step"] for line in (run / "attempts" / "003.jsonl").read_text().splitlines()] == [2]
    assert (run / "checkpoints" / "latest_checkpointed_iteration.txt").read_text().strip() == "2"
    for m in metrics:
        assert m["durian/perceptual_groups_used"] == 3  # S1, S2, S3 over the batch's 4 prompts
        assert m["durian/reasoning_groups_used"] == 4  # b = 4 quantile groups of confidence
        assert m["durian_stats/prompts"] == 4
        assert m["durian_stats/effective_share"] == 1.0  # DAPO's filter left no zero-variance prompt
    config = (run / "config.yaml").read_text()
    assert "adv_estimator: durian" in config and "num_reasoning_groups: 4" in config
    check_tensorboard(run, metrics)

    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(run / "model").eval()
    processor = AutoProcessor.from_pretrained(run / "model")
    [[text]] = probe.generate(model, processor, task.make_split(0, "val", 1, 112))
    assert isinstance(text, str)
    check_exported_weights(run, smoke_world / "model")


def check_tensorboard(run, metrics) -> None:
    """verl's tensorboard logger wrote every attempt's steps into the run's tensorboard/ folder, with
    the values metrics.jsonl holds."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    scalars: dict[str, dict[int, float]] = {}
    for events in sorted((run / "tensorboard").glob("events.out.tfevents.*")):
        accumulator = EventAccumulator(str(events))
        accumulator.Reload()
        for tag in accumulator.Tags()["scalars"]:
            scalars.setdefault(tag, {}).update({e.step: e.value for e in accumulator.Scalars(tag)})
    tag = "durian/reasoning_groups_used"
    assert scalars[tag] == {m["step"]: m[tag] for m in metrics}, scalars.get(tag)


def check_exported_weights(run, base_model) -> None:
    """model/ holds the last checkpoint's weights (in the exported dtype), which differ from the base's."""
    import torch
    from safetensors.torch import load_file

    exported = load_file(run / "model" / "model.safetensors")
    base = load_file(base_model / "model.safetensors")
    step = (run / "checkpoints" / "latest_checkpointed_iteration.txt").read_text().strip()
    shard = torch.load(run / "checkpoints" / f"global_step_{step}" / "actor" / "model_world_size_1_rank_0.pt",
                       weights_only=False, map_location="cpu")
    # the FSDP state dict names the modules as transformers' Qwen2.5-VL class does; the Hugging Face
    # files keep the older names (the lm_head is tied to the embeddings there)
    rename = lambda k: k.replace("model.language_model.", "model.").replace("model.visual.", "visual.")  # noqa: E731
    checkpoint = {rename(k): (v.full_tensor() if hasattr(v, "full_tensor") else v) for k, v in shard.items()}
    assert set(exported) == set(base) and set(exported) <= set(checkpoint)
    for name, tensor in exported.items():
        assert torch.equal(tensor, checkpoint[name].to(tensor.dtype)), name
    changed = [name for name, tensor in exported.items() if not torch.equal(tensor, base[name].to(tensor.dtype))]
    assert len(changed) > len(exported) // 2, "training left most of the base model's weights as they were"
    trained = [name for name in base if not torch.equal(base[name], checkpoint[name].to(base[name].dtype))]
    assert trained, "the checkpoint is the base model"
