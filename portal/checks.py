"""Misconfiguration shows up as a system check, not as a crash at first use."""

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def flightdeck_settings(app_configs: Any, **kwargs: Any) -> list[Any]:
    problems: list[Any] = []
    if not settings.SECRET_KEY:
        problems.append(
            Error("SECRET_KEY is not set.", hint="Set SECRET_KEY (or SECRET_KEY_FILE).",
                  id="flightdeck.E001")
        )
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        problems.append(
            Error("Flightdeck needs PostgreSQL.", hint="Point DATABASE_URL at postgres://...",
                  id="flightdeck.E002")
        )
    if not settings.DEBUG and settings.REDIS_URL.startswith("redis://127.0.0.1"):
        problems.append(
            Warning("REDIS_URL points at a local Redis without TLS or password.",
                    hint="Production Redis should require a password (rediss://:pw@host).",
                    id="flightdeck.W001")
        )
    return problems
