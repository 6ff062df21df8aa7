"""Typed readers for settings that come only from the environment."""

import os
from pathlib import Path


def env_str(name: str, default: str = "") -> str:
    """Kubernetes mounts secrets as files, so NAME_FILE wins over NAME."""
    if path := os.environ.get(f"{name}_FILE"):
        return Path(path).read_text().strip()
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    """Accept the spellings operators actually type in Helm values."""
    raw = env_str(name, "")
    if not raw:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    """An unparsable number is a startup error, not a silent default."""
    raw = env_str(name, "")
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from exc


def env_list(name: str, default: list[str] | None = None, sep: str = ",") -> list[str]:
    """Comma lists keep one variable per setting instead of numbered families."""
    raw = env_str(name, "")
    if not raw:
        return list(default or [])
    return [part.strip() for part in raw.split(sep) if part.strip()]
