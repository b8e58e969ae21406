"""The study scale's recipe config (durian/recipe/configs/study.yaml, a delta on the smoke scale)
runs in verl's real trainer: one step of grpo-durian at the study batch, 16 prompts x 8 rollouts,
on the smoke world. The study itself (12 runs, ~90 min) is `make study`, not CI."""

import json

import yaml

from durian.recipe import launch as launcher


def test_one_step_at_the_study_batch(smoke_world, smoke_data, tmp_path):
    run = launcher.train(scale="study", arm="grpo-durian", model=str(smoke_world / "model"),
                         train_files=str(smoke_data["train"]), val_files=str(smoke_data["val"]),
                         out=tmp_path / "grpo-durian", steps=1, save_freq=1, time_limit=600)
    [metrics] = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert metrics["step"] == 1
    assert metrics["durian_stats/prompts"] == 16
    assert metrics["durian/perceptual_groups_used"] == 3
    # what the arm's advantages gave extreme prompts' lone rollouts (durian.step_stats), when there were any
    extremes = metrics["durian_stats/extreme_success"] + metrics["durian_stats/extreme_failure"]
    assert ("durian_stats/lone_advantage" in metrics) == (extremes > 0), metrics
    others = metrics["durian_stats/effective"] > extremes
    assert ("durian_stats/other_advantage" in metrics) == others, metrics
    assert all(metrics[key] > 0 for key in ("durian_stats/lone_advantage", "durian_stats/other_advantage") if key in metrics)
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["data"]["train_batch_size"] == 16
    assert config["actor_rollout_ref"]["rollout"]["n"] == 8
    assert config["actor_rollout_ref"]["actor"]["ppo_mini_batch_size"] == 16
    assert config["actor_rollout_ref"]["actor"]["optim"]["lr"] == 3e-4
    assert config["algorithm"]["adv_estimator"] == "durian"
    assert config["trainer"]["project_name"] == "durian-study"
    # the smoke scale's settings it does not change (base: smoke)
    assert config["actor_rollout_ref"]["rollout"]["name"] == "hf"
    assert config["data"]["max_response_length"] == 48
    fp32 = {"param_dtype": "fp32", "reduce_dtype": "fp32", "buffer_dtype": "fp32"}  # not bf16: see smoke.yaml
    assert config["actor_rollout_ref"]["actor"]["fsdp_config"]["mixed_precision"] == fp32
    assert config["actor_rollout_ref"]["ref"]["fsdp_config"]["mixed_precision"] == fp32
    assert (run / "model" / "model.safetensors").exists()
