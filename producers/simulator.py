"""A simulated service: predicts on a synthetic stream, publishes predictions and late feedback.

Event time is simulated, not read from the clock: event ``i`` has
``ts = start_ts + i * 1000 / rate`` milliseconds, so a seed gives the same
stream of features, labels, event times and feedback choices at any speed.
Event ids are fresh on every run, so two runs never look like duplicates to
the monitor.

Feedback for event ``i`` carries the true label and the event time
``ts_i + feedback_delay_ms``; it is published as soon as the simulated clock
has reached that time, never earlier. Feedback not yet due when a run ends is
not sent by that run (a later :meth:`Simulator.run` on the same simulator
sends it when its time comes), like labels that arrive after the service
stopped watching.
"""

from __future__ import annotations

import heapq
import random
import threading
import time
from array import array
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

import numpy as np

from driftline.contract import Event, Feedback, Prediction, new_id
from driftline.producers.events import now_ms
from driftline.producers.report import ROLLING_WINDOW, SimReport, SimStats
from driftline.settings import Settings

__all__ = ["SimReport", "SimStats", "Simulator"]


class Predicts(Protocol):
    def predict(self, features: dict) -> tuple[Any, str]: ...


class Publishes(Protocol):
    def publish(self, event: Event) -> Any: ...

    def flush(self, timeout: float | None = None) -> None: ...


class Simulator:
    """Runs ``stream`` through ``client`` and publishes what a real service would.

    Parameters
    ----------
    settings
        The application's settings (the publisher already holds the topics).
    model_id
        The model the predictions are published for.
    stream
        ``(features, label)`` pairs, e.g. from :func:`~driftline.producers.streams.make_stream`.
    client
        Answers ``predict(features) -> (prediction, version)``: a
        :class:`~driftline.producers.model_client.ModelClient`.
    publisher
        Has ``publish(event)`` and ``flush()``: an
        :class:`~driftline.producers.publisher.EventPublisher`.
    rate
        Events per second of wall time; 0 runs as fast as possible. Event time
        advances at this rate too (1000 per second when ``rate`` is 0).
    feedback_delay_ms
        Event time between a prediction and its feedback.
    feedback_fraction
        Share of predictions that ever get feedback, chosen at random.
    seed
        Seeds the feedback choices.
    start_ts
        Event time of the first event in epoch ms; default: the wall clock at construction.

    Examples
    --------
    >>> from driftline.producers.streams import make_stream
    >>> class Rule:  # the concept before the drift
    ...     def predict(self, x): return int(x["x0"] + x["x1"] > 7), "1"
    >>> class Collect:
    ...     def __init__(self): self.events = []
    ...     def publish(self, event): self.events.append(event)
    ...     def flush(self, timeout=None): pass
    >>> out = Collect()
    >>> sim = Simulator(Settings(), model_id="sea", stream=make_stream("sea", drifts=[], seed=3),
    ...                 client=Rule(), publisher=out, rate=0, feedback_delay_ms=100,
    ...                 feedback_fraction=0.5, seed=3, start_ts=0)
    >>> report = sim.run(1000)
    >>> report.n_events, report.accuracy(), report.n_feedback, report.pending_feedback
    (1000, 1.0, 456, 53)
    >>> [type(e).__name__ for e in out.events[:3]], out.events[-1].ts
    (['Prediction', 'Prediction', 'Prediction'], 999)
    """

    def __init__(
        self,
        settings: Settings,
        *,
        model_id: str,
        stream: Iterable[tuple[dict, Any]],
        client: Predicts,
        publisher: Publishes,
        rate: float = 1000.0,
        feedback_delay_ms: int = 2000,
        feedback_fraction: float = 0.8,
        seed: int = 0,
        start_ts: int | None = None,
    ):
        if not rate >= 0:
            raise ValueError(f"rate must be >= 0 events per second, got {rate!r}")
        if feedback_delay_ms < 0:
            raise ValueError(f"feedback_delay_ms must be >= 0, got {feedback_delay_ms!r}")
        if not 0.0 <= feedback_fraction <= 1.0:
            raise ValueError(f"feedback_fraction must be in [0, 1], got {feedback_fraction!r}")
        client_model = getattr(client, "model_id", model_id)
        if client_model != model_id:
            raise ValueError(f"the client serves model {client_model!r}, not {model_id!r}")
        self.settings = settings
        self.model_id = model_id
        self.rate = float(rate)
        self.feedback_delay_ms = feedback_delay_ms
        self.feedback_fraction = feedback_fraction
        self.start_ts = now_ms() if start_ts is None else start_ts
        self._stream: Iterator[tuple[dict, Any]] = iter(stream)
        self._client = client
        self._publisher = publisher
        self._rng = random.Random(seed)
        self._ms_per_event = 1000.0 / (self.rate or 1000.0)
        self._index = 0  # events produced so far, over all runs
        self._due: list[tuple[int, int, Feedback]] = []  # (ts, index, feedback) heap

    def event_ts(self, index: int) -> int:
        """Simulated event time of event ``index`` (counted over all runs)."""
        return self.start_ts + int(index * self._ms_per_event)

    @property
    def pending_feedback(self) -> int:
        return len(self._due)

    def run(
        self,
        n_events: int,
        stop: threading.Event | None = None,
        on_progress: Callable[[SimStats], None] | None = None,
        progress_every: int = 1000,
    ) -> SimReport:
        """Serve up to ``n_events`` events (fewer if ``stop`` is set or the stream ends)."""
        codes = array("i")
        correct = bytearray()
        names: dict[str, int] = {}
        n_feedback = 0
        started = time.monotonic()
        version = ""
        for k in range(n_events):
            if stop is not None and stop.is_set():
                break
            if self.rate > 0:
                self._throttle(started, k, stop)
            try:
                features, label = next(self._stream)
            except StopIteration:
                break
            ts = self.event_ts(self._index)
            prediction, version = self._client.predict(features)
            event = Prediction(
                event_id=new_id(), model_id=self.model_id, model_version=version,
                ts=ts, features=features, prediction=prediction,
            )
            self._publisher.publish(event)
            if self._rng.random() < self.feedback_fraction:
                due = ts + self.feedback_delay_ms
                feedback = Feedback(
                    event_id=new_id(), prediction_id=event.event_id, model_id=self.model_id,
                    ts=due, label=label,
                )
                heapq.heappush(self._due, (due, self._index, feedback))
            n_feedback += self._send_due(ts)
            codes.append(names.setdefault(version, len(names)))
            correct.append(1 if prediction == label else 0)
            self._index += 1
            if on_progress is not None and (k + 1) % progress_every == 0:
                on_progress(self._stats(correct, version, n_feedback, started))
        self._publisher.flush()
        return SimReport(
            version_codes=np.frombuffer(codes, dtype=np.int32).copy() if codes else np.zeros(0, np.int32),
            version_names=tuple(names),
            correct=np.frombuffer(bytes(correct), dtype=np.uint8),
            n_feedback=n_feedback,
            pending_feedback=len(self._due),
            elapsed_s=time.monotonic() - started,
        )

    def _send_due(self, now: int) -> int:
        sent = 0
        while self._due and self._due[0][0] <= now:
            self._publisher.publish(heapq.heappop(self._due)[2])
            sent += 1
        return sent

    def _throttle(self, started: float, k: int, stop: threading.Event | None) -> None:
        ahead = started + k / self.rate - time.monotonic()
        # Sleeping for less than a millisecond costs more than it keeps the pace.
        if ahead > 0.001:
            if stop is None:
                time.sleep(ahead)
            else:
                stop.wait(ahead)

    @staticmethod
    def _stats(correct: bytearray, version: str, n_feedback: int, started: float) -> SimStats:
        recent = correct[-ROLLING_WINDOW:]
        elapsed = time.monotonic() - started
        return SimStats(
            events=len(correct),
            accuracy=sum(recent) / len(recent) if recent else None,
            version=version,
            n_feedback=n_feedback,
            elapsed_s=elapsed,
            rate=len(correct) / elapsed if elapsed > 0 else float("inf"),
        )
