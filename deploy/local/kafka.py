"""Run a real Apache Kafka broker (KRaft, one node) as a plain Java process for the local stack.

Why this shape: no Docker engine runs on our machines and no package registry ships a Kafka
broker, but Maven Central serves every Apache Kafka module. So `mvn` copies the broker jars into
a folder once (``ensure_lib``), and ``start`` runs ``kafka.Kafka`` from that folder with ``java``.

State lives under ``KafkaConfig.home`` (outside git, e.g. ``<repo>/.stax/kafka``)::

    lib/                  jars from Maven, plus a marker recording what they were built from
    data/                 the broker's log.dirs; kept across restarts unless start(fresh=True)
    server.properties     written anew on every start (mode 0600: it holds passwords)
    credentials.json      the SCRAM passwords of admin, the broker, the controller and the
                          three services, made once (mode 0600)
    tls/                  ca.crt for clients, broker-keystore.pem for the broker (made once)
    broker.log            stdout+stderr of the running broker (broker.log.1: the run before)
    kafka.pid             pid of the detached broker JVM

Security by default (product brief §7.1): clients reach only a SASL_SSL listener (TLS +
SCRAM-SHA-512); the controller listener takes SASL/PLAIN with one static account, because a
PLAINTEXT one would run as User:ANONYMOUS, which must then be a super user; the StandardAuthorizer
denies whatever no ACL allows. `secure=False` exists for benchmarks that measure the cost.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from deploy.local import processes
from deploy.operations.kafka_tls import ensure_certificates
from shared.kafka_access import KafkaAccess
from shared.kafka_acls import ADMIN, SERVICES, service_principal

__all__ = [
    "KafkaConfig",
    "KafkaSetupError",
    "credentials",
    "ensure_lib",
    "kafka_version",
    "prepare_files",
    "running_pid",
    "server_properties",
    "start",
    "stop",
    "storage_format_args",
    "wait_ready",
]

# The pom and the log4j2 config ship next to this module (package data), never the jars.
_ASSETS = Path(__file__).resolve().parent / "kafka"
POM = _ASSETS / "pom.xml"
LOG4J_CONFIG = _ASSETS / "log4j2.properties"

# log4j2.properties keeps kafka.server.KafkaRaftServer at INFO just to emit this line.
READY_LINE = "Kafka Server started"

_MIN_JAVA = 17  # Kafka 4.x brokers refuse older JVMs
_MARKER = ".kafka-lib-stamp"  # not a *.jar, so the JVM's 'lib/*' classpath ignores it
_NODE_ID = 1
_TAIL_LINES = 40
_TAIL_BYTES = 64 * 1024
_MVN_TIMEOUT = 20 * 60.0  # a cold ~/.m2 downloads ~45 MB
_FORMAT_TIMEOUT = 120.0
_POLL = 0.2
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # mvn -q still colours some lines


class KafkaSetupError(RuntimeError):
    """Kafka could not be built, started or stopped; the message says what to do about it."""


@dataclass(frozen=True)
class KafkaConfig:
    """Where the local broker keeps its state, and how it listens."""

    home: Path
    port: int = 9092
    controller_port: int = 9093
    heap: str = "512m"
    secure: bool = True  # False only for benchmarks measuring what TLS + SCRAM cost
    # How long an authenticated connection lives before it must log in again: the bound on how
    # long a revoked password keeps working on connections opened before the revocation.
    reauth_ms: int = 300_000

    def __post_init__(self) -> None:
        # The JVM runs with cwd=home and Kafka resolves log.dirs against its own cwd, so every
        # path we hand out must be absolute. Frozen dataclass: normalise via object.__setattr__.
        object.__setattr__(self, "home", Path(self.home).expanduser().resolve())
        for name, value in (("port", self.port), ("controller_port", self.controller_port)):
            if not 0 < value < 65536:
                raise ValueError(f"KafkaConfig.{name} must be 1..65535, got {value}")
        if self.port == self.controller_port:
            raise ValueError("KafkaConfig.port and controller_port must differ")
        if not re.fullmatch(r"[1-9]\d*[kKmMgG]", self.heap):
            raise ValueError(f"KafkaConfig.heap must look like '512m' or '1g', got {self.heap!r}")

    @property
    def lib(self) -> Path:
        return self.home / "lib"

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def properties_file(self) -> Path:
        return self.home / "server.properties"

    @property
    def log_file(self) -> Path:
        return self.home / "broker.log"

    @property
    def pid_file(self) -> Path:
        return self.home / "kafka.pid"

    @property
    def tls(self) -> Path:
        return self.home / "tls"

    @property
    def ca_file(self) -> Path:
        return self.tls / "ca.crt"

    @property
    def credentials_file(self) -> Path:
        return self.home / "credentials.json"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def access(self, principal: str = ADMIN) -> KafkaAccess:
        """How to connect to this broker as `principal` (admin, or a service's principal)."""
        if not self.secure:
            return KafkaAccess(self.bootstrap, "PLAINTEXT")
        return KafkaAccess(
            self.bootstrap, "SASL_SSL", principal, credentials(self)[principal], str(self.ca_file)
        )


# ----------------------------------------------------------------------- credentials


# The broker logs in to itself (inter-broker listener), the controller listener has its own
# static account; both stay inside this machine's STAX_HOME.
_BOOTSTRAP_USERS = (ADMIN, "broker", "controller", *(service_principal(s) for s in SERVICES))


def credentials(cfg: KafkaConfig) -> dict[str, str]:
    """The local principals' passwords, made once per STAX_HOME (file mode 0600)."""
    try:
        known: dict[str, str] = json.loads(cfg.credentials_file.read_text())
    except FileNotFoundError:
        known = {}
    missing = [user for user in _BOOTSTRAP_USERS if user not in known]
    if missing:
        # token_urlsafe: no ',' (StorageTool's --add-scram cannot parse one, even quoted).
        known |= {user: secrets.token_urlsafe(24) for user in missing}
        cfg.home.mkdir(parents=True, exist_ok=True)
        cfg.credentials_file.touch(mode=0o600)
        cfg.credentials_file.write_text(json.dumps(known, indent=2) + "\n")
    return known


# --------------------------------------------------------------------------- tool checks


def _require_java() -> str:
    """Return the path of a Java 17+ ``java``, or explain how to get one."""
    java = shutil.which("java")
    hint = "install OpenJDK 17 (apt-get install openjdk-17-jre-headless)"
    if java is None:
        raise KafkaSetupError(f"Java {_MIN_JAVA}+ not found on PATH: {hint}")
    out = subprocess.run(
        [java, "-version"], capture_output=True, text=True, check=False, timeout=60
    )
    major = _java_major(out.stderr + out.stdout)  # `java -version` prints to stderr
    if major is None or major < _MIN_JAVA:
        found = "an unknown version" if major is None else f"Java {major}"
        raise KafkaSetupError(f"Java {_MIN_JAVA}+ not found on PATH ({java} is {found}): {hint}")
    return java


def _java_major(version_output: str) -> int | None:
    """Major version from `java -version` output: '17.0.15' -> 17, legacy '1.8.0_392' -> 8."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if match is None:
        return None
    first, second = match.group(1), match.group(2)
    return int(second) if first == "1" and second is not None else int(first)


def _require_maven() -> str:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaSetupError(
            "Maven not found on PATH: install Maven 3.8+ (apt-get install maven); it fetches "
            "the Kafka broker jars from Maven Central once"
        )
    return mvn


# --------------------------------------------------------------------------- lib/ (jars)


def kafka_version() -> str:
    """The Kafka version pinned in the pom (single source of truth for the jars)."""
    # A regex, not an XML parser: the pom is ours, and this keeps the check trivially cheap.
    match = re.search(r"<kafka\.version>\s*([^<\s]+)\s*</kafka\.version>", POM.read_text())
    if match is None:
        raise KafkaSetupError(f"{POM} has no <kafka.version> property")
    return match.group(1)


def _lib_stamp(version: str) -> str:
    # The pom digest also catches edits that keep the Kafka version (e.g. a log4j bump).
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()
    return f"kafka {version}\npom-sha256 {digest}\n"


def _lib_is_current(lib: Path, version: str) -> bool:
    marker = lib / _MARKER
    try:
        recorded = marker.read_text()
    except FileNotFoundError:
        return False
    # The broker jar check guards against a lib/ that someone half-emptied by hand.
    return recorded == _lib_stamp(version) and (lib / f"kafka_2.13-{version}.jar").is_file()


def ensure_lib(cfg: KafkaConfig, log: Callable[[str], None] = print) -> Path:
    """Make sure ``cfg.home/lib`` holds the jars of the pinned Kafka version; return it.

    Rebuilds when lib/ is missing or was built from another pom. Maven is only required then,
    so a machine with a cached lib/ needs nothing but Java.
    """
    _require_java()
    lib, version = cfg.lib, kafka_version()
    if _lib_is_current(lib, version):
        return lib
    mvn = _require_maven()
    log(f"kafka: fetching Apache Kafka {version} jars with Maven into {lib} (once)")
    # copy-dependencies never deletes anything: old jars next to new ones would put two
    # versions of a Kafka module on one classpath, which fails in confusing ways.
    shutil.rmtree(lib, ignore_errors=True)
    lib.parent.mkdir(parents=True, exist_ok=True)
    _run_maven(mvn, lib)
    if not (lib / f"kafka_2.13-{version}.jar").is_file():
        raise KafkaSetupError(f"mvn finished but {lib} has no kafka_2.13-{version}.jar")
    # Written last, so an interrupted build is simply redone next time.
    (lib / _MARKER).write_text(_lib_stamp(version))
    log(f"kafka: {sum(1 for _ in lib.glob('*.jar'))} jars ready in {lib}")
    return lib


def _run_maven(mvn: str, lib: Path) -> None:
    cmd = [
        mvn, "-B", "-ntp", "-q", "-f", str(POM),
        "dependency:copy-dependencies", f"-DoutputDirectory={lib}",
    ]  # fmt: skip
    try:
        # cwd=lib.parent: keep Maven from dropping anything into the git work tree.
        done = subprocess.run(
            cmd, cwd=lib.parent, capture_output=True, text=True, check=False,
            timeout=_MVN_TIMEOUT,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise KafkaSetupError(
            f"mvn did not finish within {_MVN_TIMEOUT:.0f} s; is Maven Central reachable?"
        ) from exc
    if done.returncode != 0:
        raise KafkaSetupError(
            f"mvn dependency:copy-dependencies failed (exit {done.returncode}); it needs Maven "
            f"Central and the versions pinned in {POM}. Last lines:\n"
            f"{_tail_text(done.stdout + done.stderr)}"
        )


# --------------------------------------------------------------------------- start


def server_properties(cfg: KafkaConfig) -> str:
    """The broker config: one process that is both broker and controller, loopback only."""
    host = "127.0.0.1"
    lines = [
        "process.roles=broker,controller",
        f"node.id={_NODE_ID}",
        # Static quorum: the controller endpoint lives only in this file, not in data/, so
        # changing controller_port between runs cannot strand an existing data dir.
        f"controller.quorum.voters={_NODE_ID}@{host}:{cfg.controller_port}",
        "controller.listener.names=CONTROLLER",
        *(_secure_listeners(cfg, host) if cfg.secure else _plaintext_listeners(cfg, host)),
        f"log.dirs={cfg.data}",
        # Our services must create their topics explicitly; a typo must fail, not make a topic.
        "auto.create.topics.enable=false",
        "num.partitions=1",
        # A single broker: replication factor 1 everywhere, or consumer groups and
        # transactions hang on "coordinator not available".
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=1",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "transaction.state.log.num.partitions=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        # Small footprint for a laptop / 2-core CI box.
        "num.network.threads=2",
        "num.io.threads=2",
        "num.recovery.threads.per.data.dir=1",
        # Default is 128 MiB allocated on the heap at startup; must stay > 1 MiB per thread.
        "log.cleaner.dedupe.buffer.size=2097152",
    ]
    return "\n".join(lines) + "\n"


def _plaintext_listeners(cfg: KafkaConfig, host: str) -> list[str]:
    return [
        f"listeners=PLAINTEXT://{host}:{cfg.port},CONTROLLER://{host}:{cfg.controller_port}",
        f"advertised.listeners=PLAINTEXT://{host}:{cfg.port}",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
    ]


def _secure_listeners(cfg: KafkaConfig, host: str) -> list[str]:
    users = credentials(cfg)
    broker, controller = users["broker"], users["controller"]
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
    plain = "org.apache.kafka.common.security.plain.PlainLoginModule"
    return [
        f"listeners=SASL_SSL://{host}:{cfg.port},CONTROLLER://{host}:{cfg.controller_port}",
        f"advertised.listeners=SASL_SSL://{host}:{cfg.port}",
        "listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SASL_PLAINTEXT",
        # One node still connects to itself (transactions, idempotence): as User:broker.
        "inter.broker.listener.name=SASL_SSL",
        "ssl.keystore.type=PEM",
        f"ssl.keystore.location={cfg.tls / 'broker-keystore.pem'}",
        # Mandatory even for one node: the broker builds a client SSLEngine for itself.
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={cfg.ca_file}",
        "sasl.enabled.mechanisms=SCRAM-SHA-512",
        "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
        f"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={scram} required "
        f'username="broker" password="{broker}";',
        "sasl.mechanism.controller.protocol=PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
        f"listener.name.controller.plain.sasl.jaas.config={plain} required "
        f'username="controller" password="{controller}" user_controller="{controller}";',
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found=false",
        f"super.users=User:{ADMIN};User:broker;User:controller",
        f"connections.max.reauth.ms={cfg.reauth_ms}",
        # Kafka 4.3.1 can lose every SCRAM user when a restart replays a credential deletion
        # (see docs/kafka-security.md); frequent snapshots shrink the replayed log.
        "metadata.log.max.snapshot.interval.ms=60000",
    ]


def _refuse_busy_ports(cfg: KafkaConfig) -> None:
    for port in (cfg.port, cfg.controller_port):
        if _port_busy(port):
            raise KafkaSetupError(
                f"port {port} on 127.0.0.1 is already in use (another Kafka?); "
                f"see `ss -ltnp 'sport = :{port}'`, or stop it first"
            )


def _port_busy(port: int) -> bool:
    # Bind rather than connect: it also catches a listener on 0.0.0.0 / [::]. SO_REUSEADDR as
    # the JVM sets it, so a socket lingering in TIME_WAIT does not count as busy.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _is_formatted(cfg: KafkaConfig) -> bool:
    # StorageTool writes meta.properties last; without it the dir is not usable anyway.
    return (cfg.data / "meta.properties").is_file()


def _new_cluster_id() -> str:
    # Same format as `kafka-storage random-uuid` (base64url of 16 bytes, no padding), made here
    # to save a JVM start. A leading '-' would be parsed as a command-line flag.
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _java_base(java: str, lib: Path) -> list[str]:
    # The '*' is expanded by the JVM itself, so it must reach java as one literal argument.
    return [java, f"-Dlog4j2.configurationFile={LOG4J_CONFIG}", "-cp", str(lib / "*")]


def storage_format_args(cfg: KafkaConfig) -> list[str]:
    """The StorageTool call that formats a new data dir (with the bootstrap SCRAM users), after
    java and its classpath: here as a process, or in the stax-kafka image (`kafka-java …`)."""
    return [
        "kafka.tools.StorageTool", "format",
        "-t", _new_cluster_id(), "-c", str(cfg.properties_file), *_bootstrap_scram(cfg),
    ]  # fmt: skip


def prepare_files(cfg: KafkaConfig) -> None:
    """TLS material (when secure) and server.properties, written for this start."""
    cfg.home.mkdir(parents=True, exist_ok=True)
    if cfg.secure:
        ensure_certificates(cfg.tls)
    # Fresh every run: ports or tuning may have changed, and the file is derived, not state.
    cfg.properties_file.write_text(server_properties(cfg))
    cfg.properties_file.chmod(0o600)


def _format_storage(cfg: KafkaConfig, java: str, lib: Path) -> None:
    base = _java_base(java, lib)
    cmd = [
        base[0], "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", *base[1:],
        *storage_format_args(cfg),
    ]  # fmt: skip
    done = subprocess.run(
        cmd, cwd=cfg.home, capture_output=True, text=True, check=False, timeout=_FORMAT_TIMEOUT
    )
    if done.returncode != 0:
        raise KafkaSetupError(
            f"formatting {cfg.data} failed (exit {done.returncode}):\n"
            f"{_tail_text(done.stdout + done.stderr)}"
        )


def _bootstrap_scram(cfg: KafkaConfig) -> list[str]:
    """The super users exist from the first start; services are added by the admin later."""
    if not cfg.secure:
        return []
    users = credentials(cfg)
    return [
        arg
        for user in (ADMIN, "broker")
        for arg in ("--add-scram", f"SCRAM-SHA-512=[name={user},password={users[user]}]")
    ]


def _security_marker(cfg: KafkaConfig) -> Path:
    return cfg.data / ".stax-security"


def _formatted_for_this_mode(cfg: KafkaConfig) -> bool:
    """Data formatted without SCRAM users (an older STAX_HOME, or a benchmark's plaintext run)
    cannot serve the other mode: nobody could log in as admin."""
    try:
        return _security_marker(cfg).read_text() == _mode(cfg)
    except FileNotFoundError:
        return False


def _mode(cfg: KafkaConfig) -> str:
    return "SASL_SSL\n" if cfg.secure else "PLAINTEXT\n"


# Popen objects of brokers this process started: poll() reaps them, so a broker that died is
# not mistaken for a live one (a zombie keeps its /proc entry until its parent reaps it).
_children: dict[int, subprocess.Popen[bytes]] = {}


def _launch(cfg: KafkaConfig, java: str, lib: Path) -> int:
    base = _java_base(java, lib)
    cmd = [
        base[0], "-Xms64m", f"-Xmx{cfg.heap}", "-XX:+UseSerialGC",
        # Die loudly instead of limping on with a broken heap; the log tail then says why.
        "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true", *base[1:],
        "kafka.Kafka", str(cfg.properties_file),
    ]  # fmt: skip
    # Keep the previous run's log for post-mortems, and start clean so wait_ready cannot see
    # an old "Kafka Server started" line.
    if cfg.log_file.exists():
        cfg.log_file.replace(cfg.log_file.with_name(cfg.log_file.name + ".1"))
    with cfg.log_file.open("wb") as out:
        # start_new_session: the broker outlives the CLI that started it and does not get the
        # terminal's Ctrl-C; `stop` ends it deliberately instead.
        proc = subprocess.Popen(
            cmd, cwd=cfg.home, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    _children[proc.pid] = proc
    return proc.pid


def start(cfg: KafkaConfig, *, fresh: bool = False) -> int:
    """Start the broker detached and return its pid; pair with ``wait_ready``.

    Data in ``cfg.home/data`` survives restarts; ``fresh=True`` wipes it first.
    """
    pid = running_pid(cfg)
    if pid is not None:
        raise KafkaSetupError(f"Kafka is already running (pid {pid}); stop it first")
    _refuse_busy_ports(cfg)
    lib = ensure_lib(cfg)
    java = _require_java()
    prepare_files(cfg)
    if fresh or (_is_formatted(cfg) and not _formatted_for_this_mode(cfg)):
        shutil.rmtree(cfg.data, ignore_errors=True)
    if not _is_formatted(cfg):
        _format_storage(cfg, java, lib)
        _security_marker(cfg).write_text(_mode(cfg))
    pid = _launch(cfg, java, lib)
    cfg.pid_file.write_text(f"{pid}\n")
    return pid


# --------------------------------------------------------------------------- readiness


def wait_ready(cfg: KafkaConfig, pid: int, timeout: float = 90.0) -> None:
    """Block until the broker serves clients; raise with the log tail if it dies or stalls."""
    # Both signals: the port opens before the broker can serve requests, and the log line
    # alone does not prove the advertised port is the one we can reach.
    deadline = time.monotonic() + timeout
    logged = False
    while True:
        if not _is_alive(pid):
            raise KafkaSetupError(
                f"Kafka broker (pid {pid}) exited during startup{_exit_note(pid)}; "
                f"last lines of {cfg.log_file}:\n{_tail_file(cfg.log_file)}"
            )
        logged = logged or READY_LINE in _read_text(cfg.log_file)
        if logged and _port_open(cfg.port):
            return
        if time.monotonic() >= deadline:
            raise KafkaSetupError(
                f"Kafka broker (pid {pid}) not ready after {timeout:.0f} s; "
                f"last lines of {cfg.log_file}:\n{_tail_file(cfg.log_file)}"
            )
        time.sleep(_POLL)


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def _exit_note(pid: int) -> str:
    child = _children.get(pid)
    if child is None or child.returncode is None:
        return ""
    return f" with exit code {child.returncode}"


# --------------------------------------------------------------------------- stop / status


def running_pid(cfg: KafkaConfig) -> int | None:
    """The pid in kafka.pid if that process is alive and is our Kafka JVM, else None."""
    pid = _read_pid(cfg.pid_file)
    if pid is None or not _is_alive(pid) or not _is_kafka_jvm(pid):
        return None
    return pid


def stop(cfg: KafkaConfig, timeout: float = 30.0) -> bool:
    """SIGTERM the broker (graceful shutdown hook), SIGKILL after ``timeout``.

    Returns True if a broker was running. A stale kafka.pid is removed either way.
    """
    pid = running_pid(cfg)
    if pid is None:
        cfg.pid_file.unlink(missing_ok=True)
        return False
    _signal(pid, signal.SIGTERM)
    if not _wait_exit(pid, timeout):
        _signal(pid, signal.SIGKILL)
        if not _wait_exit(pid, 10.0):
            raise KafkaSetupError(f"Kafka broker (pid {pid}) survived SIGKILL")
    cfg.pid_file.unlink(missing_ok=True)
    _children.pop(pid, None)
    return True


def _signal(pid: int, sig: signal.Signals) -> None:
    processes.send(pid, sig)


def _wait_exit(pid: int, timeout: float) -> bool:
    return processes.wait_exit(pid, timeout) if pid not in _children else _wait_child(pid, timeout)


def _wait_child(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _is_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL)
    return True


def _read_pid(pid_file: Path) -> int | None:
    return processes.read_pid(pid_file)


def _is_alive(pid: int) -> bool:
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        return False
    return processes.is_alive(pid)


def _is_kafka_jvm(pid: int) -> bool:
    # Guards against pid reuse: after a reboot kafka.pid may name some unrelated process.
    argv = processes.cmdline(pid)
    return bool(argv) and Path(argv[0]).name == "java" and "kafka.Kafka" in argv


# --------------------------------------------------------------------------- log helpers


def _read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _tail_file(path: Path) -> str:
    # Only the end: a broker that ran for days before dying may have a large log.
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - _TAIL_BYTES))
            text = fh.read().decode(errors="replace")
    except FileNotFoundError:
        return "(no log was written)"
    return _tail_text(text) or "(log is empty)"


def _tail_text(text: str, lines: int = _TAIL_LINES) -> str:
    return "\n".join(_ANSI.sub("", text).rstrip().splitlines()[-lines:])
