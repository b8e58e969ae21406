"""Which processes still run, read from /proc: for the tests that kill a run and check that nothing
of it is left (a zombie waiting for its reaper counts as gone); and verl's stand-in those tests kill."""

from __future__ import annotations

import os
import subprocess
import textwrap
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


# verl's stand-in: two children, each with a child of its own (as main_ppo starts Ray's raylet,
# which starts workers); one child ignores SIGINT and SIGTERM, as a busy worker might. It writes
# every pid of its tree to $FAKE_PIDS once all are up, then sleeps.
FAKE_VERL = textwrap.dedent("""
    import os, signal, subprocess, sys, time
    CHILD = (
        "import signal, subprocess, sys, time\\n"
        "if sys.argv[1] == 'stubborn':\\n"
        "    signal.signal(signal.SIGINT, signal.SIG_IGN); signal.signal(signal.SIGTERM, signal.SIG_IGN)\\n"
        "grandchild = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\\n"
        "print(grandchild.pid, flush=True)\\n"
        "time.sleep(600)\\n"
    )
    children = [subprocess.Popen([sys.executable, "-c", CHILD, kind], stdout=subprocess.PIPE, text=True)
                for kind in ("plain", "stubborn")]
    grandchildren = [child.stdout.readline().strip() for child in children]
    pids = [str(os.getpid()), *(str(child.pid) for child in children), *grandchildren]
    path = os.environ["FAKE_PIDS"]
    with open(path + ".tmp", "w") as handle:
        handle.write(" ".join(pids))
    os.replace(path + ".tmp", path)
    time.sleep(600)
""")
FAKE_VERL_SIZE = 5  # the pids it writes


def wait_for_tree(pids_file: Path, timeout: float = 30, size: int = FAKE_VERL_SIZE,
                  run: subprocess.Popen | None = None) -> list[int]:
    """The pids a stand-in wrote to ``pids_file``, once all ``size`` are up (``run``: the process
    that starts it, which must not have ended meanwhile)."""
    deadline = time.monotonic() + timeout
    while not pids_file.exists():
        assert run is None or run.poll() is None, run.communicate()[0]
        assert time.monotonic() < deadline, "the fake verl never came up"
        time.sleep(0.05)
    pids = [int(p) for p in pids_file.read_text().split()]
    assert len(pids) == size and all(alive(pid) for pid in pids)
    return pids
