"""Azure: tenant, client ID and client secret; probe requests a client-credentials token."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from connections import ssrf
from connections.kinds.base import Field, Kind, ProbeContext, ProbeResult, timed

FIELDS = (
    Field("tenantID", "Tenant ID", required=True),
    Field("clientID", "Client ID", required=True),
    Field("clientSecret", "Client secret", secret=True, required=True),
    Field("subscriptionID", "Subscription ID"),
    Field("authorityURL", "Authority URL", default="https://login.microsoftonline.com",
          endpoint=True),
)
SCOPE = "https://management.azure.com/.default"


@dataclass(frozen=True)
class AzureSettings:
    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)
    subscription_id: str = ""
    authority_url: str = "https://login.microsoftonline.com"

    @property
    def token_url(self) -> str:
        return f"{self.authority_url.rstrip('/')}/{quote(self.tenant_id, safe='')}" \
               "/oauth2/v2.0/token"


def settings(block: Mapping[str, Any]) -> AzureSettings:
    return AzureSettings(block.get("tenantID") or "", block.get("clientID") or "",
                         block.get("clientSecret") or "", block.get("subscriptionID") or "",
                         block.get("authorityURL") or "https://login.microsoftonline.com")


def probe(conf: AzureSettings, ctx: ProbeContext) -> ProbeResult:
    def run() -> ProbeResult:
        body = urlencode({"grant_type": "client_credentials", "client_id": conf.client_id,
                          "client_secret": conf.client_secret, "scope": SCOPE}).encode()
        response = ssrf.request("POST", conf.token_url, policy=ctx.policy, body=body,
                                tls=ctx.tls,
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
        answer = response.json() if response.body else None
        if response.ok and isinstance(answer, dict) and answer.get("access_token"):
            return ProbeResult(True, f"token issued for client {conf.client_id}")
        code = answer.get("error") if isinstance(answer, dict) else None
        return ProbeResult(False, f"token request: HTTP {response.status}"
                                  + (f" ({str(code)[:60]})" if code else ""))

    return timed(run)


KIND = Kind("azure", "Azure", FIELDS, settings, probe, summary="token request")
