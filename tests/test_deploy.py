"""docker-compose.yml against the Compose specification, and the Grafana dashboard against the exporter.

``tests/data/compose-spec.json`` is the Compose specification's JSON schema
(compose-spec/compose-spec, schema/compose-spec.json, Apache-2.0), kept here
because the tests run without internet.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from driftline.contract import Alert, Metrics
from driftline.observe.exporter import MetricsExporter
from tests.daemons import program

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "deploy" / "grafana" / "driftline.json"


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_file_follows_the_compose_specification():
    schema = json.loads((ROOT / "tests" / "data" / "compose-spec.json").read_text())
    jsonschema.Draft7Validator(schema).validate(_compose())


def test_a_compose_file_the_schema_refuses_is_refused():
    schema = json.loads((ROOT / "tests" / "data" / "compose-spec.json").read_text())
    broken = _compose()
    broken["services"]["grafana"]["ports"] = {"not": "a list"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate(broken)


def test_compose_provisions_prometheus_and_grafana_with_the_dashboard():
    services = _compose()["services"]
    assert {"kafka", "postgres", "monitor", "retrainer", "simulate", "prometheus", "grafana"} <= set(services)
    mounts = {v.split(":")[0]: v.split(":")[1] for v in services["grafana"]["volumes"] if v.startswith("./")}
    for source in mounts:
        assert (ROOT / source).exists(), source
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/driftline.yml").read_text())
    folder = provider["providers"][0]["options"]["path"]
    assert mounts["./deploy/grafana/driftline.json"] == f"{folder}/driftline.json"
    # The dashboard's data source is the one provisioned, and it is the compose Prometheus.
    source = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    (ds,) = source["datasources"]
    assert ds["url"] == "http://prometheus:9090"
    uids = {p["datasource"]["uid"] for p in json.loads(DASHBOARD.read_text())["panels"]}
    assert uids == {ds["uid"]}
    # Prometheus scrapes the workers on the port they are told to serve /metrics on.
    scrape = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = {t for job in scrape["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    port = _compose()["x-driftline"]["environment"]["DRIFTLINE_HTTP_PORT"]
    assert targets == {f"monitor:{port}", f"retrainer:{port}"}


def _exposed() -> dict[str, set[str]]:
    """Every sample name a fed exporter renders, with the label names it carries."""
    ex = MetricsExporter(max_models=10)
    ex.observe_metrics(Metrics(model_id="m", model_version="1", ts=1, event_ts=1, n_predictions=10,
                               n_labeled=5, n_expired=0, n_invalid=0, accuracy=0.9, label_coverage=0.5,
                               features={"x": {"mean": 1.0, "std": 0.5, "missing_rate": 0.0}}))
    ex.set_drift("m", "ks", "x", statistic=0.1, threshold=0.2)
    ex.observe_alert(Alert(alert_id="a", model_id="m", model_version="1", kind="data_drift",
                           severity="warning", detector="ks", feature="x", value=0.3, threshold=0.2,
                           event_ts=1, ts=1, message="m", episode_id="e"))
    ex.observe_dead_letter("invalid JSON")
    ex.set_lag(0, 3, topic="t")
    ex.set_state_bytes("m", 100)
    ex.observe_retrain("promoted", model_id="m")
    ex.set_serving("m", "2")
    ex.observe_notification("webhook", "delivered")
    out: dict[str, set[str]] = {}
    for line in ex.render().decode().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, rest = line.partition("{")
        labels = set(re.findall(r'(\w+)="', rest.partition("}")[0])) if rest else set()
        out.setdefault(name.split()[0], set()).update(labels)
    return out


def _queries(dashboard: dict) -> list[tuple[str, str]]:
    """(PromQL, legend) of every panel target, variable and annotation."""
    found = [(t["expr"], t.get("legendFormat", "")) for p in dashboard["panels"] for t in p["targets"]]
    found += [(v["query"]["query"] if isinstance(v["query"], dict) else v["query"], "")
              for v in dashboard["templating"]["list"]]
    found += [(a["expr"], a.get("titleFormat", "")) for a in dashboard["annotations"]["list"]]
    return found


def test_the_dashboard_names_only_families_and_labels_the_exporter_exposes():
    exposed = _exposed()
    queries = _queries(json.loads(DASHBOARD.read_text()))
    assert len(queries) >= 15
    for expr, legend in queries:
        names = set(re.findall(r"\bdriftline_\w+", expr))
        assert names, expr
        unknown = names - set(exposed)
        assert not unknown, f"{expr}: {sorted(unknown)} not exposed (exposed: {sorted(exposed)})"
        labels = set().union(*(exposed[n] for n in names))
        without_strings = re.sub(r'"[^"]*"', '""', expr)
        used = set(re.findall(r"(\w+)\s*=~?", without_strings))
        for group in re.findall(r"\b(?:by|on)\s*\(([^)]*)\)", expr):
            used |= {g.strip() for g in group.split(",") if g.strip()}
        used |= set(re.findall(r"label_values\([^,]+,\s*(\w+)\)", expr))
        used |= set(re.findall(r"\{\{\s*(\w+)\s*\}\}", legend))
        assert used <= labels, f"{expr}: labels {sorted(used - labels)} not on {sorted(names)}"


def test_the_check_catches_a_family_the_exporter_lacks():
    dashboard = json.loads(DASHBOARD.read_text())
    dashboard["panels"][0]["targets"][0]["expr"] = "driftline_accuracy_ratio"
    (expr, _), *_ = _queries(dashboard)
    assert set(re.findall(r"\bdriftline_\w+", expr)) - set(_exposed())


def test_prometheus_reads_the_scrape_config_and_parses_the_dashboards_promql(tmp_path):
    promtool = program("promtool", package="prometheus")
    done = subprocess.run([promtool, "check", "config", str(ROOT / "deploy/prometheus/prometheus.yml")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    # Each query as a recording rule, so promtool's PromQL parser reads it; Grafana's
    # $model becomes a regular expression, and label_values() is Grafana's, not PromQL.
    rules = [{"record": f"driftline:dashboard_query_{i}", "expr": expr.replace("$model", ".*")}
             for i, (expr, _) in enumerate(_queries(json.loads(DASHBOARD.read_text())))
             if not expr.startswith("label_values(")]
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and f"{len(rules)} rules found" in done.stdout, done.stdout + done.stderr


# ---------------------------------------------------------------- the compose deployment keeps its data

DRIFTLINE_SERVICES = ("monitor", "retrainer")


def _volume_path(service: dict, volume: str) -> str:
    (path,) = [v.split(":")[1] for v in service["volumes"] if v.split(":")[0] == volume]
    return path


def test_kafka_writes_its_log_on_its_volume():
    kafka = _compose()["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    # The official image writes under /tmp unless KAFKA_LOG_DIRS names a directory.
    assert kafka["environment"]["KAFKA_LOG_DIRS"] == _volume_path(kafka, "kafka-data") == "/var/lib/kafka/data"
    assert "kafka-data" in _compose()["volumes"]


def test_the_driftline_services_share_one_image_built_here():
    services = _compose()["services"]
    built = {name: s for name, s in services.items() if "build" in s}
    assert set(built) == {"monitor", "retrainer", "simulate"}
    assert {s["image"] for s in built.values()} == {"driftline:latest"}
    assert {s["pull_policy"] for s in built.values()} == {"build"}  # never pulled from a registry
    assert {str(s["build"]) for s in built.values()} == {"."}


def test_the_driftline_services_are_checked_on_their_health_endpoint():
    compose = _compose()
    port = compose["x-driftline"]["environment"]["DRIFTLINE_HTTP_PORT"]
    for name in DRIFTLINE_SERVICES:
        check = compose["services"][name]["healthcheck"]
        command = " ".join(check["test"])
        assert check["test"][0] == "CMD"
        assert f"http://127.0.0.1:{port}/healthz" in command, command
        assert compose["services"][name]["environment"]["DRIFTLINE_HTTP_PORT"] == port
    assert compose["services"]["simulate"]["healthcheck"] == {"disable": True}
    assert compose["services"]["prometheus"]["depends_on"] == {
        name: {"condition": "service_healthy"} for name in DRIFTLINE_SERVICES}


def test_the_health_check_command_passes_against_a_worker_serving_healthz_and_fails_without():
    import sys

    check = _compose()["x-driftline"]["healthcheck"]["test"]
    assert check[:3] == ["CMD", "python", "-c"]
    code = check[3]
    with _healthz_server() as port:
        ok = subprocess.run([sys.executable, "-c", code.replace(":9108/", f":{port}/")],
                            capture_output=True, timeout=30)
    assert ok.returncode == 0, ok.stderr
    with _healthz_server() as port:
        pass  # closed again: nothing answers there now
    down = subprocess.run([sys.executable, "-c", code.replace(":9108/", f":{port}/")],
                          capture_output=True, timeout=30)
    assert down.returncode != 0


def _healthz_server():
    """A worker's HTTP endpoint on a free port (the one DRIFTLINE_HTTP_PORT turns on)."""
    from driftline.observe.exporter import MetricsExporter
    from driftline.observe.http import ObservabilityServer

    server = ObservabilityServer(MetricsExporter(), port=0)

    class _Port:
        def __enter__(self):
            return server.port

        def __exit__(self, *exc):
            server.close()
    return _Port()


def _dockerfile() -> list[str]:
    lines, joined = [], ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.lstrip().startswith("#"):
            continue
        joined += line.rstrip("\\").strip() + " "
        if not line.rstrip().endswith("\\"):
            if joined.strip():
                lines.append(joined.strip())
            joined = ""
    return lines


def test_the_image_runs_as_an_unprivileged_user_who_owns_its_data():
    lines = _dockerfile()
    users = [line.split(None, 1)[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0") and not users[-1].startswith(("root:", "0:"))
    user = users[-1]
    made = [line for line in lines if line.startswith("RUN ") and "useradd" in line]
    assert made and re.search(rf"\b{re.escape(user)}\b", made[0])
    assert f"chown {user} /data" in made[0]
    # The user is switched to after the install and before the volume is declared.
    index = {line: i for i, line in enumerate(lines)}
    install = next(i for line, i in index.items() if "pip install" in line)
    volume = next(i for line, i in index.items() if line.startswith("VOLUME"))
    assert install < index[f"USER {user}"] < volume


def _ignored(patterns: list[str], path: str) -> bool:
    """Whether Docker's .dockerignore ``patterns`` leave ``path`` out (no ``!`` exceptions used here)."""
    import fnmatch

    parts = path.split("/")
    for pattern in patterns:
        pattern = pattern.removeprefix("**/")
        for i in range(len(parts)):
            if fnmatch.fnmatch("/".join(parts[:i + 1]), pattern) or fnmatch.fnmatch(parts[i], pattern):
                return True
    return False


def test_dockerignore_keeps_local_state_out_of_the_build_context_and_the_sources_in():
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    assert not [p for p in patterns if p.startswith("!")]
    for left_out in (".venv/bin/python", ".driftline/registry.db", ".git/HEAD", ".hypothesis/examples",
                     ".pytest_cache/v", "driftline/__pycache__/cli.cpython-311.pyc",
                     "tests/integration/test_monitor.py", "kafka-data/meta.properties",
                     "driftline.egg-info/PKG-INFO"):
        assert _ignored(patterns, left_out), left_out
    copied = [line.split()[1:-1] for line in _dockerfile() if line.startswith("COPY ")]
    for sources in copied:
        for source in sources:
            assert (ROOT / source).exists(), source
            assert not _ignored(patterns, source), source
            if (ROOT / source).is_dir():
                module = next((ROOT / source).rglob("*.py")).relative_to(ROOT).as_posix()
                assert not _ignored(patterns, module), module


def test_readme_says_how_to_run_models_against_the_compose_deployment():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## With Docker"):]
    section = section[:section.index("\n## ", 3)]
    services = _compose()["services"]
    commands = re.findall(r"^docker compose (exec|run --rm --no-deps) (\w+) (.+?)(?:\s+#.*)?$", section, re.M)
    models = [(how, svc, rest) for how, svc, rest in commands if "models" in rest]
    assert models, section
    for how, service, rest in models:
        assert service in DRIFTLINE_SERVICES and service in services
        # exec runs a command in the container (no entrypoint); run passes arguments to it.
        args = rest.split()
        if how == "exec":
            assert args[:2] == ["driftline", "models"], rest
        else:
            assert args[0] == "models", rest
