"""durian.recipe.launch when things go wrong, with the faults made to happen: Ctrl-C (SIGINT to the
launcher's process group), SIGTERM and SIGKILL of the process hosting the launcher, the wall-clock
limit, a second trainer on one run folder, metrics across resumes, a kill between a checkpoint and
its log, attempt numbering and the failure messages. A fake "verl" (a process tree of sleepers) stands in for the real one."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from process_tree import FAKE_VERL, still_running, wait_for_tree

from durian.recipe import launch as launcher
from durian.recipe import run_folder

# A quicker stand-in for the time limit's tests (up in milliseconds): a shell and its grandchild.
QUICK_VERL = ["bash", "-c", ('bash -c "sleep 600 & echo \\$\\$ \\$! > $FAKE_PIDS.tmp; wait" & '
                             'while [ ! -s $FAKE_PIDS.tmp ]; do sleep 0.01; done; echo $$ $(cat $FAKE_PIDS.tmp) > $FAKE_PIDS; wait')]

# The process hosting the launcher (as `python -m durian.train` hosts it in a workflow job).
HOST = textwrap.dedent("""
    import json, os, sys
    from pathlib import Path
    from durian.recipe import verl_process
    command, log = json.loads(sys.argv[1]), Path(sys.argv[2])
    try:
        code = verl_process.run_process_tree(command, dict(os.environ), log, float(sys.argv[3]))
    except verl_process.Interrupted as error:
        print(f"interrupted by {error.signum}", flush=True)
        raise SystemExit(128 + error.signum)
    print(f"exited with {code}", flush=True)
""")


@pytest.fixture
def fake_verl(tmp_path, monkeypatch):
    script = tmp_path / "fake_verl.py"
    script.write_text(FAKE_VERL)
    pids_file = tmp_path / "pids"
    monkeypatch.setenv("FAKE_PIDS", str(pids_file))
    yield script, pids_file
    if pids_file.exists():  # whatever the test's outcome, leave no sleeper behind
        for pid in map(int, pids_file.read_text().split()):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def start_host(tmp_path, command: list[str], time_limit: float = 120) -> subprocess.Popen:
    host = tmp_path / "host.py"
    host.write_text(HOST)
    root = Path(launcher.__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    # its own process group, as a terminal gives the workflow's: Ctrl-C is SIGINT to that group
    return subprocess.Popen([sys.executable, str(host), json.dumps(command), str(tmp_path / "train.log"), str(time_limit)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


@pytest.mark.parametrize("fault", ["ctrl-c", "sigterm", "sigkill"])
def test_every_fault_of_the_launcher_ends_the_runs_whole_process_tree(fault, fake_verl, tmp_path):
    script, pids_file = fake_verl
    host = start_host(tmp_path, [sys.executable, str(script)])
    try:
        pids = wait_for_tree(pids_file)
        if fault == "ctrl-c":
            os.killpg(host.pid, signal.SIGINT)
        else:
            host.send_signal(signal.SIGTERM if fault == "sigterm" else signal.SIGKILL)
        out, err = host.communicate(timeout=10)
        assert still_running(pids, 5) == [], f"{fault} left processes of the run behind"
    finally:
        if host.poll() is None:
            host.kill()
            host.communicate()
    if fault == "ctrl-c":
        assert host.returncode == 128 + signal.SIGINT and "interrupted by 2" in out, err[-2000:]
    elif fault == "sigterm":
        assert host.returncode == 128 + signal.SIGTERM and "interrupted by 15" in out, err[-2000:]
    else:
        assert host.returncode == -signal.SIGKILL


def test_the_wall_clock_limit_kills_the_whole_tree_and_says_so(fake_verl, tmp_path):
    _, pids_file = fake_verl
    host = start_host(tmp_path, QUICK_VERL, time_limit=1)
    try:
        pids = wait_for_tree(pids_file, size=3)  # the command, its child and the grandchild, all before the limit
        out, err = host.communicate(timeout=60)
    finally:
        if host.poll() is None:
            host.kill()
    assert out.strip() == "exited with None", err[-2000:]  # None: the limit was hit
    assert still_running(pids, 3) == []


def train_kwargs(tmp_path) -> dict:
    return {"scale": "smoke", "arm": "grpo", "model": "M", "train_files": "T", "val_files": "V", "out": tmp_path / "run"}


def test_train_reports_the_time_limit_with_the_real_runner(fake_verl, tmp_path, monkeypatch):
    """train() around the real run_process_tree, verl replaced by the fake tree: the error names the limit."""
    _, pids_file = fake_verl
    real_run = launcher.run_process_tree
    monkeypatch.setattr(launcher, "run_process_tree", lambda command, env, log, limit, stop=None:
                        real_run(QUICK_VERL, env, log, limit, stop))
    started = time.monotonic()
    with pytest.raises(launcher.TrainingFailed, match=r"training run ran past its time limit \(1 s\)"):
        launcher.train(**train_kwargs(tmp_path), time_limit=1)
    assert time.monotonic() - started < 60
    pids = [int(p) for p in pids_file.read_text().split()]
    assert len(pids) == 3 and still_running(pids, 3) == []
    [attempt] = json.loads((tmp_path / "run" / "timing.json").read_text())["attempts"]
    assert attempt["attempt"] == "001" and attempt["exit_code"] is None and attempt["seconds"] >= 1


def test_a_second_trainer_on_one_run_folder_is_refused_until_the_first_dies(tmp_path, monkeypatch):
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", ("import sys, time; from pathlib import Path; from durian.recipe import launch\n"
                                "with launch.hold_run_folder(Path(sys.argv[1])):\n"
                                "    print('held', flush=True); time.sleep(600)"), str(out)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        ran = []
        monkeypatch.setattr(launcher, "run_process_tree", lambda *args, **kwargs: ran.append(args) or 0)
        with pytest.raises(launcher.TrainingFailed, match=rf"run folder .*run is in use by another trainer \(pid {holder.pid}\)"):
            launcher.train(**train_kwargs(tmp_path))
        assert ran == [] and not (out / "attempts").exists()  # refused before touching the folder
    finally:
        holder.kill()  # dies without releasing anything itself: the OS drops its lock
        holder.wait()
    monkeypatch.setattr(launcher, "export_model", lambda checkpoints, target: target)
    launcher.train(**train_kwargs(tmp_path))
    assert ran and (out / "timing.json").exists()


def test_exit_78_without_verls_refusal_line_is_reported_with_its_root_cause(tmp_path, monkeypatch):
    """EX_CONFIG is main_ppo's code for a refused config; a process that exits 78 for another reason
    (no refusal line in the log) is a failed run with its first error, not an invalid config."""
    def died(command, env, log, time_limit, stop=None):
        log.write_text(f"===== now {' '.join(command)}\nTraceback (most recent call last):\nOSError: disk full\n")
        return launcher.EX_CONFIG

    monkeypatch.setattr(launcher, "run_process_tree", died)
    with pytest.raises(launcher.TrainingFailed, match="exited with 78; first error:\n(.|\n)*OSError: disk full"):
        launcher.train(**train_kwargs(tmp_path))


def test_the_lock_is_released_after_a_failed_launch_in_the_same_process(tmp_path, monkeypatch):
    monkeypatch.setattr(launcher, "run_process_tree", lambda *args, **kwargs: 3)
    monkeypatch.setattr(launcher, "first_error", lambda log: "ValueError: boom")
    with pytest.raises(launcher.TrainingFailed, match="exited with 3; first error:\nValueError: boom") as failed:
        launcher.train(**train_kwargs(tmp_path))
    with pytest.raises(launcher.TrainingFailed, match="exited with 3"):  # not "in use": the lock went with the run
        launcher.train(**train_kwargs(tmp_path))
    assert failed.value is not None


def test_an_interrupted_launch_records_its_attempt_and_says_how_it_ended(tmp_path, monkeypatch):
    def interrupted_run(command, env, log, time_limit, stop=None):
        Path(env["VERL_FILE_LOGGER_PATH"]).write_text(json.dumps({"step": 1, "data": {"x": 1}}) + "\n")
        raise launcher.Interrupted(signal.SIGINT)

    monkeypatch.setattr(launcher, "run_process_tree", interrupted_run)
    with pytest.raises(launcher.Interrupted, match="training run interrupted by SIGINT") as caught:
        launcher.train(**train_kwargs(tmp_path))
    assert caught.value.signum == signal.SIGINT
    run = tmp_path / "run"
    assert json.loads((run / "timing.json").read_text())["attempts"][0]["exit_code"] == -signal.SIGINT
    assert (run / "metrics.jsonl").read_text() == '{"step": 1, "x": 1}\n'


def test_the_command_line_exits_with_128_plus_the_signal_when_interrupted(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(launcher, "train", lambda **kwargs: (_ for _ in ()).throw(
        launcher.Interrupted(signal.SIGTERM, "training r interrupted by SIGTERM")))
    with pytest.raises(SystemExit) as exited:
        launcher.main(["--arm", "grpo", "--model", "M", "--train", "T", "--val", "V", "--out", str(tmp_path / "r")])
    assert exited.value.code == 128 + signal.SIGTERM
    assert "durian.train: training r interrupted by SIGTERM" in capsys.readouterr().err


def test_a_signal_kill_is_named_not_shown_as_an_exit_code_with_unrelated_lines(tmp_path, monkeypatch):
    def killed(command, env, log, time_limit, stop=None):
        log.write_text("step 1 done\n" * 30)
        return -signal.SIGKILL

    monkeypatch.setattr(launcher, "run_process_tree", killed)
    with pytest.raises(launcher.TrainingFailed) as failed:
        launcher.train(**train_kwargs(tmp_path))
    message = str(failed.value)
    assert "was killed by SIGKILL" in message
    assert "exited with -9" not in message and "first error" not in message and "step 1 done" not in message


def test_an_attempt_that_dies_before_its_first_step_keeps_its_number(tmp_path, monkeypatch):
    """It leaves no metric file, only its line in timing.json; the next attempt is 002, not 001 again."""
    codes = iter([1, 0])

    def run(command, env, log, time_limit, stop=None):
        code = next(codes)
        log.write_text("RuntimeError: no step\n")
        if code == 0:
            Path(env["VERL_FILE_LOGGER_PATH"]).write_text(json.dumps({"step": 1, "data": {}}) + "\n")
        return code

    monkeypatch.setattr(launcher, "run_process_tree", run)
    monkeypatch.setattr(launcher, "export_model", lambda checkpoints, target: target)
    with pytest.raises(launcher.TrainingFailed, match="exited with 1"):
        launcher.train(**train_kwargs(tmp_path))
    launcher.train(**train_kwargs(tmp_path))
    run_folder = tmp_path / "run"
    assert [a["attempt"] for a in json.loads((run_folder / "timing.json").read_text())["attempts"]] == ["001", "002"]
    assert [p.name for p in (run_folder / "attempts").glob("*.jsonl")] == ["002.jsonl"]


def test_merge_metrics_lets_the_continued_attempt_win_an_overlapping_step(tmp_path):
    attempts = tmp_path / "attempts"
    attempts.mkdir()
    first = [{"step": 1, "data": {"loss": 1.0, "attempt": 1}}, {"step": 2, "data": {"loss": 2.0, "attempt": 1}}]
    (attempts / "001.jsonl").write_text("".join(json.dumps(r) + "\n" for r in first) + '{"step": 3, "data": {"lo')
    second = [{"step": 2, "data": {"loss": 2.5, "attempt": 2}}, {"step": 3, "data": {"loss": 3.0, "attempt": 2}}]
    (attempts / "002.jsonl").write_text("".join(json.dumps(r) + "\n" for r in second))
    target = tmp_path / "metrics.jsonl"
    assert run_folder.merge_metrics(attempts, target) == 3
    assert [json.loads(line) for line in target.read_text().splitlines()] == [
        {"step": 1, "loss": 1.0, "attempt": 1},
        {"step": 2, "loss": 2.5, "attempt": 2},  # the resumed attempt's step 2, not the first one's
        {"step": 3, "loss": 3.0, "attempt": 2},
    ]
    assert not list(tmp_path.glob("*.tmp"))


def verl_killed_between_save_and_log(saved: list[int], logged: list[int], kept: int | None = None, tracker_text=None):
    """Stands in for verl killed after it checkpointed ``saved`` and logged ``logged`` (verl saves a
    step before it logs it), then for verl resuming from its tracker to the last step. With ``kept``,
    verl's keep limit has deleted the weights (``actor/``) of all but the last ``kept`` checkpoints, as
    verl does, leaving their ``data.pt``; ``tracker_text`` is what a kill left in verl's tracker."""
    attempts = iter(["killed", "resumed"])
    resumed_from = []

    def run(command, env, log, time_limit, stop=None):
        steps = int(next(item for item in command if item.startswith("trainer.total_training_steps=")).split("=")[1])
        checkpoints = log.parent / "checkpoints"
        tracker = checkpoints / run_folder.TRACKER
        if next(attempts) == "killed":
            checkpoints.mkdir()
            for i, step in enumerate(saved):
                (checkpoints / f"global_step_{step}").mkdir()
                (checkpoints / f"global_step_{step}" / "data.pt").write_text("dataloader")
                if kept is None or i >= len(saved) - kept:
                    (checkpoints / f"global_step_{step}" / "actor").mkdir()
            tracker.write_text(str(max(saved)) if tracker_text is None else tracker_text)
            Path(env["VERL_FILE_LOGGER_PATH"]).write_text("".join(
                json.dumps({"step": s, "data": {"attempt": 1}}) + "\n" for s in logged))
            return -signal.SIGKILL
        start = int(tracker.read_text()) if tracker.exists() else 0  # verl's find_latest_ckpt_path
        assert (checkpoints / f"global_step_{start}" / "actor").is_dir() or start == 0
        resumed_from.append((start, sorted(p.name for p in checkpoints.glob("global_step_*"))))
        Path(env["VERL_FILE_LOGGER_PATH"]).write_text("".join(
            json.dumps({"step": s, "data": {"attempt": 2}}) + "\n" for s in range(start + 1, steps + 1)))
        return 0

    return run, resumed_from


UNLOGGED = "checkpoint {} has no logged metrics (killed between verl's save and its log): "


@pytest.mark.parametrize(("saved", "logged", "resumes_from", "kept", "says"), [
    ([1, 2, 3], [1, 2], 2, ["global_step_1", "global_step_2"],
     UNLOGGED.format(3) + "resuming from checkpoint 2; step 3 is trained again"),
    ([1], [], 0, [], UNLOGGED.format(1) + "starting over; step 1 is trained again"),
    ([2, 4], [1, 2, 3], 2, ["global_step_2"], UNLOGGED.format(4) + "resuming from checkpoint 2; steps 3-4 are trained again"),
    ([1, 2], [1, 2], 2, ["global_step_1", "global_step_2"], None),  # the step was logged: an ordinary resume
])
def test_a_checkpoint_whose_step_was_never_logged_is_trained_again(saved, logged, resumes_from, kept, says,
                                                                   tmp_path, monkeypatch, capsys):
    """Without the rewind, resuming from the unlogged checkpoint would leave its step out of metrics.jsonl for good."""
    check_rewind(verl_killed_between_save_and_log(saved, logged), logged, resumes_from, kept, says,
                 tmp_path, monkeypatch, capsys)


@pytest.mark.parametrize(("tracker_text", "logged", "resumes_from", "kept", "says"), [
    ("", [1, 2, 3], 3, ["global_step_1", "global_step_2", "global_step_3"],
     "verl's checkpoint tracker reads '' (killed while verl wrote it): resuming from checkpoint 3"),
    ("", [1, 2], 2, ["global_step_1", "global_step_2"],
     "verl's checkpoint tracker reads '' (killed while verl wrote it): resuming from checkpoint 2; step 3 is trained again"),
])
def test_a_tracker_a_kill_left_unreadable_is_rebuilt(tracker_text, logged, resumes_from, kept, says,
                                                     tmp_path, monkeypatch, capsys):
    """verl writes its tracker in place and would fail on an empty one; the logged checkpoints are kept."""
    check_rewind(verl_killed_between_save_and_log([1, 2, 3], logged, tracker_text=tracker_text), logged,
                 resumes_from, kept, says, tmp_path, monkeypatch, capsys)


def test_the_rewind_skips_checkpoints_whose_weights_verls_keep_limit_deleted(tmp_path, monkeypatch, capsys):
    """With max_actor_ckpt_to_keep=1 only step 3's weights exist; step 3 was not logged, so the run
    starts over rather than resume from a step 2 that holds only data.pt."""
    check_rewind(verl_killed_between_save_and_log([1, 2, 3], [1, 2], kept=1), [1, 2], 0, [],
                 UNLOGGED.format(3) + "starting over; steps 1-3 are trained again", tmp_path, monkeypatch, capsys)


def check_rewind(fake, logged, resumes_from, kept, says, tmp_path, monkeypatch, capsys):
    run, resumed_from = fake
    monkeypatch.setattr(launcher, "run_process_tree", run)
    monkeypatch.setattr(launcher, "export_model", lambda checkpoints, target: target)
    with pytest.raises(launcher.TrainingFailed, match="killed by SIGKILL"):
        launcher.train(**train_kwargs(tmp_path), steps=4)
    launcher.train(**train_kwargs(tmp_path), steps=4)
    assert resumed_from == [(resumes_from, kept)]
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("run: ")]
    assert lines == ([f"run: {says}"] if says else [])
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [(m["step"], m["attempt"]) for m in metrics] == [(s, 1 if s in logged and s <= resumes_from else 2)
                                                           for s in (1, 2, 3, 4)]
