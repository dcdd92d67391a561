"""A local Apache Kafka broker without Docker: jars from Maven Central, KRaft, one node.

`dealwatch kafka up` assembles the official broker with `mvn dependency:copy-dependencies`
(cached in ~/.cache/dealwatch/kafka-VERSION), formats its storage once, and runs it with the
machine's JDK. The data directory lives under DEALWATCH_HOME, so the log survives down/up.
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
from dataclasses import dataclass
from pathlib import Path

from dealwatch.services.config import Settings

ASSETS = Path(__file__).resolve().parent


class KafkaLocalError(Exception):
    """The local broker cannot be assembled, started or stopped; the message says why."""


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


@dataclass(frozen=True)
class _Paths:
    home: Path
    data: Path
    config: Path
    pid: Path
    log: Path
    jvm_output: Path
    cluster_id: Path


def _paths(settings: Settings) -> _Paths:
    home = settings.dealwatch_home.expanduser().resolve() / "kafka"
    return _Paths(
        home,
        home / "data",
        home / "server.properties",
        home / "broker.pid",
        home / "broker.log",
        home / "broker.out",
        home / "cluster.id",
    )


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


def answering(bootstrap: str, timeout: float = 5.0) -> bool:
    """A Kafka broker answers a metadata request at `bootstrap`."""
    from aiokafka.admin import AIOKafkaAdminClient

    async def probe() -> bool:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000)
        )
        try:
            await asyncio.wait_for(admin.start(), timeout)
            await asyncio.wait_for(admin.list_topics(), timeout)
            return True
        except Exception:
            return False
        finally:
            await admin.close()

    return asyncio.run(probe())


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
    """Is our broker running, and does it answer? When not ours, what answers on the port?"""
    paths = _paths(settings)
    pid = _pid(paths)
    port = settings.dealwatch_kafka_port
    bootstrap = _local_bootstrap(settings)
    port_open = _port_open("127.0.0.1", port)
    elsewhere = None
    if pid is None and port_open:
        kind = "a Kafka broker" if answering(bootstrap) else "not Kafka"
        elsewhere = f"{kind}, not this home's: {_describe_listener(port)}"
    return BrokerStatus(
        pid is not None,
        pid is not None and port_open and answering(bootstrap),
        pid,
        bootstrap,
        settings.dealwatch_kafka_version,
        paths.data,
        paths.log,
        elsewhere,
        open_files(pid) if pid is not None else None,
    )


def _write_config(settings: Settings, paths: _Paths) -> None:
    template = (ASSETS / "server.properties").read_text()
    paths.config.write_text(
        template.format(
            port=settings.dealwatch_kafka_port,
            controller_port=settings.dealwatch_kafka_port + 1,
            data_dir=paths.data,
        )
    )


def _format_once(libs: Path, paths: _Paths) -> None:
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
            "--standalone",
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


def up(settings: Settings, timeout: float = 120.0) -> BrokerStatus:
    """Start the broker (idempotent) and wait until it answers."""
    paths = _paths(settings)
    port = settings.dealwatch_kafka_port
    if _pid(paths) is not None:
        return _wait(settings, paths, timeout)
    if _port_open("127.0.0.1", port) and answering(_local_bootstrap(settings)):
        return status(settings)  # a broker started elsewhere answers: use it, say whose
    for taken in (port, port + 1):
        if _port_open("127.0.0.1", taken):
            raise KafkaLocalError(
                f"port {taken} on 127.0.0.1 is taken by another process ("
                f"{_describe_listener(taken)}), not a dealwatch broker of {paths.home}; stop it, "
                "or set DEALWATCH_KAFKA_PORT (the controller uses the port after it) and "
                "KAFKA_BOOTSTRAP_SERVERS"
            )
    libs = assemble(settings)
    paths.data.mkdir(parents=True, exist_ok=True)
    _write_config(settings, paths)
    _format_once(libs, paths)
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
    return _wait(settings, paths, timeout, process)


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
    """Stop the broker (SIGTERM, then SIGKILL after `timeout`); True if one was running."""
    paths = _paths(settings)
    pid = _pid(paths)
    if pid is None:
        paths.pid.unlink(missing_ok=True)
        return False
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    if _alive(pid):
        os.killpg(pid, signal.SIGKILL)
    paths.pid.unlink(missing_ok=True)
    while (
        _port_open("127.0.0.1", settings.dealwatch_kafka_port) and time.monotonic() < deadline + 10
    ):
        time.sleep(0.2)
    return True


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
