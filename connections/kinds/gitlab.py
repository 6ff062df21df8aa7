"""GitLab: a token and an API URL (self-managed or a test stub); probe looks up the user."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connections.kinds.base import Field, Kind, ProbeContext, ProbeResult, api_user_probe

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
    return api_user_probe(conf.api_url, conf.headers(), ctx, "username")


KIND = Kind("gitlab", "GitLab", FIELDS, settings, probe, summary="API user lookup")
