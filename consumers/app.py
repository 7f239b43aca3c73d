"""``driftline monitor``: create the topics, then run a monitor worker until stopped."""

from __future__ import annotations

from driftline.settings import Settings


def run_monitor(settings: Settings) -> None:
    """Run a monitor worker until SIGINT/SIGTERM (see :mod:`driftline.consumers.worker.loop`)."""
    from driftline.consumers.worker.loop import run
    from driftline.kafka_admin import ensure_topics

    ensure_topics(settings)
    run(settings)
