#!/usr/bin/env bash
# The main job: the whole loop end to end on a real Kafka broker. Extra arguments go to
# `driftline demo` (see .venv/bin/driftline demo --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/driftline demo "$@"
