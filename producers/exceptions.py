"""Errors raised by ``driftline.producers``; all subclass :class:`~driftline.exceptions.DriftlineError`."""

from driftline.exceptions import DriftlineError


class PublishError(DriftlineError):
    """Events could not be handed to Kafka or were not acknowledged by it."""


class BufferFull(PublishError):
    """The publisher's buffer stayed full for longer than it may block."""


class EventTooLarge(PublishError, ValueError):
    """An encoded event is over ``Settings.max_message_bytes``; consumers would reject it."""
