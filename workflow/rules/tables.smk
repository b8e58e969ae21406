# Named targets. Only table1.csv is built here (accuracy per run x benchmark, collected from the
# eval JSONs); the other targets stop at the run outputs until their tables and figures exist.


rule table1_accuracy:
    input:
        eval_jsons(EVAL_RUNS + list(PLAN["table1"])),
    output:
        f"{R}/tables/table1.csv",
    log:
        f"{R}/logs/tables/table1.log",
    run:
        lib.collect_accuracy(list(input), output[0])


rule reproduce_table1:
    input:
        rules.table1_accuracy.output,


rule table2_groups:
    input:
        eval_jsons(PLAN["table2_groups"]),


rule table3_weights:
    input:
        eval_jsons(PLAN["table3_weights"]),


rule table7_rollout:
    input:
        eval_jsons(PLAN["table7_rollout"]),


rule fig3_ablation:
    input:
        eval_jsons(EVAL_RUNS + list(PLAN["fig3_ablation"])),


rule fig4_entropy:
    input:
        f"{R}/data/train.entropy.json",


rule appendix_a:
    input:
        metrics(PLAN["table1"]),
