# Paths, the run plan and the input functions, derived from the validated config (no rules here).
# The vocabulary (arms, runs, run ids, targets, scopes) is durian.experiment's; every job calls a
# stage's command line with its whole output going to the job's log, results/<scale>/logs/<stage>/.
import json
import os
import re
import shlex
import sys

import jsonschema
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from durian.experiment import (
    BASE_RUN,
    SCOPE_TARGETS,
    WORKFLOW_TARGETS,
    ConfigError,
    all_runs,
    check_config,
    plan,
    plan_document,
    save_plan,
)


SCHEMA = os.path.join(workflow.basedir, "workflow", "schemas", "config.schema.yaml")


def validate_config(config, schema_path, shown=5):
    """snakemake.utils.validate; on failure, instead of its dump of the failing sub-schema and
    config (up to ~240 lines), one line per violation naming the key (jsonschema's error path)."""
    try:
        validate(config, schema_path)
    except WorkflowError:
        with open(schema_path) as handle:
            schema = yaml.safe_load(handle)
        errors = sorted(jsonschema.validators.validator_for(schema)(schema).iter_errors(config),
                        key=lambda e: [str(p) for p in e.absolute_path])
        lines = [line for error in errors for line in schema_error_lines(error)]
        more = [f"... and {len(lines) - shown} more"] if len(lines) > shown else []
        raise ConfigError("\n".join([*lines[:shown], *more])) from None


def dotted(path):
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".") or "(top level)"


def schema_error_lines(error):
    """A schema violation as ``config key <path>: <message>``; an unknown key by its own path, with
    the keys allowed there; a oneOf/anyOf failure by its closest alternative's error."""
    if error.context:  # not the alternative of another type (eval.fixtures: null or a mapping)
        alternatives = [e for e in error.context if e.relative_path or e.validator != "type"]
        error = jsonschema.exceptions.best_match(alternatives or error.context)
    path = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(error.schema.get("properties", {}))
        return [f"config key {dotted([*path, key])}: unknown key; allowed in {dotted(path)}: {', '.join(allowed)}"
                for key in error.instance if key not in allowed]
    message = error.message if len(error.message) <= 300 else f"{error.message[:300]}..."
    return [f"config key {dotted(path)}: {message}"]


def check_source(config):
    """Pixel bounds in order; the smoke world built (source.world_seed), or model, train and val given."""
    source = config["source"]
    for section in ("source", "eval"):
        low, high = config[section]["min_pixels"], config[section]["max_pixels"]
        if high < low:
            raise ConfigError(f"config key {section}.max_pixels: {high} is below {section}.min_pixels ({low})")
    if source["world_seed"] is None:
        for key in ("model", "train", "val"):
            if not source[key]:
                raise ConfigError(f"config key source.{key}: required when source.world_seed is null")
        if source["geometry3k"] and os.path.dirname(source["train"]) != os.path.dirname(source["val"]):
            raise ConfigError("config key source.val: must lie in the folder of source.train when source.geometry3k is set")
    if config["eval"]["fixtures"] is None:
        unknown = sorted(set(config["eval"]["data_files"]) - set(config["eval"]["benchmarks"]))
        if unknown:
            raise ConfigError(f"config key eval.data_files: not in eval.benchmarks: {unknown}")


def check_eval(evaluation):
    """Splits and extractions the benchmarks offer; judge scoring's endpoint, model and key variable."""
    if evaluation["splits"] or evaluation["extraction"]:
        from eval.task import task  # yaml, PIL, datasets; no torch

        for key, check in (("splits", lambda b, v: task(b).check_split(v)),
                           ("extraction", lambda b, v: task(b).adapter.extraction(v))):
            for benchmark, value in evaluation[key].items():
                try:
                    check(benchmark, value)
                except ValueError as error:
                    raise ConfigError(f"config key eval.{key}.{benchmark}: {error}") from None
    if evaluation["scoring"] != "judge":
        return
    for key in ("judge_url", "judge_model"):
        if not evaluation[key]:
            raise ConfigError(f"config key eval.{key}: required when eval.scoring is judge")
    name = evaluation["judge_key_env"]
    if name and not os.environ.get(name):
        raise ConfigError(f"config key eval.judge_key_env: the judge's key variable {name} is not set "
                          f"(export {name}=..., or judge_key_env: null for a judge without a key)")


validate_config(config, SCHEMA)  # unknown keys, types, enums, bounds
check_config(config)  # what the schema cannot express, e.g. weights summing to 1
check_source(config)
check_eval(config["eval"])

# Jobs run `python -m <stage>` in the environment Snakemake runs in (the project's .venv), or in
# ENV's conda environment with --software-deployment-method conda (its post-deploy script
# installs this checkout, found through DURIAN_REPRO_ROOT).
os.environ.update(
    PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]),
    DURIAN_REPRO_ROOT=workflow.basedir,
)
ENV = os.path.join(workflow.basedir, "workflow", "envs", "durian.yaml")

R = config["results"]
LOGS = f"{R}/logs"
SOURCE = config["source"]
BUILD_WORLD = SOURCE["world_seed"] is not None
WORLD = SOURCE["world_dir"] or f"{R}/world"
MODEL = f"{WORLD}/model" if BUILD_WORLD else SOURCE["model"]
RAW_SPLITS = (
    {"train": f"{WORLD}/data/train.parquet", "val": f"{WORLD}/data/val.parquet"}
    if BUILD_WORLD
    else {"train": SOURCE["train"], "val": SOURCE["val"]}
)
EVAL = config["eval"]
BENCHMARKS = EVAL["benchmarks"]
FIXTURES = f"{R}/fixtures"
PLAN = plan(config)
RUNS = all_runs(config)
EVAL_RUNS = [BASE_RUN] if config["table1"]["base_model"] else []


wildcard_constraints:
    run="|".join(re.escape(r) for r in [BASE_RUN, *RUNS]) or "(?!)",
    split="train|val",


def cli(**options):
    """Command-line options, quoted: ``--key value`` per option (None: left out, a list: repeated)."""
    words = []
    for key, value in options.items():
        for item in value if isinstance(value, list) else [value]:
            if item is not None:
                words += [f"--{key.replace('_', '-')}", str(item)]
    return shlex.join(words)


# ------------------------------------------------------------------------------- input functions
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
    return MODEL if wildcards.run == BASE_RUN else f"{R}/train/{wildcards.run}/model"


def train_overrides(wildcards):
    """The run's settings beyond its arm (durian.experiment.Run.overrides) as --set key=value."""
    run = RUNS[wildcards.run]
    return cli(set=[f"{key}={json.dumps(value)}" for key, value in run.overrides().items()])


def eval_data(benchmark):
    """A benchmark's local data: its fixture file (eval.fixtures says where), a configured file, or None (the hub)."""
    if EVAL["fixtures"] is not None:
        from eval.fixtures import fixture_path  # datasets, no torch: only for a config with fixtures

        return str(fixture_path(FIXTURES, benchmark))
    return EVAL["data_files"].get(benchmark)


def eval_data_files(wildcards):
    """--data-file <benchmark>=<path> for each benchmark read from local files (the others: the hub)."""
    return cli(data_file=[f"{b}={p}" for b in BENCHMARKS if (p := eval_data(b))])


def eval_protocol():
    """eval.run's protocol options: splits, extractions, bad rows, scoring and the judge."""
    words = cli(split=[f"{b}={v}" for b, v in EVAL["splits"].items() if b in BENCHMARKS],
                extraction=[f"{b}={v}" for b, v in EVAL["extraction"].items() if b in BENCHMARKS],
                scoring=EVAL["scoring"])
    if EVAL["skip_bad_rows"]:
        words += " --skip-bad-rows"
    if EVAL["scoring"] == "judge":
        judge = cli(judge_url=EVAL["judge_url"], judge_model=EVAL["judge_model"],
                    judge_key_env=EVAL["judge_key_env"] or "", judge_timeout=EVAL["judge_timeout"])
        words = f"{words} {judge}"
    return words


def report_of(scope):
    return f"{R}/reports/{scope}/report.html"


def scope_inputs(scope):
    """The result files a report scope reads (durian.experiment.SCOPE_TARGETS): evals, training runs, entropy."""
    targets = SCOPE_TARGETS[scope]
    runs = list(dict.fromkeys(r for t in targets for r in PLAN[t]))
    files = eval_jsons(EVAL_RUNS + runs if "table1" in targets else runs)
    files += metrics(runs) + expand(f"{R}/train/{{run}}/config.yaml", run=runs)
    if scope in ("table1", "fig4_entropy", "all"):
        files.append(f"{R}/data/train.entropy.json")
    return files


def write_plan(document, path, log):
    """plan.json (durian.experiment.save_plan), and a line saying what it holds in the job's log."""
    save_plan(document, path)
    runs = {rid for target in document["targets"].values() for rid in target}
    with open(log, "w") as out:
        print(f"{path}: {len(document['targets'])} targets, {len(runs)} training runs", file=out)


# ------------------------------------------------------------------------------ failure summary
# An exception line, or a stage's own one-line error ("durian.train: ...", "error: ...").
ROOT_CAUSE = re.compile(r"^\s*(?:[\w.]+\.)?\w*(?:Error|Exception|Exit|Interrupt|Timeout)\b.*:|^\s*error:"
                        r"|^(?:durian|eval|reports)(?:\.\w+)*: ", re.I)
FAILED_LOG = re.compile(r"^\s*log: (.+?) \(check log file\(s\) for error details\)")


def root_cause(path, lines=3, tail=50):
    """From the last exception line near the end of a job's log (a traceback's cause, a stage's
    one-line error) to the end, at most ``lines`` lines; else the log's last lines."""
    try:
        text = [line.rstrip() for line in open(path, errors="replace") if line.strip()][-tail:]
    except OSError as err:
        return [f"(no log: {err})"]
    causes = [i for i, line in enumerate(text) if ROOT_CAUSE.match(line)]
    shown = text[causes[-1]:][:lines] if causes else text[-lines:]
    return [line.strip()[:400] for line in shown] or ["(empty log)"]


def report_failures(snakemake_logs):
    """After a failed run: each failed job's root cause and the path of its full log."""
    failed = []
    for snakemake_log in snakemake_logs:
        try:
            failed += [m.group(1) for line in open(snakemake_log) if (m := FAILED_LOG.match(line))]
        except OSError:
            pass
    for path in dict.fromkeys(p for logs in failed for p in logs.split(", ")):
        print(f"\nFAILED, root cause ({path}):", *(f"    {line}" for line in root_cause(path)), sep="\n",
              file=sys.stderr)
