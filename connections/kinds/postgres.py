"""PostgreSQL: host, port, database and credentials, or a DSN template; probe is SELECT 1."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connections import ssrf
from connections.errors import ConnectionFailure
from connections.kinds.base import CHOICE, INT, Field, Kind, ProbeContext, ProbeResult, timed

SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")

FIELDS = (
    Field("host", "Host", endpoint=True),
    Field("port", "Port", INT, default=5432),
    Field("database", "Database"),
    Field("username", "Username", envvar=True),
    Field("password", "Password", secret=True),
    Field("sslMode", "SSL mode", CHOICE, default="prefer", choices=SSL_MODES),
    Field("url", "DSN", help="Instead of the fields: postgres://$(username):$(password)@host/db"),
)


@dataclass(frozen=True)
class SQLSettings:
    host: str
    port: int
    database: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    ssl_mode: str = "prefer"


def settings(block: Mapping[str, Any]) -> SQLSettings:
    values = {"host": block.get("host") or "", "port": int(block.get("port") or 5432),
              "database": block.get("database") or "", "username": block.get("username") or "",
              "password": block.get("password") or "", "ssl_mode": block.get("sslMode") or "prefer"}
    if block.get("url"):
        from psycopg.conninfo import conninfo_to_dict

        try:
            parsed = conninfo_to_dict(block["url"])
        except Exception:  # psycopg echoes the DSN, password included, in its message
            raise ConnectionFailure("url: not a valid PostgreSQL DSN") from None
        mapping = {"host": "host", "port": "port", "dbname": "database", "user": "username",
                   "password": "password", "sslmode": "ssl_mode"}
        for key, name in mapping.items():
            if parsed.get(key):
                values[name] = int(parsed[key]) if name == "port" else str(parsed[key])
    if not values["host"]:
        raise ConnectionFailure("host: required (or a DSN in url)")
    return SQLSettings(**values)


def validate(block: Mapping[str, Any]) -> dict[str, str]:
    if not block.get("host") and not block.get("url"):
        return {"host": "Give a host, or a DSN in url."}
    return {}


def connect(conf: SQLSettings, policy: ssrf.Policy) -> Any:
    """A psycopg connection to the pinned, checked address; SNI and certificates use the name."""
    import psycopg

    ip = ssrf.pin(conf.host, conf.port, policy)
    return psycopg.connect(
        host=conf.host, hostaddr=ip, port=conf.port, dbname=conf.database or None,
        user=conf.username or None, password=conf.password or None, sslmode=conf.ssl_mode,
        connect_timeout=int(policy.timeout), application_name="flightdeck", autocommit=True)


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:300]


def probe(conf: SQLSettings, ctx: ProbeContext) -> ProbeResult:
    import psycopg

    def run() -> ProbeResult:
        try:
            with connect(conf, ctx.policy) as conn:
                value = conn.execute("SELECT 1").fetchone()
                version = conn.info.server_version
        except psycopg.Error as exc:
            return ProbeResult(False, f"connect failed: {_first_line(exc)}")
        major, minor = version // 10000, version % 10000
        return ProbeResult(value == (1,), f"SELECT 1 ok on PostgreSQL {major}.{minor}")

    return timed(run)


KIND = Kind("postgres", "PostgreSQL", FIELDS, settings, probe, validate,
            summary="connect and SELECT 1")
