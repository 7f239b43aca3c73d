"""The model registry: registered models, every version of each and why it exists, and retrain runs.

A *registration* says how a model is retrained (task, trainer and its
parameters, gate metric and margin). A *version* records its parent (the
champion it was measured against), the retrain request and alerts behind it,
the data window it was trained on, the trainer and parameters, the holdout
figures of challenger and champion, the gate's reason, the monitor's
reference profile and its artifact. A *run* records each retrain request a
worker handled: who, when, how often it was attempted, and what came of it.

SQLite by default, any SQLAlchemy URL (PostgreSQL in production). Opening a
registry migrates its database to the newest schema
(:mod:`~driftline.retrainer.persistence.migrate`).

Examples
--------
>>> registry = Registry("sqlite://")
>>> registry.register_model("fraud", trainer_params={"passes": 3}, gate_metric="f1").gate_metric
'f1'
>>> common = dict(parent_version=None, alert_ids=["a1"], window={}, metrics={},
...               artifact_uri=None, sha256=None, reason="r", trainer="t", features=["x"])
>>> v1 = registry.register("fraud", status="champion", request_id="q1", **common)
>>> v2 = registry.register("fraud", status="champion", request_id="q2",
...                        **{**common, "parent_version": "1", "reference": {"x": [0, 1]}})
>>> [(v.version, v.status, v.status_reason) for v in registry.versions("fraud")]
[('1', 'archived', 'replaced by v2'), ('2', 'champion', None)]
>>> registry.register("fraud", status="rejected", request_id="q2", **common).version
'2'
>>> registry.champion("fraud").reference
{'x': [0, 1]}
>>> [v.version for v in registry.lineage("fraud", "2")]
['2', '1']
>>> registry.close()
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from driftline.retrainer.exceptions import RegistryError
from driftline.retrainer.persistence.records import ModelRecord, RunRecord, VersionRecord
from driftline.retrainer.persistence.registry_reader import RegistryReader, _now_ms
from driftline.retrainer.persistence.schema import (
    DEFAULT_TASK,
    STATUSES,
    TASKS,
    ExternalRow,
    ModelRow,
    RunRow,
    VersionRow,
)
from driftline.settings import GATE_METRICS

__all__ = ["Registry", "RegistryReader", "VersionRecord", "ModelRecord", "RunRecord", "STATUSES", "TASKS"]

# What register() accepts; "archived" and "demoted" are only reached by being replaced.
# A "shadow" passed the gate and is scored on live traffic before it is promoted or rejected.
REGISTER_STATUSES = ("champion", "rejected", "shadow")
_IN_SHADOW = "in shadow: scored next to the champion on live labeled events before promotion"
# A lost race for a version number is retried; more than a handful means something else is wrong.
_MAX_ATTEMPTS = 8
# What a service reports while it has no champion (driftline.producers.model_client): no model at all.
NO_MODEL_VERSION = "0"
_MAX_NUMBER = 2**31 - 1  # the version number column is a 32-bit integer


class Registry(RegistryReader):
    """The registry with its writes: registrations, versions, promotions, rollbacks, shadow runs, runs.

    Parameters
    ----------
    url
        Any SQLAlchemy URL. For a SQLite file, its parent directories are created.
    """

    def register_model(
        self, model_id: str, *, task: str | None = None, trainer: str | None = None,
        trainer_params: dict | None = None, gate_metric: str | None = None,
        gate_margin: float | None = None, shadow_events: int | None = None,
    ) -> ModelRecord:
        """Create or update the registration of ``model_id``; ``None`` keeps the current value.

        New registrations default to a classification task, the worker's
        default trainer, no trainer parameters, and the worker's gate metric
        and margin (``DRIFTLINE_GATE_METRIC``, ``DRIFTLINE_GATE_MARGIN``) and
        shadow run (``DRIFTLINE_SHADOW_EVENTS``; ``shadow_events=0``: none);
        ``trainer=""`` and ``gate_metric=""`` go back to the worker's. The
        trainer spec is stored as given: the CLI checks that it imports.
        """
        if not model_id:
            raise RegistryError("a model needs a non-empty model_id")
        if task is not None and task not in TASKS:
            raise RegistryError(f"task must be one of {TASKS}, got {task!r}")
        if gate_metric and gate_metric not in GATE_METRICS:
            raise RegistryError(f"gate metric must be one of {GATE_METRICS}, got {gate_metric!r}")
        if gate_margin is not None and not gate_margin >= 0:
            raise RegistryError(f"gate margin must be a number >= 0, got {gate_margin!r}")
        if shadow_events is not None and (isinstance(shadow_events, bool)
                                          or not isinstance(shadow_events, int) or shadow_events < 0):
            raise RegistryError(f"shadow events must be an integer >= 0, got {shadow_events!r}")
        if trainer_params is not None and not isinstance(trainer_params, dict):
            raise RegistryError(f"trainer parameters must be a dict, got {type(trainer_params).__name__}")
        now = _now_ms()
        for _ in range(_MAX_ATTEMPTS):
            try:
                with self._session() as s, s.begin():
                    row = s.get(ModelRow, model_id)
                    if row is None:
                        row = ModelRow(model_id=model_id, task=DEFAULT_TASK, trainer=None,
                                       trainer_params={}, gate_metric=None,
                                       gate_margin=None, created_at=now, updated_at=now)
                        s.add(row)
                    if task is not None:
                        row.task = task
                    if trainer is not None:
                        row.trainer = trainer or None
                    if trainer_params is not None:
                        row.trainer_params = dict(trainer_params)
                    if gate_metric is not None:
                        row.gate_metric = gate_metric or None
                    if gate_margin is not None:
                        row.gate_margin = float(gate_margin)
                    if shadow_events is not None:
                        row.shadow_events = shadow_events
                    row.updated_at = now
                    s.flush()
                    return ModelRecord._of(row)
            except IntegrityError:
                continue  # registered by another writer at the same moment: update that one
        raise RegistryError(f"could not register {model_id!r} after {_MAX_ATTEMPTS} attempts")

    def register(
        self, model_id: str, *, status: str, parent_version: str | None,
        request_id: str | None, alert_ids: list[str], window: dict, metrics: dict,
        artifact_uri: str | None, sha256: str | None, reason: str, trainer: str,
        features: list[str], trainer_params: dict | None = None, reference: dict | None = None,
    ) -> VersionRecord:
        """Store a new version under the next number and return it.

        A champion archives the previous champion in the same transaction. If
        ``request_id`` is already registered for ``model_id``, nothing is
        written and the existing record is returned: a request yields one
        version, however many workers handle it. A retrain run of that
        request, if one was started, is finished in the same transaction, so
        a version never exists without its run being closed. ``reference`` is
        stored untouched.
        """
        if status not in REGISTER_STATUSES:
            raise RegistryError(f"status must be one of {REGISTER_STATUSES}, got {status!r}")
        fields = dict(
            model_id=model_id, status=status, parent_version=parent_version,
            request_id=request_id, alert_ids=list(alert_ids), window=dict(window),
            metrics=dict(metrics), artifact_uri=artifact_uri, sha256=sha256, reason=reason,
            trainer=trainer, features=list(features), trainer_params=dict(trainer_params or {}),
            reference=reference,
        )
        for _ in range(_MAX_ATTEMPTS):
            if request_id is not None:
                existing = self.find_by_request(model_id, request_id)
                if existing is not None:
                    return existing
            try:
                return self._insert(fields)
            except IntegrityError:
                # Another writer took this version number or this request
                # first; look again (the loop returns its record if it was ours).
                continue
        raise RegistryError(f"could not allocate a version for {model_id!r} "
                            f"after {_MAX_ATTEMPTS} attempts")

    def _insert(self, fields: dict[str, Any]) -> VersionRecord:
        now = _now_ms()
        with self._session() as s, s.begin():
            model_id = fields["model_id"]
            last = s.scalar(select(func.max(VersionRow.version_num))
                            .where(VersionRow.model_id == model_id))
            taken = self._note_reported(s, model_id, fields["window"], fields["request_id"], now)
            num = max([last or 0, *taken]) + 1
            if fields["status"] == "champion":
                s.execute(update(VersionRow)
                          .where(VersionRow.model_id == model_id, VersionRow.status == "champion")
                          .values(status="archived", status_reason=f"replaced by v{num}",
                                  status_changed_at=now))
            row = VersionRow(version_num=num, created_at=now, **fields)
            if fields["status"] == "shadow":
                row.status_reason, row.status_changed_at = _IN_SHADOW, now
            s.add(row)
            s.flush()
            if fields["request_id"] is not None:
                self._close_run(s, model_id, fields["request_id"], "finished", fields["reason"],
                                str(num), now)
            return VersionRecord._of(row)

    @staticmethod
    def _note_reported(s: Session, model_id: str, window: dict, request_id: str | None,
                       now: int) -> list[int]:
        """Record the versions the window's events report that driftline did not make.

        Returns every number such a version's name takes, so the next version
        of driftline's own is numbered past all of them. The names are those
        of ``window["model_versions"]`` (version -> labeled events), which
        :func:`~driftline.retrainer.data.window.read_window` counts;
        ``"0"``, what a service without a champion reports, is no version.
        """
        reported = {str(k): int(v) for k, v in (window.get("model_versions") or {}).items()
                    if str(k) != NO_MODEL_VERSION}
        ours = {str(n) for n in s.scalars(select(VersionRow.version_num).where(VersionRow.model_id == model_id))}
        rows = {row.version: row for row in s.scalars(select(ExternalRow).where(ExternalRow.model_id == model_id))}
        for name, n in reported.items():
            if name in ours:
                continue
            row = rows.get(name)
            if row is None:
                row = rows[name] = ExternalRow(model_id=model_id, version=name, first_seen_at=now,
                                               last_seen_at=now, n_labeled=0, request_id=request_id)
                s.add(row)
            row.last_seen_at, row.n_labeled = now, row.n_labeled + n
        s.flush()
        # A number past any driftline could reach (a timestamp as a version) cannot collide.
        return [int(name) for name in rows if name.isascii() and name.isdigit() and int(name) < _MAX_NUMBER]

    def promote(self, model_id: str, version: str, reason: str = "promoted by hand") -> VersionRecord:
        """Make ``version`` the champion by hand; the current champion is archived."""
        target = self.get(model_id, version)
        if target is None:
            raise RegistryError(f"no version {version!r} of model {model_id!r}")
        if target.artifact_uri is None or target.sha256 is None:
            raise RegistryError(f"version {version} of {model_id!r} has no artifact "
                                f"(it was {target.status}: {target.reason})")
        now, num = _now_ms(), int(version)
        with self._session() as s, s.begin():
            s.execute(update(VersionRow)
                      .where(VersionRow.model_id == model_id, VersionRow.status == "champion",
                             VersionRow.version_num != num)
                      .values(status="archived", status_changed_at=now,
                              status_reason=f"replaced by hand: v{num} is champion ({reason})"))
            s.execute(update(VersionRow)
                      .where(VersionRow.model_id == model_id, VersionRow.version_num == num)
                      .values(status="champion", status_reason=reason, status_changed_at=now))
        return self.get(model_id, version)

    def rollback(self, model_id: str, reason: str | None = None, *, from_version: str | None = None,
                 request_id: str | None = None) -> VersionRecord | None:
        """Demote the champion and restore the newest earlier version that was champion.

        A demoted version is never restored. With ``from_version``, only if
        that version is still the champion; otherwise nothing changes and
        None is returned (rolled back already, or overtaken by another
        champion), so a request that is delivered twice rolls back once. With
        ``request_id``, the retrain run of that request is closed in the same
        transaction: with the restored version, or with why nothing changed.
        """
        now = _now_ms()
        with self._session() as s, s.begin():
            current = s.scalars(select(VersionRow).where(VersionRow.model_id == model_id,
                                                         VersionRow.status == "champion")).first()
            if current is None:
                raise RegistryError(f"model {model_id!r} has no champion to roll back")
            if from_version is not None and str(current.version_num) != str(from_version):
                if request_id is not None:
                    self._close_run(s, model_id, request_id, "finished",
                                    f"nothing to roll back: v{from_version} is not the champion "
                                    f"(v{current.version_num} is)", None, now)
                return None
            earlier = s.scalars(select(VersionRow).where(
                VersionRow.model_id == model_id, VersionRow.status == "archived",
                VersionRow.version_num < current.version_num, VersionRow.artifact_uri.is_not(None),
                VersionRow.sha256.is_not(None)).order_by(VersionRow.version_num.desc())).first()
            if earlier is None:
                raise RegistryError(f"model {model_id!r} has no earlier champion to go back to")
            num, reason = earlier.version_num, reason or f"rolled back from v{current.version_num}"
            # Demoted first: at most one champion at any moment (uq_driftline_one_champion).
            s.execute(update(VersionRow).where(VersionRow.id == current.id)
                      .values(status="demoted", status_changed_at=now,
                              status_reason=f"demoted: v{num} is champion again ({reason})"))
            s.execute(update(VersionRow).where(VersionRow.id == earlier.id)
                      .values(status="champion", status_reason=reason, status_changed_at=now))
            if request_id is not None:
                self._close_run(s, model_id, request_id, "finished", reason, str(num), now)
        return self.get(model_id, str(num))

    def conclude_shadow(self, model_id: str, version: str, *, promote: bool, reason: str,
                        figures: dict, request_id: str | None = None) -> VersionRecord:
        """Promote a version in shadow (the champion is archived) or reject it, with the figures.

        The figures go into the version's metrics under ``"shadow"``, the
        reason into its status reason and the outcome of ``request_id``'s
        run. A rejected version keeps no artifact, like every rejected one
        (the caller removes the file). A version no longer in shadow is
        returned as it is: concluded before, by a worker that then died.
        """
        now = _now_ms()
        with self._session() as s, s.begin():
            row = s.scalars(select(VersionRow).where(VersionRow.model_id == model_id,
                                                     VersionRow.version_num == int(version))).first()
            if row is None:
                raise RegistryError(f"no version {version!r} of model {model_id!r}")
            if row.status == "shadow":
                values: dict[str, Any] = {"status": "champion"}
                if promote:
                    s.execute(update(VersionRow)
                              .where(VersionRow.model_id == model_id, VersionRow.status == "champion")
                              .values(status="archived", status_changed_at=now,
                                      status_reason=f"replaced by v{version} after its shadow run"))
                else:
                    values = {"status": "rejected", "artifact_uri": None, "sha256": None}
                s.execute(update(VersionRow).where(VersionRow.id == row.id)
                          .values(metrics={**row.metrics, "shadow": dict(figures)},
                                  status_reason=reason, status_changed_at=now, **values))
                if request_id is not None:
                    s.execute(update(RunRow).where(RunRow.model_id == model_id,
                                                   RunRow.request_id == request_id)
                              .values(outcome=reason))
        return self.get(model_id, version)

    def start_run(self, model_id: str, request_id: str, worker_id: str,
                  alert_ids: list[str] | None = None) -> RunRecord:
        """Note that ``worker_id`` starts on a request, and return the run.

        A request seen before keeps its one run: a started one (whose worker
        died or gave up) is taken over and its ``attempts`` counted up; a
        finished or failed one is returned as it is, and the caller does not
        train again.
        """
        now = _now_ms()
        for _ in range(_MAX_ATTEMPTS):
            try:
                with self._session() as s, s.begin():
                    row = s.scalars(select(RunRow).where(RunRow.model_id == model_id,
                                                         RunRow.request_id == request_id)).first()
                    if row is None:
                        row = RunRow(model_id=model_id, request_id=request_id,
                                     alert_ids=list(alert_ids or []), state="started",
                                     worker_id=worker_id, attempts=1, started_at=now)
                        s.add(row)
                    elif row.state == "started":
                        row.worker_id, row.attempts, row.started_at = worker_id, row.attempts + 1, now
                    s.flush()
                    return RunRecord._of(row)
            except IntegrityError:
                continue  # another worker inserted it first: take that row
        raise RegistryError(f"could not start a run for {request_id!r} after {_MAX_ATTEMPTS} attempts")

    def fail_run(self, model_id: str, request_id: str, reason: str, worker_id: str,
                 alert_ids: list[str] | None = None) -> RunRecord:
        """Close the run of a request that produced no version, with the reason."""
        self.start_run(model_id, request_id, worker_id, alert_ids)  # a run to close, if none yet
        with self._session() as s, s.begin():
            self._close_run(s, model_id, request_id, "failed", reason, None, _now_ms())
        return self.run(model_id, request_id)

    @staticmethod
    def _close_run(s: Session, model_id: str, request_id: str, state: str, outcome: str,
                   version: str | None, now: int) -> None:
        s.execute(update(RunRow)
                  .where(RunRow.model_id == model_id, RunRow.request_id == request_id,
                         RunRow.state == "started")
                  .values(state=state, outcome=outcome, version=version, finished_at=now))
