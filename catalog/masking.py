"""The one masking step every scraper's output passes before anything is stored or diffed."""

import base64
import fnmatch
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

SECRET_FIELDS = ("data", "stringData", "binaryData")


def value_hash(value: Any) -> str:
    """A rotation still shows as a change, but the value never reaches the database."""
    raw = value if isinstance(value, str) else repr(value)
    return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()


def mask_kubernetes_secret(config: dict[str, Any]) -> dict[str, Any]:
    """Secret data becomes key names and value hashes; stringData is hashed as if encoded."""
    masked = dict(config)
    hashed: dict[str, str] = {}
    for field in SECRET_FIELDS:
        values = config.get(field)
        if not isinstance(values, Mapping):
            masked.pop(field, None)
            continue
        for key, value in values.items():
            if field == "stringData" and isinstance(value, str):
                value = base64.b64encode(value.encode()).decode()
            hashed[str(key)] = value_hash(value)
        masked.pop(field, None)
    if hashed:
        masked["data"] = dict(sorted(hashed.items()))
    meta = masked.get("metadata")
    if isinstance(meta, Mapping):
        annotations = dict(meta.get("annotations") or {})
        # kubectl apply copies the whole Secret, values included, into this annotation.
        if annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None) is not None:
            masked["metadata"] = {**meta, "annotations": annotations}
    return masked


def _split(path: str) -> list[str]:
    return [part for part in path.replace("[*]", ".*").split(".") if part]


def _apply(value: Any, parts: list[str], action: Any) -> Any:
    if not parts:
        return action(value)
    head, rest = parts[0], parts[1:]
    if isinstance(value, Mapping):
        out = dict(value)
        for key in list(out):
            if head == "*" or key == head:
                result = _apply(out[key], rest, action)
                if result is _DROP:
                    del out[key]
                else:
                    out[key] = result
        return out
    if isinstance(value, list) and head == "*":
        return [v for v in (_apply(item, rest, action) for item in value) if v is not _DROP]
    return value


_DROP = object()


def type_matches(type_: str, patterns: Sequence[str] | None) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(type_, p) for p in patterns)


def apply_transforms(type_: str, config: Any, transform: Mapping[str, Any] | None) -> Any:
    """`exclude` drops fields before diffing; `mask` hides values but keeps change detection."""
    if config is None:
        return config
    if type_ == "Kubernetes::Secret" and isinstance(config, dict):
        config = mask_kubernetes_secret(config)
    if isinstance(config, dict):
        meta = config.get("metadata")
        if isinstance(meta, Mapping) and "managedFields" in meta:
            config = {**config, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
    if not transform:
        return config
    for rule in transform.get("exclude") or []:
        if type_matches(type_, rule.get("types")):
            for path in rule.get("paths") or []:
                config = _apply(config, _split(path), lambda _v: _DROP)
    for rule in transform.get("mask") or []:
        if type_matches(type_, rule.get("types")):
            replacement = rule.get("value", "sha256")
            for path in rule.get("paths") or []:
                config = _apply(
                    config, _split(path),
                    lambda v, r=replacement: value_hash(v) if r == "sha256" else r,
                )
    return config
