"""A local Apache Kafka broker without Docker: jars from Maven Central, KRaft, one node or a
cluster of several.

`dealwatch kafka up` assembles the official broker with `mvn dependency:copy-dependencies`
(cached in ~/.cache/dealwatch/kafka-VERSION), formats its storage once, and runs it with the
machine's JDK. The data directory lives under DEALWATCH_HOME, so the log survives down/up.
`kafka up --brokers 3` runs three combined broker+controller nodes instead (a static quorum),
node N on ports PORT+2(N-1) (clients) and the one after (controller), data under
DEALWATCH_HOME/kafka/node-N; the number of nodes is remembered for `down` and `status`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from aiokafka import TopicPartition

from dealwatch.services.config import Settings
from dealwatch.services.logs import quiet

T = TypeVar("T")

ASSETS = Path(__file__).resolve().parent


class KafkaLocalError(Exception):
    """The local broker cannot be assembled, started or stopped; the message says why."""


@dataclass(frozen=True)
class NodeStatus:
    """One node of the local cluster."""

    node: int
    port: int
    pid: int | None
    answering: bool
    data_dir: Path
    log_file: Path
    open_files: tuple[int, int] | None
    leads: tuple[str, ...] = ()  # `topic[p, q]` of the partitions this node leads


@dataclass(frozen=True)
class BrokerStatus:
    """What runs where."""

    running: bool
    answering: bool
    pid: int | None
    bootstrap: str
    version: str
    data_dir: Path
    log_file: Path
    elsewhere: str | None = None  # what answers on the port when it is not this home's broker
    open_files: tuple[int, int] | None = None  # the running broker's descriptors, and its limit
    nodes: tuple[NodeStatus, ...] = ()  # each node of a local cluster (one for a single broker)


@dataclass(frozen=True)
class _Paths:
    home: Path
    data: Path
    config: Path
    pid: Path
    log: Path
    jvm_output: Path
    cluster_id: Path


def _kafka_home(settings: Settings) -> Path:
    return settings.dealwatch_home.expanduser().resolve() / "kafka"


def node_count(settings: Settings) -> int:
    """How many nodes this home's local broker has (1 unless `up --brokers N` said more)."""
    try:
        return max(1, int((_kafka_home(settings) / "nodes").read_text()))
    except (FileNotFoundError, ValueError):
        return 1


def _paths(settings: Settings, node: int = 1, count: int = 1) -> _Paths:
    """A single broker's files sit in DEALWATCH_HOME/kafka; a cluster's node N's in node-N."""
    top = _kafka_home(settings)
    home = top if count == 1 else top / f"node-{node}"
    return _Paths(
        home,
        home / "data",
        home / "server.properties",
        home / "broker.pid",
        home / "broker.log",
        home / "broker.out",
        top / "cluster.id",
    )


def _port(settings: Settings, node: int = 1) -> int:
    """Node N's client port; its controller listens on the next one."""
    return settings.dealwatch_kafka_port + 2 * (node - 1)


def cluster_bootstrap(settings: Settings, count: int | None = None) -> str:
    """KAFKA_BOOTSTRAP_SERVERS for this home's local broker or cluster."""
    count = count or node_count(settings)
    return ",".join(f"127.0.0.1:{_port(settings, n)}" for n in range(1, count + 1))


def cache_dir(settings: Settings) -> Path:
    """Where the broker's jars are cached (DEALWATCH_KAFKA_CACHE overrides)."""
    root = os.environ.get("DEALWATCH_KAFKA_CACHE") or Path.home() / ".cache" / "dealwatch"
    return Path(root) / f"kafka-{settings.dealwatch_kafka_version}"


def _require(tool: str, what: str) -> str:
    found = shutil.which(tool)
    if not found:
        raise KafkaLocalError(
            f"`{tool}` not found on PATH: install {what} "
            "(Debian: apt-get install openjdk-17-jdk-headless maven)"
        )
    return found


def assemble(settings: Settings) -> Path:
    """The directory of the broker's jars, downloaded through Maven the first time."""
    libs = cache_dir(settings) / "libs"
    marker = libs / ".complete"
    if marker.exists():
        return libs
    mvn = _require("mvn", "Apache Maven")
    libs.mkdir(parents=True, exist_ok=True)
    command = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(ASSETS / "pom.xml"),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={libs}",
        "-DincludeScope=runtime",
        f"-Dkafka.version={settings.dealwatch_kafka_version}",
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise KafkaLocalError(
            f"mvn could not assemble Kafka {settings.dealwatch_kafka_version} "
            f"from Maven Central:\n{(done.stdout + done.stderr)[-2000:]}"
        )
    marker.write_text(settings.dealwatch_kafka_version)
    return libs


def _java(libs: Path, log: Path, *args: str) -> list[str]:
    java = _require("java", "a JDK (17 or newer)")
    return [
        java,
        "-Xms256m",
        "-Xmx1g",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={ASSETS / 'log4j2.properties'}",
        f"-Ddealwatch.broker.log={log}",
        "-cp",
        f"{libs}/*",
        *args,
    ]


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _ask_cluster(
    bootstrap: str, timeout: float, ask: Callable[[Any], Awaitable[T]], failed: T
) -> T:
    """`ask(admin)` of the cluster at `bootstrap`, or `failed` when it does not answer in
    `timeout` seconds; aiokafka's own lines about the refusal are held back (it is the answer)."""
    from aiokafka.admin import AIOKafkaAdminClient

    async def run() -> T:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000)
        )
        try:
            await asyncio.wait_for(admin.start(), timeout)
            return await asyncio.wait_for(ask(admin), timeout)
        except Exception:
            return failed
        finally:
            await admin.close()

    with quiet("aiokafka"):
        return asyncio.run(run())


def answering(bootstrap: str, timeout: float = 5.0) -> bool:
    """A Kafka broker answers a metadata request at `bootstrap`."""

    async def listed(admin) -> bool:
        await admin.list_topics()
        return True

    return _ask_cluster(bootstrap, timeout, listed, False)


def _pid(paths: _Paths) -> int | None:
    try:
        pid = int(paths.pid.read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None
    return pid


def _local_bootstrap(settings: Settings) -> str:
    return f"127.0.0.1:{settings.dealwatch_kafka_port}"


def listener(port: int) -> tuple[int, str] | None:
    """The pid and command line of the process listening on 127.0.0.1:`port` (Linux /proc),
    or None when nothing listens or it cannot be seen."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cells = row.split()
            if int(cells[1].rsplit(":", 1)[1], 16) == port and cells[3] == "0A":  # LISTEN
                inodes.add(cells[9])
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        links = _links(proc / "fd")
        if any(f"socket:[{inode}]" in links for inode in inodes):
            try:
                command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                command = "?"
            return int(proc.name), command.strip()
    return None


def _links(fds: Path) -> set[str]:
    """What a process's descriptors point at (those that vanish meanwhile are skipped)."""
    links = set()
    try:
        entries = list(fds.iterdir())
    except OSError:
        return links
    for fd in entries:
        try:
            links.add(os.readlink(fd))
        except OSError:
            continue
    return links


def _describe_listener(port: int) -> str:
    found = listener(port)
    if found is None:
        return f"a process this user cannot see listens on 127.0.0.1:{port}"
    pid, command = found
    config = next((a for a in command.split() if a.endswith("server.properties")), None)
    if config and Path(config).parent.name == "kafka":
        return (
            f"pid {pid}, a dealwatch broker of DEALWATCH_HOME={Path(config).parent.parent} "
            "(stop it with that DEALWATCH_HOME)"
        )
    return f"pid {pid}: {command[:160]}"


def status(settings: Settings) -> BrokerStatus:
    """Is our broker (or cluster) running, and does it answer? When not ours, what answers on
    the port? A cluster is running when every node is; each node says what it leads."""
    count = node_count(settings)
    if count > 1:
        return _cluster_status(settings, count)
    paths = _paths(settings)
    pid = _pid(paths)
    port = settings.dealwatch_kafka_port
    bootstrap = _local_bootstrap(settings)
    port_open = _port_open("127.0.0.1", port)
    elsewhere = None
    if pid is None and port_open:
        kind = "a Kafka broker" if answering(bootstrap) else "not Kafka"
        elsewhere = f"{kind}, not this home's: {_describe_listener(port)}"
    up_and_answering = pid is not None and port_open and answering(bootstrap)
    files = open_files(pid) if pid is not None else None
    leads = leadership(bootstrap) if up_and_answering else {}
    node = NodeStatus(
        1, port, pid, up_and_answering, paths.data, paths.log, files, leads.get(1, ())
    )
    return BrokerStatus(
        pid is not None,
        up_and_answering,
        pid,
        bootstrap,
        settings.dealwatch_kafka_version,
        paths.data,
        paths.log,
        elsewhere,
        files,
        (node,),
    )


def _cluster_status(settings: Settings, count: int) -> BrokerStatus:
    bootstrap = cluster_bootstrap(settings, count)
    whole = answering(bootstrap)
    leads = leadership(bootstrap) if whole else {}
    nodes = []
    for n in range(1, count + 1):
        paths = _paths(settings, n, count)
        pid = _pid(paths)
        port = _port(settings, n)
        alive = pid is not None and _port_open("127.0.0.1", port) and answering(f"127.0.0.1:{port}")
        files = open_files(pid) if pid is not None else None
        nodes.append(
            NodeStatus(n, port, pid, alive, paths.data, paths.log, files, leads.get(n, ()))
        )
    first = nodes[0]
    return BrokerStatus(
        all(node.pid is not None for node in nodes),
        whole,
        first.pid,
        bootstrap,
        settings.dealwatch_kafka_version,
        _kafka_home(settings),
        first.log_file,
        None,
        first.open_files,
        tuple(nodes),
    )


def leadership(bootstrap: str, timeout: float = 5.0) -> dict[int, tuple[str, ...]]:
    """Node id -> `topic[p, q]` for the partitions it leads, internal topics left out."""

    async def led(admin) -> dict[int, tuple[str, ...]]:
        cluster = await admin._client.fetch_all_metadata()
        leads: dict[int, dict[str, list[int]]] = {}
        for topic in sorted(cluster.topics(exclude_internal_topics=True)):
            for partition in sorted(cluster.partitions_for_topic(topic) or ()):
                leader = cluster.leader_for_partition(TopicPartition(topic, partition))
                if leader is not None and leader >= 0:
                    leads.setdefault(leader, {}).setdefault(topic, []).append(partition)
        return {
            node: tuple(f"{t}[{', '.join(map(str, ps))}]" for t, ps in topics.items())
            for node, topics in leads.items()
        }

    return _ask_cluster(bootstrap, timeout, led, {})


def _write_config(settings: Settings, paths: _Paths, node: int = 1, count: int = 1) -> None:
    template = (ASSETS / "server.properties").read_text()
    port = _port(settings, node)
    if count == 1:
        quorum = f"controller.quorum.bootstrap.servers=127.0.0.1:{port + 1}"
    else:  # a static quorum of every node
        voters = ",".join(f"{n}@127.0.0.1:{_port(settings, n) + 1}" for n in range(1, count + 1))
        quorum = f"controller.quorum.voters={voters}"
    replicas = min(3, count)
    paths.config.write_text(
        template.format(
            node_id=node,
            quorum=quorum,
            port=port,
            controller_port=port + 1,
            data_dir=paths.data,
            replicas=replicas,
            min_isr=2 if replicas >= 3 else 1,
        )
    )


def _format_once(libs: Path, paths: _Paths, standalone: bool = True) -> None:
    if (paths.data / "meta.properties").exists():
        return
    cluster_id = paths.cluster_id.read_text().strip() if paths.cluster_id.exists() else None
    if not cluster_id or cluster_id.startswith("-"):  # one drawn before the fix above
        cluster_id = _kafka_uuid()
        paths.cluster_id.write_text(cluster_id)
    done = subprocess.run(
        _java(
            libs,
            paths.log,
            "kafka.tools.StorageTool",
            "format",
            *(["--standalone"] if standalone else []),  # a cluster's quorum is in its config
            "--ignore-formatted",
            "-t",
            cluster_id,
            "-c",
            str(paths.config),
        ),
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise KafkaLocalError(
            f"formatting the storage failed:\n{(done.stdout + done.stderr)[-2000:]}"
        )


def _kafka_uuid() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding. One in 64 starts
    with "-", which kafka-storage's argument parser reads as an option; Kafka's own
    `Uuid.randomUuid` draws again for those, and so do we."""
    import base64

    while True:
        drawn = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not drawn.startswith("-"):
            return drawn


def up(settings: Settings, timeout: float = 120.0, brokers: int | None = None) -> BrokerStatus:
    """Start the broker, or the `brokers`-node cluster (idempotent: running nodes are left
    alone, stopped ones started), and wait until it answers."""
    count = _choose_count(settings, brokers)
    if count > 1:
        return _up_cluster(settings, count, timeout)
    paths = _paths(settings)
    port = settings.dealwatch_kafka_port
    if _pid(paths) is not None:
        return _wait(settings, paths, timeout)
    if _port_open("127.0.0.1", port) and answering(_local_bootstrap(settings)):
        return status(settings)  # a broker started elsewhere answers: use it, say whose
    _check_ports_free(settings, paths, 1)
    libs = assemble(settings)
    process = _start_node(settings, libs, 1, 1)
    return _wait(settings, paths, timeout, process)


def _choose_count(settings: Settings, brokers: int | None) -> int:
    """The nodes to run: `brokers` when given (remembered), else what this home ran last. A home
    holds one layout's data: changing the count needs another DEALWATCH_HOME or a fresh one."""
    current = node_count(settings)
    if brokers is None or brokers == current:
        return current
    if brokers < 1:
        raise KafkaLocalError(f"--brokers must be 1 or more, not {brokers}")
    formatted = [
        n
        for n in range(1, current + 1)
        if (_paths(settings, n, current).data / "meta.properties").exists()
    ]
    if formatted:
        raise KafkaLocalError(
            f"{_kafka_home(settings)} holds the data of a {current}-node broker; stop it "
            f"(`dealwatch kafka down`) and use another DEALWATCH_HOME for {brokers} nodes, or "
            f"delete that folder (its log with it)"
        )
    _kafka_home(settings).mkdir(parents=True, exist_ok=True)
    (_kafka_home(settings) / "nodes").write_text(str(brokers))
    return brokers


def _check_ports_free(settings: Settings, paths: _Paths, node: int) -> None:
    port = _port(settings, node)
    for taken in (port, port + 1):
        if _port_open("127.0.0.1", taken):
            raise KafkaLocalError(
                f"port {taken} on 127.0.0.1 is taken by another process ("
                f"{_describe_listener(taken)}), not a dealwatch broker of {paths.home}; stop it, "
                "or set DEALWATCH_KAFKA_PORT (the controller uses the port after it) and "
                "KAFKA_BOOTSTRAP_SERVERS"
            )


def _start_node(settings: Settings, libs: Path, node: int, count: int) -> subprocess.Popen:
    """Configure, format (once) and start node `node` of `count`; its pid goes on file."""
    paths = _paths(settings, node, count)
    paths.data.mkdir(parents=True, exist_ok=True)
    _write_config(settings, paths, node, count)
    _format_once(libs, paths, standalone=count == 1)
    _raise_open_files_limit()
    with paths.jvm_output.open("ab") as output:
        process = subprocess.Popen(
            _java(libs, paths.log, "kafka.Kafka", str(paths.config)),
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    paths.pid.write_text(str(process.pid))
    return process


def _up_cluster(settings: Settings, count: int, timeout: float) -> BrokerStatus:
    """Start every stopped node at once (a quorum needs a majority), wait until each answers."""
    stopped = [n for n in range(1, count + 1) if _pid(_paths(settings, n, count)) is None]
    for node in stopped:
        _check_ports_free(settings, _paths(settings, node, count), node)
    libs = assemble(settings) if stopped else None
    started = {node: _start_node(settings, libs, node, count) for node in stopped}
    deadline = time.monotonic() + timeout
    waiting = set(range(1, count + 1))
    while waiting:
        for node in sorted(waiting):
            process = started.get(node)
            paths = _paths(settings, node, count)
            if process is not None and process.poll() is not None:
                paths.pid.unlink(missing_ok=True)
                raise KafkaLocalError(
                    f"node {node} exited with status {process.returncode}; {_last_words(paths)}"
                )
            address = f"127.0.0.1:{_port(settings, node)}"
            if _port_open("127.0.0.1", _port(settings, node)) and answering(address, 3.0):
                waiting.discard(node)
        if waiting and time.monotonic() > deadline:
            node = min(waiting)
            raise KafkaLocalError(
                f"node {node} did not answer within {timeout:.0f}s; "
                f"{_last_words(_paths(settings, node, count))}"
            )
        if waiting:
            time.sleep(0.5)
    # a node answers before the controller has registered it: topics created in between
    # would get fewer replicas than the cluster has nodes
    bootstrap = cluster_bootstrap(settings, count)
    while (seen := registered_brokers(bootstrap)) < count:
        if time.monotonic() > deadline:
            raise KafkaLocalError(
                f"{seen} of {count} nodes registered with the controller within {timeout:.0f}s"
            )
        time.sleep(0.5)
    return status(settings)


def registered_brokers(bootstrap: str, timeout: float = 5.0) -> int:
    """How many brokers the cluster's metadata lists (0 when it does not answer)."""

    async def counted(admin) -> int:
        return len((await admin._client.fetch_all_metadata()).brokers())

    return _ask_cluster(bootstrap, timeout, counted, 0)


def _raise_open_files_limit() -> None:
    """Raise this process's soft limit on open files to its hard limit; the broker inherits it.
    Kafka keeps a file open per partition segment and per connection, and Linux often starts
    users at 1,024 (Kafka's own docs advise raising it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def open_files(pid: int) -> tuple[int, int] | None:
    """How many descriptors `pid` holds and its soft limit (Linux /proc), or None if unseen."""
    try:
        held = sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir())
        limits = Path(f"/proc/{pid}/limits").read_text().splitlines()
    except OSError:
        return None
    row = next((line for line in limits if line.startswith("Max open files")), None)
    if row is None or not row.split()[3].isdigit():
        return None
    return held, int(row.split()[3])


def _wait(
    settings: Settings, paths: _Paths, timeout: float, process: subprocess.Popen | None = None
) -> BrokerStatus:
    deadline = time.monotonic() + timeout
    bootstrap = _local_bootstrap(settings)
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            paths.pid.unlink(missing_ok=True)
            raise KafkaLocalError(
                f"the broker exited with status {process.returncode}; {_last_words(paths)}"
            )
        if _port_open("127.0.0.1", settings.dealwatch_kafka_port) and answering(bootstrap, 3.0):
            return status(settings)
        time.sleep(0.5)
    raise KafkaLocalError(
        f"the broker did not answer at {bootstrap} within {timeout:.0f}s; {_last_words(paths)}"
    )


def _last_words(paths: _Paths) -> str:
    """The end of the broker's log, and what the JVM printed outside it (a bad option, a crash)."""
    said = f"last lines of {paths.log}:\n{_tail(paths.log)}"
    if paths.jvm_output.exists() and paths.jvm_output.stat().st_size:
        said += f"\nlast lines of {paths.jvm_output}:\n{_tail(paths.jvm_output)}"
    return said


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def down(settings: Settings, timeout: float = 60.0) -> bool:
    """Stop the broker or every node of the cluster (SIGTERM, then SIGKILL after `timeout`);
    True if one was running."""
    count = node_count(settings)
    running = []
    for node in range(1, count + 1):
        paths = _paths(settings, node, count)
        pid = _pid(paths)
        if pid is None:
            paths.pid.unlink(missing_ok=True)
            continue
        os.killpg(pid, signal.SIGTERM)
        running.append((pid, paths, _port(settings, node)))
    deadline = time.monotonic() + timeout
    for pid, paths, port in running:
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
        paths.pid.unlink(missing_ok=True)
        while _port_open("127.0.0.1", port) and time.monotonic() < deadline + 10:
            time.sleep(0.2)
    return bool(running)


def kill_node(settings: Settings, node: int) -> int:
    """SIGKILL node `node` of the local cluster, as a crash would (tests, drills); its pid."""
    count = node_count(settings)
    paths = _paths(settings, node, count)
    pid = _pid(paths)
    if pid is None:
        raise KafkaLocalError(f"node {node} of {_kafka_home(settings)} is not running")
    os.killpg(pid, signal.SIGKILL)
    while _alive(pid):
        time.sleep(0.05)
    paths.pid.unlink(missing_ok=True)
    return pid


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def ensure_broker(settings: Settings) -> BrokerStatus:
    """A broker that answers at KAFKA_BOOTSTRAP_SERVERS: an existing one, or our local one."""
    bootstrap = settings.kafka_bootstrap_servers
    if answering(bootstrap):
        return BrokerStatus(
            True,
            True,
            _pid(_paths(settings)),
            bootstrap,
            settings.dealwatch_kafka_version,
            _paths(settings).data,
            _paths(settings).log,
        )
    if bootstrap.split(",")[0].strip() != _local_bootstrap(settings):
        raise KafkaLocalError(
            f"no Kafka broker answers at {bootstrap}, and it is not the local "
            f"broker's address ({_local_bootstrap(settings)}) to start one"
        )
    return up(settings)
