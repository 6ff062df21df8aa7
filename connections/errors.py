"""Connection failures that name the connection and the key, never the value."""

from portal.errors import FlightdeckError


class ConnectionFailure(FlightdeckError):
    """Base of every connections failure; the message is safe to show and to log."""


class ConnectionUnavailable(ConnectionFailure):
    """A reference names a connection that does not exist or is not shared with the caller."""

    def __init__(self, ref: str, reason: str = "does not exist or is not shared with you") -> None:
        self.ref = ref
        super().__init__(f"Connection {ref} {reason}.")


class SecretUnavailable(ConnectionFailure):
    """A valueFrom source could not be read; names where it looked, not what it holds."""

    def __init__(self, connection: str, field: str, source: str, reason: str) -> None:
        self.connection, self.field, self.source = connection, field, source
        super().__init__(f"Connection {connection}: field '{field}' ({source}): {reason}.")


class BlockedDestination(ConnectionFailure):
    """The SSRF guard refused a destination; the message says why without echoing secrets."""


class SecretStoreError(ConnectionFailure):
    """Encrypted secrets cannot be read or written (missing or wrong FLIGHTDECK_SECRET_KEYS)."""
