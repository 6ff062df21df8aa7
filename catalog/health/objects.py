"""Defensive readers for raw documents: scraped objects are untyped and sometimes malformed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@lru_cache(maxsize=1024)
def _steps(path: str) -> tuple[str | int, ...]:
    """`a.b[0]` as ("a", "b", 0), parsed once per distinct path (handlers reuse a few dozen)."""
    return tuple(int(index) if index else key for key, index in _SEGMENT.findall(path))


def _is_mapping(value: Any) -> bool:
    # Parsed JSON is plain dicts; the ABC check is several times slower, so it comes second.
    return isinstance(value, dict) or isinstance(value, Mapping)


def dig(obj: Any, path: str, default: Any = None, *, ignore_case: bool = False) -> Any:
    """Follow `a.b[0].c` without raising, because any level may be missing or the wrong shape."""
    current = obj
    for step in _steps(path):
        if isinstance(step, int):
            if not isinstance(current, list) or step >= len(current):
                return default
            current = current[step]
            continue
        if not _is_mapping(current):
            return default
        if step in current:
            current = current[step]
        elif ignore_case:
            folded = step.casefold()
            match = next(
                (k for k in current if isinstance(k, str) and k.casefold() == folded), None
            )
            if match is None:
                return default
            current = current[match]
        else:
            return default
    return default if current is None else current


def mapping(value: Any) -> Mapping[str, Any]:
    """A field that should be an object but is absent or garbled reads as empty."""
    return value if _is_mapping(value) else {}


def items(value: Any) -> list[Mapping[str, Any]]:
    """Lists of objects (containers, conditions) skipping entries of the wrong shape."""
    if not isinstance(value, list):
        return []
    return [entry for entry in value if _is_mapping(entry)]


def text(value: Any) -> str:
    """Strings stay, numbers and booleans print, everything else is empty."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return ""


def number(value: Any, default: int = 0) -> int:
    """Replica counts arrive as ints, strings or nothing at all."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return default


def timestamp(value: Any) -> datetime | None:
    """RFC 3339 text (or a datetime) as an aware UTC datetime; garbage gives None."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value.strip():
        return None
    raw = value.strip().replace(" ", "T", 1)
    # fromisoformat accepts at most microseconds; Go may print nanoseconds.
    raw = re.sub(r"(\.\d{6})\d+", r"\1", raw)
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def conditions(obj: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """`status.conditions` by type; a later duplicate wins, as it does in kubectl describe."""
    return {text(c.get("type")): c for c in items(dig(obj, "status.conditions")) if c.get("type")}


def is_true(condition: Mapping[str, Any] | None) -> bool:
    """Condition status is the string "True" in Kubernetes but a bool in some CRDs."""
    return condition is not None and text(condition.get("status")).lower() == "true"


def is_false(condition: Mapping[str, Any] | None) -> bool:
    """Absent is not False: only an explicit False counts."""
    return condition is not None and text(condition.get("status")).lower() == "false"


def generation_lag(obj: Mapping[str, Any]) -> bool:
    """The controller has not seen the latest spec yet, so whatever status says is stale."""
    generation = number(dig(obj, "metadata.generation"), 0)
    observed = dig(obj, "status.observedGeneration")
    return observed is not None and generation > 0 and number(observed, 0) < generation


def duration(delta: timedelta) -> str:
    """Durations short enough for a status line: 45s, 12m, 1h30m, 5h, 2d10h, 30d."""
    seconds = max(int(delta.total_seconds()), 0)
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if days < 8 and hours % 24:
        return f"{days}d{hours % 24}h"
    return f"{days}d"


def ago(when: datetime, now: datetime) -> str:
    """`12m ago`, or `in 3m` for a time in the future."""
    if when > now:
        return f"in {duration(when - now)}"
    return f"{duration(now - when)} ago"


def humanize(word: str) -> str:
    """`CREATE_COMPLETE`, `shutting-down` and `MemoryPressure` as `Create Complete`, `Shutting
    Down` and `Memory Pressure`: the spelling Mission Control shows for machine words."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", word)
    parts = [part for part in re.split(r"[\s_\-]+", spaced.strip()) if part]
    return " ".join(part[:1].upper() + part[1:].lower() for part in parts)


def sentence(*parts: str) -> str:
    """Join message fragments, skipping empty ones, into one line without `.;` seams."""
    kept = [part.strip() for part in parts if part and part.strip()]
    line = "; ".join([part.rstrip(".") for part in kept[:-1]] + kept[-1:])
    return " ".join(line.split())
