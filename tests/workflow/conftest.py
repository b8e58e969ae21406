"""Running the workflow from the tests: Snakemake's command line on a scratch working directory."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "workflow" / "config"
PROFILES = ROOT / "workflow" / "profiles"
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def load_config(name: str) -> dict:
    return yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())


def run_snakemake(*args: str, workdir: Path, configs: list[str | dict] | None = None,
                  timeout: float = 600) -> subprocess.CompletedProcess:
    """``snakemake ARGS`` in ``workdir``; ``configs``: config names (workflow/config/<name>.yaml)
    or dicts, merged in order as Snakemake merges --configfile (later keys win, nested)."""
    command = [str(SNAKEMAKE), "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
               "--cores", "2", *args]
    if configs:
        files = []
        for i, config in enumerate(configs):
            if isinstance(config, dict):
                path = workdir / f"config-{i}.yaml"
                path.write_text(yaml.safe_dump(config, sort_keys=False))
                files.append(str(path))
            else:
                files.append(str(CONFIGS / f"{config}.yaml"))
        command += ["--configfile", *files]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run(command, check=False, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="session")
def snakemake() -> Callable[..., subprocess.CompletedProcess]:
    return run_snakemake


@pytest.fixture(scope="session")
def config_of() -> Callable[[str], dict]:
    """A config of workflow/config/ as a dict (to change and pass to ``snakemake(configs=[...])``)."""
    return load_config


def count_jobs(output: str) -> dict[str, int]:
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


@pytest.fixture(scope="session")
def job_counts() -> Callable[[str], dict[str, int]]:
    return count_jobs
