#!/usr/bin/env bash
# Installs what driftline needs into .venv (Python >= 3.11, Java 17 and Maven must be on
# the machine). Idempotent: a second run only checks. Sourced by demo.sh and test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "setup: Python >= 3.11 is required ($PYTHON is $("$PYTHON" -V 2>&1))" >&2; exit 1; }
command -v java >/dev/null || { echo "setup: Java 17 is required for the local Kafka broker" >&2; exit 1; }
command -v mvn >/dev/null || { echo "setup: Maven is required to fetch the Kafka jars" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.driftline-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[test]'
  touch "$stamp"
fi
