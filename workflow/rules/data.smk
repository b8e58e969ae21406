# Model and data: the smoke world (durian.toy), Geometry3K (durian.data), visual entropy
# (durian.data.precompute), the evaluation fixtures (eval.fixtures).


rule build_world:
    output:
        directory(WORLD),
    params:
        seed=SOURCE["world_seed"],
        bias=SOURCE["world_answer_bias"],
    log:
        f"{LOGS}/data/build_world.log",
    conda:
        ENV
    message:
        "build the smoke world (seed {params.seed}, answer bias {params.bias[share]} {params.bias[kind]}) -> {output}, log {log}"
    shell:
        ("python -m durian.toy --out {output:q} --seed {params.seed} --answer-bias {params.bias[share]}"
         " --answer-bias-kind {params.bias[kind]} > {log:q} 2>&1")


if SOURCE["world_seed"] is None and SOURCE["geometry3k"]:

    rule prepare_geometry3k:
        output:
            SOURCE["train"],
            SOURCE["val"],
        params:
            source=SOURCE["geometry3k"],
            out=os.path.dirname(SOURCE["train"]) or ".",
            splits=[os.path.splitext(os.path.basename(SOURCE[s]))[0] for s in ("train", "val")],
            pixels=cli(min_pixels=SOURCE["min_pixels"], max_pixels=SOURCE["max_pixels"]),
        log:
            f"{LOGS}/data/prepare_geometry3k.log",
        conda:
            ENV
        message:
            "prepare Geometry3K from {params.source}, log {log}"
        shell:
            "python -m durian.data geometry3k --source {params.source:q} --out {params.out:q}"
            " --splits {params.splits:q} {params.pixels} --overwrite > {log:q} 2>&1"


rule entropy:
    input:
        data=lambda wc: WORLD if BUILD_WORLD else RAW_SPLITS[wc.split],
        model=model_input,
    output:
        parquet=f"{R}/data/{{split}}.parquet",
        summary=f"{R}/data/{{split}}.entropy.json",
    params:
        source=lambda wc: RAW_SPLITS[wc.split],
        model=MODEL,
        features=config["entropy"]["features"],
        batch_size=config["entropy"]["batch_size"],
    resources:
        mem_mb=16000,
        runtime=120,
        gpu=0,
    log:
        f"{LOGS}/data/entropy-{{split}}.log",
    conda:
        ENV
    message:
        "visual entropy of {wildcards.split} (gpu={resources.gpu}) -> {output.summary}, log {log}"
    shell:
        "python -m durian.data.precompute --model {params.model:q} --input {params.source:q}"
        " --output {output.parquet:q} --summary {output.summary:q} --features {params.features}"
        " --batch-size {params.batch_size} > {log:q} 2>&1"


rule fixtures:
    localrule: True
    output:
        directory(FIXTURES),
    params:
        seed=(EVAL["fixtures"] or {}).get("seed"),
        n=(EVAL["fixtures"] or {}).get("n"),
    log:
        f"{LOGS}/eval/fixtures.log",
    conda:
        ENV
    message:
        "evaluation fixtures (seed {params.seed}, {params.n} questions each) -> {output}, log {log}"
    shell:
        "python -m eval.fixtures --out {output:q} --seed {params.seed} -n {params.n} > {log:q} 2>&1"
