"""The workflow speaks durian.experiment's vocabulary: the schema's enums are its registries, the
Snakefile's targets are WORKFLOW_TARGETS, an arm is a Durian arm because of its estimator, and
weights are checked in one place."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from durian import experiment
from durian.experiment import BENCHMARKS, WORKFLOW_TARGETS, arms, scales

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
RULE_FILES = [ROOT / "Snakefile", *(ROOT / "workflow" / "rules").glob("*.smk")]


def test_schema_enums_are_the_registries():
    assert SCHEMA["$defs"]["arm"]["enum"] == list(arms())
    assert SCHEMA["$defs"]["benchmark"]["enum"] == list(BENCHMARKS)
    assert SCHEMA["properties"]["scale"]["enum"] == list(scales())
    assert "profile" not in SCHEMA["properties"]  # "profile" is Snakemake's workflow/profiles/ only


def test_every_config_names_its_scale_not_a_profile():
    for path in (ROOT / "workflow" / "config").glob("*.yaml"):
        config = yaml.safe_load(path.read_text())
        assert "profile" not in config, path
    for scale in ("smoke", "study", "paper"):
        config = yaml.safe_load((ROOT / "workflow" / "config" / f"{scale}.yaml").read_text())
        assert config["scale"] == scale and config["results"] == f"results/{scale}"


def test_the_snakefiles_targets_are_workflow_targets(tmp_path, snakemake):
    result = snakemake("--list-target-rules", workdir=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    listed = set(result.stdout.split())
    job_rules = {"build_world", "fixtures", "plan"}  # the smoke scale's jobs without wildcards
    assert listed - job_rules == {*WORKFLOW_TARGETS, "all"}, listed
    for path in RULE_FILES:  # generated from the registry, never listed by hand
        for target in WORKFLOW_TARGETS:
            assert not re.search(rf"^\s*rule {target}\s*:", path.read_text(), re.MULTILINE), (path, target)


def test_durian_ness_comes_from_the_estimator(tmp_path):
    arms_file = tmp_path / "arms.yaml"
    arms_file.write_text(yaml.safe_dump({
        "plain": {"label": "GRPO", "colour": "#000000", "algorithm.adv_estimator": "grpo"},
        "fancy": {"label": "renamed Durian", "colour": "#111111", "base": "plain",
                  "algorithm.adv_estimator": "durian"},
        "durian-in-name-only": {"label": "not Durian", "colour": "#222222", "base": "plain"},
    }))
    table = experiment.load_arms(arms_file)
    assert table["fancy"].is_durian and table["fancy"].baseline == "plain"
    assert not table["durian-in-name-only"].is_durian and table["durian-in-name-only"].baseline is None
    for name, arm in arms().items():
        assert arm.is_durian == (arm.estimator in experiment.DURIAN_ESTIMATORS), name


def test_weights_are_checked_in_one_place():
    assert experiment.check_weights([0.1, 0.2, 0.7]) == (0.1, 0.2, 0.7)
    for bad, message in (([0.5, 0.5, 0.5], "must sum to 1"), ([0.5, 0.5], "expected 3 values"),
                         ([1.5, -0.5, 0.0], "non-negative"), ([float("nan"), 0.5, 0.5], "finite")):
        with pytest.raises(ValueError, match=f"^weights: .*{message}"):
            experiment.check_weights(bad)
    config = yaml.safe_load((ROOT / "workflow" / "config" / "smoke.yaml").read_text())
    experiment.check_config(config)
    config["grids"]["weights"].append([0.5, 0.5, 0.5])
    with pytest.raises(experiment.ConfigError, match=r"config key grids\.weights\[7\]: must sum to 1"):
        experiment.check_config(config)
    defaults = {"num_reasoning_groups": 12, "weights": [0.2, 0.2, 0.2], "rollout_n": 4}
    with pytest.raises(ValueError, match="must sum to 1"):  # no Run holds weights that do not sum to 1
        experiment.make_run(defaults, "dapo-durian", 1)
