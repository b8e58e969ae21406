# Interrupting a run ends its jobs' process trees (each stage ends its own: durian.train its verl/Ray
# run). Snakemake 9's local executor never signals a running job: a terminal's Ctrl-C reaches the
# jobs only because they share Snakemake's process group, while SIGINT to Snakemake alone waits in
# the executor's shutdown, and SIGTERM ("finish running jobs") waits, for a training job the
# run's time limit. So Snakemake passes either signal on to its jobs, then handles it as it would.
import os
import signal
import threading
import time

import psutil  # a dependency of Snakemake


def job_processes():
    """Snakemake's descendants in its own process group: the job shells and the stages they run
    (what a terminal's Ctrl-C reaches), not a process a stage started in a session of its own."""
    group, found = os.getpgrp(), []
    for process in psutil.Process().children(recursive=True):
        try:
            if os.getpgid(process.pid) == group:
                found.append(process.pid)
        except ProcessLookupError:
            pass
    return found


def signal_jobs(signum):
    for pid in job_processes():
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def pass_signals_to_jobs(grace=3.0):
    """Installed once the scheduler has set its own handlers (onstart), and chained to them."""
    snakemakes_sigterm = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum, frame):
        signal_jobs(signal.SIGTERM)
        if callable(snakemakes_sigterm):
            snakemakes_sigterm(signum, frame)

    def on_sigint(signum, frame):
        # A terminal's Ctrl-C has reached the jobs too; a second SIGINT could cut their cleanup
        # short, so only those still running after a grace period get one.
        before = set(job_processes())

        def later():
            time.sleep(grace)
            for pid in before & set(job_processes()):
                try:
                    os.kill(pid, signal.SIGINT)
                except ProcessLookupError:
                    pass

        threading.Thread(target=later, daemon=True).start()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGINT, on_sigint)


onstart:
    if threading.current_thread() is threading.main_thread():
        pass_signals_to_jobs()
