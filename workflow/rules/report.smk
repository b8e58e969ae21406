# Tables, figures and the HTML report of each target (reports.build): results/<profile>/reports/<scope>/
# {tables/*.{csv,md,tex}, figures/*.{png,svg}, report.html}. One folder per scope, so targets that
# share a table (Table 1's and the full report's) never claim the same file.


rule plan:
    output:
        f"{R}/plan.json",
    params:
        plan=lib.plan_document(config),  # a changed plan rewrites plan.json and every report after it
    log:
        f"{R}/logs/plan.log",
    run:
        lib.write_json(output[0], params.plan)


rule build_report:
    input:
        plan=f"{R}/plan.json",
        results=lambda wc: scope_inputs(wc.scope),
    output:
        report=f"{R}/reports/{{scope}}/report.html",
        tables=directory(f"{R}/reports/{{scope}}/tables"),
        figures=directory(f"{R}/reports/{{scope}}/figures"),
    params:
        n_boot=config["reports"]["n_boot"],
    wildcard_constraints:
        scope="|".join(lib.REPORT_SCOPES),
    log:
        f"{R}/logs/reports/{{scope}}.log",
    run:
        lib.build_report(R, input.plan, wildcards.scope, f"{R}/reports/{wildcards.scope}", params.n_boot)


rule reproduce_table1:
    input:
        report_of("table1"),


rule table2_groups:
    input:
        report_of("table2_groups"),


rule table3_weights:
    input:
        report_of("table3_weights"),


rule table7_rollout:
    input:
        report_of("table7_rollout"),


rule fig3_ablation:
    input:
        report_of("fig3_ablation"),


rule fig4_entropy:
    input:
        report_of("fig4_entropy"),


rule appendix_a:
    input:
        report_of("appendix_a"),


rule appendix_b:
    input:
        report_of("appendix_b"),


rule report:
    input:
        report_of("all"),
