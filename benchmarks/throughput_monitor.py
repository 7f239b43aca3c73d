"""The monitor's runs of benchmarks/throughput.py: worker processes on the broker, and its path in process.

A worker's peak RSS and CPU time are read from ``/proc`` while it is alive:

>>> import os
>>> peak_rss_mib(os.getpid()) > 0 and cpu_seconds(os.getpid()) > 0
True
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from benchmarks.throughput_runs import Stream
from driftline.contract import Topics, decode_feedback, decode_prediction
from driftline.kafka_admin import admin_client
from driftline.processes import settings_env
from driftline.settings import Settings


def end_offsets(settings: Settings) -> dict:
    from kafka import KafkaConsumer, TopicPartition

    from driftline.kafka.clients import connect

    topics = Topics(settings.topic_prefix)
    c = connect(KafkaConsumer, settings)
    try:
        tps = [TopicPartition(t, p) for t in (topics.predictions, topics.feedback)
               for p in c.partitions_for_topic(t)]
        return c.end_offsets(tps)
    finally:
        c.close()


@dataclasses.dataclass
class MonitorRun:
    events: int  # read from the first commit to the last
    seconds: float
    startup_s: float  # start of the processes to all of them holding partitions
    total_s: float  # from then (the preload included) to the last commit
    peak_rss_mib: list[float]  # VmHWM of each worker
    cpu_s: list[float]  # user + system time of each worker from the preload on
    all_events: int = 0  # written by the preload

    @property
    def per_cpu_s(self) -> float:
        """Events per CPU-second of the workers: what the machine's other load moves least."""
        return self.all_events / sum(self.cpu_s) if sum(self.cpu_s) > 0 else float("nan")


def _proc_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a profiler given in DRIFTLINE_BENCH_PROFILE runs the worker as a child)."""
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return pids


def peak_rss_mib(pid: int) -> float:
    peak = 0
    for p in _proc_tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
    return peak / 1024


def cpu_seconds(pid: int) -> float:
    total = 0
    for p in _proc_tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def _all_joined(admin: Any, group: str, workers: int) -> bool:
    """Whether ``workers`` members hold the group's partitions, the rebalance done."""
    try:
        described = admin.describe_groups([group]).get(group) or {}
    except Exception:
        return False
    return described.get("group_state") == "Stable" and len(described.get("members") or ()) == workers


def monitor_run(settings: Settings, workers: int, load: Callable[[], None], timeout_s: float) -> MonitorRun:
    """``workers`` processes of ``driftline monitor`` in one group, over the records ``load()`` writes.

    The workers start on the empty input topics; once all of them hold
    their partitions, ``load()`` preloads the stream and the run is timed
    from the group's first commit to the commit that reaches the end of both
    input topics. So neither start-up nor the first worker's taking every
    partition before the others join is counted, in any run.
    """
    env = settings_env(settings)
    admin = admin_client(settings)
    group = f"{settings.topic_prefix}monitor"
    cmd = [sys.executable, "-m", "driftline", "monitor"]
    if os.environ.get("DRIFTLINE_BENCH_PROFILE"):  # e.g. "py-spy record -o prof.txt -f raw --"
        cmd = os.environ["DRIFTLINE_BENCH_PROFILE"].split() + cmd
    started = time.perf_counter()
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for _ in range(workers)]

    def alive() -> None:
        for proc in procs:
            if proc.poll() is not None:
                raise SystemExit(f"a monitor worker exited with code {proc.returncode}")
        if time.perf_counter() - started > timeout_s:
            raise SystemExit(f"the monitor did not catch up in {timeout_s:.0f}s")

    try:
        while not _all_joined(admin, group, workers):
            alive()
            time.sleep(0.25)
        joined = time.perf_counter()
        cpu0 = [cpu_seconds(p.pid) for p in procs]
        load()
        ends = end_offsets(settings)
        total = sum(ends.values())
        first = None  # (time, events committed)
        while True:
            alive()
            try:
                offsets = admin.list_group_offsets({group: None}).get(group, {})
            except Exception:
                offsets = {}
            done = sum(min(o.offset, ends[tp]) for tp, o in offsets.items() if tp in ends)
            now = time.perf_counter()
            if done > 0 and first is None:
                first = (now, done)
            if done >= total:
                return MonitorRun(events=total - first[1], seconds=now - first[0],
                                  startup_s=joined - started, total_s=now - joined,
                                  peak_rss_mib=[peak_rss_mib(p.pid) for p in procs],
                                  cpu_s=[cpu_seconds(p.pid) - c for p, c in zip(procs, cpu0)],
                                  all_events=total)
            time.sleep(0.25)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        admin.close()


# ---------------------------------------------------------------- in process


def in_process(stream: Stream, settings: Settings) -> tuple[int, float]:
    """``(events, CPU seconds)`` of ``ModelMonitor.process`` over the decoded stream, per model in batches.

    Each model's predictions and labels are merged by event time, as they
    arrive, and processed ``batch_size`` at a time with the worker's runtime
    settings. Decoding is not counted (the raw rows show its cost).
    """
    from driftline.consumers.monitor import ModelMonitor, MonitorConfig
    from driftline.consumers.worker.loop import _tune_runtime

    by_model: dict[str, list] = {m: [] for m in stream.models}
    for key, value in stream.records["predictions"]:
        by_model[key.decode()].append(decode_prediction(value))
    for key, value in stream.records["feedback"]:
        by_model[key.decode()].append(decode_feedback(value))
    for events in by_model.values():
        events.sort(key=lambda ev: ev.ts)  # stable: a prediction before a label of the same ms
    config = MonitorConfig.from_settings(settings)
    size = settings.batch_size
    _tune_runtime()
    cpu = 0.0
    events = 0
    for model, evs in by_model.items():
        monitor = ModelMonitor(model, config)
        for i in range(0, len(evs), size):
            batch = evs[i:i + size]
            now = time.time_ns() // 1_000_000
            t = time.process_time()
            monitor.process(batch, now)
            cpu += time.process_time() - t
            events += len(batch)
    return events, cpu
