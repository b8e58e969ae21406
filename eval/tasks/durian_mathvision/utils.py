"""lmms-eval hooks of ``durian_mathvision``; the logic lives in :mod:`eval.benchmarks` (rule scoring)."""

from eval import benchmarks

BENCHMARK = "mathvision"

doc_to_visual, doc_to_text, process_results = benchmarks.task_hooks(BENCHMARK)
