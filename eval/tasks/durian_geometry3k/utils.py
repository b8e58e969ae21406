"""lmms-eval hooks of ``durian_geometry3k``; the logic lives in :mod:`eval.benchmarks` (rule scoring)."""

from eval import benchmarks

BENCHMARK = "geometry3k"


def doc_to_visual(doc):
    return benchmarks.doc_to_visual(BENCHMARK, doc)


def doc_to_text(doc, lmms_eval_specific_kwargs=None):
    return benchmarks.doc_to_text(BENCHMARK, doc, lmms_eval_specific_kwargs)


def process_results(doc, results):
    return benchmarks.process_results(BENCHMARK, doc, results)
