"""The model a service serves, swapped live when a new champion is published.

The client starts from the registry's champion. With ``follow=True`` it also
reads ``model-versions`` (see :mod:`driftline.producers.version_feed`) and
swaps in every new champion of its model. The swap is one reference
assignment of a ``(model, version)`` pair: a prediction that already holds the
old pair finishes on the old model, the next one uses the new model, none is
dropped, and a prediction is never reported under the wrong version.
"""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType
from typing import Any, NamedTuple, Protocol

from driftline.contract import ModelVersion
from driftline.producers.version_feed import VersionFeed
from driftline.settings import Settings

log = logging.getLogger(__name__)

FALLBACK_VERSION = "0"


class Model(Protocol):
    def predict_one(self, x: dict) -> Any: ...


class Registry(Protocol):
    """What the client needs of ``driftline.retrainer.persistence.registry.Registry``."""

    def champion(self, model_id: str) -> Any: ...  # a VersionRecord or None


class Store(Protocol):
    """What the client needs of ``driftline.retrainer.persistence.artifacts.ArtifactStore``."""

    def load(self, uri: str, sha256: str) -> Model: ...  # raises on a hash mismatch


class _Served(NamedTuple):
    model: Model | None
    version: str


class ModelClient:
    """Serves the current champion of ``model_id`` and follows new ones.

    Parameters
    ----------
    model_id
        The model this service serves.
    registry
        Has ``champion(model_id)`` returning a record with ``version``,
        ``artifact_uri`` and ``sha256``, or ``None``.
    store
        Has ``load(uri, sha256)`` returning a model with ``predict_one(x)``; it
        raises when the artifact's hash is not ``sha256``.
    settings
        Needed with ``follow=True``: where Kafka is, and the topic prefix.
    follow
        Swap in new champions published on ``model-versions``.
    fallback
        The prediction while there is no champion (version ``"0"``), and
        whenever the model has no answer (returns ``None``).

    Examples
    --------
    >>> class Threshold:
    ...     def __init__(self, t): self.t = t
    ...     def predict_one(self, x): return int(x["amount"] > self.t)
    >>> class Store:
    ...     def load(self, uri, sha256): return Threshold(int(uri.split("/")[-1]))
    >>> class Registry:
    ...     def champion(self, model_id): return None
    >>> client = ModelClient("fraud", registry=Registry(), store=Store(), follow=False)
    >>> client.predict({"amount": 80})
    (0, '0')
    >>> client.apply(ModelVersion(model_id="fraud", version="1", status="champion",
    ...     parent_version=None, request_id=None, artifact_uri="mem://50", sha256="ab",
    ...     metrics={}, ts=0))
    True
    >>> client.predict({"amount": 80}), client.version, len(client.swaps)
    ((1, '1'), '1', 1)
    """

    def __init__(
        self,
        model_id: str,
        *,
        registry: Registry,
        store: Store,
        settings: Settings | None = None,
        follow: bool = True,
        fallback: Any = 0,
        client_id: str = "driftline-model-client",
    ):
        if follow and settings is None:
            raise ValueError("follow=True needs settings (the Kafka bootstrap and topic prefix)")
        self.model_id = model_id
        self.fallback = fallback
        self._store = store
        self._served = _Served(None, FALLBACK_VERSION)
        self._swaps: list[tuple[str, float]] = []
        self._load_errors: list[tuple[str, str]] = []
        # Held while loading so two announcements cannot race; predict() never takes it.
        self._load_lock = threading.Lock()
        self._changed = threading.Condition()
        self._feed: VersionFeed | None = None

        record = registry.champion(model_id)
        if record is not None:
            model = self._load(str(record.version), record.artifact_uri, record.sha256)
            if model is not None:
                self._served = _Served(model, str(record.version))
        if follow:
            self._feed = VersionFeed(settings, model_id, self.apply, client_id=client_id)

    # ------------------------------------------------------------ serving

    def predict(self, features: dict) -> tuple[Any, str]:
        """``(prediction, version)`` from the model being served right now."""
        served = self._served  # one read: the model and its version always match
        if served.model is None:
            return self.fallback, served.version
        y = served.model.predict_one(features)
        if y is None:
            return self.fallback, served.version
        # numpy scalars are not JSON; their Python twins are.
        return (y.item() if hasattr(y, "item") and not isinstance(y, (str, bytes)) else y), served.version

    @property
    def version(self) -> str:
        return self._served.version

    @property
    def model(self) -> Model | None:
        return self._served.model

    @property
    def swaps(self) -> list[tuple[str, float]]:
        """``(version, time.monotonic())`` of every live swap; the starting model is not one."""
        return list(self._swaps)

    @property
    def load_errors(self) -> list[tuple[str, str]]:
        """``(version, reason)`` of every announced version that could not be loaded."""
        return list(self._load_errors)

    # ------------------------------------------------------------ swapping

    def apply(self, event: ModelVersion) -> bool:
        """Swap to ``event``'s model if it is a new champion of this model; True if swapped."""
        if event.model_id != self.model_id or event.status != "champion":
            return False
        version = str(event.version)
        with self._load_lock:
            if version == self._served.version:
                return False
            model = self._load(version, event.artifact_uri, event.sha256)
            if model is None:
                return False
            old = self._served.version
            self._served = _Served(model, version)
            self._swaps.append((version, time.monotonic()))
        log.info("model %s: now serving version %s (was %s)", self.model_id, version, old)
        with self._changed:
            self._changed.notify_all()
        return True

    def _load(self, version: str, uri: str | None, sha256: str | None) -> Model | None:
        try:
            if not uri or not sha256:
                raise ValueError("the announcement has no artifact_uri or sha256")
            return self._store.load(uri, sha256)
        except Exception as exc:
            # A bad artifact must not take the service down: keep serving what we have.
            reason = f"{type(exc).__name__}: {exc}"
            self._load_errors.append((version, reason))
            log.error(
                "model %s: version %s not loaded, still serving version %s: %s",
                self.model_id, version, self._served.version, reason,
            )
            return None

    def wait_for_version(self, version: str, timeout: float) -> bool:
        """Block until ``version`` is served or ``timeout`` seconds pass; True if it is served."""
        with self._changed:
            return self._changed.wait_for(lambda: self._served.version == str(version), timeout)

    # ------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Stop following ``model-versions``. Safe to call twice."""
        if self._feed is not None:
            self._feed.close()
            self._feed = None

    def __enter__(self) -> ModelClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None,
    ) -> None:
        self.close()
