# One verl training run per run id (python -m durian.train): the run's arm and seed, its settings
# beyond the arm as --set overrides (durian.experiment.Run.overrides). The launcher owns its run
# folder: it resumes from its checkpoints when rerun, and discards those of other settings.

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
        scale=config["scale"],
        arm=lambda wc: RUNS[wc.run].arm,
        seed=lambda wc: RUNS[wc.run].seed,
        overrides=train_overrides,
        model=MODEL,
        out=lambda wc: f"{R}/train/{wc.run}",
        steps=config["train"]["steps"],
        save_freq=config["train"]["save_freq"],
        time_limit=config["train"]["time_limit"],
        wandb="--wandb" if config["train"]["wandb"] else "",
    resources:
        cpu_heavy=1,  # the local profile allows one at a time: two verl runs never share a laptop
        mem_mb=32000,
        runtime=int(config["train"]["time_limit"] // 60) + 30,
        gpu=0,
    log:
        f"{LOGS}/train/{{run}}.log",
    conda:
        ENV
    message:
        "train {wildcards.run} (gpu={resources.gpu}) -> {output.model}, log {log}"
    shell:
        "python -m durian.train --scale {params.scale} --arm {params.arm} --seed {params.seed}"
        " --model {params.model:q} --train {input.train:q} --val {input.val:q} --out {params.out:q}"
        " --steps {params.steps} --save-freq {params.save_freq} --time-limit {params.time_limit}"
        " {params.wandb} {params.overrides} > {log:q} 2>&1"
