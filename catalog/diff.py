"""Before/after of a config: changed paths, unified YAML diff, merge patch and fingerprint."""

import difflib
import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

import orjson
import yaml

try:  # the C dumper is ~10x faster; the pure-Python one gives identical text
    from yaml import CSafeDumper as _Dumper
except ImportError:  # pragma: no cover - libyaml is in the PyYAML wheels we pin
    from yaml import SafeDumper as _Dumper  # type: ignore[assignment]

# Keys that change on every write without changing meaning; fingerprints ignore them.
VOLATILE_KEYS = frozenset(
    {"resourceVersion", "generation", "managedFields", "lastTransitionTime", "lastProbeTime",
     "lastHeartbeatTime", "lastUpdateTime", "uid", "timestamp", "count", "observedGeneration"}
)
MAX_SUMMARY_PATHS = 8


def canonical_json(value: Any) -> bytes:
    """kubectl and our own writer order keys differently; hash the meaning, not the bytes."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
                            default=str)
    except (TypeError, orjson.JSONEncodeError):  # integers beyond 64 bits, exotic keys
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          default=str).encode()


def sha256(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def to_yaml(value: Any) -> str:
    """The normalised text a person reads in diffs: sorted keys, block style."""
    return yaml.dump(value, Dumper=_Dumper, sort_keys=True, default_flow_style=False,
                     allow_unicode=True, width=120)


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def changed_paths(old: Any, new: Any, prefix: str = "") -> Iterator[str]:
    """Leaf paths that differ, e.g. spec.template.spec.containers[0].image."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new), key=str):
            if key not in old or key not in new:
                yield _join(prefix, str(key))
            elif old[key] != new[key]:
                yield from changed_paths(old[key], new[key], _join(prefix, str(key)))
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            if a != b:
                yield from changed_paths(a, b, f"{prefix}[{index}]")
    elif old != new:
        yield prefix or "."


def summarize(paths: list[str]) -> str:
    if len(paths) <= MAX_SUMMARY_PATHS:
        return ", ".join(paths)
    return ", ".join(paths[:MAX_SUMMARY_PATHS]) + f" and {len(paths) - MAX_SUMMARY_PATHS} more"


def merge_patch(old: Any, new: Any) -> Any:
    """RFC 7386 patch turning old into new (lists are replaced whole, None deletes)."""
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return new
    patch: dict[str, Any] = {}
    for key in old:
        if key not in new:
            patch[key] = None
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif old[key] != value:
            patch[key] = merge_patch(old[key], value)
    return patch


def unified_diff(old: Any, new: Any, max_bytes: int) -> str:
    """A capped diff: a 50 MiB ConfigMap must not produce a 50 MiB change row."""
    lines = difflib.unified_diff(
        to_yaml(old).splitlines(keepends=True), to_yaml(new).splitlines(keepends=True),
        fromfile="before", tofile="after", n=3,
    )
    out: list[str] = []
    size = 0
    for line in lines:
        size += len(line)
        if size > max_bytes:
            out.append(f"... diff truncated at {max_bytes} bytes\n")
            break
        out.append(line)
    return "".join(out)


def strip_volatile(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: strip_volatile(v) for k, v in value.items() if k not in VOLATILE_KEYS}
    if isinstance(value, list):
        return [strip_volatile(v) for v in value]
    return value


def fingerprint(config_id: Any, change_type: str, severity: str, source: str, summary: str,
                details: Any = None, patch: Any = None) -> str:
    """Same change on the same item within the dedupe window folds into one row."""
    return sha256(canonical_json([str(config_id), change_type, severity, source, summary,
                                  strip_volatile(details or {}), strip_volatile(patch)]))
