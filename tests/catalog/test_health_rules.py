"""User CEL health rules applied over a built-in verdict."""

from __future__ import annotations

from catalog.health import Health, Rule, apply_rules
from tests.catalog.health_builders import NOW, ago

CRASHING = Health("unhealthy", "CrashLoopBackOff", False, "container api is crash-looping")
REPLICA = {"status": {"replicationLagSeconds": 420}}
ITEM = {
    "type": "Database::Replica",
    "name": "orders-1",
    "namespace": "shop",
    "labels": {"tier": "batch"},
    "tags": {"cluster": "prod-eu"},
    "created_at": ago(days=2),
}


def test_first_matching_rule_overrides_what_it_sets() -> None:
    rules = [
        Rule(
            when="has(config.status.replicationLagSeconds)"
            " && config.status.replicationLagSeconds > 300",
            health="warning",
            status='"Lagging"',
            message='"replica is " + string(config.status.replicationLagSeconds) + "s behind"',
            types=("Database::Replica",),
        )
    ]

    verdict, errors = apply_rules(CRASHING, REPLICA, ITEM, rules, NOW)

    assert verdict == Health("warning", "Lagging", False, "replica is 420s behind")
    assert errors == []


def test_rule_reads_builtin_and_item() -> None:
    rules = [
        Rule(
            when='builtin.health == "unhealthy" && item.labels["tier"] == "batch"', health="warning"
        )
    ]

    verdict, _ = apply_rules(CRASHING, REPLICA, ITEM, rules, NOW)

    assert verdict == Health("warning", "CrashLoopBackOff", False, CRASHING.message)


def test_only_the_first_matching_rule_applies() -> None:
    rules = [
        Rule(when="false", health="healthy"),
        Rule(when="true", health="warning"),
        Rule(when="true", health="unknown"),
    ]

    verdict, _ = apply_rules(CRASHING, REPLICA, ITEM, rules, NOW)

    assert verdict.health == "warning"


def test_rule_for_other_types_is_ignored() -> None:
    rules = [Rule(when="true", health="healthy", types=("Kubernetes::*",))]

    verdict, _ = apply_rules(CRASHING, REPLICA, ITEM, rules, NOW)

    assert verdict == CRASHING


def test_type_globs_match() -> None:
    rules = [Rule(when="true", health="healthy", types=("Database::*",))]

    assert apply_rules(CRASHING, REPLICA, ITEM, rules, NOW)[0].health == "healthy"


def test_rule_can_set_ready_and_use_now() -> None:
    rules = [Rule(when='now - timestamp(item.created_at) > duration("24h")', ready="true")]

    verdict, _ = apply_rules(CRASHING, REPLICA, ITEM, rules, NOW)

    assert (verdict.health, verdict.ready) == ("unhealthy", True)


def test_failing_rule_is_skipped_and_reported() -> None:
    rules = [
        Rule(when="config.status.missing > 1", health="healthy", name="lag"),
        Rule(when="true", health="warning"),
    ]

    verdict, errors = apply_rules(CRASHING, REPLICA, ITEM, rules, NOW)

    assert verdict.health == "warning"
    assert len(errors) == 1 and errors[0].startswith("lag: ")


def test_rule_with_wrong_result_type_is_reported() -> None:
    rules = [Rule(when="true", status="42")]

    verdict, errors = apply_rules(CRASHING, REPLICA, ITEM, rules, NOW)

    assert verdict == CRASHING
    assert errors == ["rule 1: status must return a string, got int"]


def test_rule_with_bad_health_literal_is_reported() -> None:
    verdict, errors = apply_rules(CRASHING, REPLICA, ITEM, [Rule(when="true", health="red")], NOW)

    assert verdict == CRASHING
    assert "health must be one of" in errors[0]


def test_rule_that_does_not_compile_is_reported() -> None:
    verdict, errors = apply_rules(
        CRASHING, REPLICA, ITEM, [Rule(when="config.(", health="healthy")], NOW
    )

    assert verdict == CRASHING
    assert errors and errors[0].startswith("rule 1: ")
