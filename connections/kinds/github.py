"""GitHub: a token and an API URL (GitHub Enterprise or a test stub); probe looks up the user."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connections.kinds.base import (
    Field,
    Kind,
    ProbeContext,
    ProbeResult,
    api_user_probe,
    bearer,
)

FIELDS = (
    Field("apiURL", "API URL", default="https://api.github.com", endpoint=True),
    Field("url", "Repository URL"),
    Field("ref", "Ref"),
    Field("token", "Token", required=True, secret=True),
)


@dataclass(frozen=True)
class GitHubSettings:
    api_url: str
    token: str = field(repr=False)
    url: str = ""
    ref: str = ""

    def headers(self) -> dict[str, str]:
        return {**bearer(self.token), "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28"}


def settings(block: Mapping[str, Any]) -> GitHubSettings:
    return GitHubSettings((block.get("apiURL") or "https://api.github.com").rstrip("/"),
                          block.get("token") or "", block.get("url") or "", block.get("ref") or "")


def probe(conf: GitHubSettings, ctx: ProbeContext) -> ProbeResult:
    return api_user_probe(conf.api_url, conf.headers(), ctx, "login")


KIND = Kind("github", "GitHub", FIELDS, settings, probe, summary="API user lookup")
