"""The Snakemake workflow: lint, dry-runs of every target in both profiles, config rejections,
rerun triggers, and an end-to-end smoke run of a reduced Table 1 (one arm, one step, two
benchmarks) followed by a run that has nothing to do."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
CONFIGS = {name: ROOT / "workflow" / "config" / f"{name}.yaml" for name in ("smoke", "paper")}

# (training jobs, evaluation jobs: one per run, all six benchmarks) each target plans from
# nothing; ids shared between targets (the default run of a grid is Table 1's run) are counted once.
EXPECTED = {
    "smoke": {  # seeds [1]
        "reproduce_table1": (4, 5), "table2_groups": (10, 10), "table3_weights": (7, 7),
        "table7_rollout": (6, 6), "fig3_ablation": (4, 4), "fig4_entropy": (0, 0),
        "appendix_a": (4, 5), "appendix_b": (4, 5), "report": (26, 27), "all": (26, 27),
    },
    "paper": {  # seeds [1, 2, 3]
        "reproduce_table1": (12, 13), "table2_groups": (30, 30), "table3_weights": (21, 21),
        "table7_rollout": (18, 18), "fig3_ablation": (12, 12), "fig4_entropy": (0, 0),
        "appendix_a": (12, 13), "appendix_b": (12, 13), "report": (78, 79), "all": (78, 79),
    },
}


def snakemake(*args: str, workdir: Path, config: dict | None = None, timeout: float = 600):
    command = [str(SNAKEMAKE), "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
               "--cores", "2", *args]
    if config is not None:
        path = workdir / "config.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        command += ["--configfile", str(path)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)


def job_counts(output: str) -> dict[str, int]:
    """The "Job stats" table of a (dry) run."""
    counts, inside = {}, False
    for line in output.splitlines():
        if line.startswith("Job stats:"):
            inside = True
        elif inside and line.strip() and not line.startswith(("job ", "---")):
            name, _, count = line.strip().rpartition(" ")
            if not count.isdigit():
                break
            counts[name.strip()] = int(count)
    return counts


def load(profile: str) -> dict:
    return yaml.safe_load(CONFIGS[profile].read_text())


def test_lint_is_clean(tmp_path):
    result = snakemake("--lint", workdir=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations" in result.stdout + result.stderr


@pytest.mark.parametrize("profile", ["smoke", "paper"])
def test_dry_run_of_every_target(tmp_path, profile):
    for target, (train, evaluate) in EXPECTED[profile].items():
        result = snakemake(target, "-n", workdir=tmp_path, config=load(profile))
        assert result.returncode == 0, result.stdout + result.stderr
        counts = job_counts(result.stdout)
        assert counts.get("train", 0) == train, (target, counts)
        assert counts.get("evaluate", 0) == evaluate, (target, counts)
        assert not (tmp_path / "results").exists()


def test_paper_run_ids_and_resources(tmp_path):
    result = snakemake("table3_weights", "-n", workdir=tmp_path, config=load("paper"))
    out = result.stdout
    assert "results/paper/train/dapo-durian-w0.4_0.3_0.3-s2/model" in out
    assert "results/paper/train/dapo-durian-s1/model" in out  # the default triple is Table 1's run
    assert "prepare_geometry3k" in out
    result = snakemake("table2_groups", "-n", "--workflow-profile", str(ROOT / "workflow/profiles/slurm"),
                       workdir=tmp_path, config=load("paper"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "dapo-durian-k4-s3" in result.stdout and "gpu=8" in result.stdout


def _bad(change):
    config = load("smoke")
    change(config)
    return config


REJECTIONS = {
    "unknown key": (lambda c: c["train"].update(learning_rate=1e-6), "learning_rate"),
    "wrong type": (lambda c: c["train"].update(steps="two"), "steps"),
    "weights not summing to 1": (lambda c: c["grids"]["weights"].append([0.5, 0.5, 0.5]), "grids.weights[7]"),
    "unknown arm": (lambda c: c["table1"]["arms"].append("ppo"), "arms"),
    "unknown benchmark": (lambda c: c["eval"]["benchmarks"].append("mmmu"), "benchmarks"),
}


@pytest.mark.parametrize("case", sorted(REJECTIONS))
def test_bad_config_fails_before_any_job(tmp_path, case):
    change, key = REJECTIONS[case]
    result = snakemake("reproduce_table1", "-n", workdir=tmp_path, config=_bad(change))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert key in output, output
    assert "Job stats" not in output and "Building DAG" not in output
    assert not (tmp_path / "results").exists()


def test_default_profile_is_smoke_and_paper_replaces_it(tmp_path):
    assert job_counts(snakemake("reproduce_table1", "-n", workdir=tmp_path).stdout)["train"] == 4


@pytest.fixture(scope="module")
def reduced_table1(tmp_path_factory):
    """Run a reduced Table 1 end to end: grpo, 1 step, 2 benchmarks, 4 questions each."""
    from durian.toy import WorldConfig

    workdir = tmp_path_factory.mktemp("e2e")
    config = load("smoke")
    cache = Path(os.environ.get("DURIAN_CACHE", Path.home() / ".cache" / "durian-repro"))
    world = cache / f"smoke-world-{WorldConfig(seed=config['source']['world_seed']).key()}"
    if (world / "manifest.json").exists():  # built by the other tests: reuse it (saves a minute)
        config["source"]["world_dir"] = str(world)
    config["table1"] = {"arms": ["grpo"], "base_model": False}
    config["train"].update(steps=1, save_freq=1)
    config["eval"].update(benchmarks=["mathvista", "geometry3k"], limit=4)
    start = time.monotonic()
    result = snakemake("reproduce_table1", "--workflow-profile", str(ROOT / "workflow/profiles/local"),
                       workdir=workdir, config=config)
    seconds = time.monotonic() - start
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return workdir, config, result, seconds


def test_reduced_table1_end_to_end(reduced_table1):
    import json

    import pandas as pd

    workdir, config, result, seconds = reduced_table1
    print(f"reduced Table 1: {seconds:.0f} s")
    results = workdir / "results" / "smoke"
    assert (results / "train" / "grpo-s1" / "model").is_dir()
    assert (results / "train" / "grpo-s1" / "metrics.jsonl").read_text().strip()
    for benchmark in ("mathvista", "geometry3k"):
        assert (results / "eval" / "grpo-s1" / f"{benchmark}.samples.jsonl").exists()
    report = results / "reports" / "table1"
    table = pd.read_csv(report / "tables" / "table1.csv")
    ours = table[table["source"] == "ours"].set_index("arm")
    assert list(ours.index) == ["grpo"]
    for benchmark, column in (("mathvista", "MathVista"), ("geometry3k", "Geometry3K")):
        accuracy = json.loads((results / "eval" / "grpo-s1" / f"{benchmark}.json").read_text())["accuracy"]
        assert ours.loc["grpo", f"{column}_ours"] == pytest.approx(100 * accuracy)
    assert ours.loc["grpo", "MathVista_paper"] == 70.2  # "+ Vanilla GRPO" in the paper's Table 1
    html = (report / "report.html").read_text()
    assert "grpo-s1" in html and "<img" in html and "http://" not in html and "https://" not in html
    assert {p.name for p in (report / "figures").iterdir()} >= {"training_curves.png", "fig4_entropy.svg"}


def test_second_invocation_has_nothing_to_do(reduced_table1):
    workdir, config, _, _ = reduced_table1
    result = snakemake("reproduce_table1", "--workflow-profile", str(ROOT / "workflow/profiles/local"),
                       workdir=workdir, config=config)
    assert result.returncode == 0, result.stderr
    assert "Nothing to be done" in result.stdout + result.stderr


def test_changed_settings_mark_their_jobs_for_rerun(reduced_table1):
    workdir, config, _, _ = reduced_table1
    steps = copy.deepcopy(config)
    steps["train"]["steps"] = 2
    counts = job_counts(snakemake("reproduce_table1", "-n", workdir=workdir, config=steps).stdout)
    assert counts == {"train": 1, "evaluate": 1, "build_report": 1, "reproduce_table1": 1, "total": 4}
    limit = copy.deepcopy(config)
    limit["eval"]["limit"] = 3
    result = snakemake("reproduce_table1", "-n", workdir=workdir, config=limit)
    counts = job_counts(result.stdout)
    assert counts == {"evaluate": 1, "build_report": 1, "reproduce_table1": 1, "total": 3}
    assert "Params have changed since last execution" in result.stdout
    # --list-changes params also lists outputs whose params did not change here (the trained
    # model, the entropy files): only the dry run above tells what would rerun.
    changes = snakemake("--list-changes", "params", workdir=workdir, config=limit).stdout
    assert "eval/grpo-s1/mathvista.json" in changes
