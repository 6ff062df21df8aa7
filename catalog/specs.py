"""ScrapeConfig spec validation: one set of rules for the API, the forms and manifests."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from catalog.schedule import validate_schedule
from catalog.scrapers import REGISTRY
from portal.durations import parse_duration
from portal.errors import ExpressionError

TOP_LEVEL = {"schedule", "timeout", "full", "retention", "health", "tags"}
ENTRY_CEL_FIELDS = ("items", "id", "name", "namespace", "description", "status", "health",
                    "createdAt", "deletedAt", "parent")


@dataclass(frozen=True)
class Retention:
    stale_item_age: timedelta
    max_delete_percent: int


def retention(spec: Mapping[str, Any]) -> Retention:
    raw = spec.get("retention") or {}
    return Retention(
        stale_item_age=parse_duration(str(raw.get("staleItemAge", "30m"))),
        max_delete_percent=int(raw.get("maxDeletePercent", 20)),
    )


def _cel_errors(where: str, source: Any) -> list[str]:
    from portal.expressions import compile as compile_cel

    if not isinstance(source, str):
        return [f"{where}: must be a CEL expression string"]
    try:
        compile_cel(source, {"config": "dyn", "item": "dyn"})
    except ExpressionError as exc:
        return [f"{where}: {exc}"]
    return []


def validate_spec(spec: Any) -> list[str]:
    """Every problem at once, each naming its path (`file[0].id: ...`)."""
    if not isinstance(spec, Mapping):
        return ["spec: must be a mapping"]
    errors: list[str] = []
    scraper_lists = [k for k in spec if k in REGISTRY or k in ("kubernetes", "http", "sql", "exec")]
    unknown = set(spec) - TOP_LEVEL - set(scraper_lists)
    errors += [f"{k}: unknown field (known: {', '.join(sorted(TOP_LEVEL | set(REGISTRY)))})"
               for k in sorted(unknown)]
    if not scraper_lists and not spec.get("health"):
        errors.append("spec: needs at least one scraper list (file, git, kubernetes...) or health")
    try:
        validate_schedule(str(spec.get("schedule", "@every 15m")))
    except ValueError as exc:
        errors.append(str(exc))
    try:
        r = retention(spec)
        if not 0 <= r.max_delete_percent <= 100:
            errors.append("retention.maxDeletePercent: must be between 0 and 100")
    except (ValueError, TypeError) as exc:
        errors.append(f"retention: {exc}")
    for kind in scraper_lists:
        if kind not in REGISTRY:
            errors.append(f"{kind}: this scraper kind is not available in this version")
            continue
        entries = spec[kind]
        if not isinstance(entries, list):
            errors.append(f"{kind}: must be a list")
            continue
        for index, entry in enumerate(entries):
            where = f"{kind}[{index}]"
            if not isinstance(entry, Mapping):
                errors.append(f"{where}: must be a mapping")
                continue
            if kind == "git" and not entry.get("url"):
                errors.append(f"{where}.url: required")
            for field in ENTRY_CEL_FIELDS:
                value = entry.get(field)
                if value is None or (field in ("type", "class")):
                    continue
                errors += _cel_errors(f"{where}.{field}", value)
            for rindex, rule in enumerate((entry.get("transform") or {}).get("relationships")
                                          or []):
                for field in ("filter", "expr"):
                    if rule.get(field):
                        errors += _cel_errors(
                            f"{where}.transform.relationships[{rindex}].{field}", rule[field])
    return errors
