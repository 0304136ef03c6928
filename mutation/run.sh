#!/usr/bin/env bash
# Mutation testing of the modules whose promises matter most, outside CI (it takes a while):
# cosmic-ray mutates one operator at one place at a time IN PLACE, runs the module's own fast
# tests, and restores the file. Run it in a scratch clone with its own virtual environment:
#   git clone . /tmp/mut && cd /tmp/mut && python3 -m venv .venv && \
#   .venv/bin/pip install -e ".[test,mutation]" && mutation/run.sh [MODULE ...]
# MODULE: a config mutation/<MODULE>.toml: budget redact policy health guarantee calibration
# arithmetic turns chat_request chat_model steps calls graphs routing metered resources
# node_policy outcomes minions (all of them when none is named; several hours on two cores).
# Reports land in mutation/reports/<module>.txt; mutation/README.md summarises them.
set -euo pipefail
cd "$(dirname "$0")/.."
modules=("$@")
if [ ${#modules[@]} -eq 0 ]; then modules=(budget redact policy health guarantee calibration arithmetic turns chat_request chat_model steps calls graphs routing metered resources node_policy outcomes minions); fi
mkdir -p mutation/reports mutation/sessions
for name in "${modules[@]}"; do
    config="mutation/${name}.toml"
    session="mutation/sessions/${name}.sqlite"
    rm -f "$session"
    .venv/bin/cosmic-ray init "$config" "$session"
    # a config's [cosmic-ray.filters.operators-filter] marks the operators it leaves out as skipped
    .venv/bin/cr-filter-operators "$session" "$config"
    .venv/bin/cosmic-ray baseline "$config" >/dev/null
    .venv/bin/cosmic-ray exec "$config" "$session"
    .venv/bin/cr-report "$session" --show-pending > "mutation/reports/${name}.txt"
    tail -3 "mutation/reports/${name}.txt"
done
