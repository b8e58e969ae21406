#!/usr/bin/env bash
# Runs once, in the new conda environment of workflow/envs/durian.yaml: installs the locked
# dependencies of the stages (uv.lock with the train, eval, workflow and gpu extras) and this
# checkout. DURIAN_REPRO_ROOT (the checkout) is set by workflow/rules/common.smk.
set -euo pipefail
cd "${DURIAN_REPRO_ROOT:?set by workflow/rules/common.smk}"
requirements="$(mktemp)"
trap 'rm -f "$requirements"' EXIT
uv export --quiet --frozen --no-hashes --no-emit-project --no-dev \
    --extra train --extra eval --extra workflow --extra gpu --output-file "$requirements"
uv pip install --python "$CONDA_PREFIX/bin/python" --requirements "$requirements"
uv pip install --python "$CONDA_PREFIX/bin/python" --no-deps --editable .
