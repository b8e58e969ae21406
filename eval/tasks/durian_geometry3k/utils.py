"""lmms-eval hooks of ``durian_geometry3k``; the logic lives in :mod:`eval.benchmarks` (rule scoring)."""

from eval import benchmarks

BENCHMARK = "geometry3k"

doc_to_visual, doc_to_text, process_results = benchmarks.task_hooks(BENCHMARK)
