"""Secret store misconfiguration shows up as a system check, not as a failed save."""

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register

from connections import crypto, secret_store
from connections.errors import SecretStoreError


@register()
def secret_keys(app_configs: Any, **kwargs: Any) -> list[Any]:
    configured = crypto.configured_keys()
    try:
        in_kubernetes = secret_store.backend() == secret_store.KUBERNETES
    except SecretStoreError:
        in_kubernetes = False  # reported by secret_store_cluster
    if not configured and in_kubernetes:
        return []  # new secrets go to Kubernetes Secrets; no key ring is needed
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


@register()
def secret_store_cluster(app_configs: Any, **kwargs: Any) -> list[Any]:
    """A Kubernetes store without a usable cluster would fail every save with a secret in it."""
    try:
        if secret_store.backend() != secret_store.KUBERNETES:
            return []
        secret_store.cluster()
    except SecretStoreError as exc:
        return [Error(str(exc), hint="Set FLIGHTDECK_SECRET_STORE to database or kubernetes, and "
                      "FLIGHTDECK_SECRET_STORE_KUBECONFIG outside a cluster.",
                      id="connections.E003")]
    return []
