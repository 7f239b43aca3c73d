#!/usr/bin/env bash
# The whole test suite on real services: installs what it needs, then pytest starts a
# Kafka broker (DRIFTLINE_KAFKA_BOOTSTRAP, testcontainers, or local jars on free ports)
# and a throwaway PostgreSQL cluster. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

# MLflow for the mirror and pyfunc tests, which run a real 'mlflow server' (the [mlflow] extra).
mlflow_stamp=.venv/.driftline-mlflow-installed
if [ ! -f "$mlflow_stamp" ] || [ pyproject.toml -nt "$mlflow_stamp" ]; then
  echo "test: installing the [mlflow] extra"
  .venv/bin/python -m pip install --quiet -e '.[test,mlflow]'
  touch "$mlflow_stamp"
fi

# PostgreSQL server binaries for the registry tests (Debian's package).
if [ -z "${DRIFTLINE_TEST_POSTGRES_URL:-}" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "test: installing PostgreSQL from Debian packages"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
fi

# Prometheus (promtool; a real scrape) and Alertmanager for the metrics and notify tests.
if ! command -v promtool >/dev/null || ! command -v prometheus-alertmanager >/dev/null; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "test: installing Prometheus and Alertmanager from Debian packages"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      prometheus prometheus-alertmanager >/dev/null
  fi
fi

# Chromium opens the dashboard in the browser test (headless; Debian's package).
if ! command -v chromium >/dev/null; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "test: installing Chromium from Debian packages"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  fi
fi

set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
# pytest's "no tests collected" is a failure here, never a pass.
[ $rc -eq 0 ] || exit $rc

# With no pytest arguments (the whole suite, as in CI), the benchmarks' quick runs too:
# their figures are measurements, so only a crash fails the run.
if [ $# -eq 0 ]; then
  for bench in detection loop; do
    echo "test: benchmarks/$bench.py --quick"
    .venv/bin/python "benchmarks/$bench.py" --quick
  done
fi
