"""verl's process tree under the launcher: run it so that nothing outlives the launcher, and read
the root cause of a failure from what it printed (``train.log``)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from durian.recipe.run_folder import TrainingFailed

EX_CONFIG = 78  # sysexits.h: durian.recipe.main_ppo's exit code for a config verl's checks refuse
INVALID_CONFIG = "durian: invalid verl config: "  # ... and the start of its one line about it


class Interrupted(TrainingFailed):
    """The launcher got SIGINT, SIGTERM or SIGHUP: verl's whole process tree was ended first."""

    def __init__(self, signum: int, message: str | None = None):
        super().__init__(message or f"interrupted by {signal_name(signum)}")
        self.signum = signum


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# Kills the run's process group when the launcher dies without a word (SIGKILL): it waits on a
# pipe only the launcher writes to; end of file without the launcher's "done" byte means it died.
_WATCHDOG = """
import os, signal, sys
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, signal.SIG_IGN)
if sys.stdin.buffer.read(1) != b"d":
    try:
        os.killpg(int(sys.argv[1]), signal.SIGKILL)
    except ProcessLookupError:
        pass
"""


def _die_with_parent(parent: int):
    """For ``preexec_fn``: the child gets SIGKILL when the launcher dies (Linux' PR_SET_PDEATHSIG)."""
    libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None

    def preexec() -> None:
        if libc is not None:
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the launcher died before the prctl took effect
            os._exit(1)

    return preexec


def _raise_interrupted(signum, frame):
    raise Interrupted(signum)


def run_process_tree(command: list[str], env: dict[str, str], log: Path, time_limit: float, stop=None) -> int | None:
    """Run in its own process group (Ray's processes included), killed whole at the time limit
    (returns None then), as soon as ``stop()`` says so, on SIGINT, SIGTERM or SIGHUP to the launcher
    (raises Interrupted then), and when the launcher itself dies (the child's parent-death signal
    and a watchdog process, so even a SIGKILL of the launcher leaves no training behind)."""
    deadline = time.monotonic() + time_limit
    handlers = {}
    process = watchdog = None
    try:
        if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread
            for signum in _FORWARDED:
                handlers[signum] = signal.signal(signum, _raise_interrupted)
        with log.open("a") as sink:
            sink.write(attempt_header(" ".join(command)))
            sink.flush()
            process = subprocess.Popen(command, env=env, cwd=log.parent, stdout=sink, stderr=subprocess.STDOUT,
                                       start_new_session=True, preexec_fn=_die_with_parent(os.getpid()))
            watchdog = subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(process.pid)], stdin=subprocess.PIPE,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            while time.monotonic() < deadline:
                try:
                    return process.wait(timeout=1)
                except subprocess.TimeoutExpired:
                    if stop is not None and stop():
                        return -signal.SIGKILL
            return None
    finally:
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, _FORWARDED)  # a second Ctrl-C must not cut the cleanup short
        try:
            if process is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            if watchdog is not None:
                with contextlib.suppress(BrokenPipeError):
                    watchdog.communicate(b"d")
        finally:
            for signum in handlers:
                signal.signal(signum, signal.SIG_IGN)  # drops a signal that came during the cleanup
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            for signum, handler in handlers.items():
                signal.signal(signum, handler)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_EXCEPTION_LINE = re.compile(r"^(?:\([^)]*\)\s*)?(?:[\w.]+\.)?\w+(?:Error|Exception|Interrupt)(?::|$)")


_HEADER = "===== "


def attempt_header(command: str) -> str:
    """The line a log gets before each attempt's output; :func:`last_attempt` reads from the last one."""
    return f"\n{_HEADER}{time.strftime('%Y-%m-%d %H:%M:%S')} {command}\n"


def last_attempt(log: Path) -> list[str]:
    text = log.read_text(errors="replace")
    return text[text.rfind(_HEADER) :].splitlines()


def refused_config(log: Path) -> str | None:
    """The error of the last attempt's line from durian.recipe.main_ppo about a config it refused, if any."""
    lines = [line for line in last_attempt(log) if line.startswith(INVALID_CONFIG)]
    return lines[-1].removeprefix(INVALID_CONFIG) if lines else None


def first_error(log: Path, context: int = 20) -> str:
    """The root cause of the last attempt: the first exception line that is not Ray's wrapper,
    with the frames before it (not the ten-thousandth repeat of a retried error)."""
    lines = [_ANSI.sub("", line) for line in last_attempt(log)]
    for i, line in enumerate(lines):
        clean = line.strip()
        if _EXCEPTION_LINE.match(clean) and "RayTaskError" not in clean and "Error executing job" not in clean:
            return "\n".join(lines[max(0, i - context) : i + 1])
    return "\n".join(lines[-context:])
