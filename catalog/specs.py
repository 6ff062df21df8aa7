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


def _string_list(where: str, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return [f"{where}: must be a list of strings"]
    return []


def _kubernetes_errors(where: str, entry: Mapping[str, Any]) -> list[str]:
    """The fields catalog/scrapers/kubernetes.py reads, checked before a run trips on them."""
    errors: list[str] = []
    if not isinstance(entry.get("clusterName"), str) or not entry["clusterName"].strip():
        errors.append(f"{where}.clusterName: required")
    for field in ("kubeconfig", "context", "connection", "selector", "fieldSelector"):
        if entry.get(field) is not None and not isinstance(entry[field], str):
            errors.append(f"{where}.{field}: must be a string")
    connection_ref = entry.get("connection")
    if isinstance(connection_ref, str) and not connection_ref.startswith("connection://"):
        errors.append(f"{where}.connection: must look like connection://<namespace>/<name>")
    if entry.get("connection") and entry.get("kubeconfig"):
        errors.append(f"{where}: give either connection or kubeconfig, not both")
    if entry.get("context") and not entry.get("kubeconfig"):
        errors.append(f"{where}.context: needs kubeconfig")
    errors += _string_list(f"{where}.namespaces", entry.get("namespaces"))
    watch = entry.get("watch")
    if watch is not None:
        if not isinstance(watch, list):
            errors.append(f"{where}.watch: must be a list of {{apiVersion, kind}}")
        else:
            for windex, item in enumerate(watch):
                if not isinstance(item, Mapping) or not isinstance(item.get("kind"), str):
                    errors.append(f"{where}.watch[{windex}].kind: required")
    exclusions = entry.get("exclusions")
    if exclusions is not None:
        if not isinstance(exclusions, Mapping):
            errors.append(f"{where}.exclusions: must be a mapping")
        else:
            for field in ("kinds", "namespaces", "names"):
                errors += _string_list(f"{where}.exclusions.{field}", exclusions.get(field))
            if exclusions.get("labels") is not None and not isinstance(exclusions["labels"],
                                                                        Mapping):
                errors.append(f"{where}.exclusions.labels: must be a mapping")
            unknown = set(exclusions) - {"kinds", "namespaces", "names", "labels"}
            errors += [f"{where}.exclusions.{k}: unknown field" for k in sorted(unknown)]
    events = entry.get("events")
    if events is not None:
        if not isinstance(events, Mapping):
            return [*errors, f"{where}.events: must be a mapping"]
        for eindex, rule in enumerate(events.get("exclude") or []):
            if not isinstance(rule, Mapping) or not rule or set(rule) - {
                    "reason", "namespace", "name"}:
                errors.append(f"{where}.events.exclude[{eindex}]: a mapping of reason, "
                              "namespace and/or name")
        severity = events.get("severity") or {}
        if not isinstance(severity, Mapping):
            errors.append(f"{where}.events.severity: must be a mapping")
        else:
            for level, reasons in severity.items():
                if level not in ("critical", "high", "medium", "low", "info"):
                    errors.append(f"{where}.events.severity.{level}: unknown severity "
                                  "(critical, high, medium, low, info)")
                errors += _string_list(f"{where}.events.severity.{level}", reasons)
    return errors


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
            if kind == "kubernetes":
                errors += _kubernetes_errors(where, entry)
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
