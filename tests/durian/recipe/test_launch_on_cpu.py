"""durian.recipe.launch without a training run: every arm composes with verl's config at every
scale, errors name what is wrong, the run folder's request, and the command line."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from durian import experiment
from durian.recipe import launch as launcher

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


@pytest.mark.parametrize("scale", ["smoke", "study", "paper"])
@pytest.mark.parametrize("arm", sorted(experiment.arms()))
def test_every_arm_composes_and_validates_with_verls_config(scale, arm):
    overrides, env = launcher.resolve_overrides(scale, arm, VALUES)
    config = launcher.compose(overrides)
    launcher.validate(config)
    assert config.trainer.v1.trainer_mode == "durian"
    assert config.algorithm.adv_estimator == experiment.arm(arm).estimator
    if scale == "paper":
        assert config.actor_rollout_ref.rollout.name == "vllm" and config.trainer.n_gpus_per_node == 8
        assert config.actor_rollout_ref.rollout.n == 8 and config.actor_rollout_ref.actor.optim.lr == 1e-6
        assert "VERL_PLATFORM" not in env
    else:
        assert config.actor_rollout_ref.rollout.name == "hf" and env["VERL_PLATFORM"] == "cpu"
        assert env["VERL_USE_EXTERNAL_MODULES"] == "durian.world.plugin"  # the cpu platform before the trainer
    if arm.startswith("dapo"):
        assert config.algorithm.filter_groups.enable and config.actor_rollout_ref.actor.clip_ratio_high == 0.28
        assert config.reward.reward_manager.name == "dapo" and not config.actor_rollout_ref.actor.use_kl_loss
    assert arm_settings(config) == ARM_SETTINGS[arm]  # the exact estimator and settings, from the table below


# Every arm's estimator and the settings that tell the arms apart, written out from docs/method.md
# and arms.yaml's sources (not read from the code): perceptual and reasoning cannot swap, an arm
# cannot lose its base's settings. KL: (type, coefficient) of the KL loss, None when off.
GRPO_SETTINGS = {"norm_adv_by_std": True, "clip": (0.2, 0.3, 3.0), "kl_loss": ("low_var_kl", 0.01),
                 "loss_agg_mode": "token-mean", "filter_groups": False, "reward_manager": "naive"}
DAPO_SETTINGS = {"norm_adv_by_std": True, "clip": (0.2, 0.28, 3.0), "kl_loss": None,
                 "loss_agg_mode": "token-mean", "filter_groups": True, "reward_manager": "dapo"}
ARM_SETTINGS = {
    "grpo": {"estimator": "grpo", **GRPO_SETTINGS},
    "grpo-durian": {"estimator": "durian", **GRPO_SETTINGS},
    "grpo-batchstd": {"estimator": "group_mean_batch_std", **GRPO_SETTINGS},
    "drgrpo": {"estimator": "grpo", **GRPO_SETTINGS, "norm_adv_by_std": False, "kl_loss": None,
               "loss_agg_mode": "seq-mean-token-sum-norm", "loss_scale_factor": "max_response_length"},
    "dapo": {"estimator": "grpo", **DAPO_SETTINGS},
    "dapo-durian": {"estimator": "durian", **DAPO_SETTINGS},
    "dapo-durian-perceptual": {"estimator": "durian_perceptual", **DAPO_SETTINGS},
    "dapo-durian-reasoning": {"estimator": "durian_reasoning", **DAPO_SETTINGS},
}


def arm_settings(config) -> dict:
    actor = config.actor_rollout_ref.actor
    settings = {
        "estimator": config.algorithm.adv_estimator, "norm_adv_by_std": config.algorithm.norm_adv_by_std_in_grpo,
        "clip": (actor.clip_ratio_low, actor.clip_ratio_high, actor.clip_ratio_c),
        "kl_loss": (actor.kl_loss_type, actor.kl_loss_coef) if actor.use_kl_loss else None,
        "loss_agg_mode": actor.loss_agg_mode, "filter_groups": config.algorithm.filter_groups.enable,
        "reward_manager": config.reward.reward_manager.name,
    }
    if actor.get("loss_scale_factor") is not None:
        assert actor.loss_scale_factor == config.data.max_response_length
        settings["loss_scale_factor"] = "max_response_length"
    return settings


def test_the_table_of_arm_settings_names_every_arm():
    assert set(ARM_SETTINGS) == set(experiment.arms())


def test_configuration_errors_name_what_is_wrong():
    with pytest.raises(ValueError, match="arm: unknown arm 'ppo'"):
        launcher.resolve_overrides("smoke", "ppo", VALUES)
    with pytest.raises(ValueError, match="scale: unknown scale 'laptop'"):
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


@pytest.mark.parametrize("arm", sorted(experiment.arms()))
def test_arm_overrides_come_from_the_experiment_and_meta_keys_stay_out(arm):
    overrides, _ = launcher.resolve_overrides("smoke", arm, VALUES)
    keys = [item.partition("=")[0] for item in overrides]
    assert not set(keys) & set(experiment.ARM_META_KEYS)
    resolved = dict(item.partition("=")[::2] for item in overrides)
    for key, value in experiment.arm(arm).overrides.items():
        assert key in resolved, key
        if "${" not in str(value):
            assert resolved[key] == launcher._format(value), key


def test_extra_overrides_win_over_the_arm_and_the_scale():
    extra = {"actor_rollout_ref.rollout.n": 2, "+algorithm.durian.weights": [0.4, 0.3, 0.3]}
    overrides, _ = launcher.resolve_overrides("smoke", "dapo-durian", VALUES, extra)
    assert "actor_rollout_ref.rollout.n=2" in overrides and "+algorithm.durian.weights=[0.4,0.3,0.3]" in overrides
    assert sum(item.startswith("actor_rollout_ref.rollout.n=") for item in overrides) == 1


def test_a_key_verl_declares_but_never_reads_is_refused():
    """actor.freeze_vision_tower is in verl 0.9.1's ActorConfig, and no verl code reads it: a run with it
    true trains the tower all the same. Refused, until verl reads it (then this test fails)."""
    import verl

    root = Path(verl.__file__).parent
    readers = [path for path in root.rglob("*.py") if "freeze_vision_tower" in path.read_text(errors="ignore")
               and path != root / "workers" / "config" / "actor.py"]  # where ActorConfig declares it
    assert readers == []
    overrides, _ = launcher.resolve_overrides("study", "grpo", VALUES, {"actor_rollout_ref.actor.freeze_vision_tower": True})
    with pytest.raises(ValueError, match="actor_rollout_ref.actor.freeze_vision_tower: verl 0.9.1 declares this key"):
        launcher.validate(launcher.compose(overrides))


def test_a_logger_list_without_verls_file_logger_is_refused():
    """metrics.jsonl, and the rewind of a resume, read the file logger's lines."""
    overrides, _ = launcher.resolve_overrides("smoke", "grpo", VALUES, {"trainer.logger": ["console", "tensorboard"]})
    with pytest.raises(ValueError, match=r"trainer.logger: \['console', 'tensorboard'\] leaves out verl's file logger"):
        launcher.validate(launcher.compose(overrides))
    overrides, _ = launcher.resolve_overrides("smoke", "grpo", VALUES, {"trainer.logger": "console"})  # one name
    with pytest.raises(ValueError, match=r"trainer.logger: \['console'\] leaves out"):
        launcher.check_recipe_settings(launcher.compose(overrides))
    overrides, _ = launcher.resolve_overrides("smoke", "grpo", VALUES, {"trainer.logger": "file"})
    launcher.check_recipe_settings(launcher.compose(overrides))


def test_the_recipes_rules_refuse_a_run_before_it_touches_its_folder(tmp_path, monkeypatch):
    """The launcher checks the recipe's own rules itself, without importing verl; a refused run leaves
    its folder (a previous run's checkpoints included) as it was."""
    monkeypatch.setattr(launcher, "run_process_tree", lambda *args, **kwargs: pytest.fail("verl was started"))
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    with pytest.raises(ValueError, match="actor_rollout_ref.actor.freeze_vision_tower"):
        launcher.train(scale="smoke", arm="grpo", model="M", train_files="T", val_files="V", out=out,
                       extra={"actor_rollout_ref.actor.freeze_vision_tower": True})
    assert sorted(p.name for p in out.iterdir()) == ["checkpoints"]


def test_a_relaunch_with_other_settings_runs_verls_checks_before_it_discards_anything(tmp_path, monkeypatch):
    """verl's checks run in verl's process, after the folder is prepared; a relaunch that would discard
    another request's checkpoints runs them in the launcher first, so a typo costs nothing."""
    monkeypatch.setattr(launcher, "run_process_tree", fake_run)
    monkeypatch.setattr(launcher, "export_model", lambda checkpoints, target: target)
    kwargs = dict(scale="smoke", arm="grpo", model="M", train_files="T", val_files="V", out=tmp_path / "run")
    run = launcher.train(**kwargs, steps=2)
    before = {p.relative_to(run) for p in run.rglob("*")}
    launch = (run / "launch.json").read_text()
    with pytest.raises(Exception, match="Invalid loss_agg_mode: bogus"):
        launcher.train(**kwargs, steps=2, extra={"actor_rollout_ref.actor.loss_agg_mode": "bogus"})
    assert {p.relative_to(run) for p in run.rglob("*")} == before
    assert (run / "launch.json").read_text() == launch


@pytest.mark.parametrize(("setting", "says"), [
    ("actor_rollout_ref.actor.loss_agg_mode=bogus", "InstantiationException: Error in call to target "
     "'verl.workers.config.actor.FSDPActorConfig': ValueError('Invalid loss_agg_mode: bogus') full_key: actor_rollout_ref.actor"),
    ("actor_rollout_ref.actor.freeze_vision_tower=true", "ValueError: actor_rollout_ref.actor.freeze_vision_tower: "
     "verl 0.9.1 declares this key but no code reads it"),
    ("actor_rollout_ref.rollout.nn=4", "ConfigCompositionException: Could not override 'actor_rollout_ref.rollout.nn'."),
])
def test_the_command_line_names_a_refused_setting_in_one_line(setting, says, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        launcher.main(["--dry-run", "--scale", "smoke", "--arm", "grpo", "--model", "M", "--train", "T", "--val", "V",
                       "--out", str(tmp_path / "r"), "--set", setting])
    assert exited.value.code == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"durian.train: invalid config: {says}"), line


def test_verls_own_checks_refuse_a_run_in_verls_process_in_one_line(tmp_path, capsys):
    """durian.recipe.main_ppo, verl's entry point with validate() first, for real: the command line
    reports verl's refusal as it reports its own (one line naming the key, exit 2), and Ray was never
    started."""
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exited:
        launcher.main(["--scale", "smoke", "--arm", "grpo", "--model", "M", "--train", "T", "--val", "V",
                       "--out", str(out), "--time-limit", "120", "--set", "actor_rollout_ref.actor.loss_agg_mode=bogus"])
    assert exited.value.code == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("durian.train: invalid config: InstantiationException: "), line
    assert "Invalid loss_agg_mode: bogus" in line and "full_key: actor_rollout_ref.actor" in line
    assert json.loads((out / "timing.json").read_text())["attempts"][0]["exit_code"] == launcher.EX_CONFIG
    log = (out / "train.log").read_text()
    assert "Traceback" in log and "ray init" not in log


def test_the_study_scale_is_the_smoke_scale_at_the_study_batch():
    """configs/study.yaml is a delta (base: smoke): its overrides win, the rest is the smoke scale's."""
    smoke, smoke_env = launcher.resolve_overrides("smoke", "dapo-durian", VALUES)
    study, study_env = launcher.resolve_overrides("study", "dapo-durian", VALUES)
    smoke, study = (dict(item.split("=", 1) for item in overrides) for overrides in (smoke, study))
    assert {key: value for key, value in study.items() if smoke.get(key) != value} == {
        "data.train_batch_size": "16",
        "actor_rollout_ref.actor.ppo_mini_batch_size": "16",
        "actor_rollout_ref.actor.optim.lr": "0.0003",
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu": "32",
        "actor_rollout_ref.rollout.n": "8",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu": "32",
        "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu": "32",
        "trainer.project_name": "durian-study",
    }
    assert set(study) == set(smoke) and study_env == smoke_env


def test_a_scale_based_on_itself_is_refused(tmp_path, monkeypatch):
    (tmp_path / "loop.yaml").write_text("base: loop\noverrides: {}\n")
    (tmp_path / "a.yaml").write_text("base: b\noverrides: {}\n")
    (tmp_path / "b.yaml").write_text("base: a\noverrides: {}\n")
    monkeypatch.setattr(launcher, "CONFIGS", tmp_path)
    with pytest.raises(ValueError, match="loop.yaml: base: loop is based on loop itself"):
        launcher.load_scale("loop")
    with pytest.raises(ValueError, match="b.yaml: base: a is based on b itself"):
        launcher.load_scale("a")


def test_set_values_are_read_as_yaml():
    assert launcher.parse_set(["a.b=[0.4,0.3,0.3]", "c=4", "d=true", "e=hf", "f=x=y"]) == {
        "a.b": [0.4, 0.3, 0.3], "c": 4, "d": True, "e": "hf", "f": "x=y"
    }
    with pytest.raises(ValueError, match="--set expects key=value, got 'oops'"):
        launcher.parse_set(["oops"])


def test_the_command_line_passes_every_flag_to_train(monkeypatch):
    calls = []
    monkeypatch.setattr(launcher, "train", lambda **kwargs: calls.append(kwargs))
    launcher.main(["--scale", "paper", "--arm", "dapo-durian", "--model", "M", "--train", "T", "--val", "V",
                   "--out", "O", "--seed", "3", "--steps", "5", "--save-freq", "5", "--time-limit", "60",
                   "--set", "actor_rollout_ref.rollout.n=4", "--set", "+algorithm.durian.weights=[0.4,0.3,0.3]",
                   "--wandb"])
    assert calls == [{
        "scale": "paper", "arm": "dapo-durian", "model": "M", "train_files": "T", "val_files": "V", "out": "O",
        "seed": 3, "steps": 5, "save_freq": 5, "time_limit": 60.0, "wandb": True,
        "extra": {"actor_rollout_ref.rollout.n": 4, "+algorithm.durian.weights": [0.4, 0.3, 0.3]},
    }]
    with pytest.raises(SystemExit):
        launcher.main(["--scale", "laptop", "--arm", "grpo", "--model", "M", "--train", "T", "--val", "V", "--out", "O"])


def test_python_m_durian_train_help_names_the_scale():
    result = subprocess.run([sys.executable, "-m", "durian.train", "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    for flag in ("--scale", "--arm", "--seed", "--steps", "--save-freq", "--time-limit", "--set"):
        assert flag in result.stdout, flag


def fake_run(command, env, log, time_limit, stop=None):
    """Stands in for verl: one attempt's metrics, one checkpoint of the last step."""
    steps = int(next(item for item in command if item.startswith("trainer.total_training_steps=")).split("=")[1])
    attempt = Path(env["VERL_FILE_LOGGER_PATH"])
    attempt.write_text("".join(json.dumps({"step": s, "data": {"x": s}}) + "\n" for s in range(1, steps + 1)))
    checkpoints = log.parent / "checkpoints"
    checkpoints.mkdir(exist_ok=True)
    (checkpoints / "latest_checkpointed_iteration.txt").write_text(str(steps))
    log.write_text("ok\n")
    return 0


def test_a_relaunch_with_other_settings_discards_its_stale_checkpoints(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(launcher, "run_process_tree", fake_run)
    monkeypatch.setattr(launcher, "export_model", lambda checkpoints, target: target)
    kwargs = dict(scale="smoke", arm="grpo", model="M", train_files="T", val_files="V", out=tmp_path / "run")
    run = launcher.train(**kwargs, steps=2)
    request = json.loads((run / "launch.json").read_text())["request"]
    assert request["scale"] == "smoke" and request["steps"] == 2 and request["arm"] == "grpo"
    assert "settings changed" not in capsys.readouterr().out

    launcher.train(**kwargs, steps=2)  # same settings: resumes, keeps everything
    assert len(list((run / "attempts").glob("*.jsonl"))) == 2
    assert "settings changed" not in capsys.readouterr().out

    launcher.train(**kwargs, steps=3, extra={"actor_rollout_ref.rollout.n": 2})
    lines = [line for line in capsys.readouterr().out.splitlines() if "settings changed" in line]
    assert lines == ["run: settings changed since the last launch (set, steps): "
                     "discarded checkpoints, attempts, timing.json; starting over"]
    assert [p.name for p in (run / "attempts").glob("*.jsonl")] == ["001.jsonl"]
    assert [a["attempt"] for a in json.loads((run / "timing.json").read_text())["attempts"]] == ["001"]
    assert [m["step"] for m in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())] == [1, 2, 3]


def test_wandb_adds_verls_wandb_logger_and_a_relaunch_with_it_resumes(tmp_path, monkeypatch, capsys):
    """--wandb appends verl's wandb logger to the scale's loggers; it is not a setting, so turning it on
    for a relaunch keeps the run's checkpoints."""
    monkeypatch.setattr(launcher, "run_process_tree", fake_run)
    monkeypatch.setattr(launcher, "export_model", lambda checkpoints, target: target)
    kwargs = dict(scale="smoke", arm="grpo", model="M", train_files="T", val_files="V", out=tmp_path / "run", steps=2)
    run = launcher.train(**kwargs)
    assert "trainer.logger=[console,file,tensorboard]" in json.loads((run / "launch.json").read_text())["overrides"]
    launcher.train(**kwargs, wandb=True)
    assert "settings changed" not in capsys.readouterr().out
    assert len(list((run / "attempts").glob("*.jsonl"))) == 2
    launch = json.loads((run / "launch.json").read_text())
    assert "trainer.logger=[console,file,tensorboard,wandb]" in launch["overrides"]
    assert "trainer.logger" not in launch["request"]["set"]
    config = (run / "config.yaml").read_text()
    assert "- wandb" in config


def test_verls_wandb_logger_writes_an_offline_run_into_wandb_dir(tmp_path, monkeypatch):
    """The boundary --wandb relies on: verl's Tracking with the wandb backend, offline, under WANDB_DIR."""
    from verl.utils.tracking import Tracking

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    tracking = Tracking(project_name="durian-test", experiment_name="run", default_backend=["wandb"],
                        config={"trainer": {}})
    tracking.log({"durian/reasoning_groups_used": 4.0}, step=1)
    tracking.logger["wandb"].finish()
    [run] = (tmp_path / "wandb").glob("offline-run-*")
    assert list(run.glob("*.wandb")), sorted(p.name for p in run.iterdir())
