# durian-repro workflow. Smoke profile by default; the paper profile:
#   snakemake --workflow-profile workflow/profiles/slurm --configfile workflow/config/paper.yaml all
# Targets: reproduce_table1, table2_groups, table3_weights, table7_rollout, fig3_ablation,
# fig4_entropy, appendix_a, appendix_b, report, all; each ends in results/<profile>/reports/<scope>/.
# Layout and file contracts: ../shared/DESIGN.md.
import os

from snakemake.utils import min_version, validate

min_version("9.0")


if not workflow.overwrite_configfiles:  # --configfile replaces the default profile, never merges into it
    configfile: os.path.join(workflow.basedir, "workflow", "config", "smoke.yaml")


# Rejected here, before any job: the schema (unknown keys, types, enums), then what JSON
# Schema cannot say (weights summing to 1), each error naming its key.
validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/eval.smk"
include: "workflow/rules/report.smk"


localrules:
    all,
    reproduce_table1,
    table2_groups,
    table3_weights,
    table7_rollout,
    fig3_ablation,
    fig4_entropy,
    appendix_a,
    appendix_b,
    report,
    fixtures,
    plan,
    build_report,


rule all:
    default_target: True
    input:
        rules.reproduce_table1.input,
        rules.table2_groups.input,
        rules.table3_weights.input,
        rules.table7_rollout.input,
        rules.fig3_ablation.input,
        rules.fig4_entropy.input,
        rules.appendix_a.input,
        rules.appendix_b.input,
        rules.report.input,
