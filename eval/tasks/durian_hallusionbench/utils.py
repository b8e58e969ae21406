"""lmms-eval hooks of ``durian_hallusionbench``; the logic lives in :mod:`eval.benchmarks` (rule scoring)."""

from eval import benchmarks

BENCHMARK = "hallusionbench"

doc_to_visual, doc_to_text, process_results = benchmarks.task_hooks(BENCHMARK)


def process_docs(dataset):
    return benchmarks.hallusionbench_visual_only(dataset)


aggregate_qAcc = benchmarks.aggregate(BENCHMARK, "qAcc")
aggregate_fAcc = benchmarks.aggregate(BENCHMARK, "fAcc")
