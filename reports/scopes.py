"""What each Snakemake target builds (its scope), as plain data: the workflow plans its DAG from
this without importing pandas or matplotlib.

``SCOPES``: the tables and figures of a scope, in report order. ``SCOPE_TARGETS``: the plan
targets (run groups) a scope reads.
"""

from __future__ import annotations

TARGETS = ("table1", "table2_groups", "table3_weights", "table7_rollout", "fig3_ablation")

SCOPES: dict[str, tuple[str, ...]] = {
    "table1": ("table1", "significance", "training_curves", "fig4_entropy", "appendix_a",
               "appendix_b_perceptual", "appendix_b_confidence", "appendix_b_errors"),
    "table2_groups": ("table2", "table2_sweep"),
    "table3_weights": ("table3", "table3_sweep"),
    "table7_rollout": ("table7", "table7_sweep"),
    "fig3_ablation": ("fig3_ablation",),
    "fig4_entropy": ("fig4_entropy",),
    "appendix_a": ("appendix_a", "training_curves"),
    "appendix_b": ("appendix_b_perceptual", "appendix_b_confidence", "appendix_b_errors"),
    "all": ("table1", "significance", "fig3_ablation", "table2", "table2_sweep", "table3", "table3_sweep",
            "table7", "table7_sweep", "fig4_entropy", "appendix_a", "training_curves",
            "appendix_b_perceptual", "appendix_b_confidence", "appendix_b_errors"),
}
SCOPE_TARGETS: dict[str, tuple[str, ...]] = {
    "table1": ("table1",), "table2_groups": ("table2_groups",), "table3_weights": ("table3_weights",),
    "table7_rollout": ("table7_rollout",), "fig3_ablation": ("fig3_ablation",), "fig4_entropy": (),
    "appendix_a": ("table1",), "appendix_b": ("table1",), "all": TARGETS,
}
