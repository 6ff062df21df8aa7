"""Key-ring misconfiguration shows up as a system check, not as a failed save."""

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register

from connections import crypto
from connections.errors import SecretStoreError


@register()
def secret_keys(app_configs: Any, **kwargs: Any) -> list[Any]:
    configured = crypto.configured_keys()
    if not configured:
        if settings.DEBUG:
            return [Warning(
                "FLIGHTDECK_SECRET_KEYS is not set: connection secrets are encrypted with a "
                "development key derived from SECRET_KEY.",
                hint="Set FLIGHTDECK_SECRET_KEYS to one or more Fernet keys before real use.",
                id="connections.W001")]
        return [Error(
            "FLIGHTDECK_SECRET_KEYS is not set: secrets typed into the UI cannot be stored.",
            hint="Set FLIGHTDECK_SECRET_KEYS (newest key first) or FLIGHTDECK_SECRET_KEYS_FILE.",
            id="connections.E001")]
    try:
        crypto.ring()
    except SecretStoreError as exc:
        return [Error(str(exc), id="connections.E002")]
    return []
