"""SMTP: host, port and credentials; probe is EHLO, STARTTLS, AUTH and NOOP, never a message."""

import smtplib
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connections import ssrf
from connections.kinds.base import BOOL, INT, Field, Kind, ProbeContext, ProbeResult, timed

FIELDS = (
    Field("host", "Host", required=True, endpoint=True),
    Field("port", "Port", INT, default=587),
    Field("username", "Username", envvar=True),
    Field("password", "Password", secret=True),
    Field("from", "From address"),
    Field("starttls", "STARTTLS", BOOL, default=True),
)


@dataclass(frozen=True)
class SMTPSettings:
    host: str
    port: int = 587
    username: str = ""
    password: str = field(default="", repr=False)
    sender: str = ""
    starttls: bool = True


def settings(block: Mapping[str, Any]) -> SMTPSettings:
    starttls = block.get("starttls")
    return SMTPSettings(block["host"], int(block.get("port") or 587), block.get("username") or "",
                        block.get("password") or "", block.get("from") or "",
                        True if starttls is None else bool(starttls))


class PinnedSMTP(smtplib.SMTP):
    """Connects to the checked address while STARTTLS still verifies the host name."""

    def __init__(self, policy: ssrf.Policy) -> None:
        self._policy = policy
        super().__init__(timeout=policy.timeout)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock, _ip = ssrf.open_socket(host, port, self._policy)
        return sock


def connect(conf: SMTPSettings, ctx: ProbeContext) -> smtplib.SMTP:
    client = PinnedSMTP(ctx.policy)
    client.connect(conf.host, conf.port)
    client.ehlo()
    if conf.starttls and client.has_extn("starttls"):
        client.starttls(context=ssrf.ssl_context(ctx.tls))
        client.ehlo()
    if conf.username:
        client.login(conf.username, conf.password)
    return client


def probe(conf: SMTPSettings, ctx: ProbeContext) -> ProbeResult:
    def run() -> ProbeResult:
        try:
            client = connect(conf, ctx)
            try:
                code, _ = client.noop()
            finally:
                client.quit()
        except smtplib.SMTPAuthenticationError as exc:
            return ProbeResult(False, f"AUTH refused ({exc.smtp_code})")
        except (smtplib.SMTPException, OSError) as exc:
            return ProbeResult(False, f"SMTP: {exc.__class__.__name__}")
        auth = " + AUTH" if conf.username else ""
        return ProbeResult(code == 250, f"EHLO{auth} + NOOP ok ({code})")

    return timed(run)


KIND = Kind("smtp", "SMTP", FIELDS, settings, probe, summary="EHLO + AUTH")
