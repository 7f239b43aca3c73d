"""What a service imports: the event publisher, the model client, and the traffic simulator.

>>> from driftline.producers import make_stream, Drift
>>> stream = make_stream("sea", drifts=[Drift(at=1000)], seed=7, n=3)
>>> [sorted(x) for x, y in stream][0]
['channel', 'x0', 'x1', 'x2']
"""

from driftline.producers.drifts import Drift, Shift, parse_drifts
from driftline.producers.events import feedback_event, predict_event
from driftline.producers.model_client import ModelClient
from driftline.producers.publisher import EventPublisher
from driftline.producers.report import SimReport, SimStats
from driftline.producers.simulator import Simulator
from driftline.producers.streams import make_stream

__all__ = [
    "Drift",
    "EventPublisher",
    "ModelClient",
    "Shift",
    "SimReport",
    "SimStats",
    "Simulator",
    "feedback_event",
    "make_stream",
    "parse_drifts",
    "predict_event",
]
