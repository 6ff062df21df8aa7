"""Health of catalog items: built-in handlers per type, then user CEL rules."""

from catalog.health.assess import REGISTRY, assess, depends_on_clock, kubernetes_type
from catalog.health.cloud import register_state_table, unregister_state_tables
from catalog.health.rules import Rule, apply_rules
from catalog.health.verdict import (
    HEALTH_VALUES,
    HEALTHY,
    UNHEALTHY,
    UNKNOWN,
    WARNING,
    Health,
    worst,
)

__all__ = [
    "HEALTHY",
    "HEALTH_VALUES",
    "REGISTRY",
    "UNHEALTHY",
    "UNKNOWN",
    "WARNING",
    "Health",
    "Rule",
    "apply_rules",
    "assess",
    "depends_on_clock",
    "kubernetes_type",
    "register_state_table",
    "unregister_state_tables",
    "worst",
]
