"""Interrupting the workflow while a training job runs: a terminal's Ctrl-C (SIGINT to Snakemake's
process group), SIGTERM or SIGINT to Snakemake alone. Each must end the job's whole process tree
within seconds and leave the job to be redone by a rerun. The job is our real launcher
(durian.recipe.verl_process.run_process_tree) on a fake "verl" process tree; the workflow's own signal handling
(workflow/rules/signals.smk) is included in a one-rule Snakefile."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from process_tree import FAKE_VERL, still_naming, still_running, wait_for_tree

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"

# The job, as `python -m durian.train` is one: it writes part of its output (config.yaml), then runs
# "verl" under the launcher.
HOST = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from durian.recipe import verl_process
    Path(sys.argv[1]).write_text("written before training\\n")
    try:
        verl_process.run_process_tree([sys.executable, sys.argv[2]], dict(os.environ), Path(sys.argv[3]), 120)
    except verl_process.Interrupted as error:
        print(f"interrupted by {error.signum}", flush=True)
        raise SystemExit(128 + error.signum)
""")
SNAKEFILE = """
include: {signals!r}

rule train:
    output: "train/config.yaml"
    log: "logs/train.log"
    shell: "python {host!r} {{output}} {fake!r} {verl_log!r} > {{log}} 2>&1"
"""


@pytest.fixture
def workflow(tmp_path):
    """A one-rule workflow in ``tmp_path``; every process of a run carries a marker in its environment."""
    (tmp_path / "fake_verl.py").write_text(FAKE_VERL)
    (tmp_path / "host.py").write_text(HOST)
    (tmp_path / "Snakefile").write_text(SNAKEFILE.format(
        signals=str(ROOT / "workflow" / "rules" / "signals.smk"), host=str(tmp_path / "host.py"),
        fake=str(tmp_path / "fake_verl.py"), verl_log=str(tmp_path / "verl.log")))
    marker = f"DURIAN_INTERRUPT_TEST={uuid.uuid4().hex}"
    env = {**os.environ, "FAKE_PIDS": str(tmp_path / "pids"), marker.split("=")[0]: marker.split("=")[1],
           "PATH": os.pathsep.join([str(SNAKEMAKE.parent), os.environ["PATH"]])}
    yield tmp_path, env, marker
    if (tmp_path / "pids").exists():  # whatever the outcome, leave no sleeper behind
        for pid in map(int, (tmp_path / "pids").read_text().split()):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def snakemake(workdir: Path, env: dict, *args: str, **popen) -> subprocess.Popen:
    command = [str(SNAKEMAKE), "--snakefile", str(workdir / "Snakefile"), "--directory", str(workdir),
               "--cores", "1", *args]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)


@pytest.mark.parametrize("fault", ["ctrl-c", "sigterm", "sigint"])
def test_an_interrupted_workflow_ends_the_jobs_whole_tree_and_redoes_the_job(fault, workflow, job_counts):
    workdir, env, marker = workflow
    # its own session, as a terminal gives a command: Ctrl-C is SIGINT to that process group
    run = snakemake(workdir, env, start_new_session=True)
    try:
        pids = wait_for_tree(workdir / "pids", run=run)
        assert (workdir / "train" / "config.yaml").exists()
        if fault == "ctrl-c":
            os.killpg(run.pid, signal.SIGINT)
        else:
            run.send_signal(signal.SIGTERM if fault == "sigterm" else signal.SIGINT)
        console, _ = run.communicate(timeout=10)
        assert still_running(pids, 5) == [], f"{fault} left the training's processes behind"
        assert still_naming(marker, 5) == [], f"{fault} left processes of the run behind"
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.communicate()
    signum = signal.SIGTERM if fault == "sigterm" else signal.SIGINT
    assert run.returncode != 0, console
    assert f"interrupted by {signum}" in (workdir / "logs" / "train.log").read_text(), console
    # The partial output is removed (a failed job) or kept but recorded as incomplete (Ctrl-C):
    # either way a rerun redoes the job (the profiles' rerun-incomplete), never trusting it.
    if (workdir / "train" / "config.yaml").exists():
        dry, _ = snakemake(workdir, env, "-n").communicate(timeout=60)
        assert "IncompleteFilesException" in dry and "train/config.yaml" in dry, dry
    redo, _ = snakemake(workdir, env, "-n", "--rerun-incomplete").communicate(timeout=60)
    assert job_counts(redo) == {"train": 1, "total": 1}, redo
