"""verl's real trainer on CPU with the tiny Qwen2.5-VL: the arms, Durian's inputs, DAPO's filter,
the Hugging Face export and resumption. Each run starts Ray and verl's workers (~1-2 min)."""

import json

import pytest

from durian import train as launcher

VALUES = {
    "model": "M",
    "train_files": "t.parquet",
    "val_files": "v.parquet",
    "seed": 1,
    "steps": 2,
    "save_freq": 1,
    "run": "r",
    "checkpoint_dir": "/tmp/c",
    "reward_file": "r.py",
}


@pytest.mark.parametrize("profile", ["smoke", "paper"])
@pytest.mark.parametrize("arm", sorted(launcher.arms()))
def test_every_arm_composes_and_validates_with_verls_config(profile, arm):
    overrides, env = launcher.resolve_overrides(profile, arm, VALUES)
    config = launcher.compose(overrides)
    launcher.validate(config)
    assert config.trainer.v1.trainer_mode == "durian"
    if profile == "paper":
        assert config.actor_rollout_ref.rollout.name == "vllm" and config.trainer.n_gpus_per_node == 8
        assert config.actor_rollout_ref.rollout.n == 8 and config.actor_rollout_ref.actor.optim.lr == 1e-6
        assert "VERL_PLATFORM" not in env
    else:
        assert config.actor_rollout_ref.rollout.name == "hf" and env["VERL_PLATFORM"] == "cpu"
    if arm.startswith("dapo"):
        assert config.algorithm.filter_groups.enable and config.actor_rollout_ref.actor.clip_ratio_high == 0.28
        assert config.reward.reward_manager.name == "dapo" and not config.actor_rollout_ref.actor.use_kl_loss
    if "durian" in arm:
        assert config.algorithm.adv_estimator.startswith("durian")


def test_configuration_errors_name_what_is_wrong():
    with pytest.raises(ValueError, match="arm: unknown arm 'ppo'"):
        launcher.resolve_overrides("smoke", "ppo", VALUES)
    with pytest.raises(ValueError, match="profile: unknown profile 'laptop'"):
        launcher.resolve_overrides("laptop", "grpo", VALUES)
    with pytest.raises(ValueError, match=r"data.train_files: no value for \$\{train_files\}"):
        launcher.resolve_overrides("smoke", "grpo", {k: v for k, v in VALUES.items() if k != "train_files"})


def test_local_paths_become_absolute_and_hub_ids_stay(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "world" / "model").mkdir(parents=True)
    assert launcher.absolute_if_local("world/model") == str(tmp_path / "world" / "model")
    assert launcher.absolute_if_local("Qwen/Qwen2.5-VL-7B-Instruct") == "Qwen/Qwen2.5-VL-7B-Instruct"


def test_first_error_finds_the_root_cause_not_the_wrapper(tmp_path):
    log = tmp_path / "train.log"
    retried = "\n".join(["(AgentLoopWorker pid=3) ValueError: retry me"] * 1000)
    log.write_text(
        "===== old attempt\nKeyError: stale\n===== new attempt\nTraceback (most recent call last):\n"
        '  File "main_ppo.py", line 1\nray.exceptions.RayTaskError(RuntimeError): wrapper\n'
        '  File "worker.py", line 9, in init\n    x.pin_memory()\nRuntimeError: Found no NVIDIA driver\n' + retried
    )
    error = launcher.first_error(log)
    assert error.endswith("RuntimeError: Found no NVIDIA driver") and "stale" not in error


def read_metrics(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_durian_on_dapo_trains_with_its_inputs_and_dapos_filter(smoke_world, smoke_data, tmp_path):
    run = launcher.train(
        profile_name="smoke",
        arm="dapo-durian",
        model=str(smoke_world / "model"),
        train_files=str(smoke_data["train"]),
        val_files=str(smoke_data["val"]),
        out=tmp_path / "dapo-durian",
        steps=2,
        extra={"+algorithm.durian.num_reasoning_groups": 4},
        time_limit=600,
    )
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

    from durian import toy

    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(run / "model").eval()
    processor = AutoProcessor.from_pretrained(run / "model")
    [[text]] = toy.generate(model, processor, toy.make_split(0, "val", 1, 112))
    assert isinstance(text, str)


def test_a_killed_run_resumes_from_its_last_checkpoint(smoke_world, smoke_data, tmp_path):
    kwargs = dict(
        profile_name="smoke",
        arm="grpo",
        model=str(smoke_world / "model"),
        train_files=str(smoke_data["train"]),
        val_files=str(smoke_data["val"]),
        out=tmp_path / "grpo",
        steps=3,
        time_limit=600,
    )
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
