"""verl's real trainer on CPU with the tiny Qwen2.5-VL: the arms, Durian's inputs, DAPO's filter,
the Hugging Face export and resumption. Each run starts Ray and verl's workers (~1-2 min)."""

import json

import pytest

from durian.recipe import launch as launcher
from durian.world import probe, task


def read_metrics(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def smoke_run(smoke_world, smoke_data, out, arm: str, **kwargs) -> dict:
    """train()'s arguments for one smoke run of ``arm`` on the smoke world's data."""
    return dict(scale="smoke", arm=arm, model=str(smoke_world / "model"), train_files=str(smoke_data["train"]),
                val_files=str(smoke_data["val"]), out=out / arm, time_limit=600, **kwargs)


def test_durian_on_dapo_trains_with_its_inputs_and_dapos_filter(smoke_world, smoke_data, tmp_path):
    extra = {"+algorithm.durian.num_reasoning_groups": 4}
    run = launcher.train(**smoke_run(smoke_world, smoke_data, tmp_path, "dapo-durian", steps=2, extra=extra))
    metrics = read_metrics(run)
    assert [m["step"] for m in metrics] == [1, 2]
    for m in metrics:
        assert m["durian/perceptual_groups_used"] == 3  # S1, S2, S3 over the batch's 4 prompts
        assert m["durian/reasoning_groups_used"] == 4  # b = 4 quantile groups of confidence
        assert m["durian_stats/prompts"] == 4
        assert m["durian_stats/effective_share"] == 1.0  # DAPO's filter left no zero-variance prompt
    config = (run / "config.yaml").read_text()
    assert "adv_estimator: durian" in config and "num_reasoning_groups: 4" in config

    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(run / "model").eval()
    processor = AutoProcessor.from_pretrained(run / "model")
    [[text]] = probe.generate(model, processor, task.make_split(0, "val", 1, 112))
    assert isinstance(text, str)


def test_a_killed_run_resumes_from_its_last_checkpoint(smoke_world, smoke_data, tmp_path):
    kwargs = smoke_run(smoke_world, smoke_data, tmp_path, "grpo", steps=3)
    with pytest.raises(launcher.TrainingFailed, match="stopped on purpose after checkpoint 1"):
        launcher.train(**kwargs, stop_after_checkpoint=1)
    run = launcher.train(**kwargs)
    assert [m["step"] for m in read_metrics(run)] == [1, 2, 3]
    attempts = sorted((run / "attempts").glob("*.jsonl"))
    assert len(attempts) == 2
    resumed_steps = [json.loads(line)["step"] for line in attempts[1].read_text().splitlines()]
    assert resumed_steps[0] >= 2 and resumed_steps[-1] == 3  # the second attempt did not start over
    timing = json.loads((run / "timing.json").read_text())["attempts"]
    assert [(a["attempt"], a["exit_code"]) for a in timing][1] == ("002", 0)
    assert all(a["seconds"] > 0 for a in timing)
    assert (run / "model" / "model.safetensors").exists()
    for m in read_metrics(run):
        assert 0 <= m["durian_stats/effective_share"] <= 1 and m["durian_stats/prompts"] == 4
