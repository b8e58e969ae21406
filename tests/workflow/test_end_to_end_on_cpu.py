"""The workflow end to end on the smoke world: a reduced Table 1 (workflow/config/test.yaml: one
arm, one step, two benchmarks) through real verl training, evaluation and the report; every job's
log written and a short console; then a run with nothing to do and the rerun triggers."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCAL = str(ROOT / "workflow" / "profiles" / "local")
# The log of every job of the reduced Table 1 (the world's own when it is built, not reused).
JOB_LOGS = ("data/entropy-train.log", "data/entropy-val.log", "eval/fixtures.log", "train/grpo-s1.log",
            "eval/grpo-s1.log", "reports/plan.log", "reports/table1.log")


@pytest.fixture(scope="module")
def reduced_table1(tmp_path_factory, snakemake):
    """Run a reduced Table 1 end to end: grpo, 1 step, 2 benchmarks, 4 questions each."""
    from durian.world.task import WorldConfig

    workdir = tmp_path_factory.mktemp("e2e")
    configs: list = ["smoke", "test"]
    cache = Path(os.environ.get("DURIAN_CACHE", Path.home() / ".cache" / "durian-repro"))
    world = cache / f"smoke-world-{WorldConfig(seed=0).key()}"
    if (world / "manifest.json").exists():  # built by the other tests: reuse it (saves a minute)
        configs.append({"source": {"world_dir": str(world)}})
    start = time.monotonic()
    result = snakemake("reproduce_table1", "--workflow-profile", LOCAL, workdir=workdir, configs=configs)
    seconds = time.monotonic() - start
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return workdir, configs, result, seconds


def test_reduced_table1_end_to_end(reduced_table1):
    import pandas as pd

    workdir, _, _, seconds = reduced_table1
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
    assert json.loads((results / "plan.json").read_text())["scale"] == "smoke"


def test_every_job_writes_its_log_and_the_console_is_short(reduced_table1):
    workdir, _, result, _ = reduced_table1
    logs = workdir / "results" / "smoke" / "logs"
    written = {str(p.relative_to(logs)) for p in logs.rglob("*.log")}
    assert written >= set(JOB_LOGS), written
    for name in written:
        assert (logs / name).read_text().strip(), f"empty log: {name}"
    console = result.stdout + result.stderr
    lines = console.splitlines()
    jobs = re.findall(r"^Job \d+: (.*)$", console, re.MULTILINE)
    assert len(jobs) == len(written) + 1, jobs  # the target rule besides the jobs with a log
    for name in written:  # one line per job, naming its log
        assert any(f"results/smoke/logs/{name}" in job for job in jobs), (name, jobs)
    assert len(lines) <= 12 * len(jobs) + 20, console
    assert not re.search(r"megatron|mindspeed|traceback|warn", console, re.IGNORECASE), console


def test_second_invocation_has_nothing_to_do(reduced_table1, snakemake):
    workdir, configs, _, _ = reduced_table1
    result = snakemake("reproduce_table1", "--workflow-profile", LOCAL, workdir=workdir, configs=configs)
    assert result.returncode == 0, result.stderr
    assert "Nothing to be done" in result.stdout + result.stderr


def test_changed_settings_mark_their_jobs_for_rerun(reduced_table1, snakemake, job_counts):
    workdir, configs, _, _ = reduced_table1
    steps = [*configs, {"train": {"steps": 2}}]
    counts = job_counts(snakemake("reproduce_table1", "-n", workdir=workdir, configs=steps).stdout)
    assert counts == {"train": 1, "evaluate": 1, "build_report": 1, "reproduce_table1": 1, "total": 4}
    limit = [*configs, {"eval": {"limit": 3}}]
    result = snakemake("reproduce_table1", "-n", workdir=workdir, configs=limit)
    counts = job_counts(result.stdout)
    assert counts == {"evaluate": 1, "build_report": 1, "reproduce_table1": 1, "total": 3}
    assert "Params have changed since last execution" in result.stdout
    # --list-changes params also lists outputs whose params did not change here (the trained
    # model, the entropy files): only the dry run above tells what would rerun.
    changes = snakemake("--list-changes", "params", workdir=workdir, configs=limit).stdout
    assert "eval/grpo-s1/mathvista.json" in changes
