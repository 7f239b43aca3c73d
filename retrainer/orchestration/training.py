"""Run a trainer in a child process, so that it can be stopped.

A Python thread cannot be stopped from outside, and a trainer is arbitrary
code: it may loop forever, hold the GIL in native code, or exhaust memory.
So :func:`run_trainer` runs it in a child process that can be killed at the
time limit (``DRIFTLINE_TRAIN_TIMEOUT_S``), when the worker is asked to stop,
or when the worker itself dies; its memory goes back to the system with it.

The children come from multiprocessing's *forkserver*: a clean,
single-threaded process that has imported pandas, river and the default
trainer once, and forks a child per training in milliseconds. Plain ``fork``
would copy the worker's Kafka client threads and database connections in
whatever state they are; ``spawn`` is as safe but imports everything again,
about a second per training.

The child loads the trainer by its spec, calls it, turns the result into a
model (:func:`~driftline.retrainer.learners.adapters.as_model`) and sends it back
pickled, which also proves it can be stored. It ignores SIGINT (the worker
decides what a Ctrl-C means) and ends itself when its parent dies: it holds
the read end of a pipe whose only write end the parent holds, and a thread
that waits on it sees the end of the pipe when the parent is gone, however it
died. (A parent-death signal would not do: the child's parent is the fork
server, which lives as long as its children.)

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({"x": [float(i % 10) for i in range(200)], "ts": range(200)})
>>> df["label"] = df["x"] >= 5
>>> model = run_trainer("driftline.retrainer.learners.trainers:river_default", df, ["x"], timeout_s=120)
>>> model.predict_one({"x": 9.0})
True
>>> run_trainer("math:floor", df, ["x"], timeout_s=120)
Traceback (most recent call last):
...
driftline.retrainer.exceptions.TrainingFailed: the trainer math:floor raised TypeError: math.floor() takes no keyword arguments
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import threading
import time
from typing import Any

import pandas as pd

from driftline.retrainer.exceptions import TrainingFailed, TrainingInterrupted, TrainingTimeout

# Imported once by the fork server, so each training starts warm.
_PRELOAD = ["driftline.retrainer.learners.trainers", "driftline.retrainer.learners.adapters"]
# How often the parent looks at the stop event while a trainer runs.
_STEP_S = 0.5


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _end_with_parent(lifeline: Any) -> None:
    try:
        lifeline.recv_bytes()  # the parent never writes: this returns only at the end of the pipe
    except (EOFError, OSError):
        pass
    os._exit(1)


def _child(conn: Any, lifeline: Any, spec: str, params: dict, df: pd.DataFrame,
           features: list[str], label: str) -> None:
    threading.Thread(target=_end_with_parent, args=(lifeline,), daemon=True).start()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from driftline.retrainer.learners.adapters import as_model
    from driftline.retrainer.learners.trainers import load_trainer

    try:
        trainer = load_trainer(spec)
        try:
            result = trainer(df, features, label=label, **params)
        except Exception as exc:
            raise TrainingFailed(f"the trainer {spec} raised {_describe(exc)}") from None
        try:
            model = as_model(result, df, features, label)
        except Exception as exc:
            raise TrainingFailed(f"the trainer {spec} returned no usable model: {_describe(exc)}") from None
        try:
            payload = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise TrainingFailed(f"the model of trainer {spec} cannot be pickled: {_describe(exc)}") from None
        conn.send(("ok", payload))
    except TrainingFailed as exc:
        conn.send(("failed", str(exc)))
    except BaseException as exc:  # e.g. a TrainerLoadError, MemoryError: say so, then exit
        conn.send(("failed", f"the trainer {spec} failed: {_describe(exc)}"))
    finally:
        conn.close()


def _context() -> Any:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)
    return ctx


def start_fork_server() -> None:
    """Start the fork server now rather than at the first training.

    It imports pandas, river and the trainers before it forks anything: about
    a second on an idle machine, several on a busy one, which a worker would
    otherwise add to the first retrain after it starts.
    """
    from multiprocessing import forkserver

    _context()
    forkserver.ensure_running()


def run_trainer(
    spec: str, df: pd.DataFrame, features: list[str], label: str = "label", *,
    params: dict | None = None, timeout_s: float | None = 600.0,
    stop: threading.Event | None = None,
) -> Any:
    """Train with the trainer named by ``spec`` in a child process and return the model.

    ``timeout_s`` of ``None`` or 0 sets no limit. Raises
    :class:`TrainingFailed` (the trainer raised, returned no model, or died),
    :class:`TrainingTimeout` (it was killed at the limit) or
    :class:`TrainingInterrupted` (``stop`` was set; it was killed).
    """
    ctx = _context()
    receiver, sender = ctx.Pipe(duplex=False)
    lifeline, lifeline_end = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, name=f"driftline-trainer {spec}",
                       args=(sender, lifeline, spec, dict(params or {}), df, list(features), label))
    try:
        proc.start()
        sender.close()
        lifeline.close()
        deadline = time.monotonic() + timeout_s if timeout_s else None
        while not receiver.poll(_STEP_S):
            if stop is not None and stop.is_set():
                raise TrainingInterrupted(f"stopped while the trainer {spec} was running")
            if deadline is not None and time.monotonic() >= deadline:
                raise TrainingTimeout(f"the trainer {spec} did not finish within {timeout_s:g} s "
                                      f"(DRIFTLINE_TRAIN_TIMEOUT_S) and was stopped")
        try:
            kind, payload = receiver.recv()
        except EOFError:
            proc.join(timeout=5)
            raise TrainingFailed(f"the trainer {spec} died without an answer "
                                 f"(exit code {proc.exitcode})") from None
    finally:
        receiver.close()
        sender.close()
        lifeline.close()
        lifeline_end.close()
        if proc.is_alive():
            proc.kill()
        if proc.pid is not None:
            proc.join()
            proc.close()
    if kind != "ok":
        raise TrainingFailed(payload)
    try:
        return pickle.loads(payload)
    except Exception as exc:
        raise TrainingFailed(f"the model of trainer {spec} cannot be loaded here: {_describe(exc)}") from None
