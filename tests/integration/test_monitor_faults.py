"""``kill -9`` of monitor workers mid-stream, on the real broker, under both guarantees.

Each test runs ``python -m driftline monitor`` as processes on a stream of
predictions and late feedback for models spread over 4 partitions: one
worker killed at three points of a preloaded stream and restarted each time,
or one of two workers killed while the stream arrives. Kills are SIGKILL
while the workers process and commit; the outputs are read back at the end
with ``read_committed``:

- every feedback that matches a prediction is in ``labeled``, nothing else is;
- the last metrics record of each model counts every prediction and every
  labeled example, and a model's counters never go backwards;
- with ``exactly_once`` no labeled example is there twice; with
  ``at_least_once`` the only copies are of the outputs a killed worker had
  in flight: those of its last commit interval, which it wrote before its
  state and offsets.

Every record the worker writes in one commit interval carries the same Kafka
timestamp (the time of that interval's write), which is how the tests tell
the interval in flight at a kill from those before it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.partitioner.default import murmur2

from driftline.contract import Topics, decode_labeled, decode_metrics, dumps
from driftline.kafka_admin import ensure_topics
from driftline.processes import settings_env
from driftline.settings import Settings
from tests.integration.kafka_io import group_offsets, produce_to, read_to_end, wait_committed

pytestmark = [pytest.mark.broker, pytest.mark.slow]

GUARANTEES = ["at_least_once", "exactly_once"]
PARTITIONS = 4
CHUNK_EVERY_S = 0.1  # a live stream sends one chunk this often
LABEL_LAG = 3  # most labels arrive this many chunks after their prediction: they wait in the state


def _settings(kafka_bootstrap: str, home: Path, guarantee: str) -> Settings:
    return Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
                    home=str(home), partitions=PARTITIONS, processing_guarantee=guarantee,
                    commit_interval_ms=100, batch_size=50, metrics_every=1, reference_size=200,
                    log_level="INFO")


def models_on_partitions(per_partition: int, tag: str) -> list[str]:
    """Model ids whose events go to each partition, ``per_partition`` of each (Kafka's partitioner)."""
    found: dict[int, list[str]] = defaultdict(list)
    i = 0
    while any(len(found[p]) < per_partition for p in range(PARTITIONS)):
        model = f"{tag}-m{i}"
        p = (murmur2(model.encode()) & 0x7FFFFFFF) % PARTITIONS
        if len(found[p]) < per_partition:
            found[p].append(model)
        i += 1
    return [m for p in range(PARTITIONS) for m in found[p]]


@dataclasses.dataclass
class Stream:
    """Chunks of (topic, key, value), and what a monitor must make of them."""

    chunks: list[list[tuple[str, bytes, bytes]]]
    predictions: dict[str, int]  # model -> predictions sent
    matched: set[str]  # prediction ids whose feedback was sent

    @classmethod
    def build(cls, t: Topics, models: list[str], n_chunks: int, per_chunk: int) -> Stream:
        base = int(time.time() * 1000)
        chunks: list[list[tuple[str, bytes, bytes]]] = [[] for _ in range(n_chunks + LABEL_LAG)]
        predictions: dict[str, int] = {}
        matched: set[str] = set()
        for m in models:
            key = m.encode()
            for c in range(n_chunks):
                for i in range(c * per_chunk, (c + 1) * per_chunk):
                    ts = base + 10 * i
                    pid = f"{m}-p{i}"
                    chunks[c].append((t.predictions, key, dumps(
                        {"event_id": pid, "model_id": m, "model_version": "1", "ts": ts,
                         "features": {"x": float(i % 7), "y": float((i * 3) % 5)},
                         "prediction": i % 2})))
                    if i % 10 == 9:  # never labeled
                        continue
                    # Some labels come with their prediction (or before it), most some chunks later.
                    lag = 0 if i % 10 == 3 else LABEL_LAG
                    chunks[c + lag].append((t.feedback, key, dumps(
                        {"event_id": f"{m}-f{i}", "prediction_id": pid, "model_id": m,
                         "ts": ts + 5, "label": (i // 2) % 2})))
                    matched.add(pid)
                if c % 10 == 0:  # feedback whose prediction never comes
                    chunks[c].append((t.feedback, key, dumps(
                        {"event_id": f"{m}-orphan{c}", "prediction_id": f"{m}-none{c}",
                         "model_id": m, "ts": base + 10 * c * per_chunk, "label": 1})))
            predictions[m] = n_chunks * per_chunk
        return cls(chunks, predictions, matched)


class Feeder(threading.Thread):
    """Sends the chunks one every ``every_s`` until :attr:`gate` is set, then the rest at once."""

    def __init__(self, bootstrap: str, chunks: list, every_s: float) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.chunks, self.every_s = bootstrap, chunks, every_s
        self.gate = threading.Event()
        self.stop = threading.Event()
        self.sent = 0  # chunks sent and acknowledged
        self.error: BaseException | None = None

    def run(self) -> None:
        producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5)
        try:
            due = time.monotonic()
            for c, chunk in enumerate(self.chunks):
                if self.stop.is_set():
                    return
                for topic, key, value in chunk:
                    producer.send(topic, key=key, value=value)
                producer.flush()
                self.sent = c + 1
                if not self.gate.is_set():
                    due += self.every_s
                    self.gate.wait(timeout=max(0.0, due - time.monotonic()))
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            producer.close()


class Workers:
    """Monitor worker processes of one settings; every one still running is killed on exit."""

    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self.env = settings_env(settings)
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        self.procs: list[subprocess.Popen] = []

    def start(self) -> subprocess.Popen:
        log = self.log_dir / f"monitor-{len(self.procs)}.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", "driftline", "monitor"], env=self.env,
                                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        proc.log = log  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    @staticmethod
    def tail(proc: subprocess.Popen) -> str:
        return proc.log.read_text(errors="replace")[-3000:]  # type: ignore[attr-defined]

    def kill(self, proc: subprocess.Popen) -> int:
        """SIGKILL ``proc``; the time of the kill in ms (every record it wrote is older)."""
        assert proc.poll() is None, f"the worker exited on its own:\n{self.tail(proc)}"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return _now_ms()

    def stop(self, proc: subprocess.Popen) -> None:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, self.tail(proc)

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


class Progress:
    """What the monitor's group has committed of the input topics."""

    def __init__(self, settings: Settings) -> None:
        t = Topics(settings.topic_prefix)
        self.bootstrap = settings.kafka_bootstrap
        self.group = f"{settings.topic_prefix}monitor"
        self.inputs = [t.predictions, t.feedback]
        self.labeled = t.labeled
        self.admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        self.consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                                      enable_auto_commit=False)

    def offsets(self) -> dict:
        return group_offsets(self.admin, self.group, self.inputs)

    def total(self) -> int:
        return sum(self.offsets().values())

    def wait_beyond(self, committed: int, proc: subprocess.Popen, timeout_s: float = 120.0) -> int:
        """Wait until more than ``committed`` input records are committed; the new count."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"the worker exited:\n{Workers.tail(proc)}"
            now = self.total()
            if now > committed:
                return now
            time.sleep(0.02)
        raise AssertionError(f"no progress past {committed} committed inputs in {timeout_s:.0f} s:\n"
                             f"{Workers.tail(proc)}")

    def wait_outputs_ahead(self, proc: subprocess.Popen, timeout_s: float = 30.0) -> bool:
        """Wait until labeled examples were written after the last commit, and no commit since.

        That is a worker between the first and the last step of a commit: outputs
        written, offsets not committed yet. False if none was seen within ``timeout_s``.
        """
        parts = [TopicPartition(self.labeled, p) for p in range(PARTITIONS)]
        written = lambda: sum(self.consumer.end_offsets(parts).values())  # noqa: E731
        committed = self.total()
        base = written()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"the worker exited:\n{Workers.tail(proc)}"
            ahead = written() > base
            now = self.total()  # read after the outputs: no commit yet if unchanged
            if now != committed:
                committed, base = now, written()
            elif ahead:
                return True
        return False

    def wait_all(self, proc: subprocess.Popen, timeout_s: float = 120.0) -> None:
        for topic in self.inputs:
            assert wait_committed(self.bootstrap, self.group, topic, timeout_s=timeout_s,
                                  give_up=lambda: proc.poll() is not None), \
                f"{topic} not committed to its end:\n{Workers.tail(proc)}"

    def close(self) -> None:
        self.admin.close()
        self.consumer.close()


@contextlib.contextmanager
def progress_of(settings: Settings) -> Iterator[Progress]:
    progress = Progress(settings)
    try:
        yield progress
    finally:
        progress.close()


@contextlib.contextmanager
def feeding(feeder: Feeder) -> Iterator[Feeder]:
    feeder.start()
    try:
        yield feeder
    finally:
        feeder.gate.set()
        feeder.stop.set()
        feeder.join(timeout=60)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def send_tail(s: Settings, models: list[str], stream: Stream) -> None:
    """One more prediction per model, after everything else: its metrics record counts it all."""
    t = Topics(s.topic_prefix)
    produce_to(s.kafka_bootstrap, [(t.predictions, m.encode(), dumps(
        {"event_id": f"{m}-tail", "model_id": m, "model_version": "1", "ts": int(time.time() * 1000),
         "features": {"x": 1.0, "y": 1.0}, "prediction": 0})) for m in models])
    for m in models:
        stream.predictions[m] += 1


@dataclasses.dataclass
class Outputs:
    labeled: list  # (record, Labeled)
    metrics: list  # (record, Metrics)

    @classmethod
    def read(cls, s: Settings) -> Outputs:
        t = Topics(s.topic_prefix)
        labeled = read_to_end(s.kafka_bootstrap, t.labeled, read_committed=True, timeout_s=120)
        metrics = read_to_end(s.kafka_bootstrap, t.metrics, read_committed=True, timeout_s=120)
        return cls([(r, decode_labeled(r.value)) for r in labeled],
                   [(r, decode_metrics(r.value)) for r in metrics])

    def in_flight(self, runs: list[tuple[int, int]]) -> set[int]:
        """The Kafka timestamp of the last interval each killed run wrote (labeled or metrics)."""
        last: set[int] = set()
        for start, end in runs:
            stamps = [r.timestamp for r, _ in self.labeled + self.metrics if start <= r.timestamp <= end]
            if stamps:
                last.add(max(stamps))
        return last

    def metrics_by_model(self) -> dict[str, list]:
        """Each model's metrics records in the order written (one partition per model)."""
        by_model: dict[str, list] = defaultdict(list)
        for r, m in sorted(self.metrics, key=lambda rm: (rm[0].partition, rm[0].offset)):
            by_model[m.model_id].append((r, m))
        return by_model


def read_none_lost(s, stream: Stream) -> tuple[Outputs, float, Counter, set]:
    """The outputs, the seconds reading them took, each labeled id's copies and those written twice.

    Asserts that labeled holds every matched prediction and nothing else.
    """
    stopped = time.monotonic()
    out = Outputs.read(s)
    read_s = time.monotonic() - stopped  # includes waiting for the transactions of the killed to end
    copies = Counter(ev.event_id for _, ev in out.labeled)
    assert set(copies) == stream.matched, (
        f"lost {len(stream.matched - set(copies))}, unexpected {len(set(copies) - stream.matched)}")
    return out, read_s, copies, {pid for pid, n in copies.items() if n > 1}


def check_repeats_in_flight(out: Outputs, stream: Stream, twice: set, in_flight: set[int]) -> None:
    """Every labeled example written twice has its earlier copies in an interval a kill had in flight."""
    stamps = defaultdict(list)
    for r, ev in out.labeled:
        stamps[ev.event_id].append(r.timestamp)
    wrong = {pid: st for pid, st in stamps.items()
             if pid in twice and not set(sorted(st)[:-1]) <= in_flight}
    assert not wrong, f"{len(wrong)} labeled examples repeated from a completed interval"
    check_counts(out, stream, skip_stamps=in_flight)


def check_counts(out: Outputs, stream: Stream, skip_stamps: set[int]) -> None:
    """The last metrics record of each model counts everything; no counter goes backwards.

    Records whose timestamp is in ``skip_stamps`` (an interval written twice) are not compared.
    """
    by_model = out.metrics_by_model()
    labeled_of = Counter(pid.rsplit("-p", 1)[0] for pid in stream.matched)
    assert set(by_model) == set(stream.predictions)
    for model, records in by_model.items():
        last = records[-1][1]
        assert (last.n_predictions, last.n_labeled, last.n_expired, last.n_invalid) == \
            (stream.predictions[model], labeled_of[model], 0, 0), model
        seen = [(m.n_predictions, m.n_labeled) for r, m in records if r.timestamp not in skip_stamps]
        backwards = [(a, b) for a, b in zip(seen, seen[1:]) if b[0] < a[0] or b[1] < a[1]]
        assert not backwards, (model, backwards[:5])


@pytest.mark.parametrize("guarantee", GUARANTEES)
def test_kill_9_at_three_points_loses_nothing_and_counts_stay_exact(kafka_bootstrap, tmp_path, guarantee):
    s = _settings(kafka_bootstrap, tmp_path / "home", guarantee)
    ensure_topics(s)
    t = Topics(s.topic_prefix)
    models = models_on_partitions(1, "kill")
    stream = Stream.build(t, models, n_chunks=400, per_chunk=8)
    # The last chunks are sent after the last kill, so that no kill comes after the end.
    preload, rest = stream.chunks[:-40], stream.chunks[-40:]
    produce_to(kafka_bootstrap, [m for chunk in preload for m in chunk])
    total = sum(len(c) for c in stream.chunks)
    runs: list[tuple[int, int]] = []  # (start, kill) of each killed worker, in ms
    at_kill: list[int] = []  # inputs committed when it was killed
    restart_s: list[float] = []  # from the start (or the kill before) to its first commit
    in_commit: list[bool] = []  # whether a kill was seen to come between outputs and commit
    with Workers(s, tmp_path / "logs") as workers, progress_of(s) as progress:
        # The first kill comes wherever the worker is once it has passed 10% of the stream;
        # the others as soon as it has written outputs it has not committed yet.
        for share, mid_commit in ((0.1, False), (0.35, True), (0.6, True)):
            start = _now_ms()
            proc = workers.start()
            committed = progress.wait_beyond(at_kill[-1] if at_kill else 0, proc)
            restart_s.append((_now_ms() - (runs[-1][1] if runs else start)) / 1000)
            while committed < share * total:
                committed = progress.wait_beyond(committed, proc)
            in_commit.append(mid_commit and progress.wait_outputs_ahead(proc))
            runs.append((start, workers.kill(proc)))
            at_kill.append(progress.total())
        produce_to(kafka_bootstrap, [m for chunk in rest for m in chunk])
        proc = workers.start()
        progress.wait_all(proc)
        send_tail(s, models, stream)
        progress.wait_all(proc)
        workers.stop(proc)
    # Each kill came after its worker had committed some of the stream, and before all of it.
    assert 0 < at_kill[0] < at_kill[1] < at_kill[2] < total, (at_kill, total)

    out, read_s, copies, twice = read_none_lost(s, stream)
    if guarantee == "exactly_once":
        assert not twice, f"{len(twice)} labeled examples written more than once"
        check_counts(out, stream, skip_stamps=set())
    else:
        # A copy comes only from the interval a killed worker had in flight.
        in_flight = out.in_flight(runs)
        check_repeats_in_flight(out, stream, twice, in_flight)
    print(f"\n{guarantee}: committed at the kills {at_kill} of {total} (between outputs and "
          f"commit: {in_commit}); "
          f"labeled {len(out.labeled)} records, {len(twice)} written twice; "
          f"{sum(copies.values()) - len(copies)} extra copies; "
          f"a commit {', '.join(f'{x:.1f}' for x in restart_s)} s after the start or kill; "
          f"outputs read in {read_s:.1f} s, {(_now_ms() - runs[-1][1]) / 1000:.1f} s after the last kill")


def wait_members(s: Settings, n: int, procs: list[subprocess.Popen], timeout_s: float = 120.0) -> None:
    """Wait until the monitor's group is stable with ``n`` members."""
    admin = KafkaAdminClient(bootstrap_servers=s.kafka_bootstrap)
    group = f"{s.topic_prefix}monitor"
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for proc in procs:
                assert proc.poll() is None, f"a worker exited:\n{Workers.tail(proc)}"
            try:
                info = admin.describe_groups([group]).get(group, {})
            except Exception:  # no coordinator yet
                info = {}
            if info.get("group_state") == "Stable" and len(info.get("members") or ()) == n:
                return
            time.sleep(0.2)
        raise AssertionError(f"the group {group} never had {n} stable members")
    finally:
        admin.close()


@pytest.mark.parametrize("guarantee", GUARANTEES)
def test_one_of_two_workers_killed_the_other_takes_its_partitions_over(kafka_bootstrap, tmp_path,
                                                                      guarantee):
    s = _settings(kafka_bootstrap, tmp_path / "home", guarantee)
    ensure_topics(s)
    t = Topics(s.topic_prefix)
    models = models_on_partitions(2, "pair")
    stream = Stream.build(t, models, n_chunks=300, per_chunk=4)
    total = sum(len(c) for c in stream.chunks)
    with Workers(s, tmp_path / "logs") as workers, progress_of(s) as progress:
        doomed, survivor = workers.start(), workers.start()
        wait_members(s, 2, workers.procs)
        with feeding(Feeder(kafka_bootstrap, stream.chunks, CHUNK_EVERY_S)) as feeder:
            # Both workers commit on their partitions, past their models' warm-up (reference_size).
            parts = {tp.partition for tp in progress.offsets() if tp.topic == t.predictions}
            deadline = time.monotonic() + 60
            while parts != set(range(PARTITIONS)) or progress.total() < 0.3 * total:
                assert time.monotonic() < deadline, progress.offsets()
                time.sleep(0.05)
                parts = {tp.partition for tp in progress.offsets() if tp.topic == t.predictions}
            before = {tp: off for tp, off in progress.offsets().items() if tp.topic == t.predictions}
            killed_at = workers.kill(doomed)
            assert feeder.sent < len(feeder.chunks), "the stream ended before the kill"
            # The time each input partition's committed offset moves again.
            moved: dict[int, float] = {}
            while len(moved) < PARTITIONS:
                assert time.monotonic() < deadline + 60, (moved, progress.offsets())
                assert survivor.poll() is None, Workers.tail(survivor)
                offsets = progress.offsets()
                for tp, off in offsets.items():
                    if tp in before and off > before[tp] and tp.partition not in moved:
                        moved[tp.partition] = (_now_ms() - killed_at) / 1000
                time.sleep(0.05)
            at_kill = sum(before.values())
            time.sleep(1.0)  # the survivor runs both shares on the live stream, then gets the rest
            feeder.gate.set()
            feeder.join(timeout=120)
            assert feeder.error is None and feeder.sent == len(feeder.chunks), feeder.error
        progress.wait_all(survivor)
        send_tail(s, models, stream)
        progress.wait_all(survivor)
        workers.stop(survivor)
    # The killed worker's partitions are those idle until the takeover: after the largest gap.
    order = sorted(moved, key=moved.get)
    gap = max(range(1, PARTITIONS), key=lambda i: moved[order[i]] - moved[order[i - 1]])
    taken = set(order[gap:])
    assert len(taken) == PARTITIONS // 2, moved  # the range assignor gave each worker two

    out, read_s, copies, twice = read_none_lost(s, stream)
    finals = {model: records[-1][1] for model, records in out.metrics_by_model().items()}
    # Every prediction is counted once, whichever worker counted it.
    assert sum(m.n_predictions for m in finals.values()) == sum(stream.predictions.values())
    if guarantee == "exactly_once":
        assert not twice, f"{len(twice)} labeled examples written more than once"
        check_counts(out, stream, skip_stamps=set())
    else:
        # Copies only of the killed worker's models, from the interval it had in flight.
        dead_records = [(r, ev) for r, ev in out.labeled + out.metrics
                        if r.partition in taken and r.timestamp <= killed_at]
        in_flight = {max(r.timestamp for r, _ in dead_records)} if dead_records else set()
        check_repeats_in_flight(out, stream, twice, in_flight)
    print(f"\n{guarantee}: {at_kill} predictions committed at the kill, "
          f"of {sum(stream.predictions.values())}; "
          f"partitions {sorted(taken)} moved again {max(moved.values()):.1f} s after the kill "
          f"(the others {min(moved.values()):.1f} s); labeled {len(out.labeled)} records, "
          f"{len(twice)} written twice; outputs read in {read_s:.1f} s, "
          f"{(_now_ms() - killed_at) / 1000:.1f} s after the kill")
