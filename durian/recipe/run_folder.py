"""A run folder's bookkeeping across attempts: who holds it, what a relaunch with other settings
discards, each attempt's number and time, the merged metrics, the checkpoint a resume starts from, the
exported model. The folder's contract is in ``durian.recipe.launch``."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

STALE = ("checkpoints", "attempts", "tensorboard", "timing.json")  # what a launch with other settings left behind
TRACKER = "latest_checkpointed_iteration.txt"  # verl's: the step resume_mode=auto starts after


class TrainingFailed(RuntimeError):
    pass


def changed_settings(out: Path, request: dict[str, Any]) -> list[str]:
    """The request's keys that differ from the last launch's (none for a folder without a recorded request)."""
    launch = out / "launch.json"
    before = json.loads(launch.read_text()).get("request") if launch.exists() else None
    now = json.loads(json.dumps(request))  # as launch.json will hold it (tuples become lists)
    if before is None or before == now:
        return []
    return sorted(k for k in {*before, *now} if before.get(k) != now.get(k))


def stale_items(out: Path, request: dict[str, Any]) -> list[str]:
    """What a launch of ``request`` would discard: another request's checkpoints, attempts and records."""
    return [name for name in STALE if (out / name).exists()] if changed_settings(out, request) else []


def discard_stale(out: Path, request: dict[str, Any]) -> list[str]:
    """Delete what a launch with other settings left in ``out`` (its checkpoints would be resumed);
    says so in one line. A folder without a recorded request is left as it is."""
    changed = changed_settings(out, request)
    if not changed:
        return []
    stale = stale_items(out, request)
    for name in stale:
        path = out / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    print(f"{out.name}: settings changed since the last launch ({', '.join(changed)}): "
          f"discarded {', '.join(stale) or 'nothing'}; starting over", flush=True)
    return stale


@contextlib.contextmanager
def hold_run_folder(out: Path):
    """One trainer per run folder: an exclusive lock on ``out/train.lock`` held while the run lives;
    the OS releases it when the holder dies, however it dies."""
    handle = (out / "train.lock").open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise TrainingFailed(f"run folder {out} is in use by another trainer (pid {holder}); "
                             "refusing to start a second one on it") from None
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()


def next_attempt(attempts: Path, timing: Path) -> int:
    """The next attempt's number: past every metric file and every recorded attempt (an attempt
    that died before its first step leaves no metric file, only its line in timing.json)."""
    numbers = [int(p.stem) for p in attempts.glob("*.jsonl") if p.stem.isdigit()]
    if timing.exists():
        numbers += [int(a["attempt"]) for a in json.loads(timing.read_text())["attempts"] if str(a["attempt"]).isdigit()]
    return max(numbers, default=0) + 1


def record_attempt(path: Path, attempt: str, seconds: float, code: int | None) -> None:
    """Append one attempt's wall time and exit code (None: killed at the time limit) to timing.json."""
    timing = json.loads(path.read_text()) if path.exists() else {"attempts": []}
    timing["attempts"].append({"attempt": attempt, "seconds": round(seconds, 1), "exit_code": code})
    write_atomic(path, json.dumps(timing, indent=2))


def logged_steps(attempts: Path) -> dict[int, dict]:
    """Every step's metrics over all attempts; a later attempt (resumed from a checkpoint) replaces earlier lines."""
    steps: dict[int, dict] = {}
    for path in sorted(attempts.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a kill
            steps[int(record["step"])] = {"step": int(record["step"]), **record["data"]}
    return steps


def merge_metrics(attempts: Path, target: Path) -> int:
    """One line per step in ``target``, from every attempt."""
    steps = logged_steps(attempts)
    write_atomic(target, "".join(json.dumps(steps[s]) + "\n" for s in sorted(steps)))
    return len(steps)


def rewind_to_logged_step(out: Path) -> int | None:
    """verl saves step N's checkpoint before it logs step N: a kill between the two leaves a checkpoint
    whose step has no metrics, and resuming from it would lose that line for good. Point verl's tracker
    back to the last complete checkpoint whose step was logged (none: start over) and delete the newer
    ones, so the step is trained and logged again; says so in one line. A tracker a kill left unreadable
    (verl writes it in place) is rebuilt the same way. Returns the step verl will resume from."""
    checkpoints = out / "checkpoints"
    tracker = checkpoints / TRACKER
    if not tracker.exists():
        return None
    text = tracker.read_text().strip()
    folders = {int(p.name.removeprefix("global_step_")): p for p in checkpoints.glob("global_step_*")
               if p.name.removeprefix("global_step_").isdigit()}
    complete = [step for step, path in folders.items() if (path / "actor").is_dir()]  # verl's keep limit leaves data.pt
    latest = int(text) if text.isdigit() else max(complete, default=0)
    logged = logged_steps(out / "attempts")
    if text.isdigit() and latest in logged:
        return latest
    keep = max((step for step in complete if step <= latest and step in logged), default=None)
    if keep is None:
        tracker.unlink()
    else:
        write_atomic(tracker, str(keep))
    for step, path in sorted(folders.items()):
        if step > (keep or 0):
            shutil.rmtree(path)
    first = (keep or 0) + 1
    again = "" if first > latest else f"; step {latest} is trained again" if first == latest else f"; steps {first}-{latest} are trained again"
    why = (f"checkpoint {latest} has no logged metrics (killed between verl's save and its log)" if text.isdigit()
           else f"verl's checkpoint tracker reads {text!r} (killed while verl wrote it)")
    print(f"{out.name}: {why}: {f'resuming from checkpoint {keep}' if keep else 'starting over'}{again}", flush=True)
    return keep


def export_model(checkpoints: Path, target: Path) -> Path:
    """Merge the last FSDP checkpoint into a Hugging Face folder with verl's model merger."""
    tracker = checkpoints / TRACKER
    if not tracker.exists():
        raise TrainingFailed(f"no checkpoint in {checkpoints}: set save_freq so the last step is saved")
    step = tracker.read_text().strip()
    actor = checkpoints / f"global_step_{step}" / "actor"
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    command = [sys.executable, "-m", "verl.model_merger", "merge", "--backend", "fsdp", "--local_dir", str(actor), "--target_dir", str(staging)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise TrainingFailed(f"exporting {actor} failed:\n{result.stderr[-3000:]}")
    hf_extra = actor / "huggingface"
    for item in hf_extra.glob("*") if hf_extra.exists() else []:
        if not (staging / item.name).exists() and item.is_file():
            shutil.copy2(item, staging / item.name)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    return target


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
