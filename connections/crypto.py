"""Encryption at rest for secrets typed into the UI or API when they cannot live in a Secret.

Keys come from FLIGHTDECK_SECRET_KEYS (Fernet keys, newest first). Several keys make rotation
possible: the first encrypts, all of them decrypt, and `manage.py rotate_connection_secrets`
re-encrypts every row with the first. Without keys, DEBUG derives a development key from
SECRET_KEY (a system check warns); production refuses to store secrets at all.
"""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from connections.errors import SecretStoreError

DEV_KEY_CONTEXT = b"flightdeck connections development key v1"


def configured_keys() -> list[str]:
    return [k for k in getattr(settings, "FLIGHTDECK_SECRET_KEYS", []) or [] if k]


def development_key() -> str:
    """Stable per SECRET_KEY, so a restarted dev server still reads what it wrote."""
    digest = hashlib.sha256(DEV_KEY_CONTEXT + settings.SECRET_KEY.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


def keys() -> list[str]:
    """The key ring, newest first; raises when production has none."""
    configured = configured_keys()
    if configured:
        return configured
    if settings.DEBUG and settings.SECRET_KEY:
        return [development_key()]
    raise SecretStoreError(
        "Secrets cannot be stored: FLIGHTDECK_SECRET_KEYS is not set. Generate a key with "
        "`python -c 'from cryptography.fernet import Fernet; "
        "print(Fernet.generate_key().decode())'`."
    )


def key_id(key: str) -> str:
    """A short fingerprint stored next to the ciphertext: which key to retire is visible."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def _fernet(key: str) -> Fernet:
    try:
        return Fernet(key.encode())
    except ValueError as exc:
        raise SecretStoreError(
            f"FLIGHTDECK_SECRET_KEYS holds a malformed key (id {key_id(key)}): each key must be "
            "32 url-safe base64-encoded bytes") from exc


def ring() -> MultiFernet:
    return MultiFernet([_fernet(k) for k in keys()])


def primary_key_id() -> str:
    return key_id(keys()[0])


def encrypt(plaintext: str) -> tuple[bytes, str]:
    """Ciphertext and the id of the key that made it."""
    return ring().encrypt(plaintext.encode()), primary_key_id()


def decrypt(ciphertext: bytes) -> str:
    try:
        return ring().decrypt(bytes(ciphertext)).decode()
    except InvalidToken as exc:
        raise SecretStoreError(
            "A stored secret cannot be decrypted with any key in FLIGHTDECK_SECRET_KEYS; was a "
            "key removed before `manage.py rotate_connection_secrets` ran?") from exc


def rotate(ciphertext: bytes) -> tuple[bytes, str]:
    """Re-encrypt with the newest key without exposing the plaintext to the caller."""
    try:
        return ring().rotate(bytes(ciphertext)), primary_key_id()
    except InvalidToken as exc:
        raise SecretStoreError("A stored secret cannot be decrypted with any configured key") \
            from exc
