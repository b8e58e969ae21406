"""``python -m durian.train --dry-run`` (issue 12 item 8): every arm of every scale resolves without
starting verl, and the paper scale's resolved values are those of the README's settings table
(its section "The paper scale"), which is parsed here, so the table cannot drift."""

import re
from pathlib import Path

import pytest
import yaml

from durian import experiment, prompt, reward
from durian.data import prepare
from durian.recipe import launch as launcher

ROOT = Path(__file__).resolve().parents[3]
README = ROOT / "README.md"
SECTION = "## The paper scale"
WORKFLOW = yaml.safe_load((ROOT / "workflow" / "config" / "paper.yaml").read_text())
TEMPLATE = yaml.safe_load((ROOT / "eval" / "tasks" / "_default_template_yaml").read_text())
COLUMNS = ["setting", "paper", "EasyR1", "NoisyRollout", "ours", "source"]
# issue 12, "Done when": one row per setting
REQUIRED = ["lr", "batches", "n", "temperature", "lengths", "KL", "clips", "loss aggregation", "steps", "pixels",
            "prompt", "filter", "overlong", "scoring", "splits", "decoding"]
ITEM = re.compile(r"`([^`=\s]+)=([^`]*)`")
SOURCES = ("workflow", "prepare", "reward", "template", "prompt")


def table() -> list[dict[str, str]]:
    text = README.read_text()
    section = text[text.index(SECTION):]
    section = section[:section.find("\n## ", len(SECTION))]
    lines = [line.strip() for line in section.splitlines() if line.strip().startswith("|")]
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    header, rule, *body = cells
    assert header == COLUMNS and all(set(cell) <= set("-: ") for cell in rule)
    assert all(len(row) == len(COLUMNS) for row in body)
    return [dict(zip(COLUMNS, row)) for row in body]


def dry_run(scale: str, arm: str, out: Path, steps: int) -> dict:
    launcher.main(["--scale", scale, "--arm", arm, "--model", "M", "--train", "T", "--val", "V", "--out", str(out),
                   "--steps", str(steps), "--save-freq", "10", "--dry-run"])
    return yaml.safe_load((out / "config.yaml").read_text())


STEPS = {"paper": WORKFLOW["train"]["steps"], "smoke": 2}


@pytest.fixture(scope="module")
def dry_runs(tmp_path_factory):
    """Every arm of both scales through ``python -m durian.train ... --dry-run`` (the paper scale with
    the workflow's step count): the run folder and the resolved config of each."""
    out = tmp_path_factory.mktemp("dry")
    return {(scale, arm): (out / scale / arm, dry_run(scale, arm, out / scale / arm, STEPS[scale]))
            for scale in STEPS for arm in sorted(experiment.arms())}


@pytest.fixture(scope="module")
def paper_configs(dry_runs):
    return {arm: config for (scale, arm), (_, config) in dry_runs.items() if scale == "paper"}


def path(tree, dotted: str):
    for part in dotted.split("."):
        assert isinstance(tree, dict) and part in tree, f"{dotted}: no {part!r}"
        tree = tree[part]
    return tree


def layout() -> str:
    """The order of image, instruction and question in durian.prompt.user_turn's user turn."""
    text = prompt.user_turn("What is x?", num_images=1)
    where = {"image": text.index(prompt.IMAGE_PLACEHOLDER), "instruction": text.index(prompt.THINKING_INSTRUCTION),
             "question": text.index("What is x?")}
    return ",".join(sorted(where, key=where.get))


def actual(key: str, configs: dict[str, dict]) -> list[tuple[str, object]]:
    """(where, value) of every place ``key`` is checked (see the key conventions in the table's page)."""
    prefix, sep, rest = key.partition(":")
    if not sep:
        return [(f"{arm}/config.yaml", path(config, key)) for arm, config in configs.items()]
    if prefix == "workflow":
        return [("workflow/config/paper.yaml", path(WORKFLOW, rest))]
    if prefix == "template":
        return [("_default_template_yaml", path(TEMPLATE, rest))]
    if prefix in ("prepare", "reward"):
        return [(f"durian.{prefix}", getattr(prepare if prefix == "prepare" else reward, rest))]
    if prefix == "prompt":
        assert rest == "layout", key
        return [("durian.prompt.user_turn", layout())]
    assert prefix in configs, f"{key}: unknown source or arm {prefix!r}"
    arms = [prefix] + [a for a in configs if experiment.arm(a).baseline == prefix]
    return [(f"{arm}/config.yaml", path(configs[arm], rest)) for arm in arms]


def same(expected_text: str, value) -> bool:
    expected = yaml.safe_load(expected_text)
    if isinstance(expected, str):
        try:
            expected = float(expected)  # YAML 1.1 reads "1e-6" as a string
        except ValueError:
            pass
    if isinstance(expected, (int, float)) and not isinstance(expected, bool) and isinstance(value, (int, float)):
        return value == pytest.approx(expected, rel=1e-9)
    return value == expected


def test_the_table_has_one_row_per_setting_each_with_checked_values():
    rows = table()
    names = [row["setting"] for row in rows]
    assert len(names) == len(set(names)) and [n for n in REQUIRED if n not in names] == []
    for row in rows:
        assert ITEM.findall(row["ours"]), f"{row['setting']}: no `key=value` item in the ours column"
        assert all(row[column] for column in COLUMNS), row["setting"]


def test_the_paper_scales_resolved_values_are_the_tables(paper_configs):
    wrong = []
    for row in table():
        for key, value in ITEM.findall(row["ours"]):
            for where, got in actual(key, paper_configs):
                if not same(value, got):
                    wrong.append(f"{row['setting']}: {key}: table {value!r}, {where} {got!r}")
    assert wrong == []


def test_the_table_check_would_catch_a_drift(paper_configs):
    # the comparison is not vacuous: a changed value or a missing key is caught
    assert not same("0.2", path(paper_configs["grpo"], "actor_rollout_ref.actor.clip_ratio_high"))
    assert same("1e-6", 1.0e-6) and not same("1e-5", 1.0e-6) and not same("true", False)
    with pytest.raises(AssertionError, match="no 'clip_ratio_highest'"):
        actual("grpo:actor_rollout_ref.actor.clip_ratio_highest", paper_configs)


@pytest.mark.parametrize("scale", ["smoke", "paper"])
def test_every_arm_dry_runs_writing_the_config_a_real_run_writes(scale, dry_runs):
    for arm in sorted(experiment.arms()):
        folder, config = dry_runs[scale, arm]
        assert config["algorithm"]["adv_estimator"] == experiment.arm(arm).estimator
        assert config["trainer"]["total_training_steps"] == STEPS[scale] and config["trainer"]["experiment_name"] == arm
        assert sorted(p.name for p in folder.iterdir()) == ["config.yaml"]  # nothing else: verl never ran
    # the same text a real run writes: train() writes _to_yaml(compose(overrides)) of the same overrides
    folder, _ = dry_runs[scale, "grpo"]
    values = {"model": "M", "train_files": "T", "val_files": "V", "seed": 1, "steps": STEPS[scale], "save_freq": 10,
              "run": "grpo", "checkpoint_dir": folder / "checkpoints", "reward_file": launcher.REWARD_FILE}
    overrides, _ = launcher.resolve_overrides(scale, "grpo", values)
    assert (folder / "config.yaml").read_text() == launcher._to_yaml(launcher.compose(overrides))


def test_dry_run_help_and_a_bad_group_filter_rule(tmp_path, capsys):
    with pytest.raises(SystemExit) as code:
        launcher.main(["--help"])
    assert code.value.code == 0 and "--dry-run" in capsys.readouterr().out
    dry_run("smoke", "grpo", tmp_path / "ok", 2)
    assert capsys.readouterr().out.startswith(f"dry run: smoke scale, arm grpo: resolved verl config -> {tmp_path / 'ok'}")
    with pytest.raises(SystemExit) as code:
        launcher.main(["--scale", "paper", "--arm", "dapo", "--model", "M", "--train", "T", "--val", "V", "--out",
                       str(tmp_path / "bad"), "--dry-run", "--set", "+trainer.v1.sampler.sampler_kwargs.group_filter=std"])
    assert code.value.code == 2
    assert re.search(r"^durian.train: invalid config: ValueError: .*sampler_kwargs.group_filter: must be one of "
                     r"\['mean_band', 'equal'\]", capsys.readouterr().err)
    with pytest.raises(SystemExit) as code:
        launcher.main(["--scale", "smoke", "--arm", "grpo", "--model", "M", "--train", "T", "--val", "V", "--out",
                       str(tmp_path / "bad-poll"), "--dry-run", "--set", "+trainer.v1.sampler.sampler_kwargs.poll_interval=0"])
    assert code.value.code == 2
    assert re.search(r"^durian.train: invalid config: ValueError: .*sampler_kwargs.poll_interval: must be a finite "
                     r"number of seconds > 0", capsys.readouterr().err)
