"""HTTP: a URL with basic, bearer or OAuth client-credentials auth, extra headers and TLS."""

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from connections import ssrf
from connections.kinds.base import (
    KEYVALUES,
    LIST,
    TEXT,
    Field,
    Kind,
    ProbeContext,
    ProbeResult,
    http_status_result,
    timed,
)

FIELDS = (
    Field("url", "URL", required=True, endpoint=True,
          help="May use $(username) and $(password)."),
    Field("username", "Username", envvar=True),
    Field("password", "Password", secret=True),
    Field("bearer", "Bearer token", secret=True),
    Field("headers", "Headers", KEYVALUES, help="One 'Name: value' per line."),
    Field("oauth.tokenURL", "OAuth token URL"),
    Field("oauth.clientID", "OAuth client ID"),
    Field("oauth.clientSecret", "OAuth client secret", secret=True),
    Field("oauth.scopes", "OAuth scopes", LIST),
    Field("tls.ca", "CA certificate (PEM)", TEXT),
    Field("tls.cert", "Client certificate (PEM)", TEXT, secret=True),
    Field("tls.key", "Client key (PEM)", TEXT, secret=True),
)


def basic(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def header_map(value: Any) -> dict[str, str]:
    """[{name, value}] from a spec, or 'Name: value' lines from a secret field."""
    if isinstance(value, list):
        return {str(h.get("name")): str(h.get("value", "")) for h in value
                if isinstance(h, Mapping) and h.get("name")}
    if isinstance(value, str):
        pairs = (line.split(":", 1) for line in value.splitlines() if ":" in line)
        return {k.strip(): v.strip() for k, v in pairs if k.strip()}
    return {}


@dataclass(frozen=True)
class OAuth:
    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class HTTPSettings:
    url: str
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    oauth: OAuth | None = None
    tls: ssrf.TLSOptions = field(default_factory=ssrf.TLSOptions)

    def with_token(self, ctx: ProbeContext) -> dict[str, str]:
        """The headers to send, after an OAuth client-credentials exchange when configured."""
        if self.oauth is None:
            return dict(self.headers)
        body = {"grant_type": "client_credentials", "client_id": self.oauth.client_id,
                "client_secret": self.oauth.client_secret}
        if self.oauth.scopes:
            body["scope"] = " ".join(self.oauth.scopes)
        response = ssrf.request(
            "POST", self.oauth.token_url, policy=ctx.policy, tls=self.tls,
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "Accept": "application/json"},
            body=urlencode(body).encode())
        token = response.json().get("access_token") if response.ok else None
        if not token:
            from connections.errors import ConnectionFailure

            raise ConnectionFailure(f"OAuth token request: HTTP {response.status}")
        return {**self.headers, "Authorization": f"Bearer {token}"}


def settings(block: Mapping[str, Any]) -> HTTPSettings:
    headers = header_map(block.get("headers"))
    if block.get("bearer"):
        headers["Authorization"] = f"Bearer {block['bearer']}"
    elif block.get("username") or block.get("password"):
        headers.update(basic(block.get("username") or "", block.get("password") or ""))
    oauth_block = block.get("oauth") or {}
    oauth = None
    if oauth_block.get("tokenURL"):
        oauth = OAuth(oauth_block["tokenURL"], oauth_block.get("clientID") or "",
                      oauth_block.get("clientSecret") or "", tuple(oauth_block.get("scopes") or ()))
    tls = block.get("tls") or {}
    return HTTPSettings(
        url=block["url"], headers=headers, oauth=oauth,
        tls=ssrf.TLSOptions(insecure=bool(block.get("_insecure")), ca=tls.get("ca") or "",
                            cert=tls.get("cert") or "", key=tls.get("key") or ""))


def validate(block: Mapping[str, Any]) -> dict[str, str]:
    errors = {}
    if block.get("bearer") and (block.get("password") or block.get("username")):
        errors["bearer"] = "Give a bearer token or a username and password, not both."
    oauth = block.get("oauth") or {}
    if oauth and not (oauth.get("tokenURL") and oauth.get("clientID")):
        errors["oauth.tokenURL"] = "OAuth needs a token URL and a client ID."
    return errors


def probe(conf: HTTPSettings, ctx: ProbeContext) -> ProbeResult:
    def run() -> ProbeResult:
        response = ssrf.request("GET", conf.url, policy=ctx.policy, headers=conf.with_token(ctx),
                                tls=conf.tls)
        return http_status_result(response, "GET")

    return timed(run)


KIND = Kind("http", "HTTP", FIELDS, settings, probe, validate, summary="GET url")
