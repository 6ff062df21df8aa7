"""GitLab: a token and an API URL (self-managed or a test stub); probe looks up the user."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connections import ssrf
from connections.kinds.base import Field, Kind, ProbeContext, ProbeResult, timed

FIELDS = (
    Field("apiURL", "API URL", default="https://gitlab.com/api/v4", endpoint=True),
    Field("url", "Repository URL"),
    Field("ref", "Ref"),
    Field("token", "Token", required=True, secret=True),
)


@dataclass(frozen=True)
class GitLabSettings:
    api_url: str
    token: str = field(repr=False)
    url: str = ""
    ref: str = ""

    def headers(self) -> dict[str, str]:
        return {"PRIVATE-TOKEN": self.token, "Accept": "application/json"}


def settings(block: Mapping[str, Any]) -> GitLabSettings:
    return GitLabSettings((block.get("apiURL") or "https://gitlab.com/api/v4").rstrip("/"),
                          block.get("token") or "", block.get("url") or "", block.get("ref") or "")


def probe(conf: GitLabSettings, ctx: ProbeContext) -> ProbeResult:
    def run() -> ProbeResult:
        response = ssrf.request("GET", f"{conf.api_url}/user", policy=ctx.policy,
                                headers=conf.headers(), tls=ctx.tls)
        if not response.ok:
            return ProbeResult(False, f"GET /user: HTTP {response.status} {response.reason}")
        username = (response.json() or {}).get("username", "?")
        return ProbeResult(True, f"authenticated as {username}")

    return timed(run)


KIND = Kind("gitlab", "GitLab", FIELDS, settings, probe, summary="API user lookup")
