"""Webhook: a URL, a method, and headers that usually carry a token (so they are secret)."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connections import ssrf
from connections.kinds.base import (
    CHOICE,
    TEXT,
    Field,
    Kind,
    ProbeContext,
    ProbeResult,
    timed,
)
from connections.kinds.http import header_map

FIELDS = (
    Field("url", "URL", required=True, endpoint=True),
    Field("method", "Method", CHOICE, default="POST", choices=("POST", "PUT", "PATCH", "GET")),
    Field("headers", "Headers", TEXT, secret=True, help="One 'Name: value' per line."),
)


@dataclass(frozen=True)
class WebhookSettings:
    url: str = field(repr=False)  # webhook URLs often embed their token
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    tls: ssrf.TLSOptions = field(default_factory=ssrf.TLSOptions)


def settings(block: Mapping[str, Any]) -> WebhookSettings:
    return WebhookSettings(block["url"], block.get("method") or "POST",
                           header_map(block.get("headers")),
                           ssrf.TLSOptions(insecure=bool(block.get("_insecure"))))


def probe(conf: WebhookSettings, ctx: ProbeContext) -> ProbeResult:
    """OPTIONS first, HEAD when the receiver refuses it: neither delivers a message."""

    def run() -> ProbeResult:
        response = ssrf.request("OPTIONS", conf.url, policy=ctx.policy, headers=conf.headers,
                                tls=conf.tls)
        verb = "OPTIONS"
        if response.status in (404, 405, 501):
            verb = "HEAD"
            response = ssrf.request("HEAD", conf.url, policy=ctx.policy, headers=conf.headers,
                                    tls=conf.tls)
        ok = response.status < 400 or response.status == 405
        return ProbeResult(ok, f"{verb}: HTTP {response.status} {response.reason}".strip())

    return timed(run)


KIND = Kind("webhook", "Webhook", FIELDS, settings, probe, summary="OPTIONS or HEAD url")
