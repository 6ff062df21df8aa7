"""Agreement with Mission Control, measured over an independent corpus of objects.

Each fixture in `health_corpus/` holds one object and what Mission Control reports for it
(health, status, ready, message; a field it does not pin is left out). The agreement per field
must reach its target; a fixture marked `deviation` is one where Flightdeck deliberately
differs, says why, and is left out of the figures (a test checks it still differs).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from catalog.health import HEALTH_VALUES, Health, assess
from tests.catalog.health_builders import NOW, rfc3339

CORPUS = Path(__file__).with_name("health_corpus")
TARGETS = {"health": 0.98, "status": 0.90, "ready": 0.95}
FIELDS = ("health", "status", "ready", "message")
# Times in fixtures are relative to the test clock, e.g. "@now", "@now-5m", "@now+60d".
_RELATIVE = re.compile(r"^@now(?:([+-])(\d+)([smhd]))?$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


@dataclass(frozen=True)
class Fixture:
    name: str
    type: str | None
    expected: dict[str, Any]
    obj: dict[str, Any]
    deviation: str


def _resolve(value: Any) -> Any:
    """Replace relative times everywhere in a parsed document."""
    if isinstance(value, dict):
        return {key: _resolve(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(item) for item in value]
    if isinstance(value, str) and (match := _RELATIVE.match(value)):
        sign, amount, unit = match.groups()
        if not sign:
            return rfc3339(NOW)
        delta = timedelta(**{_UNITS[unit]: int(amount)})
        return rfc3339(NOW + delta if sign == "+" else NOW - delta)
    return value


def load_corpus() -> list[Fixture]:
    fixtures = []
    for path in sorted(CORPUS.rglob("*.yaml")):
        doc = _resolve(yaml.safe_load(path.read_text()))
        fixtures.append(
            Fixture(
                name=str(path.relative_to(CORPUS)),
                type=doc.get("type"),
                expected=doc["expected"],
                obj=doc["object"],
                deviation=doc.get("deviation", ""),
            )
        )
    return fixtures


def _misses(fixture: Fixture, verdict: Health) -> Iterator[str]:
    for field in FIELDS:
        if field in fixture.expected and getattr(verdict, field) != fixture.expected[field]:
            yield field


def agreement(fixtures: list[Fixture]) -> tuple[dict[str, tuple[int, int]], list[str]]:
    """Per field (agreeing, compared), and one line per disagreement."""
    counts = {field: [0, 0] for field in FIELDS}
    lines = []
    for fixture in fixtures:
        verdict = assess(fixture.obj, fixture.type, NOW)
        missed = set(_misses(fixture, verdict))
        for field in FIELDS:
            if field in fixture.expected:
                counts[field][1] += 1
                counts[field][0] += field not in missed
        for field in sorted(missed):
            lines.append(
                f"{fixture.name}: {field} {getattr(verdict, field)!r}, "
                f"Mission Control {fixture.expected[field]!r}"
            )
    return {field: (agreed, total) for field, (agreed, total) in counts.items()}, lines


def _report(counts: dict[str, tuple[int, int]], misses: list[str], fixtures: int) -> str:
    figures = ", ".join(
        f"{field} {agreed}/{total} = {agreed / total:.1%}"
        + (f" (target {TARGETS[field]:.0%})" if field in TARGETS else "")
        for field, (agreed, total) in counts.items()
    )
    header = f"agreement with Mission Control over {fixtures} fixtures: {figures}"
    return "\n".join([header, *misses])


def test_corpus_is_well_formed() -> None:
    fixtures = load_corpus()

    assert len(fixtures) >= 100
    for fixture in fixtures:
        assert fixture.expected and set(fixture.expected) <= set(FIELDS), fixture.name
        assert fixture.expected.get("health", "unknown") in HEALTH_VALUES, fixture.name
        assert isinstance(fixture.obj, dict) and fixture.obj, fixture.name


def test_agreement_with_mission_control_meets_targets() -> None:
    fixtures = [fixture for fixture in load_corpus() if not fixture.deviation]

    counts, misses = agreement(fixtures)
    report = _report(counts, misses, len(fixtures))
    print(report)

    below = [
        field for field, target in TARGETS.items() if counts[field][0] / counts[field][1] < target
    ]
    assert not below, f"below target on {', '.join(below)}\n{report}"


@pytest.mark.parametrize(
    "fixture", [f for f in load_corpus() if f.deviation], ids=lambda fixture: fixture.name
)
def test_documented_deviations_still_differ(fixture: Fixture) -> None:
    verdict = assess(fixture.obj, fixture.type, NOW)

    assert list(_misses(fixture, verdict)), f"{fixture.name} agrees now; drop `deviation`"
