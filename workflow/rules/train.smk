# One verl training run per run id (durian.train); resumes from its checkpoints when rerun.


rule train:
    input:
        train=f"{R}/data/train.parquet",
        val=f"{R}/data/val.parquet",
        model=model_input,
    output:
        metrics=f"{R}/train/{{run}}/metrics.jsonl",
        config=f"{R}/train/{{run}}/config.yaml",
        model=directory(f"{R}/train/{{run}}/model"),
    params:
        profile=config["profile"],
        model=MODEL,
        settings=lambda wc: lib.asdict(RUNS[wc.run]),
        steps=config["train"]["steps"],
        save_freq=config["train"]["save_freq"],
        time_limit=config["train"]["time_limit"],
        out=lambda wc: f"{R}/train/{wc.run}",
    resources:
        cpu_heavy=1,  # the local profile allows one at a time: two verl runs never share a laptop
        mem_mb=32000,
        runtime=int(config["train"]["time_limit"] // 60) + 30,
    log:
        f"{R}/logs/train/{{run}}.log",
    run:
        lib.train_job(RUNS[wildcards.run], input, params)
