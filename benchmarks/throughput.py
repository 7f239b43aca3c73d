"""Events per second through the monitor on a real broker, next to a raw consume loop.

Preloads a stream of predictions with feedback into fresh topics, then measures
in the same run:

- baseline: a raw aiokafka consumer reading both topics from the start and
  decoding every message with ``json.loads`` (the floor any Kafka consumer in
  Python pays);
- driftline: a monitor worker (``driftline monitor``, a child process) from
  start until its committed offsets reach the end of both topics; the figure is
  taken from its first commit to its last, so start-up is reported apart.

Usage: python benchmarks/throughput.py [--predictions 200000] [--feedback 0.8]
Uses DRIFTLINE_KAFKA_BOOTSTRAP if set, else starts a local broker on free ports.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

import numpy as np
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from driftline.contract import Topics
from driftline.kafka.clients import aiokafka_options, connect, start_aiokafka
from driftline.kafka_admin import admin_client, ensure_topics
from driftline.processes import settings_env
from driftline.settings import Settings


def broker():
    from driftline.broker import given_or_local

    return given_or_local("driftline-bench-")


def preload(settings: Settings, n: int, fraction: float, seed: int = 0) -> int:
    topics = Topics(settings.topic_prefix)
    rng = np.random.default_rng(seed)
    producer = connect(KafkaProducer, settings, acks="all",
                       linger_ms=20, batch_size=256 * 1024, compression_type=None)
    t0 = 1_732_356_000_000
    X = rng.normal(size=(n, 4))
    cats = rng.choice(["NL", "DE", "FR", "US"], size=n)
    labels = (X[:, 0] + X[:, 1] > 0).astype(int)
    flip = rng.random(n) < 0.1
    preds = np.where(flip, 1 - labels, labels)
    gets_label = rng.random(n) < fraction
    sent = 0
    models = ["bench-a", "bench-b"]
    for i in range(n):
        model = models[i % 2]
        key = model.encode()
        ts = t0 + i
        ev = {"event_id": f"p{i}", "model_id": model, "model_version": "1", "ts": ts,
              "features": {"x0": float(X[i, 0]), "x1": float(X[i, 1]), "x2": float(X[i, 2]),
                           "x3": float(X[i, 3]), "country": str(cats[i])},
              "prediction": int(preds[i])}
        producer.send(topics.predictions, key=key, value=json.dumps(ev).encode())
        sent += 1
        if gets_label[i]:
            fb = {"event_id": f"f{i}", "prediction_id": f"p{i}", "model_id": model,
                  "ts": ts + 2000, "label": int(labels[i])}
            producer.send(topics.feedback, key=key, value=json.dumps(fb).encode())
            sent += 1
    producer.flush()
    producer.close()
    return sent


async def raw_loop(settings: Settings, total: int) -> float:
    from aiokafka import AIOKafkaConsumer

    topics = Topics(settings.topic_prefix)
    consumer = AIOKafkaConsumer(topics.predictions, topics.feedback, **aiokafka_options(settings),
                                group_id=f"raw-{uuid.uuid4().hex}", auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await start_aiokafka(consumer, settings)
    seen = 0
    start = None  # from the first fetched batch: group join is start-up, as for the monitor
    try:
        while seen < total:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            if batches and start is None:
                start = time.perf_counter()
            for records in batches.values():
                for rec in records:
                    json.loads(rec.value)
                seen += len(records)
    finally:
        await consumer.stop()
    return time.perf_counter() - start


def end_offsets(settings: Settings) -> dict[TopicPartition, int]:
    topics = Topics(settings.topic_prefix)
    c = connect(KafkaConsumer, settings)
    try:
        tps = [TopicPartition(t, p) for t in (topics.predictions, topics.feedback)
               for p in c.partitions_for_topic(t)]
        return c.end_offsets(tps)
    finally:
        c.close()


def monitor_run(settings: Settings, ends: dict[TopicPartition, int], timeout_s: float) -> dict:
    env = settings_env(settings)
    admin = admin_client(settings)
    group = f"{settings.topic_prefix}monitor"
    total = sum(ends.values())
    started = time.perf_counter()
    cmd = [sys.executable, "-m", "driftline", "monitor"]
    if os.environ.get("DRIFTLINE_BENCH_PROFILE"):  # e.g. "py-spy record -o prof.txt -f raw --"
        cmd = os.environ["DRIFTLINE_BENCH_PROFILE"].split() + cmd
    proc = subprocess.Popen(cmd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = None
    last_done = 0
    try:
        while time.perf_counter() - started < timeout_s:
            if proc.poll() is not None:
                raise SystemExit(f"the monitor exited with code {proc.returncode}")
            try:
                offsets = admin.list_group_offsets({group: None}).get(group, {})
            except Exception:
                offsets = {}
            done = sum(min(o.offset, ends[tp]) for tp, o in offsets.items() if tp in ends)
            now = time.perf_counter()
            if done > 0 and first is None:
                first = (now, done)
            last_done = done
            if done >= total:
                return {"events": total, "startup_s": first[0] - started,
                        "steady_s": now - first[0], "steady_events": total - first[1],
                        "total_s": now - started}
            time.sleep(0.25)
        raise SystemExit(f"the monitor did not catch up in {timeout_s}s ({last_done}/{total})")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        admin.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--predictions", type=int, default=200_000)
    ap.add_argument("--feedback", type=float, default=0.8)
    ap.add_argument("--timeout", type=float, default=1800)
    args = ap.parse_args()
    with broker() as bootstrap, tempfile.TemporaryDirectory() as home:
        # The environment's Kafka security settings, on the broker given or started.
        settings = Settings.from_env().replace(kafka_bootstrap=bootstrap, home=home, partitions=2,
                                               topic_prefix=f"bench{uuid.uuid4().hex[:6]}.",
                                               batch_size=1000)
        ensure_topics(settings)
        t = time.perf_counter()
        sent = preload(settings, args.predictions, args.feedback)
        print(f"preloaded {sent} events ({args.predictions} predictions) in {time.perf_counter() - t:.1f}s")
        ends = end_offsets(settings)
        raw_s = asyncio.run(raw_loop(settings, sent))
        mon = monitor_run(settings, ends, args.timeout)
    raw_rate = sent / raw_s
    mon_rate = mon["steady_events"] / mon["steady_s"] if mon["steady_s"] > 0 else float("nan")
    print(f"{'what':44s} {'events':>8s} {'seconds':>8s} {'events/s':>10s}")
    print(f"{'baseline: raw aiokafka consume + json.loads':44s} {sent:8d} {raw_s:8.1f} {raw_rate:10.0f}")
    print(f"{'driftline monitor (first to last commit)':44s} {mon['steady_events']:8d} "
          f"{mon['steady_s']:8.1f} {mon_rate:10.0f}")
    print(f"monitor start-up before its first commit: {mon['startup_s']:.1f}s; "
          f"whole run {mon['total_s']:.1f}s")
    print(f"ratio monitor / baseline: {mon_rate / raw_rate:.3f}")


if __name__ == "__main__":
    main()
