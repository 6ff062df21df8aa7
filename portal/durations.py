"""Durations as people write them in specs: `90s`, `15m`, `48h`, `7d`, `1h30m`."""

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """Raises ValueError naming the text when it is not a duration."""
    raw = str(text).strip()
    if not raw:
        raise ValueError("empty duration")
    position, seconds = 0, 0.0
    for match in _PART.finditer(raw):
        if match.start() != position:
            break
        seconds += int(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position != len(raw):
        raise ValueError(f"{raw!r} is not a duration (use e.g. 90s, 15m, 48h, 7d, 1h30m)")
    return timedelta(seconds=seconds)
