"""The registry of connection kinds: one module per type, each building one `Kind`."""

from connections.kinds import (
    aws,
    azure,
    gcp,
    git,
    github,
    gitlab,
    http,
    kubernetes,
    mysql,
    postgres,
    slack,
    smtp,
    webhook,
)
from connections.kinds.base import Field, Kind, ProbeContext, ProbeResult

KINDS: dict[str, Kind] = {
    module.KIND.name: module.KIND
    for module in (kubernetes, http, postgres, mysql, git, github, gitlab, slack, smtp, webhook,
                   aws, gcp, azure)
}

__all__ = ["KINDS", "Field", "Kind", "ProbeContext", "ProbeResult"]
