"""Settings for a notify worker on the shared broker, topics made."""

from __future__ import annotations

import pytest

from driftline.kafka_admin import ensure_topics


@pytest.fixture
def notify_settings(settings_factory):
    def make(**kw):
        s = settings_factory(notify_give_up_s=60.0, notify_rate_per_minute=6000.0, **kw)
        ensure_topics(s)
        return s
    return make
