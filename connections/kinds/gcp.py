"""GCP: a project and a service-account JSON key; probe exchanges a signed JWT for a token."""

import base64
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from connections import ssrf
from connections.errors import ConnectionFailure
from connections.kinds.base import TEXT, Field, Kind, ProbeContext, ProbeResult, timed

FIELDS = (
    Field("project", "Project", required=True),
    Field("credentials", "Service-account JSON key", TEXT, secret=True,
          help="Empty: workload identity of the worker."),
    Field("tokenURL", "Token URL", endpoint=True, help="Defaults to the key's token_uri."),
)
SCOPE = "https://www.googleapis.com/auth/cloud-platform"


@dataclass(frozen=True)
class GCPSettings:
    project: str
    credentials: str = field(default="", repr=False)
    token_url: str = ""

    def key(self) -> dict[str, Any]:
        try:
            key = json.loads(self.credentials)
        except ValueError:
            key = None
        if not isinstance(key, dict) or not key.get("private_key") or not key.get("client_email"):
            raise ConnectionFailure("credentials: not a service-account JSON key")
        return key


def settings(block: Mapping[str, Any]) -> GCPSettings:
    return GCPSettings(block.get("project") or "", block.get("credentials") or "",
                       block.get("tokenURL") or "")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def assertion(key: Mapping[str, Any], audience: str, now: int) -> str:
    """An RS256 JWT for the jwt-bearer grant."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    header = {"alg": "RS256", "typ": "JWT"}
    claims = {"iss": key["client_email"], "scope": SCOPE, "aud": audience, "iat": now,
              "exp": now + 600}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    try:
        private = serialization.load_pem_private_key(key["private_key"].encode(), password=None)
    except (ValueError, TypeError):
        raise ConnectionFailure("credentials: the private key cannot be read") from None
    signature = private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64(signature)}"


def probe(conf: GCPSettings, ctx: ProbeContext) -> ProbeResult:
    def run() -> ProbeResult:
        if not conf.credentials:
            return ProbeResult(False, "workload identity: the metadata server is never reachable "
                                      "through the SSRF guard, so it cannot be probed from here")
        key = conf.key()
        url = conf.token_url or key.get("token_uri") or "https://oauth2.googleapis.com/token"
        body = urlencode({"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                          "assertion": assertion(key, url, int(time.time()))}).encode()
        response = ssrf.request("POST", url, policy=ctx.policy, body=body, tls=ctx.tls,
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
        answer = response.json() if response.ok else None
        if not isinstance(answer, dict) or not answer.get("access_token"):
            return ProbeResult(False, f"token exchange: HTTP {response.status}")
        return ProbeResult(True, f"token issued to {key['client_email']}")

    return timed(run)


KIND = Kind("gcp", "Google Cloud", FIELDS, settings, probe, summary="token exchange")
