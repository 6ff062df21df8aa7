"""Hostile strings in scraped data are shown as text on every catalog page (quality.md §4.5)."""

import json
import re
from pathlib import Path

import pytest
from django.urls import reverse

from catalog.models import ConfigItem
from tests.catalog.scrape_helpers import file_scraper, run_now

pytestmark = pytest.mark.django_db

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "javascript:alert(3)",
    "' hx-get='/admin/' hx-trigger='load",
]
MANIFEST = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: evil
  namespace: shop
  uid: abababab-abab-4bab-8bab-abababababab
  labels: {{team: {label}}}
  annotations: {{description: {desc}, link: "javascript:alert(4)"}}
data: {{payload: {data}}}
"""


@pytest.fixture
def evil(manifests):
    text = MANIFEST.format(label=json.dumps("x"), desc=json.dumps(PAYLOADS[0] + PAYLOADS[1]),
                           data=json.dumps(" ".join(PAYLOADS)))
    run_now(file_scraper(manifests("evil.yaml", text).parent))
    return ConfigItem.objects.get(name="evil")


def test_catalog_pages_escape_hostile_strings(evil, client, root):
    client.force_login(root)
    urls = [reverse("catalog:item_list"), reverse("catalog:item_detail", args=[evil.pk]),
            reverse("catalog:item_detail", args=[evil.pk]) + "?tab=config",
            reverse("catalog:change_list"), reverse("catalog:health")]
    for url in urls:
        html = client.get(url).content.decode()
        assert "<script>alert" not in html, url
        assert "<img src=x" not in html, url
        assert "hx-get='/admin/'" not in html, url
        assert not re.search(r'href="\s*javascript:', html, re.I), url


def test_templates_never_mark_model_data_safe():
    root = Path(__file__).resolve().parents[2]
    offenders = [str(p) for p in (root / "templates").rglob("*.html")
                 if "|safe" in p.read_text() or "autoescape off" in p.read_text()]
    offenders += [str(p) for d in ("catalog", "accounts", "portal", "connections")
                  for p in (root / d).rglob("*.py")
                  if "mark_safe(" in p.read_text() and p.name != "templating.py"]

    assert offenders == []
