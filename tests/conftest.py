"""Shared fixtures: real PostgreSQL, Redis and a Celery worker; personas alice, bob and carol.

alice is an editor granted view on the payments scraper, bob is granted view on one item only,
carol has a login and nothing else; root is a superuser.
"""

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("FLIGHTDECK_SECURE_SSL", "0")

ROOT = Path(__file__).resolve().parent.parent


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05,
             message: str = "condition") -> Any:
    """Await a condition instead of sleeping a fixed time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def make_person(email: str, *roles: str, superuser: bool = False) -> Any:
    from django.contrib.auth.models import Group

    from accounts.models import Person

    if superuser:
        person = Person.objects.create_superuser(email, "pw-" + email)
    else:
        person = Person.objects.create_user(email, "pw-" + email)
    for role in roles:
        person.groups.add(Group.objects.get(name=role))
    return person


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """A test database per run: two suites on one server (CI, a developer) never collide."""
    from django.conf import settings

    suffix = os.environ.get("FLIGHTDECK_TEST_DB_SUFFIX") or str(os.getpid())
    for db in settings.DATABASES.values():
        db.setdefault("TEST", {})
        db["TEST"]["NAME"] = f"test_{db['NAME']}_{suffix}"


@pytest.fixture
def root(db: None) -> Any:
    return make_person("root@example.com", "admin", superuser=True)


@pytest.fixture
def alice(db: None) -> Any:
    return make_person("alice@example.com", "editor")


@pytest.fixture
def bob(db: None) -> Any:
    return make_person("bob@example.com", "viewer")


@pytest.fixture
def carol(db: None) -> Any:
    return make_person("carol@example.com", "viewer")


@pytest.fixture
def manifests(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a manifest file under a temporary folder: manifests("a.yaml", "...")."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / "src" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    return write


def start_worker(queues: str = "scrape,default,playbooks", **env_extra: str) -> subprocess.Popen:
    """A real Celery worker on the test database, in a process group of its own (killpg)."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    url = (f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
           f"{db['NAME']}")
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": settings.REDIS_URL, **env_extra}
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "-Q", queues,
         "--pool", "solo", "--without-gossip", "--without-mingle", "--without-heartbeat",
         "-l", "WARNING"],
        cwd=ROOT, env=env, start_new_session=True,
    )


def stop_worker(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """A real Celery worker on the test database and the tests' Redis database."""
    from django.conf import settings
    from redis import Redis

    Redis.from_url(settings.REDIS_URL).flushdb()
    proc = start_worker()
    try:
        yield
    finally:
        stop_worker(proc)
