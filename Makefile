# The README's commands. The environment (~6 GB) is created once from uv.lock and reused.
SHELL := /bin/bash
UV_VERSION := 0.13.9
UV := .tools/bin/uv
EXTRAS := --extra train --extra eval --extra workflow --extra dev
PYTHON := .venv/bin/python

.PHONY: test reproduce study preflight env browser benchmarks clean-env

test: env browser
	$(PYTHON) -m pytest -n auto --dist loadfile --no-loadscope-reorder

# The main job: the smoke Table 1 (tiny model built here, CPU, no hub) through Snakemake.
reproduce: env
	.venv/bin/snakemake --cores all --workflow-profile workflow/profiles/local reproduce_table1
	@echo "report: results/smoke/reports/table1/report.html"

# The study scale's Table 1 (README "The study scale"): the smoke world trained long enough to learn,
# 4 arms x 3 seeds, 400 questions per set; CPU, hours on 2 cores. Resumable: rerun after a stop.
study: env
	.venv/bin/snakemake --cores all --workflow-profile workflow/profiles/local reproduce_table1 \
		--configfile workflow/config/study.yaml
	@echo "report: results/study/reports/table1/report.html"

# Before GPU days, on one GPU (~10 min): the paper scale's code paths on the tiny world (FSDP on CUDA,
# vLLM rollouts for 2 steps of dapo-durian, the vLLM evaluation on the fixtures, the judge if
# DURIAN_JUDGE_URL and DURIAN_JUDGE_MODEL are set); stops at the first failure with its root cause.
# `python -m durian.recipe.preflight --dry-run` shows the commands without a GPU.
preflight: env
	$(PYTHON) -m durian.recipe.preflight --out results/preflight

env: .venv/.synced

$(UV):
	python3 -m pip install --quiet --disable-pip-version-check --target .tools uv==$(UV_VERSION)

# Re-sync only when the lock, the project metadata or this command changed. --compile-bytecode:
# the machine sets PYTHONDONTWRITEBYTECODE, so without it every process (each Ray worker, each job)
# compiled torch, transformers and verl from source again (twice the time of the whole test suite).
.venv/.synced: uv.lock pyproject.toml Makefile | $(UV)
	$(UV) sync --frozen --compile-bytecode $(EXTRAS)
	touch $@

# The HTML report's test opens it in Debian's Chromium (tests/reports/test_report_browser.py).
browser: /usr/bin/chromium

/usr/bin/chromium:
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo -E) apt-get install -y -qq chromium

benchmarks: env
	$(PYTHON) benchmarks/bench_advantage.py
	$(PYTHON) benchmarks/bench_entropy.py
	$(PYTHON) benchmarks/bench_report.py

clean-env:
	rm -rf .venv .tools
