# The helpers (workflow/lib.py), paths and the run plan, derived from the validated config (no rules here).
import importlib.util
import re
import sys


def _load_lib():
    """workflow/lib.py under its own module name (durian and eval are installed in the venv)."""
    path = os.path.join(workflow.basedir, "workflow", "lib.py")
    spec = importlib.util.spec_from_file_location("durian_workflow_lib", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


lib = _load_lib()
lib.check(config)  # what the schema cannot express, e.g. weights summing to 1

R = config["results"]
SOURCE = config["source"]
BUILD_WORLD = SOURCE["world_seed"] is not None
WORLD = SOURCE["world_dir"] or f"{R}/world"
MODEL = f"{WORLD}/model" if BUILD_WORLD else SOURCE["model"]
RAW_SPLITS = (
    {"train": f"{WORLD}/data/train.parquet", "val": f"{WORLD}/data/val.parquet"}
    if BUILD_WORLD
    else {"train": SOURCE["train"], "val": SOURCE["val"]}
)
BENCHMARKS = config["eval"]["benchmarks"]
FIXTURES = f"{R}/fixtures"
PLAN = lib.plan(config)
RUNS = lib.all_runs(config)
EVAL_RUNS = [lib.BASE_RUN] if config["table1"]["base_model"] else []


wildcard_constraints:
    run="|".join(re.escape(r) for r in [lib.BASE_RUN, *RUNS]) or "(?!)",
    benchmark="|".join(BENCHMARKS),
    split="train|val",


def model_input(wildcards):
    """The files a job reading the base model depends on: the world, a local folder, or none (hub id)."""
    if BUILD_WORLD:
        return WORLD
    return MODEL if os.path.exists(MODEL) else []


def eval_jsons(runs):
    return expand(f"{R}/eval/{{run}}/{{benchmark}}.json", run=runs, benchmark=BENCHMARKS)


def metrics(runs):
    return expand(f"{R}/train/{{run}}/metrics.jsonl", run=runs)


def eval_model(wildcards):
    return MODEL if wildcards.run == lib.BASE_RUN else f"{R}/train/{wildcards.run}/model"


def eval_data(benchmark):
    if config["eval"]["fixtures"] is not None:
        return lib.fixture_path(FIXTURES, benchmark)
    return config["eval"]["data_files"].get(benchmark)


def report_of(scope):
    return f"{R}/reports/{scope}/report.html"


def scope_inputs(scope):
    """The result files a report scope reads (reports.build.SCOPE_TARGETS): evals, training runs, entropy."""
    targets = lib.REPORT_SCOPES[scope]
    runs = list(dict.fromkeys(r for t in targets for r in PLAN[t]))
    files = eval_jsons(EVAL_RUNS + runs if "table1" in targets else runs)
    files += metrics(runs) + expand(f"{R}/train/{{run}}/config.yaml", run=runs)
    if scope in ("table1", "fig4_entropy", "all"):
        files.append(f"{R}/data/train.entropy.json")
    return files
