"""Evaluation (docs/method.md §9): one lmms-eval task folder per benchmark, each owning its adapter,
sub-scores and fixture (:mod:`eval.task`); rule and judge scoring; offline fixtures in each
benchmark's own schema (:mod:`eval.fixtures`); and a session that loads a checkpoint once and
evaluates many benchmarks (:mod:`eval.session`, ``python -m eval.run``).

``eval/tasks`` is an lmms-eval include path (``TaskManager(include_path=...)`` or
``--include_path``); its task utilities import this package, so the repository root must be
importable (``PYTHONPATH=<repo>`` until the packaging lists ``eval``).
"""

from pathlib import Path

TASKS_DIR = Path(__file__).parent / "tasks"
