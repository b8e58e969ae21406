"""``make preflight`` composed and dry-run without a GPU (issue 12 item 9): the steps it would run,
in order, and the training step's resolved verl config: the paper scale's code paths (FSDP2 on
CUDA, vLLM rollouts, the Durian estimator, EasyR1's filter) at the tiny world's sizes."""

import shlex
import subprocess
from pathlib import Path

import yaml

from durian.experiment import BENCHMARKS
from durian.recipe import preflight

ROOT = Path(__file__).resolve().parents[3]


def test_the_steps_run_each_stage_with_the_paper_scale_on_cuda(tmp_path):
    plan = preflight.steps(tmp_path, env={})
    assert [s.name for s in plan] == ["world", "entropy-train", "entropy-val", "train", "fixtures", "eval"]
    commands = {s.name: shlex.join(s.command) for s in plan}
    assert " -m durian.toy --out " in commands["world"]
    assert "--device cuda" in commands["entropy-train"] and str(tmp_path / "world" / "model") in commands["entropy-val"]
    train = commands["train"]
    assert "-m durian.train --scale paper --arm dapo-durian" in train and "--steps 2 --save-freq 2" in train
    assert "--set trainer.n_gpus_per_node=1" in train
    evaluate = commands["eval"]
    assert "--backend vllm --device cuda" in evaluate and f"--benchmarks {','.join(BENCHMARKS)}" in evaluate
    assert all(f"--data-file {b}={tmp_path / 'fixtures'}" in evaluate for b in BENCHMARKS)
    judged = preflight.steps(tmp_path, env={"DURIAN_JUDGE_URL": "http://judge/v1", "DURIAN_JUDGE_MODEL": "m"})
    assert judged[-1].name == "judge"
    assert "--scoring judge --judge-url http://judge/v1 --judge-model m --judge-key-env OPENAI_API_KEY" in shlex.join(
        judged[-1].command)


def test_dry_run_prints_the_commands_and_resolves_the_training_config(tmp_path, capsys):
    assert preflight.main(["--out", str(tmp_path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert [line.split(":")[0] for line in out.splitlines()[:6]] == [
        "world", "entropy-train", "entropy-val", "train", "fixtures", "eval"]
    config = yaml.safe_load((tmp_path / "train" / "dapo-durian" / "config.yaml").read_text())
    actor, rollout = config["actor_rollout_ref"]["actor"], config["actor_rollout_ref"]["rollout"]
    assert config["trainer"]["device"] == "cuda" and config["trainer"]["n_gpus_per_node"] == 1
    assert actor["strategy"] == "fsdp2" and rollout["name"] == "vllm" and rollout["tensor_model_parallel_size"] == 1
    assert config["algorithm"]["adv_estimator"] == "durian" and config["trainer"]["total_training_steps"] == 2
    assert config["trainer"]["v1"]["sampler"]["sampler_kwargs"]["group_filter"] == "mean_band"  # the paper's filter
    assert (config["data"]["train_batch_size"], rollout["n"], config["data"]["max_response_length"]) == (4, 4, 48)
    assert actor["optim"]["lr"] == 1e-6 and actor["clip_ratio_high"] == 0.28  # otherwise the paper scale's values


def test_without_a_gpu_it_stops_before_any_step_with_the_reason(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(preflight, "check_gpu", lambda: "no CUDA device visible")
    assert preflight.main(["--out", str(tmp_path)]) == 2
    assert "preflight: cannot run: no CUDA device visible" in capsys.readouterr().err
    assert not (tmp_path / "logs").exists()


def test_a_failing_step_stops_the_preflight_with_its_root_cause(tmp_path, capsys, monkeypatch):
    import sys

    failing = preflight.Step("world", [sys.executable, "-c", "import sys; print('x'); raise ValueError('no world')"])
    monkeypatch.setattr(preflight, "check_gpu", lambda: None)
    monkeypatch.setattr(preflight, "steps", lambda out: [failing, preflight.Step("train", ["false"])])
    assert preflight.main(["--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "preflight: world failed, exited with 1; root cause:" in err and "ValueError: no world" in err
    assert f"full log: {tmp_path / 'logs' / 'world.log'}" in err and not (tmp_path / "logs" / "train.log").exists()


def test_make_preflight_runs_the_preflight():
    result = subprocess.run(["make", "-n", "preflight"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert ".venv/bin/python -m durian.recipe.preflight --out results/preflight" in result.stdout.splitlines(), result.stdout
