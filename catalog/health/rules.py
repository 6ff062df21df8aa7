"""User health rules: the first CEL rule whose `when` holds overrides the built-in verdict."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from catalog.health.verdict import HEALTH_VALUES, Health
from portal import expressions
from portal.errors import ExpressionError

# Variables a rule can read; `config` is the raw document, whatever its shape.
DECLARATIONS = {"config": "dyn", "item": "map", "builtin": "map", "now": "timestamp"}


@dataclass(frozen=True)
class Rule:
    """One rule as stored: CEL sources plus a literal health; blank fields keep the built-in."""

    when: str
    health: str = ""
    status: str = ""
    ready: str = ""
    message: str = ""
    types: tuple[str, ...] = ()
    name: str = ""

    def applies_to(self, type_name: str) -> bool:
        """No globs means every type; otherwise any glob matching the item's type."""
        return not self.types or any(fnmatch.fnmatchcase(type_name, g) for g in self.types)


def _run(source: str, activation: Mapping[str, Any], expected: type, what: str) -> Any:
    value = expressions.evaluate(expressions.compile(source, DECLARATIONS), activation)
    if not isinstance(value, expected):
        wanted = "a bool" if expected is bool else "a string"
        raise ExpressionError(f"{what} must return {wanted}, got {type(value).__name__}")
    return value


def _verdict(rule: Rule, builtin: Health, activation: Mapping[str, Any]) -> Health | None:
    """The rule's result, or None when `when` is false; raises ExpressionError on failure."""
    if not _run(rule.when, activation, bool, "when"):
        return None
    if rule.health and rule.health not in HEALTH_VALUES:
        raise ExpressionError(f"health must be one of {', '.join(HEALTH_VALUES)}")
    return Health(
        health=rule.health or builtin.health,
        status=_run(rule.status, activation, str, "status") if rule.status else builtin.status,
        ready=_run(rule.ready, activation, bool, "ready") if rule.ready else builtin.ready,
        message=(
            _run(rule.message, activation, str, "message") if rule.message else builtin.message
        ),
    )


def apply_rules(
    builtin: Health,
    obj: Mapping[str, Any],
    item: Mapping[str, Any],
    rules: Sequence[Rule],
    now: datetime | None = None,
) -> tuple[Health, list[str]]:
    """The first rule whose `when` holds wins; a rule that fails is skipped and reported."""
    moment = now or datetime.now(UTC)
    activation = {
        "config": obj,
        "item": dict(item),
        "builtin": builtin.as_dict(),
        "now": moment if moment.tzinfo else moment.replace(tzinfo=UTC),
    }
    type_name = str(item.get("type") or "")
    errors: list[str] = []
    for position, rule in enumerate(rules, start=1):
        if not rule.applies_to(type_name):
            continue
        try:
            verdict = _verdict(rule, builtin, activation)
        except ExpressionError as exc:
            errors.append(f"{rule.name or f'rule {position}'}: {exc}")
            continue
        if verdict is not None:
            return verdict, errors
    return builtin, errors
