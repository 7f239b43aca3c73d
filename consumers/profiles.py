"""The reference profile each model version was registered with, for the monitor.

The monitor asks once per version, when that version's first prediction
arrives; by then the retrainer has registered it, because services only swap
to a version after it is published. A registry that cannot be reached, or a
version registered without a profile, gives None and the monitor warms up on
live traffic instead: monitoring goes on either way.
"""

from __future__ import annotations

import logging

from driftline.detectors.profile import ReferenceProfile
from driftline.retrainer.persistence.registry_reader import RegistryReader

log = logging.getLogger(__name__)


class RegistryProfiles:
    """``(model_id, version) -> ReferenceProfile | None``, read from the registry.

    The registry is opened on first use and kept open. Answers are cached,
    missing ones included, so a version is looked up once per worker; a
    failure is not cached, so the next version change tries again.

    Examples
    --------
    >>> registry = RegistryReader("sqlite://")
    >>> profiles = RegistryProfiles(registry=registry)
    >>> profiles("fraud", "1") is None
    True
    >>> registry.close()
    """

    def __init__(self, url: str | None = None, registry: RegistryReader | None = None) -> None:
        if (url is None) == (registry is None):
            raise ValueError("give either a registry URL or a RegistryReader")
        self._url = url
        self._registry = registry
        self._cache: dict[tuple[str, str], ReferenceProfile | None] = {}

    def __call__(self, model_id: str, version: str) -> ReferenceProfile | None:
        key = (model_id, version)
        if key in self._cache:
            return self._cache[key]
        try:
            if self._registry is None:
                self._registry = RegistryReader(self._url)
            record = self._registry.get(model_id, version)
            stored = None if record is None else record.reference
            profile = None if not stored else ReferenceProfile.from_dict(stored)
        except Exception as exc:  # monitoring must go on without it, whatever went wrong
            log.warning("no reference profile for %s v%s, warming up on live traffic instead: %r",
                        model_id, version, exc)
            return None
        self._cache[key] = profile
        return profile

    def close(self) -> None:
        if self._registry is not None and self._url is not None:
            self._registry.close()
