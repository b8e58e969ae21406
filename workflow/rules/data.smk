# Model and data: the smoke world (durian.toy), visual entropy (durian.precompute), eval fixtures.


rule build_world:
    output:
        directory(WORLD),
    params:
        seed=SOURCE["world_seed"],
    log:
        f"{R}/logs/build_world.log",
    run:
        lib.build_world(output[0], params.seed)


if SOURCE["world_seed"] is None and SOURCE["geometry3k"]:

    rule prepare_geometry3k:
        output:
            SOURCE["train"],
            SOURCE["val"],
        params:
            source=SOURCE["geometry3k"],
        log:
            f"{R}/logs/prepare_geometry3k.log",
        run:
            lib.prepare_geometry3k(params.source, list(output))


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
    log:
        f"{R}/logs/entropy/{{split}}.log",
    run:
        lib.precompute(params.model, params.source, output.parquet, output.summary, params.features, params.batch_size)


rule fixtures:
    output:
        directory(FIXTURES),
    params:
        seed=(config["eval"]["fixtures"] or {}).get("seed"),
        n=(config["eval"]["fixtures"] or {}).get("n"),
    log:
        f"{R}/logs/fixtures.log",
    run:
        lib.write_fixtures(output[0], params.seed, params.n)
