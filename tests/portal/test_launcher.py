"""The launcher finds or starts real PostgreSQL and Redis servers; these tests start their own."""

import os
import pwd
import shlex
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from portal.launcher import (
    LOCAL_DATABASE_URL,
    LOCAL_REDIS_URL,
    postgres_binaries,
    redact,
    with_redis_db,
)

REPO = Path(__file__).resolve().parents[2]
Private = tuple[dict[str, str], subprocess.CompletedProcess[str]]


def launcher(command: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI as the Makefile does, with none of the caller's service variables."""
    clean = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("FLIGHTDECK_") and name not in ("DATABASE_URL", "REDIS_URL")
    }
    return subprocess.run(
        [sys.executable, "-m", "portal.launcher", *command],
        cwd=REPO,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def exports(stdout: str) -> dict[str, str]:
    """`export NAME=value` lines, unquoted the way a shell would."""
    pairs = {}
    for line in stdout.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        pairs[name] = shlex.split(value)[0]
    return pairs


def database_answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)
    except psycopg.OperationalError:
        return False


def redis_pings(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False
    finally:
        client.close()


def missing_for_private_servers() -> list[str]:
    """What the private mode needs and this machine lacks; empty when it can run."""
    missing = []
    if postgres_binaries() is None:
        missing.append("PostgreSQL server binaries (initdb, pg_ctl)")
    if shutil.which("redis-server") is None:
        missing.append("redis-server")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            missing.append("a 'postgres' user (root may not run the server)")
    return missing


@pytest.fixture(scope="session")
def private_tools() -> None:
    # CI must not go green by skipping the mode it exists to check: a missing tool fails.
    if missing := missing_for_private_servers():
        pytest.fail(f"private servers need {', '.join(missing)}; install Debian's packages: "
                    "apt-get install -y postgresql redis-server", pytrace=False)


@pytest.fixture(scope="session")
def local_services() -> None:
    if not database_answers(LOCAL_DATABASE_URL.rsplit("/", 1)[0] + "/postgres"):
        pytest.fail(f"no PostgreSQL answers at {LOCAL_DATABASE_URL}; the test suite needs the "
                    "shared server on 127.0.0.1:5432", pytrace=False)
    if not redis_pings(LOCAL_REDIS_URL):
        pytest.fail(f"no Redis answers at {LOCAL_REDIS_URL}; the test suite needs the shared "
                    "server on 127.0.0.1:6379", pytrace=False)


needs_private = pytest.mark.usefixtures("private_tools")
needs_local = pytest.mark.usefixtures("local_services")


def private_settings(pg_port: int, redis_port: int, **extra: str) -> dict[str, str]:
    """Own folder and ports, so the tests never meet a developer's running servers."""
    folder = Path(tempfile.gettempdir()) / f"flightdeck-test-{uuid.uuid4().hex[:8]}"
    return {
        "FLIGHTDECK_SERVICES": "private",
        "FLIGHTDECK_PRIVATE_DIR": str(folder),
        "FLIGHTDECK_PRIVATE_PG_PORT": str(pg_port),
        "FLIGHTDECK_PRIVATE_REDIS_PORT": str(redis_port),
        **extra,
    }


@pytest.fixture(scope="module")
def private(private_tools: None) -> Iterator[Private]:
    settings = private_settings(55433, 6393, FLIGHTDECK_THROWAWAY="1")
    first = launcher(["env"], **settings)
    try:
        assert first.returncode == 0, first.stderr
        yield settings, first
    finally:
        launcher(["stop"], **settings)
        shutil.rmtree(settings["FLIGHTDECK_PRIVATE_DIR"], ignore_errors=True)


@needs_private
def test_private_database_url_answers(private):
    _, first = private

    assert database_answers(exports(first.stdout)["DATABASE_URL"])


@needs_private
def test_private_database_url_names_the_flightdeck_database(private):
    _, first = private

    with psycopg.connect(exports(first.stdout)["DATABASE_URL"]) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("flightdeck",)


@needs_private
def test_private_redis_url_answers_ping(private):
    _, first = private

    assert redis_pings(exports(first.stdout)["REDIS_URL"])


@needs_private
def test_private_second_call_reuses_the_running_servers(private):
    settings, first = private
    postmaster = Path(settings["FLIGHTDECK_PRIVATE_DIR"]) / "pg" / "data" / "postmaster.pid"
    redis_pid = Path(settings["FLIGHTDECK_PRIVATE_DIR"]) / "redis" / "redis.pid"
    before = (postmaster.read_text(), redis_pid.read_text())

    second = launcher(["env"], **settings)

    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout
    assert (postmaster.read_text(), redis_pid.read_text()) == before


@needs_private
def test_throwaway_private_cluster_runs_without_fsync(private):
    _, first = private

    with psycopg.connect(exports(first.stdout)["DATABASE_URL"]) as conn:
        assert conn.execute("SHOW fsync").fetchone() == ("off",)


@needs_private
def test_private_choice_is_announced_without_starting_anything_twice(private):
    settings, _ = private

    again = launcher(["env"], **settings)

    assert "database from private" in again.stderr
    assert "started" not in again.stderr


@needs_private
def test_test_command_fails_when_pytest_collects_nothing(private, tmp_path):
    settings, _ = private

    result = launcher(["test", "--", "-p", "no:cacheprovider", "-q", str(tmp_path)], **settings)

    assert result.returncode == 1
    assert "collected no tests" in result.stderr


@needs_private
def test_exec_runs_a_command_with_the_discovered_urls(private):
    settings, first = private
    show = "import os; print(os.environ['DATABASE_URL']); print(os.environ['REDIS_URL'])"

    result = launcher(["exec", "--", sys.executable, "-c", show], **settings)

    urls = exports(first.stdout)
    assert result.stdout.split() == [urls["DATABASE_URL"], urls["REDIS_URL"]]


@needs_private
def test_stop_shuts_private_servers_down():
    settings = private_settings(55434, 6394)
    try:
        started = launcher(["env"], **settings)
        assert started.returncode == 0, started.stderr
        urls = exports(started.stdout)

        stopped = launcher(["stop"], **settings)

        assert stopped.returncode == 0, stopped.stderr
        assert not database_answers(urls["DATABASE_URL"])
        assert not redis_pings(urls["REDIS_URL"])
    finally:
        launcher(["stop"], **settings)
        shutil.rmtree(settings["FLIGHTDECK_PRIVATE_DIR"], ignore_errors=True)


@needs_local
def test_auto_uses_the_servers_on_standard_ports(tmp_path):
    folder = tmp_path / "never-created"

    result = launcher(["env"], FLIGHTDECK_SERVICES="auto", FLIGHTDECK_PRIVATE_DIR=str(folder))

    assert result.returncode == 0, result.stderr
    assert exports(result.stdout) == {
        "DATABASE_URL": LOCAL_DATABASE_URL,
        "REDIS_URL": LOCAL_REDIS_URL,
    }
    assert not folder.exists()


@needs_local
def test_auto_prefers_urls_set_in_the_environment():
    database_url = "postgresql://postgres@localhost:5432/flightdeck"
    redis_url = "redis://localhost:6379/0"

    result = launcher(["env"], DATABASE_URL=database_url, REDIS_URL=redis_url)

    assert exports(result.stdout) == {"DATABASE_URL": database_url, "REDIS_URL": redis_url}


def test_forced_external_without_database_url_fails_with_a_clear_message():
    result = launcher(["env"], FLIGHTDECK_SERVICES="external", REDIS_URL=LOCAL_REDIS_URL)

    assert result.returncode == 1
    assert "FLIGHTDECK_SERVICES=external needs DATABASE_URL" in result.stderr
    assert result.stdout == ""


def test_unknown_services_mode_is_refused():
    result = launcher(["env"], FLIGHTDECK_SERVICES="docker")

    assert result.returncode == 1
    assert "'docker' is not one of auto, external, private, embedded" in result.stderr


def test_redact_hides_the_password():
    assert (
        redact("postgres://app:s3cret@db:5432/flightdeck")
        == "postgres://app:***@db:5432/flightdeck"
    )


def test_redact_keeps_urls_without_password():
    assert redact(LOCAL_DATABASE_URL) == LOCAL_DATABASE_URL


def test_tests_get_their_own_redis_database():
    assert with_redis_db("redis://:pw@127.0.0.1:6379/0", 15) == "redis://:pw@127.0.0.1:6379/15"
