"""``python -m durian.train`` as a user runs it, past its --time-limit with a --set override: a real
verl start, killed whole at the limit, the error naming the limit, the override in the run's config."""

import json
import subprocess
import sys
from pathlib import Path

import yaml
from process_tree import still_naming

REPO = Path(__file__).resolve().parents[3]


def test_the_time_limit_and_set_through_python_m(tmp_path):
    out = tmp_path / "run-cli"
    command = [sys.executable, "-m", "durian.train", "--scale", "smoke", "--arm", "grpo", "--model", "no/such-model",
               "--train", "T.parquet", "--val", "V.parquet", "--out", str(out), "--time-limit", "1",
               "--set", "actor_rollout_ref.rollout.n=2"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 1, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-2:]  # after the warnings of composing verl's config
    assert last == ["durian.train: training run-cli ran past its time limit (1 s): its process tree was killed",
                    f"full log: {out / 'train.log'}"], result.stderr[-3000:]
    [attempt] = json.loads((out / "timing.json").read_text())["attempts"]
    assert attempt["attempt"] == "001" and attempt["exit_code"] is None
    assert "actor_rollout_ref.rollout.n=2" in json.loads((out / "launch.json").read_text())["overrides"]
    assert yaml.safe_load((out / "config.yaml").read_text())["actor_rollout_ref"]["rollout"]["n"] == 2
    assert still_naming(str(out), within=5) == []  # verl and all it started (their environment names the run folder)
