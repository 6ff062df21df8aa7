"""Repetitions, medians and the environment line: what makes two result files comparable."""

import os
import platform
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NOISY_LOAD = 0.5


@dataclass(frozen=True)
class Summary:
    median: float
    iqr: float
    values: tuple[float, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"median": self.median, "iqr": self.iqr, "values": list(self.values)}


def summarize(values: Sequence[float]) -> Summary:
    """Median and interquartile range; one value has an IQR of zero, not an error."""
    if not values:
        raise ValueError("no repetitions to summarize")
    if len(values) == 1:
        return Summary(values[0], 0.0, tuple(values))
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return Summary(q2, q3 - q1, tuple(values))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return 0.0


def _git(*args: str) -> str:
    result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return result.stdout.strip()


def _redis_version() -> str:
    try:
        import redis

        url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
        return str(redis.Redis.from_url(url, socket_timeout=2).info("server")["redis_version"])
    except Exception:  # a benchmark of the catalog must not fail for want of Redis
        return "unavailable"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "missing"


def environment(pg: dict[str, str], load_avg_1m: float) -> dict[str, Any]:
    """The environment every result records; load is sampled by the caller before any work."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gib": _ram_gib(),
        "python": platform.python_version(),
        "django": _version("Django"),
        "psycopg": _version("psycopg"),
        "postgres": pg["server_version"].split()[0],
        "shared_buffers": pg["shared_buffers"],
        "fsync": pg["fsync"],
        "synchronous_commit": pg["synchronous_commit"],
        "redis": _redis_version(),
        "commit": _git("rev-parse", "--short", "HEAD") or "unknown",
        "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "load_avg_1m": round(load_avg_1m, 2),
        "noisy": load_avg_1m > NOISY_LOAD,
    }
