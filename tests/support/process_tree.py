"""Which processes still run, read from /proc: for the tests that kill a run and check that nothing
of it is left (a zombie waiting for its reaper counts as gone)."""

from __future__ import annotations

import os
import time
from pathlib import Path


def alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return fields[0] != "Z"


def naming(text: str) -> list[str]:
    """The command lines of running processes whose command line or environment holds ``text``
    (verl's main_ppo and every Ray process it starts inherit VERL_FILE_LOGGER_PATH: the run folder)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environment = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if (text in command or text in environment) and alive(int(pid)):
            found.append(command[:120])
    return found


def still_running(pids: list[int], within: float) -> list[int]:
    """The pids still running after waiting up to ``within`` seconds for all of them to go."""
    deadline = time.monotonic() + within
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [pid for pid in pids if alive(pid)]


def still_naming(text: str, within: float) -> list[str]:
    """:func:`naming` after waiting up to ``within`` seconds for those processes to go."""
    deadline = time.monotonic() + within
    while naming(text) and time.monotonic() < deadline:
        time.sleep(0.1)
    return naming(text)
