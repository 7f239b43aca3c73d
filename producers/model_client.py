"""The model a service serves, swapped live when a new champion is published.

The client starts from the registry's champion. With ``follow=True`` it also
reads ``model-versions`` (see :mod:`driftline.producers.version_feed`) and
swaps in every new champion of its model. The swap is one reference
assignment of a ``(model, version)`` pair: a prediction that already holds the
old pair finishes on the old model, the next one uses the new model, none is
dropped, and a prediction is never reported under the wrong version.

A record on ``model-versions`` is only a hint to look in the registry: anyone
who may write to the topic can write one. The client then asks the registry
for the model's champion and loads *its* artifact, at the location and with
the sha256 the registry recorded, through a store that also checks the
artifact's signature (:mod:`driftline.retrainer.persistence.artifact_reader`);
the record's own ``artifact_uri`` and ``sha256`` are never used.
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
        ``artifact_uri`` and ``sha256``, or ``None``; asked on every
        announcement.
    store
        Has ``load(uri, sha256, model_id=...)`` returning a model with
        ``predict_one(x)``; it raises when the artifact's hash is not
        ``sha256`` or its signature does not hold.
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
    ...     def load(self, uri, sha256, model_id=None): return Threshold(int(uri.split("/")[-1]))
    >>> class Record:
    ...     version, artifact_uri, sha256 = "1", "mem://50", "ab"
    >>> class Registry:
    ...     champions = {}
    ...     def champion(self, model_id): return self.champions.get(model_id)
    >>> registry = Registry()
    >>> client = ModelClient("fraud", registry=registry, store=Store(), follow=False)
    >>> client.predict({"amount": 80})
    (0, '0')

    A record naming a version the registry does not have as champion changes nothing:

    >>> announced = ModelVersion(model_id="fraud", version="1", status="champion",
    ...     parent_version=None, request_id=None, artifact_uri="mem://999", sha256="cd",
    ...     metrics={}, ts=0)
    >>> client.apply(announced), client.version
    (False, '0')

    Once the registry has it, the client loads the registry's artifact, not the record's:

    >>> registry.champions["fraud"] = Record()
    >>> client.apply(announced)
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
        self._registry = registry
        self._store = store
        self._owned: list[Any] = []  # what from_settings opened, closed with the client
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

    @classmethod
    def from_settings(cls, model_id: str, settings: Settings, **options: Any) -> ModelClient:
        """A client on the registry and artifact store the settings name (read side only).

        The registry is opened here and closed with the client. ``options``
        go to the constructor (``follow``, ``fallback``, ``client_id``).
        """
        from driftline.retrainer.persistence.artifact_reader import ArtifactReader
        from driftline.retrainer.persistence.registry_reader import RegistryReader

        store = ArtifactReader.from_settings(settings)
        registry = RegistryReader(settings.resolved_registry_url)
        try:
            client = cls(model_id, registry=registry, store=store, settings=settings, **options)
        except BaseException:
            registry.close()
            raise
        client._owned.append(registry)
        return client

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
        """Look in the registry after a record about this model; swap to its champion if new. True if swapped.

        Only the record's ``model_id`` is read: which version serves, and
        which artifact, is the registry's answer.
        """
        if event.model_id != self.model_id:
            return False
        with self._load_lock:
            try:
                record = self._registry.champion(self.model_id)
            except Exception as exc:  # the registry is down: keep serving, the next record asks again
                log.error("model %s: the registry could not be asked after an announcement of version %s, "
                          "still serving version %s: %s", self.model_id, event.version,
                          self._served.version, exc)
                return False
            if event.status == "champion" and (record is None or str(record.version) != str(event.version)):
                log.warning("model %s: model-versions announced version %s as champion, the registry's "
                            "champion is %s; serving the registry's", self.model_id, event.version,
                            "none" if record is None else record.version)
            if record is None or str(record.version) == self._served.version:
                return False
            version = str(record.version)
            model = self._load(version, record.artifact_uri, record.sha256)
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
                raise ValueError("the registry records no artifact_uri or sha256 for it")
            return self._store.load(uri, sha256, model_id=self.model_id)
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
        while self._owned:
            self._owned.pop().close()

    def __enter__(self) -> ModelClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None,
    ) -> None:
        self.close()
