# One lmms-eval run per (run, benchmark) (eval.run); "base" is the untrained model.


rule evaluate:
    input:
        model=lambda wc: model_input(wc) if wc.run == lib.BASE_RUN else f"{R}/train/{wc.run}/model",
        data=lambda wc: FIXTURES if config["eval"]["fixtures"] is not None else
        [p for p in [config["eval"]["data_files"].get(wc.benchmark)] if p],
    output:
        result=f"{R}/eval/{{run}}/{{benchmark}}.json",
        samples=f"{R}/eval/{{run}}/{{benchmark}}.samples.jsonl",
    params:
        model=eval_model,
        data_files=eval_data,
        settings={k: config["eval"][k] for k in ("limit", "max_new_tokens", "backend", "device", "min_pixels", "max_pixels")},
        out=lambda wc: f"{R}/eval/{wc.run}",
    resources:
        mem_mb=16000,
        runtime=240,
    log:
        f"{R}/logs/eval/{{run}}/{{benchmark}}.log",
    run:
        lib.evaluate_run(model=params.model, benchmark=wildcards.benchmark, out_dir=params.out,
                         run=wildcards.run, data_files=params.data_files, settings=params.settings)
