"""A model-id explosion: 10,000 distinct model ids and 3,000 keys of only invalid messages, to one worker.

``DRIFTLINE_MAX_MODELS`` bounds the models a worker watches; the events of every
further model go to ``dead-letter`` with that reason, and messages that are
not events never make a model. The monitor's resident memory, read from
``/proc/<pid>/status`` before, during and after, is bounded by what the capped
models take: the 9,500 models past the cap and the 3,000 invalid keys do not
make it grow.
"""

from __future__ import annotations

import random
import threading
import time
import uuid

import pytest

from driftline.contract import Topics, decode_dead_letter, decode_metrics, dumps
from driftline.kafka_admin import ensure_topics
from driftline.processes import run_roles
from driftline.settings import Settings
from tests.integration.kafka_io import produce_to, read, read_to_end

pytestmark = pytest.mark.broker

MAX_MODELS = 500
MODELS = 10_000
INVALID_KEYS = 3_000
PER_MODEL = 3  # predictions per model id
CAP_REASON = f"this worker already watches {MAX_MODELS} models (DRIFTLINE_MAX_MODELS)"


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


class RssSampler:
    """The peak resident memory of a process, sampled every 0.2 s in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self.samples = pid, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_kb(self.pid))
            self.samples += 1
            self._stop.wait(0.2)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def prediction(model: str, i: int, ts: int) -> bytes:
    return dumps({"event_id": f"{model}-p{i}", "model_id": model, "model_version": "1", "ts": ts,
                  "features": {"x": float(i), "c": "ab"[i % 2]}, "prediction": i % 2})


def models_seen(records) -> set[str]:
    return {decode_metrics(r.value).model_id for r in records}


def test_ten_thousand_model_ids_keep_the_monitors_memory_bounded_by_max_models(kafka_bootstrap, tmp_path):
    started = time.monotonic()
    s = Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
                 home=str(tmp_path), partitions=2, batch_within_s=0.1, metrics_every=1,
                 reference_size=200, commit_interval_ms=500, max_models=MAX_MODELS)
    t = Topics(s.topic_prefix)
    ensure_topics(s)
    uid = uuid.uuid4().hex[:6]
    ts = int(time.time() * 1000)
    rng = random.Random(5)
    models = [f"m{j}-{uid}" for j in range(MODELS)]
    # Phase 1 fills the cap and goes past it a little; phase 2 is the rest of the explosion.
    first, rest = models[:2 * MAX_MODELS], models[2 * MAX_MODELS:]

    def predictions(ids: list[str]) -> list[tuple[str, bytes, bytes]]:
        out = [(t.predictions, m.encode(), prediction(m, i, ts + i)) for m in ids for i in range(PER_MODEL)]
        rng.shuffle(out)
        return out

    invalid = [(t.predictions, f"bad{k}-{uid}".encode(), value)
               for k in range(INVALID_KEYS)
               for value in (b"not json", b"[1]",
                             dumps({"event_id": "e", "model_id": f"bad{k}-{uid}", "ts": ts}))]
    phase2 = predictions(rest) + invalid
    rng.shuffle(phase2)

    with run_roles(s, ["monitor"], tmp_path / "logs") as procs:
        pid = procs["monitor"].pid
        time.sleep(1)
        before = rss_kb(pid)
        with RssSampler(pid) as during:
            produce_to(kafka_bootstrap, predictions(first))
            metrics = read(kafka_bootstrap, t.metrics, timeout_s=60,
                           until=lambda rs: len(models_seen(rs)) >= MAX_MODELS)
            capped = read(kafka_bootstrap, t.dead_letter, timeout_s=30,
                          until=lambda rs: len(rs) >= MAX_MODELS * PER_MODEL)
            at_cap = rss_kb(pid)
            published = time.monotonic()
            produce_to(kafka_bootstrap, phase2)
            published = time.monotonic() - published
            expected_dead = (MODELS - MAX_MODELS) * PER_MODEL + len(invalid)
            dead = read(kafka_bootstrap, t.dead_letter, timeout_s=90,
                        until=lambda rs: len(rs) >= expected_dead)
        time.sleep(1)
        after = rss_kb(pid)
        metrics = read_to_end(kafka_bootstrap, t.metrics)
        assert procs["monitor"].poll() is None and procs["monitor"].pid == pid
        log_text = (tmp_path / "logs" / "monitor.log").read_text()

    watched = models_seen(metrics)
    letters = [decode_dead_letter(r.value) for r in dead]
    by_cap = [d for d in letters if d.error.startswith(CAP_REASON)]
    refused_models = {d.key.decode() for d in by_cap}
    assert len(watched) == MAX_MODELS and watched <= set(first)
    # Each model past the cap has every one of its events dead-lettered with the cap's reason.
    assert refused_models == set(models) - watched
    assert len(by_cap) == (MODELS - MAX_MODELS) * PER_MODEL
    not_events = [d for d in letters if d.key.startswith(b"bad")]
    assert len(not_events) == len(invalid) and not [d for d in not_events if d.error.startswith(CAP_REASON)]
    assert len(letters) == expected_dead
    assert "Traceback" not in log_text and "starts afresh" not in log_text, log_text[-3000:]

    # What 500 watched models cost bounds the rest: the 9,500 further models and the 3,000
    # invalid keys add at most half of it again (and 32 MB for the interpreter's and the
    # clients' buffers, which grow with a larger fetch).
    per_cap = at_cap - before
    bound = at_cap + max(per_cap // 2, 32 * 1024)
    print(f"\nRSS (MB): before {before / 1024:.0f}, at the cap of {MAX_MODELS} models {at_cap / 1024:.0f}, "
          f"peak during {during.peak / 1024:.0f} ({during.samples} samples), after {after / 1024:.0f}; "
          f"bound {bound / 1024:.0f}. {MODELS} model ids ({MODELS - MAX_MODELS} past the cap, "
          f"{len(by_cap)} dead letters for them), {INVALID_KEYS} invalid keys ({len(not_events)} dead letters); "
          f"phase 2 ({len(phase2)} messages) published in {published:.1f} s; "
          f"{time.monotonic() - started:.0f} s in all")
    assert during.peak <= bound and after <= bound
    assert time.monotonic() - started < 120
