# Tables, figures and the HTML report of each target (python -m reports): results/<scale>/reports/
# <scope>/{tables/*.{csv,md,tex}, figures/*.{png,svg}, report.html}. One folder per scope, so
# targets that share a table (Table 1's and the full report's) never claim the same file. The
# target rules are durian.experiment.WORKFLOW_TARGETS, each ending in its scope's report.

rule plan:
    localrule: True
    output:
        f"{R}/plan.json",
    params:
        plan=plan_document(config),  # a changed plan rewrites plan.json and every report after it
    log:
        f"{LOGS}/reports/plan.log",
    message:
        "the run plan -> {output}, log {log}"
    run:
        write_plan(params.plan, output[0], log[0])


rule build_report:
    localrule: True
    input:
        plan=f"{R}/plan.json",
        results=lambda wc: scope_inputs(wc.scope),
    output:
        report=f"{R}/reports/{{scope}}/report.html",
        tables=directory(f"{R}/reports/{{scope}}/tables"),
        figures=directory(f"{R}/reports/{{scope}}/figures"),
    params:
        results=lambda wc, input: os.path.dirname(input.plan),
        n_boot=config["reports"]["n_boot"],
        out=lambda wc: f"{R}/reports/{wc.scope}",
    wildcard_constraints:
        scope="|".join(SCOPE_TARGETS),
    log:
        f"{LOGS}/reports/{{scope}}.log",
    conda:
        ENV
    message:
        "report {wildcards.scope} -> {output.report}, log {log}"
    shell:  # tables/ and figures/ are declared outputs, even for a scope without tables
        "python -m reports --results {params.results:q} --plan {input.plan:q} --scope {wildcards.scope} --out {params.out:q}"
        " --report report.html --n-boot {params.n_boot} > {log:q} 2>&1"
        " && mkdir -p {output.tables:q} {output.figures:q}"


for target, scope in WORKFLOW_TARGETS.items():

    rule:
        name:
            target
        localrule: True
        input:
            report_of(scope),
        message:
            f"{target}: done, {report_of(scope)}"
