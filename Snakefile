# durian-repro workflow. The smoke scale by default; the paper scale:
#   snakemake --workflow-profile workflow/profiles/slurm all --configfile workflow/config/paper.yaml
# Targets (durian.experiment.WORKFLOW_TARGETS): reproduce_table1, table2_groups, table3_weights,
# table7_rollout, fig3_ablation, fig4_entropy, appendix_a, appendix_b, report; `all` builds every
# one. Each ends in results/<scale>/reports/<scope>/; each job's output is in results/<scale>/logs/.
# Layout and file contracts: docs/design.md.
import os

from snakemake.utils import min_version

min_version("9.0")


if not workflow.overwrite_configfiles:  # --configfile replaces the default scale, never merges into it
    configfile: os.path.join(workflow.basedir, "workflow", "config", "smoke.yaml")


# common.smk rejects a bad config before any job: the schema (unknown keys, types, enums), then
# what JSON Schema cannot say (weights summing to 1), each error one line naming its key.
include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/eval.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/signals.smk"  # Ctrl-C and SIGTERM reach the running jobs


rule all:
    default_target: True
    localrule: True
    input:
        [report_of(scope) for scope in WORKFLOW_TARGETS.values()],
    message:
        f"all: done, {R}/reports/"


onerror:
    report_failures(log)  # each failed job's root cause and the path of its full log
