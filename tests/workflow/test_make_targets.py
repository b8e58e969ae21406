"""The README's commands as the Makefile spells them: each target's Snakemake command line, dry-run
exactly as written (argument order included: ``--configfile`` takes every word after it)."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def snakemake_commands(target: str) -> list[list[str]]:
    printed = subprocess.run(["make", "-n", target], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    lines = printed.replace("\\\n", " ").splitlines()
    return [shlex.split(line) for line in lines if line.startswith(".venv/bin/snakemake ")]


@pytest.mark.parametrize(("target", "results", "train"), [("reproduce", "results/smoke", 4), ("study", "results/study", 12)])
def test_make_target_plans_its_table1(tmp_path, job_counts, target, results, train):
    [command] = snakemake_commands(target)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    result = subprocess.run([*command, "--directory", str(tmp_path), "-n"], cwd=ROOT, capture_output=True,
                            text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    counts = job_counts(result.stdout)
    assert counts["reproduce_table1"] == 1 and counts["train"] == train, counts
    assert f"{results}/reports/table1" in result.stdout
    assert not (tmp_path / "results").exists()
