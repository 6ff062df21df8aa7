"""Slack: a bot token and channel, or an incoming-webhook URL (itself a secret)."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connections import ssrf
from connections.kinds.base import Field, Kind, ProbeContext, ProbeResult, bearer, timed

FIELDS = (
    Field("token", "Bot token", secret=True),
    Field("webhookURL", "Incoming webhook URL", secret=True),
    Field("channel", "Channel"),
    Field("botName", "Bot name"),
    Field("apiURL", "API URL", default="https://slack.com/api", endpoint=True),
)


@dataclass(frozen=True)
class SlackSettings:
    api_url: str
    token: str = field(default="", repr=False)
    webhook_url: str = field(default="", repr=False)
    channel: str = ""
    bot_name: str = ""


def settings(block: Mapping[str, Any]) -> SlackSettings:
    return SlackSettings((block.get("apiURL") or "https://slack.com/api").rstrip("/"),
                         block.get("token") or "", block.get("webhookURL") or "",
                         block.get("channel") or "", block.get("botName") or "")


def validate(block: Mapping[str, Any]) -> dict[str, str]:
    if not block.get("token") and not block.get("webhookURL"):
        return {"token": "Give a bot token or an incoming webhook URL."}
    if block.get("token") and not block.get("channel"):
        return {"channel": "A bot token needs a channel to post to."}
    return {}


def probe(conf: SlackSettings, ctx: ProbeContext) -> ProbeResult:
    """auth.test with a token; a webhook only gets a GET, which posts nothing."""

    def run() -> ProbeResult:
        if conf.token:
            response = ssrf.request("POST", f"{conf.api_url}/auth.test", policy=ctx.policy,
                                    headers={**bearer(conf.token),
                                             "Content-Type": "application/x-www-form-urlencoded"},
                                    body=b"", tls=ctx.tls)
            answer = response.json() if response.ok else None
            if not isinstance(answer, dict):
                return ProbeResult(False, f"auth.test: HTTP {response.status}")
            if not answer.get("ok"):
                return ProbeResult(False, f"auth.test: {str(answer.get('error', 'failed'))[:80]}")
            return ProbeResult(True, f"auth.test ok: {answer.get('user', '?')} in "
                                     f"{answer.get('team', '?')}")
        response = ssrf.request("GET", conf.webhook_url, policy=ctx.policy, tls=ctx.tls)
        ok = response.status < 500 and response.status != 404
        return ProbeResult(ok, f"webhook reachable: HTTP {response.status}" if ok
                           else f"webhook: HTTP {response.status}")

    return timed(run)


KIND = Kind("slack", "Slack", FIELDS, settings, probe, validate, summary="auth.test")
