# One job per run (eval.run): the base model ("base") or a trained run, on every benchmark in one
# process, so torch, lmms-eval and the model load once per run rather than once per benchmark.


rule evaluate:
    input:
        model=lambda wc: model_input(wc) if wc.run == lib.BASE_RUN else f"{R}/train/{wc.run}/model",
        data=lambda wc: FIXTURES if config["eval"]["fixtures"] is not None else
        [p for p in config["eval"]["data_files"].values() if p],
    output:
        results=expand(f"{R}/eval/{{{{run}}}}/{{benchmark}}.json", benchmark=BENCHMARKS),
        samples=expand(f"{R}/eval/{{{{run}}}}/{{benchmark}}.samples.jsonl", benchmark=BENCHMARKS),
    params:
        model=eval_model,
        data_files={b: eval_data(b) for b in BENCHMARKS},
        settings={k: config["eval"][k] for k in ("limit", "max_new_tokens", "backend", "device", "min_pixels", "max_pixels")},
        out=lambda wc: f"{R}/eval/{wc.run}",
    resources:
        mem_mb=16000,
        runtime=60 * len(BENCHMARKS),
    log:
        f"{R}/logs/eval/{{run}}.log",
    run:
        lib.evaluate_run(model=params.model, benchmarks=BENCHMARKS, out_dir=params.out, run=wildcards.run,
                         data_files=params.data_files, settings=params.settings)
