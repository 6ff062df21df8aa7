"""MySQL: same fields as PostgreSQL; without a MySQL driver the probe reads the server greeting."""

from collections.abc import Mapping
from typing import Any

from connections import ssrf
from connections.kinds.base import CHOICE, INT, Field, Kind, ProbeContext, ProbeResult, timed
from connections.kinds.postgres import SQLSettings

SSL_MODES = ("DISABLED", "PREFERRED", "REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY")

FIELDS = (
    Field("host", "Host", required=True, endpoint=True),
    Field("port", "Port", INT, default=3306),
    Field("database", "Database"),
    Field("username", "Username", envvar=True),
    Field("password", "Password", secret=True),
    Field("sslMode", "SSL mode", CHOICE, default="PREFERRED", choices=SSL_MODES),
)


def settings(block: Mapping[str, Any]) -> SQLSettings:
    return SQLSettings(block["host"], int(block.get("port") or 3306), block.get("database") or "",
                       block.get("username") or "", block.get("password") or "",
                       block.get("sslMode") or "PREFERRED")


def greeting(payload: bytes) -> str:
    """Server version from a protocol-10 handshake packet, or the server's error text."""
    if len(payload) < 5:
        raise ValueError("short packet")
    body = payload[4:]
    if body[0] == 0xFF:
        raise ValueError(body[3:].decode(errors="replace")[:200])
    if body[0] != 10:
        raise ValueError(f"unexpected protocol {body[0]}")
    return body[1:body.index(b"\0", 1)].decode(errors="replace")


def probe(conf: SQLSettings, ctx: ProbeContext) -> ProbeResult:
    """No MySQL driver is installed, so SELECT 1 cannot run: the handshake proves reachability."""

    def run() -> ProbeResult:
        sock, _ip = ssrf.open_socket(conf.host, conf.port, ctx.policy)
        with sock:
            sock.settimeout(ctx.policy.timeout)
            try:
                version = greeting(sock.recv(4096))
            except (ValueError, OSError) as exc:
                return ProbeResult(False, f"no MySQL handshake: {exc}")
        return ProbeResult(True, f"MySQL {version} reachable; credentials not checked (SELECT 1 "
                                 "needs a MySQL driver, which is not installed)")

    return timed(run)


KIND = Kind("mysql", "MySQL", FIELDS, settings, probe,
            summary="server handshake (no MySQL driver installed)")
