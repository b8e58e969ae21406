"""lmms-eval hooks of ``durian_wemath``; the logic lives in :mod:`eval.benchmarks` (rule scoring)."""

from eval import benchmarks

BENCHMARK = "wemath"

doc_to_visual, doc_to_text, process_results = benchmarks.task_hooks(BENCHMARK)


aggregate_strict = benchmarks.aggregate(BENCHMARK, "strict")
aggregate_loose = benchmarks.aggregate(BENCHMARK, "loose")
