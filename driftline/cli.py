"""The ``driftline`` command.

Every subcommand has ``--help``. Mistakes in arguments or ``DRIFTLINE_*``
variables end in one line on stderr and exit code 2; failures of a running
command (no broker, a broker that will not start) in one line and exit code 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from driftline import __version__
from driftline.exceptions import DriftlineError, SettingsError
from driftline.redact import redact_logs, scrub
from driftline.settings import GATE_METRICS, Settings


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage block
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _events(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def _port(text: str) -> int:
    value = _positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number up to 65535, got {value}")
    return value


def _port_or_any(text: str) -> int:
    if text.strip() == "0":
        return 0
    return _port(text)


def _float_in(low: float, high: float, wanted: str):
    """An argparse type for a number in [low, high], with ``wanted`` in its messages."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {value}")
        return value

    return parse


_fraction = _float_in(0.0, 1.0, "a number between 0 and 1")
_non_negative = _float_in(0.0, float("inf"), "a number >= 0")


def _trainer_spec(text: str) -> str:
    if text == "default":
        return ""
    from driftline.retrainer.exceptions import TrainerLoadError
    from driftline.retrainer.learners.trainers import load_trainer

    try:
        load_trainer(text)
    except TrainerLoadError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _param(text: str) -> tuple[str, object]:
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw  # plain text, e.g. --param kind=tree
    return key.strip(), value


def _gate_metric(text: str) -> str:
    if text == "default":
        return ""
    if text.lower() not in GATE_METRICS:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(GATE_METRICS)}, got {text!r}")
    return text.lower()


def _drifts(text: str):
    from driftline.producers.streams import parse_drifts

    try:
        return parse_drifts(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _bound(text: str):
    from driftline.replay.bounds import parse_bound

    try:
        return parse_bound(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _suite(text: str) -> str:
    from driftline.detectors.entries import parse_detectors

    try:
        parse_detectors(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _detectors(text: str) -> tuple[str, ...]:
    from driftline.replay.command import detector_names

    names = tuple(n.strip() for n in text.split(",") if n.strip())
    known = detector_names()
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown detector {', '.join(map(repr, unknown or [text]))}; "
                                         f"expected names among {', '.join(known)}")
    return names


def _replay_options(sub) -> None:
    r = sub.add_parser(
        "replay", help="run the monitor over a model's retained log with another configuration",
        description="Replay a model's retained predictions and feedback through the monitor, in "
                    "process, with the configuration given here (the rest from DRIFTLINE_* "
                    "settings), and write DIR/report.html (charts of accuracy, drift statistics "
                    "and thresholds, the alerts it would have raised and those the live monitor "
                    "raised) and DIR/summary.json. Reads with a consumer in no group: commits "
                    "nothing, writes no topic.",
        epilog="BOUND is an offset N of the predictions partition the model's key maps to (the "
               "default partitioner's), @MS for epoch milliseconds, or an ISO-8601 time such as "
               "2026-12-07T16:00:00Z (UTC without a zone). Times select records by their Kafka "
               "timestamp on both topics; an offset becomes the time of its record for the "
               "feedback.")
    r.add_argument("model_id", metavar="MODEL_ID")
    r.add_argument("--out", required=True, metavar="DIR", help="directory for report.html and summary.json")
    r.add_argument("--from", dest="start", type=_bound, metavar="BOUND",
                   help="start here (default: the oldest retained record)")
    r.add_argument("--to", dest="end", type=_bound, metavar="BOUND",
                   help="stop before here (default: the end when the replay starts)")
    r.add_argument("--rate", type=_float_in(1e-12, 0.01, "a false-alarm rate between 1e-12 and 0.01"),
                   default=None, metavar="R",
                   help="target false alarms per prediction event (default: DRIFTLINE_FALSE_ALARM_RATE)")
    r.add_argument("--window", type=_positive_int, default=None, metavar="N",
                   help="rows per tested window (default: the monitor's, 500)")
    r.add_argument("--reference", choices=["registry", "warm-up"], default="registry",
                   help="each version's reference: the profile it was registered with, as the "
                        "live monitor uses, or its first --reference-size predictions "
                        "(default: %(default)s)")
    r.add_argument("--reference-size", type=_positive_int, default=None, metavar="N",
                   help="rows in a warm-up reference (default: DRIFTLINE_REFERENCE_SIZE)")
    r.add_argument("--detectors", type=_detectors, default=None, metavar="NAME,...",
                   help="report only these detectors' alerts and statistics (all of them run, "
                        "sharing the false-alarm budget as live)")
    r.add_argument("--suite", type=_suite, default=None, metavar="CHANGES",
                   help="the detectors to run, as DRIFTLINE_DETECTORS gives them and in its place: "
                        "-name leaves one out, name=share sets its share "
                        "(write --suite=-mmd for a value that starts with -)")
    r.add_argument("--batch-size", type=_positive_int, default=None, metavar="N",
                   help="events per call of the monitor (default: DRIFTLINE_BATCH_SIZE)")
    r.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def _stream_options(p: argparse.ArgumentParser, events: int, drifts: str) -> None:
    p.add_argument("--model-id", default=None, help="model id to publish under (default: demo-<random>)")
    p.add_argument("--stream", choices=["sea", "agrawal"], default="agrawal",
                   help="synthetic stream (default: %(default)s)")
    p.add_argument("--events", type=_positive_int, default=events,
                   help="number of predictions (default: %(default)s)")
    p.add_argument("--drift", type=_drifts, default=drifts, metavar="AT[:WIDTH],...",
                   help="drift points: event index, with a width for gradual drift "
                        "(default: %(default)s)")
    p.add_argument("--rate", type=_non_negative, default=1000.0,
                   help="predictions per second, 0 for as fast as possible (default: %(default)s)")
    p.add_argument("--feedback-delay-ms", type=int, default=2000,
                   help="event time between a prediction and its label (default: %(default)s)")
    p.add_argument("--feedback-fraction", type=_fraction, default=0.8,
                   help="share of predictions that ever get a label (default: %(default)s)")
    p.add_argument("--seed", type=int, default=7, help="random seed (default: %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="driftline", description="Keeps machine-learning models honest in "
                     "production: drift and accuracy monitoring on Kafka, alerts, retraining.")
    parser.add_argument("--version", action="version", version=f"driftline {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    b = sub.add_parser("broker", help="run a local Kafka broker (KRaft, loopback, Maven Central jars)",
                       description="Start, stop or inspect a single-node Apache Kafka broker "
                                   "on 127.0.0.1. Data lives under $DRIFTLINE_HOME/kafka.")
    b.add_argument("action", choices=["start", "stop", "status"])
    b.add_argument("--port", type=_port, default=9092, help="client port (default: %(default)s)")
    b.add_argument("--listener", choices=["plaintext", "ssl", "sasl_ssl"], default=None,
                   help="the client listener's protocol (default: sasl_ssl or ssl if "
                        "DRIFTLINE_KAFKA_SECURITY_PROTOCOL says so, else plaintext); sasl_ssl creates "
                        "the SCRAM user DRIFTLINE_KAFKA_SASL_USERNAME with DRIFTLINE_KAFKA_SASL_PASSWORD")

    sub.add_parser("monitor", help="run a monitor worker",
                   description="Consume predictions and feedback, publish labeled examples, "
                               "metrics, alerts and retrain requests. Runs until interrupted.")
    sub.add_parser("retrainer", help="run a retraining worker",
                   description="Consume retrain requests, train and gate a challenger, register "
                               "it and publish the new model version. Runs until interrupted.")

    sub.add_parser("notify", help="deliver alerts to Alertmanager, a webhook and Slack",
                   description="Read the alerts topic and deliver each alert to the receivers "
                               "configured by DRIFTLINE_NOTIFY_* settings, with retries, a rate "
                               "limit and dedup; offsets are committed after delivery. Runs until "
                               "interrupted.")

    u = sub.add_parser("ui", help="serve the dashboard: models, versions, lineage, alerts, live charts",
                       description="Serve a read-only page with the models and their serving "
                                   "versions, each version's lineage, the alerts timeline and live "
                                   "charts of accuracy, label coverage and drift statistics. Reads "
                                   "the metrics, alerts and model-versions topics (no consumer "
                                   "group, no commits) and the registry. Beyond loopback it needs "
                                   "DRIFTLINE_UI_TOKEN. Runs until interrupted.")
    u.add_argument("--host", default=None, help="address to listen on (default: $DRIFTLINE_UI_HOST, "
                                                "127.0.0.1)")
    u.add_argument("--port", type=_port_or_any, default=None,
                   help="port to listen on, 0 for any free one (default: $DRIFTLINE_UI_PORT, 8765)")

    s = sub.add_parser("simulate", help="run the simulated service",
                       description="Predict with the current champion on a drifting synthetic "
                                   "stream and publish predictions and late, partial feedback.")
    _stream_options(s, events=40_000, drifts="20000")

    d = sub.add_parser("demo", help="run the whole loop end to end and print a summary",
                       description="Start the broker if none answers, a monitor, a retrainer and "
                                   "the simulated service on a stream with an abrupt concept "
                                   "drift; show progress; summarise; clean up. Exits 1 if the "
                                   "loop did not close.")
    _stream_options(d, events=40_000, drifts="20000")
    d.add_argument("--port", type=_port, default=9092,
                   help="port for the local broker if one has to be started (default: %(default)s)")

    a = sub.add_parser("alerts", help="follow the alerts topic",
                       description="Print alerts as they arrive, readable for a person, or one "
                                   "JSON object per line with --json.")
    a.add_argument("--json", action="store_true", help="one JSON object per line")
    a.add_argument("--from-beginning", action="store_true", help="start at the oldest alert")
    a.add_argument("--model-id", default=None, help="only this model")
    a.add_argument("--max", type=_positive_int, default=None, help="stop after this many alerts")
    a.add_argument("--timeout", type=_non_negative, default=None,
                   help="stop after this many seconds without an alert")

    _replay_options(sub)

    m = sub.add_parser("models", help="registered models and their versions; register, promote, roll back",
                       description="Read and change the model registry ($DRIFTLINE_REGISTRY_URL). "
                                   "'promote' and 'rollback' publish the new champion on the "
                                   "model-versions topic so services swap. Without an action: list.")
    m.add_argument("--json", action="store_true", help="JSON instead of a table")
    ms = m.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    # SUPPRESS: an action's own --json must not reset one given before the action.
    as_json = dict(action="store_true", default=argparse.SUPPRESS,
                   help="JSON: one object per line for list and history, one document otherwise")
    ml = ms.add_parser("list", help="one line per model: task, trainer, champion, last run")
    ml.add_argument("--json", **as_json)
    mshow = ms.add_parser("show", help="a model's registration, and its champion with lineage")
    mshow.add_argument("model_id", metavar="MODEL")
    mshow.add_argument("--json", **as_json)
    mh = ms.add_parser("history", help="every version and retrain run of a model, oldest first")
    mh.add_argument("model_id", metavar="MODEL")
    mh.add_argument("--json", **as_json)
    mr = ms.add_parser("register", help="create or update a model's registration",
                       description="Create or update how a model is retrained. Options left out "
                                   "keep their current value (new models: classification, the "
                                   "worker's default trainer, $DRIFTLINE_GATE_METRIC and "
                                   "$DRIFTLINE_GATE_MARGIN).")
    mr.add_argument("model_id", metavar="MODEL")
    mr.add_argument("--task", choices=["classification", "regression"])
    mr.add_argument("--trainer", type=_trainer_spec, metavar="PACKAGE.MODULE:FUNCTION",
                    help="the trainer; it must import here. 'default' for the worker's default")
    mr.add_argument("--param", type=_param, action="append", metavar="KEY=VALUE",
                    help="a trainer parameter (VALUE read as JSON if it is, else as text); "
                         "repeat for more; replaces all parameters")
    mr.add_argument("--clear-params", action="store_true", help="remove all trainer parameters")
    mr.add_argument("--gate-metric", type=_gate_metric, metavar="NAME",
                    help=f"the metric the gate compares: {', '.join(GATE_METRICS)}; 'default' for "
                         f"the worker's $DRIFTLINE_GATE_METRIC")
    mr.add_argument("--gate-margin", type=_non_negative, metavar="X",
                    help="what a challenger must gain over the champion")
    mr.add_argument("--shadow-events", type=_events, metavar="N",
                    help="score a challenger that passed the gate next to the champion on N live "
                         "labeled events before promoting it; 0: promote at once (default: "
                         "$DRIFTLINE_SHADOW_EVENTS)")
    mr.add_argument("--json", **as_json)
    mp = ms.add_parser("promote", help="make a version the champion and publish it")
    mp.add_argument("model_id", metavar="MODEL")
    mp.add_argument("version", metavar="VERSION")
    mb = ms.add_parser("rollback", help="restore the previous champion and publish it")
    mb.add_argument("model_id", metavar="MODEL")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(warn=lambda m: print(f"driftline: warning: {m}", file=sys.stderr))
    except SettingsError as exc:
        print(f"driftline: error: {exc}", file=sys.stderr)
        return 2
    # Every log record of this process, any library's at any level, and every error line below.
    redact_logs(settings.secret_values())
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # kafka-python warns whenever one poll of its event loop takes over 100 ms,
    # which a busy 2-core machine does often; it says nothing an operator can act on.
    logging.getLogger("kafka.net.selector").setLevel(logging.ERROR)
    try:
        return _dispatch(args, settings)
    except SettingsError as exc:
        print(f"driftline {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except DriftlineError as exc:
        print(scrub(f"driftline {args.command}: error: {exc}"), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from driftline import commands

    return getattr(commands, f"cmd_{args.command}")(args, settings)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
