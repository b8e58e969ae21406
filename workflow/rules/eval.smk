# One job per run (python -m eval.run): the base model ("base") or a trained run, on every
# benchmark in one process, so torch, lmms-eval and the model load once per run. The protocol
# (splits, extractions, scoring, the judge) is the config's eval section (common.smk eval_protocol);
# with a judge, a failed job rerun reuses <out>/<benchmark>.generations.jsonl instead of generating.


rule evaluate:
    input:
        model=lambda wc: model_input(wc) if wc.run == BASE_RUN else f"{R}/train/{wc.run}/model",
        data=lambda wc: FIXTURES if EVAL["fixtures"] is not None else [p for p in EVAL["data_files"].values() if p],
    output:
        results=expand(f"{R}/eval/{{{{run}}}}/{{benchmark}}.json", benchmark=BENCHMARKS),
        samples=expand(f"{R}/eval/{{{{run}}}}/{{benchmark}}.samples.jsonl", benchmark=BENCHMARKS),
    params:
        model=eval_model,
        benchmarks=",".join(BENCHMARKS),
        data_files=eval_data_files,
        limit=cli(limit=EVAL["limit"]),
        batch_size=EVAL["batch_size"],
        max_new_tokens=EVAL["max_new_tokens"],
        backend=EVAL["backend"],
        device=EVAL["device"],
        min_pixels=EVAL["min_pixels"],
        max_pixels=EVAL["max_pixels"],
        protocol=eval_protocol(),
        out=lambda wc: f"{R}/eval/{wc.run}",
    resources:
        mem_mb=16000,
        runtime=60 * len(BENCHMARKS),
        gpu=0,
    log:
        f"{LOGS}/eval/{{run}}.log",
    conda:
        ENV
    message:
        "evaluate {wildcards.run} on {params.benchmarks} (gpu={resources.gpu}) -> {params.out}, log {log}"
    shell:
        "python -m eval.run --model {params.model:q} --run {wildcards.run} --out {params.out:q}"
        " --benchmarks {params.benchmarks} {params.data_files} {params.limit} --batch-size {params.batch_size}"
        " --max-new-tokens {params.max_new_tokens} --backend {params.backend} --device {params.device}"
        " --min-pixels {params.min_pixels} --max-pixels {params.max_pixels} {params.protocol} > {log:q} 2>&1"
