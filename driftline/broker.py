"""A real single-node Apache Kafka broker (KRaft mode) on loopback, from Maven Central jars.

This is how driftline runs without Docker: ``mvn`` resolves
``org.apache.kafka:kafka_2.13`` and its dependencies once into a cache folder,
``kafka.tools.StorageTool`` formats the data folder, and ``kafka.Kafka`` runs
detached, logging to ``<data>/broker.log``. A JSON state file in the data
folder records the pid and ports, so ``start`` is idempotent and ``stop`` and
``status`` work from another process.

>>> b = LocalBroker("/tmp/example-broker", port=19092)
>>> b.bootstrap
'127.0.0.1:19092'
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from driftline.exceptions import BrokerError
from driftline.kafka.security import ListenerSecurity, format_scram_args, listener_properties, upsert_users

KAFKA_VERSION = "4.3.1"
LOG4J_VERSION = "2.25.4"
READY_LINE = "Kafka Server started"

# Brokers this process started, by pid: holding the Popen keeps it from being
# collected (and warning) while the broker runs, and lets stop() reap it.
_CHILDREN: dict[int, subprocess.Popen] = {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding, as Kafka makes them."""
    while True:
        text = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
        if not text.startswith("-"):  # Kafka's own ids avoid a leading dash (it reads as an option)
            return text


def port_answers(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "driftline"


def resolve_jars(version: str = KAFKA_VERSION, *, quiet: bool = True) -> Path:
    """Return a folder holding the broker's jars, running ``mvn`` the first time."""
    libs = cache_dir() / f"kafka-{version}" / "libs"
    marker = libs / ".complete"
    if marker.exists():
        return libs
    work = libs.parent
    work.mkdir(parents=True, exist_ok=True)
    pom = work / "pom.xml"
    pom.write_text(resources.files("driftline").joinpath("kafka", "pom.xml").read_text("utf-8"))
    cmd = ["mvn", "-B", "-f", str(pom), f"-Dkafka.version={version}",
           f"-Dlibs.dir={libs}", "package"]
    if quiet:
        cmd.insert(1, "-q")
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    except FileNotFoundError:
        raise BrokerError("mvn not found: install Maven (and Java 17) to run a local broker") from None
    except subprocess.TimeoutExpired:
        raise BrokerError("mvn took over 15 minutes to resolve the Kafka jars") from None
    if done.returncode != 0 or not any(libs.glob("kafka_2.13-*.jar")):
        tail = (done.stdout + done.stderr).strip().splitlines()[-15:]
        raise BrokerError("mvn could not resolve the Kafka jars:\n" + "\n".join(tail))
    marker.write_text(version)
    return libs


@dataclass
class BrokerStatus:
    running: bool
    pid: int | None
    bootstrap: str | None
    data_dir: str
    version: str | None
    protocol: str = "PLAINTEXT"

    def describe(self) -> str:
        if not self.running:
            return f"broker: stopped (data {self.data_dir})"
        where = self.bootstrap if self.protocol == "PLAINTEXT" else f"{self.protocol}://{self.bootstrap}"
        return (f"broker: running, Kafka {self.version}, pid {self.pid}, "
                f"bootstrap {where}, data {self.data_dir}")


class LocalBroker:
    """One Kafka broker+controller process whose data lives in ``data_dir``.

    ``port`` is the client port; the controller listens on ``controller_port``
    (default: a free port chosen at start). ``security`` makes the client
    listener SSL or SASL_SSL (:mod:`driftline.kafka.security`; its users are
    created or updated at every start), PLAINTEXT without it. For a cluster,
    each node gets its ``node_id``, the quorum's ``voters``
    (``id@127.0.0.1:port,...``), a shared ``cluster_id``, and ``replicas``
    for Kafka's own topics (offsets, transactions).
    """

    def __init__(self, data_dir: str | os.PathLike, port: int = 9092,
                 controller_port: int | None = None, version: str = KAFKA_VERSION,
                 heap: str = "512m", *, security: ListenerSecurity | None = None,
                 node_id: int = 1, voters: str | None = None, cluster_id: str | None = None,
                 replicas: int = 1) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.controller_port = controller_port
        self.version = version
        self.heap = heap
        self.security = security
        self.node_id = node_id
        self.voters = voters
        self.cluster_id = cluster_id
        self.replicas = replicas

    @property
    def protocol(self) -> str:
        return self.security.protocol if self.security else "PLAINTEXT"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def _state_file(self) -> Path:
        return self.data_dir / "broker.json"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "broker.log"

    def _read_state(self) -> dict | None:
        try:
            return json.loads(self._state_file.read_text())
        except (OSError, ValueError):
            return None

    def status(self) -> BrokerStatus:
        state = self._read_state()
        if state and _alive(state["pid"]) and port_answers(state["port"]):
            return BrokerStatus(True, state["pid"], f"127.0.0.1:{state['port']}",
                                str(self.data_dir), state.get("version"),
                                state.get("protocol", "PLAINTEXT"))
        return BrokerStatus(False, None, None, str(self.data_dir), None)

    def start(self, timeout: float = 120.0) -> BrokerStatus:
        current = self.status()
        if current.running:
            if current.bootstrap != self.bootstrap or current.protocol != self.protocol:
                raise BrokerError(f"a broker for {self.data_dir} already runs at {current.protocol}://"
                                  f"{current.bootstrap}; stop it first")
            return current
        if port_answers(self.port):
            raise BrokerError(f"port {self.port} on 127.0.0.1 is taken by another program")
        libs = resolve_jars(self.version)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        controller_port = self.controller_port or free_port()
        props = self._write_config(controller_port)
        classpath = f"{libs}/*"
        log4j = self.data_dir / "log4j2.properties"
        log4j.write_text(resources.files("driftline").joinpath("kafka", "log4j2.properties").read_text("utf-8"))
        java = ["java", f"-Xmx{self.heap}", f"-Xms{self.heap}", "-XX:+UseG1GC",
                f"-Dlog4j2.configurationFile={log4j}", "-cp", classpath]
        self._format(java, props)
        self.log_file.write_text("")
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(java + ["kafka.Kafka", str(props)], stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        _CHILDREN[proc.pid] = proc
        self._state_file.write_text(json.dumps({
            "pid": proc.pid, "port": self.port, "controller_port": controller_port,
            "version": self.version, "protocol": self.protocol}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                _CHILDREN.pop(proc.pid, None)
                self._state_file.unlink(missing_ok=True)
                raise BrokerError(f"the broker exited with code {proc.returncode}; "
                                  f"see {self.log_file}:\n{self._log_tail()}")
            if READY_LINE in self.log_file.read_text(errors="replace") and port_answers(self.port):
                if self.security and self.security.users:
                    try:
                        upsert_users(self.bootstrap, self.data_dir, self.security.users)
                    except Exception as exc:
                        self.stop()
                        raise BrokerError(f"could not create the SASL users: {exc}") from None
                return self.status()
            time.sleep(0.2)
        self.stop()
        raise BrokerError(f"the broker did not start within {timeout:.0f}s; see {self.log_file}")

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the broker; return whether one was running."""
        state = self._read_state()
        if not state or not _alive(state["pid"]):
            self._state_file.unlink(missing_ok=True)
            return False
        pid = state["pid"]
        _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            _signal(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.05)
        child = _CHILDREN.pop(pid, None)
        if child is not None:
            child.wait()
        self._state_file.unlink(missing_ok=True)
        return True

    def kill(self) -> bool:
        """SIGKILL the broker, as a crash would (fault tests); return whether one was running.

        Its data stays: :meth:`start` on the same folder and ports brings it back.
        """
        state = self._read_state()
        if not state:
            return False
        pid = state["pid"]
        child = _CHILDREN.pop(pid, None)
        running = _alive(pid) if child is None else child.poll() is None
        if child is not None:
            child.kill()
            child.wait()
        elif running:
            _signal(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.05)
        self._state_file.unlink(missing_ok=True)
        return running

    def _write_config(self, controller_port: int) -> Path:
        logs = self.data_dir / "logs"
        listener = self.protocol
        replicas, min_isr = str(self.replicas), str(min(2, self.replicas))
        lines = {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "controller.quorum.voters": self.voters or f"{self.node_id}@127.0.0.1:{controller_port}",
            "listeners": f"{listener}://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{controller_port}",
            "advertised.listeners": f"{listener}://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": listener,
            "listener.security.protocol.map": f"CONTROLLER:PLAINTEXT,{listener}:{listener}",
            "log.dirs": str(logs),
            "num.partitions": "1",
            "offsets.topic.replication.factor": replicas,
            "offsets.topic.num.partitions": "3",
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": min_isr,
            "share.coordinator.state.topic.replication.factor": replicas,
            "share.coordinator.state.topic.min.isr": min_isr,
            "group.initial.rebalance.delay.ms": "0",
            # Small segments so compaction of model-versions is visible in tests.
            "log.cleaner.backoff.ms": "1000",
        }
        if self.security:
            lines.update(listener_properties(self.security, self.data_dir))
        props = self.data_dir / "server.properties"
        # It holds the keystore and inter-broker passwords once the listener is secured.
        props.touch(mode=0o600, exist_ok=True)
        os.chmod(props, 0o600)
        props.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
        return props

    def _format(self, java: list[str], props: Path) -> None:
        id_file = self.data_dir / "cluster.id"
        if self.cluster_id:
            id_file.write_text(self.cluster_id)
        if not id_file.exists():
            id_file.write_text(new_cluster_id())
        cluster_id = id_file.read_text().strip()
        scram = format_scram_args(self.data_dir) if self.protocol.startswith("SASL_") else []
        out = subprocess.run(java + ["kafka.tools.StorageTool", "format", "-t", cluster_id,
                                     "-c", str(props), "--ignore-formatted", *scram],
                             capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            text = (out.stdout + out.stderr).strip()[-800:]
            for arg in scram[1:]:
                text = text.replace(arg, "SCRAM-SHA-512=[***]")
            raise BrokerError(f"StorageTool format failed: {text}")

    def _log_tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


class LocalCluster:
    """``size`` combined broker+controller nodes on loopback sharing one KRaft quorum and cluster id.

    Node ``i`` keeps its data in ``<root>/node<i>``; every node is a voter, so
    the cluster goes on while a majority runs. Kafka's own topics get
    ``min(3, size)`` replicas.

    >>> c = LocalCluster("/tmp/example-cluster", ports=[19101, 19102, 19103],
    ...                  controller_ports=[19201, 19202, 19203], cluster_id="q1w2e3r4t5y6u7i8o9p0aA")
    >>> c.bootstrap
    '127.0.0.1:19101,127.0.0.1:19102,127.0.0.1:19103'
    >>> c.nodes[2].node_id, c.nodes[2].voters
    (3, '1@127.0.0.1:19201,2@127.0.0.1:19202,3@127.0.0.1:19203')
    """

    def __init__(self, root: str | os.PathLike, size: int = 3, *, ports: list[int] | None = None,
                 controller_ports: list[int] | None = None, cluster_id: str | None = None,
                 heap: str = "384m", version: str = KAFKA_VERSION) -> None:
        ports = ports or [free_port() for _ in range(size)]
        controller_ports = controller_ports or [free_port() for _ in range(size)]
        if not len(ports) == len(controller_ports) == size:
            raise BrokerError(f"a cluster of {size} needs {size} client and {size} controller ports")
        voters = ",".join(f"{i + 1}@127.0.0.1:{p}" for i, p in enumerate(controller_ports))
        cluster_id = cluster_id or new_cluster_id()
        root = Path(root)
        self.nodes = [LocalBroker(root / f"node{i + 1}", port=port, controller_port=cport,
                                  version=version, heap=heap, node_id=i + 1, voters=voters,
                                  cluster_id=cluster_id, replicas=min(3, size))
                      for i, (port, cport) in enumerate(zip(ports, controller_ports))]

    @property
    def bootstrap(self) -> str:
        return ",".join(n.bootstrap for n in self.nodes)

    def start(self, timeout: float = 180.0) -> None:
        """Start every node at once (each waits for a quorum of the others); stop them all if one fails."""
        resolve_jars(self.nodes[0].version)
        errors: list[BaseException] = []

        def run(node: LocalBroker) -> None:
            try:
                node.start(timeout)
            except BaseException as exc:  # reported below, after the other nodes
                errors.append(exc)

        _each(run, self.nodes)
        if errors:
            self.stop()
            raise errors[0]

    def stop(self, timeout: float = 30.0) -> None:
        """Stop every node at once: one by one, the last ones would wait for a quorum that has left."""
        _each(lambda node: node.stop(timeout), self.nodes)


def _each(fn, nodes: list[LocalBroker]) -> None:
    threads = [threading.Thread(target=fn, args=(n,)) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); reap it if it is ours.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return _not_zombie(pid)


def _not_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


@contextlib.contextmanager
def given_or_local(prefix: str = "driftline-") -> Iterator[str]:
    """``DRIFTLINE_KAFKA_BOOTSTRAP`` if set, else a throwaway local broker on a free port, stopped after."""
    given = os.environ.get("DRIFTLINE_KAFKA_BOOTSTRAP")
    if given:
        yield given
        return
    data = tempfile.mkdtemp(prefix=prefix)
    broker = LocalBroker(data, port=free_port())
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()
        shutil.rmtree(data, ignore_errors=True)
