"""Probes for kubelets and scripts, and the security headers every response carries."""

import pytest
from django.urls import reverse


def test_healthz_answers_without_login(client):
    response = client.get("/healthz")

    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_checks_database_migrations_and_redis(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


@pytest.mark.django_db
def test_readyz_reports_unreachable_redis(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["redis"].startswith("redis unreachable")


@pytest.mark.django_db
def test_pages_carry_a_strict_content_security_policy(client, alice):
    client.force_login(alice)

    response = client.get(reverse("catalog:item_list"))

    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response["X-Frame-Options"] == "DENY"


def test_deploy_checks_are_clean_with_production_settings():
    import os
    import subprocess
    import sys

    # The test run's own DJANGO_ALLOW_ASYNC_UNSAFE (for Playwright) is not production.
    base = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {**base, "DEBUG": "0", "SECRET_KEY": "x" * 60 + "-production-secret-value",
           "ALLOWED_HOSTS": "portal.example.com", "FLIGHTDECK_SECURE_SSL": "1",
           "REDIS_URL": "rediss://:secret@redis.example.com:6379/0",
           "FLIGHTDECK_SECRET_KEYS": "VbTMDKiGpAenpX8owCeInQEba4cxosgPf4CygDIs04E="}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=env, capture_output=True, text=True, check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
