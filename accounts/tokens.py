"""Per-user API tokens `fd_<prefix>_<secret>`: stored hashed, shown once, sent as Bearer.

A token carries scopes: `read` lets it use safe methods (GET, HEAD, OPTIONS), `write` lets it use
every method. A new token gets `read` unless `write` is asked for, so a leaked CI token can at
worst read what its person can read. Scopes narrow a token; they never widen its person's grants.
"""

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Any

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from accounts.models import APIToken, Person

READ = "read"
WRITE = "write"
SCOPES = {
    READ: "Read: GET, HEAD and OPTIONS requests.",
    WRITE: "Write: every method, reads included.",
}
DEFAULT_SCOPES = (READ,)


def required_scope(method: str) -> str:
    return READ if method.upper() in permissions.SAFE_METHODS else WRITE


def allows(token: APIToken, method: str) -> bool:
    """`write` includes `read`; scopes this version does not know grant nothing."""
    scopes = set(token.scopes or ())
    return WRITE in scopes or (required_scope(method) == READ and READ in scopes)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(
    person: Person, name: str, *, expires_at: datetime | None = None,
    scopes: list[str] | None = None, created_by: Person | None = None,
) -> tuple[APIToken, str]:
    """Returns the row and the only copy of the plaintext token."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    token = APIToken.objects.create(
        name=name, person=person, prefix=prefix, secret_hash=_hash(secret),
        expires_at=expires_at, scopes=list(scopes or DEFAULT_SCOPES),
        created_by=created_by or person,
    )
    return token, f"fd_{prefix}_{secret}"


def authenticate_token(raw: str, ip: str | None = None) -> APIToken | None:
    """Looks up by prefix, then compares hashes in constant time."""
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != "fd":
        return None
    token = APIToken.objects.select_related("person").filter(prefix=parts[1]).first()
    if token is None or not hmac.compare_digest(token.secret_hash, _hash(parts[2])):
        return None
    if not token.is_active or not token.person.is_active:
        return None
    APIToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now(), last_used_ip=ip)
    return token


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer fd_…` for scripts and CI."""

    def authenticate(self, request: Any) -> tuple[Person, APIToken] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header.startswith("Bearer "):
            return None
        token = authenticate_token(header[7:].strip(), request.META.get("REMOTE_ADDR"))
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked API token.")
        return token.person, token

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="api"'


class TokenScopePermission(permissions.BasePermission):
    """Refuses a token-authenticated request its token's scopes do not cover; session requests
    pass untouched, since a browser session acts with the person's full rights."""

    def has_permission(self, request: Any, view: Any) -> bool:
        token = request.auth
        if not isinstance(token, APIToken) or allows(token, request.method):
            return True
        scope = required_scope(request.method)
        # Raised rather than returned, so the problem body names the scope that is missing.
        raise exceptions.PermissionDenied(
            f"This API token lacks the `{scope}` scope, which {request.method} requests need.")


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Documents `Authorization: Bearer fd_…` in the OpenAPI schema."""

    target_class = "accounts.tokens.BearerTokenAuthentication"
    name = "bearerToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "fd_<prefix>_<secret>"}
