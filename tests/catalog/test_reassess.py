"""Clock-dependent verdicts change without a new scrape, with a change row and an event."""

from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.models import ConfigChange, ConfigItem
from catalog.reassess import reassess
from portal.models import Event
from tests.catalog.scrape_helpers import file_scraper, run_now

pytestmark = pytest.mark.django_db


def certificate(not_after: str) -> str:
    return f"""
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {{name: shop-tls, namespace: shop, uid: 99999999-9999-4999-8999-999999999999,
           generation: 1}}
spec: {{secretName: shop-tls, dnsNames: [shop.example.com]}}
status:
  notAfter: "{not_after}"
  observedGeneration: 1
  conditions: [{{type: Ready, status: "True", reason: Ready, message: ok}}]
"""


def test_certificate_turns_unhealthy_as_its_expiry_approaches(manifests):
    expiry = (timezone.now() + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    run_now(file_scraper(manifests("cert.yaml", certificate(expiry)).parent))
    cert = ConfigItem.objects.get(type="Kubernetes::Certificate")
    assert cert.health == "healthy"

    changed = reassess(now=timezone.now() + timedelta(days=29))

    cert.refresh_from_db()
    assert changed == 1
    assert (cert.health, cert.status) == ("unhealthy", "Expiring")
    change = ConfigChange.objects.get(config=cert, source="flightdeck/health")
    assert change.change_type == "Unhealthy"
    assert Event.objects.filter(name="config.unhealthy", object_id=cert.pk).exists()


def test_reassess_writes_nothing_when_no_verdict_moved(manifests):
    expiry = (timezone.now() + timedelta(days=300)).strftime("%Y-%m-%dT%H:%M:%SZ")
    run_now(file_scraper(manifests("cert.yaml", certificate(expiry)).parent))

    assert reassess() == 0
    assert not ConfigChange.objects.exists()
