"""The verdict every health handler returns, and how several verdicts combine."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

HEALTHY = "healthy"
UNHEALTHY = "unhealthy"
WARNING = "warning"
UNKNOWN = "unknown"
HEALTH_VALUES = (HEALTHY, UNHEALTHY, WARNING, UNKNOWN)

# unhealthy > warning > healthy > unknown, so unknown never turns a parent amber.
_RANK = {UNKNOWN: 0, HEALTHY: 1, WARNING: 2, UNHEALTHY: 3}


@dataclass(frozen=True)
class Health:
    """One object's verdict: the RAG colour, a short status word, convergence and the reason."""

    health: str
    status: str = ""
    ready: bool = False
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        """CEL activations and JSON output want plain values, not a dataclass."""
        return {
            "health": self.health,
            "status": self.status,
            "ready": self.ready,
            "message": self.message,
        }


Handler = Callable[[Mapping[str, Any], datetime], Health]


def worst(*healths: str | Health) -> str:
    """Graph badges and group summaries show the worst member, but unknown never wins."""
    result = UNKNOWN
    for item in healths:
        value = item.health if isinstance(item, Health) else item
        if _RANK.get(value, 0) > _RANK[result]:
            result = value
    return result


def severity(verdict: Health) -> int:
    """Order verdicts by how much they tell a person: broken, amber, paused, busy, fine."""
    if verdict.health == UNHEALTHY:
        return 4
    if verdict.health == WARNING:
        return 3
    if verdict.health == UNKNOWN:
        return 2
    return 0 if verdict.ready else 1


def healthy(status: str, message: str = "", ready: bool = True) -> Health:
    """Most verdicts are healthy; spelling them out everywhere would bury the interesting ones."""
    return Health(HEALTHY, status, ready, message)


def progressing(status: str, message: str = "") -> Health:
    """Healthy but still converging: a rollout, a pull, a reconcile."""
    return Health(HEALTHY, status, False, message)


def unhealthy(status: str, message: str = "", ready: bool = False) -> Health:
    """Broken; `ready` stays False unless the object has stopped trying (a failed Job)."""
    return Health(UNHEALTHY, status, ready, message)


def warning(status: str, message: str = "", ready: bool = False) -> Health:
    """Working, but a person should look soon."""
    return Health(WARNING, status, ready, message)


def unknown(status: str = "Unknown", message: str = "", ready: bool = False) -> Health:
    """We cannot tell, or the object is deliberately idle (stopped, suspended)."""
    return Health(UNKNOWN, status, ready, message)
