"""AWS: region and access keys (or an assumed role); probe is STS GetCallerIdentity."""

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from connections import ssrf
from connections.kinds.base import Field, Kind, ProbeContext, ProbeResult, timed

FIELDS = (
    Field("region", "Region", required=True, default="us-east-1"),
    Field("accessKey", "Access key ID", secret=True),
    Field("secretKey", "Secret access key", secret=True),
    Field("sessionToken", "Session token", secret=True),
    Field("assumeRole", "Role ARN to assume"),
    Field("endpoint", "STS endpoint", endpoint=True,
          help="Defaults to https://sts.<region>.amazonaws.com"),
)
IDENTITY_BODY = b"Action=GetCallerIdentity&Version=2011-06-15"


@dataclass(frozen=True)
class AWSSettings:
    region: str
    access_key: str = field(default="", repr=False)
    secret_key: str = field(default="", repr=False)
    session_token: str = field(default="", repr=False)
    assume_role: str = ""
    endpoint: str = ""

    @property
    def sts_url(self) -> str:
        return (self.endpoint or f"https://sts.{self.region}.amazonaws.com").rstrip("/") + "/"


def settings(block: Mapping[str, Any]) -> AWSSettings:
    return AWSSettings(block.get("region") or "us-east-1", block.get("accessKey") or "",
                       block.get("secretKey") or "", block.get("sessionToken") or "",
                       block.get("assumeRole") or "", block.get("endpoint") or "")


def validate(block: Mapping[str, Any]) -> dict[str, str]:
    if bool(block.get("accessKey")) != bool(block.get("secretKey")):
        return {"secretKey": "Give both the access key and the secret key, or neither."}
    return {}


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sign(conf: AWSSettings, url: str, body: bytes, now: datetime, service: str = "sts") -> dict:
    """SigV4 headers for one POST; the signing key is derived, never sent."""
    parts = urlsplit(url)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    content_type = "application/x-www-form-urlencoded; charset=utf-8"
    headers = {"content-type": content_type, "host": parts.netloc, "x-amz-date": stamp}
    if conf.session_token:
        headers["x-amz-security-token"] = conf.session_token
    signed = ";".join(sorted(headers))
    canonical = "\n".join([
        "POST", parts.path or "/", "",
        "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)), signed,
        hashlib.sha256(body).hexdigest(),
    ])
    scope = f"{day}/{conf.region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(("AWS4" + conf.secret_key).encode(), day)
    for part in (conf.region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={conf.access_key}/{scope}, "
                                f"SignedHeaders={signed}, Signature={signature}")
    headers.pop("host")
    return headers


def probe(conf: AWSSettings, ctx: ProbeContext) -> ProbeResult:
    def run() -> ProbeResult:
        if not conf.access_key:
            return ProbeResult(False, "no access keys: ambient credentials (instance role, IRSA) "
                                      "are used at run time and cannot be probed from here")
        headers = sign(conf, conf.sts_url, IDENTITY_BODY, datetime.now(UTC))
        response = ssrf.request("POST", conf.sts_url, policy=ctx.policy, headers=headers,
                                body=IDENTITY_BODY, tls=ctx.tls)
        if not response.ok:
            return ProbeResult(False, f"GetCallerIdentity: HTTP {response.status}")
        arn = re.search(rb"<Arn>([^<]{1,300})</Arn>", response.body)
        return ProbeResult(True, f"caller {arn.group(1).decode() if arn else '?'}")

    return timed(run)


KIND = Kind("aws", "AWS", FIELDS, settings, probe, validate, summary="STS caller identity")
