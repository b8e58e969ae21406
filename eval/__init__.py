"""Evaluation suite (SPEC section 10): lmms-eval tasks for the paper's benchmarks, rule and judge
scoring, local fixtures in each benchmark's own schema, and :func:`eval.run.evaluate`.

``eval/tasks`` is an lmms-eval include path (``TaskManager(include_path=...)`` or
``--include_path``); its task utilities import this package, so the repository root must be
importable (``PYTHONPATH=<repo>`` until the packaging lists ``eval``).
"""

from pathlib import Path

TASKS_DIR = Path(__file__).parent / "tasks"
