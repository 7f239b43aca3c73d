from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from driftline.exceptions import SettingsError
from driftline.settings import Settings
from driftline.ui.access import authorized, check_bind, is_loopback
from driftline.ui.server import DashboardServer, _page
from driftline.ui.series import Series

TOKEN = "a-token-of-some-length"


@pytest.mark.parametrize("host,loopback", [
    ("127.0.0.1", True), ("127.3.4.5", True), ("localhost", True), ("::1", True), ("[::1]", True),
    ("0.0.0.0", False), ("::", False), ("10.1.2.3", False), ("dashboard.example", False), ("", False)])
def test_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_a_bind_beyond_loopback_needs_a_token():
    with pytest.raises(SettingsError) as refused:
        check_bind("0.0.0.0", "")
    assert "DRIFTLINE_UI_TOKEN" in str(refused.value) and "\n" not in str(refused.value)
    check_bind("0.0.0.0", TOKEN)
    check_bind("127.0.0.1", "")


@pytest.mark.parametrize("header,query,ok", [
    (f"Bearer {TOKEN}", None, True), (f"bearer {TOKEN}", None, True), (None, TOKEN, True),
    (None, None, False), ("Bearer", None, False), (f"Basic {TOKEN}", None, False),
    (f"Bearer {TOKEN}x", None, False), ("Bearer wrong", TOKEN, False), (None, TOKEN[:-1], False),
    (None, "", False)])
def test_token_check(header, query, ok):
    assert authorized(TOKEN, header, query) is ok


def test_no_token_configured_lets_every_request_read():
    assert authorized("", None, None) and authorized("", "Bearer anything", "x")


@pytest.fixture
def server():
    series = Series()
    series.add_metrics({"model_id": "m", "model_version": "1", "event_ts": 5, "accuracy": 0.9})
    series.add_alert({"alert_id": "a1", "model_id": "m", "event_ts": 5, "value": float("nan")})
    with DashboardServer(series, registry=None, token=TOKEN, port=0) as s:
        yield f"http://127.0.0.1:{s.port}"


def _get(url: str, **headers) -> tuple[int, bytes, dict]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as answer:
            return answer.status, answer.read(), dict(answer.headers)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read(), dict(exc.headers)


def test_every_page_but_healthz_asks_for_the_token(server):
    for path in ("/", "/api/models", "/api/series?model=m", "/api/alerts", "/api/status"):
        assert _get(server + path)[0] == 401, path
        assert _get(server + path, Authorization=f"Bearer {TOKEN}")[0] == 200, path
    assert _get(server + f"/api/models?token={TOKEN}")[0] == 200
    assert _get(server + "/healthz")[0] == 200


def test_the_api_answers_json(server):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    code, body, _ = _get(server + "/api/models", **auth)
    (model,) = json.loads(body)["models"]
    assert (model["model_id"], model["serving_version"], model["accuracy"]) == ("m", "1", 0.9)
    code, body, _ = _get(server + "/api/alerts", **auth)
    assert json.loads(body)["alerts"][0]["value"] is None  # a NaN read from a topic: null
    assert _get(server + "/api/series?model=nope", **auth)[0] == 404
    assert _get(server + "/api/series", **auth)[0] == 400
    assert _get(server + "/nothing", **auth)[0] == 404


def test_it_is_read_only(server):
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        ask = urllib.request.Request(server + "/api/models", data=b"{}", method=method,
                                     headers={"Authorization": f"Bearer {TOKEN}"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(ask, timeout=5)
        assert refused.value.code == 405
        refused.value.close()


def test_the_page_loads_nothing_from_elsewhere():
    page = _page().decode()
    # The SVG namespace is a name, not a request.
    assert set(re.findall(r"https?://[^\s\"'`]+", page)) == {"http://www.w3.org/2000/svg"}
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)


def test_the_server_refuses_a_bind_beyond_loopback_without_a_token():
    with pytest.raises(SettingsError):
        DashboardServer(Series(), registry=None, token="", host="0.0.0.0", port=0)


def test_ui_settings():
    s = Settings.from_env({})
    assert (s.ui_host, s.ui_port, s.ui_token.reveal(), s.ui_max_points) == ("127.0.0.1", 8765, "", 2000)
    s = Settings.from_env({"DRIFTLINE_UI_TOKEN": TOKEN, "DRIFTLINE_UI_PORT": "0"})
    assert s.ui_token.reveal() == TOKEN and TOKEN not in repr(s) and s.ui_port == 0
    with pytest.raises(SettingsError) as short:
        Settings.from_env({"DRIFTLINE_UI_TOKEN": "short"})
    assert "short" not in str(short.value)


def test_the_token_may_come_from_a_file(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    assert Settings.from_env({"DRIFTLINE_UI_TOKEN_FILE": str(path)}).ui_token.reveal() == TOKEN


def _ui(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "driftline", "ui", *args], capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin", **env})


def test_the_command_refuses_a_bind_beyond_loopback_without_a_token(tmp_path):
    done = _ui({"DRIFTLINE_HOME": str(tmp_path), "DRIFTLINE_KAFKA_BOOTSTRAP": "127.0.0.1:1"},
               "--host", "0.0.0.0", "--port", "0")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "DRIFTLINE_UI_TOKEN" in done.stderr, done.stderr
    done = _ui({"DRIFTLINE_UI_HOST": "0.0.0.0", "DRIFTLINE_HOME": str(tmp_path)})
    assert done.returncode == 2 and "beyond loopback" in done.stderr
    done = _ui({}, "--port", "70000")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
