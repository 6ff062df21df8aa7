"""The benchmark's own database on the shared server: created, migrated, measured and dropped.

Nothing here touches another database: every statement runs on `flightdeck_bench_<pid>`, except
CREATE/DROP DATABASE of that very name, issued from the server's maintenance database.
"""

import os
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"
# The rows "written" by a re-scrape: the wide item row, its change rows and its edges.
WRITE_TABLES = ("catalog_configitem", "catalog_configchange", "catalog_configrelationship")
SEEN_TABLE = "catalog_configitemseen"
CATALOG_TABLES = (*WRITE_TABLES, SEEN_TABLE, "catalog_configinsight", "portal_event")


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


class BenchDatabase:
    """One throwaway database per run, so a benchmark never sees or harms anyone's data."""

    def __init__(self, server_url: str | None = None, name: str | None = None) -> None:
        self.server_url = server_url or os.environ.get("DATABASE_URL") or DEFAULT_SERVER
        self.name = name or f"flightdeck_bench_{os.getpid()}"
        self.url = with_database(self.server_url, self.name)
        self.created = False

    # -- lifecycle ---------------------------------------------------------------------------

    def create(self) -> None:
        with psycopg.connect(with_database(self.server_url, "postgres"), autocommit=True) as c:
            c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
        self.created = True

    def drop(self) -> None:
        if not self.created:
            return
        with psycopg.connect(with_database(self.server_url, "postgres"), autocommit=True) as c:
            c.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name))
            )
        self.created = False

    def env(self) -> dict[str, str]:
        """Production-like settings for child processes: DEBUG off, no query log in memory."""
        return {
            **os.environ,
            "DATABASE_URL": self.url,
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DEBUG": "0",
            "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-only-secret-key-" + "x" * 40,
            "FLIGHTDECK_SECURE_SSL": "0",
            # A throwaway connection-secret key: the bench stores no secrets, but production
            # settings refuse to start without one.
            "FLIGHTDECK_SECRET_KEYS": os.environ.get("FLIGHTDECK_SECRET_KEYS")
            or "VbTMDKiGpAenpX8owCeInQEba4cxosgPf4CygDIs04E=",
            "FLIGHTDECK_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }

    def migrate(self) -> None:
        result = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode:
            raise RuntimeError(f"migrate failed:\n{result.stdout}\n{result.stderr}")

    # -- access ------------------------------------------------------------------------------

    @contextmanager
    def connect(self, autocommit: bool = True) -> Iterator[psycopg.Connection]:
        with psycopg.connect(self.url, autocommit=autocommit) as conn:
            yield conn

    def execute(self, *statements: str) -> None:
        """Statements on a connection that closes at once, so its statistics flush promptly."""
        with self.connect() as conn:
            for statement in statements:
                conn.execute(statement)

    def truncate_catalog(self) -> None:
        # CASCADE reaches only tables of this throwaway database that point at catalog items.
        self.execute(f"TRUNCATE {', '.join(CATALOG_TABLES)} CASCADE", "CHECKPOINT")

    def settings(self) -> dict[str, str]:
        with self.connect() as conn:
            out = {}
            for name in ("server_version", "shared_buffers", "fsync", "synchronous_commit"):
                out[name] = conn.execute(
                    sql.SQL("SHOW {}").format(sql.Identifier(name))
                ).fetchone()[0]
            return out

    # -- write statistics --------------------------------------------------------------------

    def _counts(self, conn: psycopg.Connection, tables: Iterable[str]) -> dict[str, int]:
        rows = conn.execute(
            "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables "
            "WHERE relname = ANY(%s)",
            [list(tables)],
        ).fetchall()
        return {name: int(n) for name, n in rows}

    def settled_counts(self, gone_pid: int | None = None, timeout: float = 15.0) -> dict[str, int]:
        """Cumulative writes per table once the writer has exited and its stats have landed.

        PostgreSQL 15 flushes a backend's counters at transaction end (rate-limited) and at exit,
        shortly after the backend leaves pg_stat_activity; so wait for the pid to go, then poll
        until two reads 100 ms apart agree. Each read is its own transaction (fresh snapshot).
        """
        tables = (*WRITE_TABLES, SEEN_TABLE)
        deadline = time.monotonic() + timeout
        with self.connect() as conn:
            if gone_pid is not None:
                while conn.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE pid = %s", [gone_pid]
                ).fetchone():
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"backend {gone_pid} did not exit")
                    time.sleep(0.01)
            last = self._counts(conn, tables)
            while True:
                time.sleep(0.1)
                now = self._counts(conn, tables)
                if now == last or time.monotonic() > deadline:
                    return now
                last = now
