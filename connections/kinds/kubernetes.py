"""Kubernetes: a kubeconfig (secret) and context, or the in-cluster service account."""

import base64
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catalog.scrapers.documents import DocumentError, load_one
from connections import ssrf
from connections.errors import ConnectionFailure
from connections.kinds.base import TEXT, Field, Kind, ProbeContext, ProbeResult, timed

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")

FIELDS = (
    Field("kubeconfig", "Kubeconfig", TEXT, secret=True,
          help="Leave empty to use the in-cluster service account."),
    Field("context", "Context", help="Defaults to the kubeconfig's current-context."),
    Field("server", "API server URL override", endpoint=True,
          help="Replaces the server of the selected cluster."),
)


@dataclass(frozen=True)
class KubernetesSettings:
    server: str
    token: str = field(default="", repr=False)
    ca: str = field(default="", repr=False)
    cert: str = field(default="", repr=False)
    key: str = field(default="", repr=False)
    insecure: bool = False
    in_cluster: bool = False

    def tls(self, base: ssrf.TLSOptions | None = None) -> ssrf.TLSOptions:
        return ssrf.TLSOptions(insecure=self.insecure or bool(base and base.insecure),
                               ca=self.ca, cert=self.cert, key=self.key)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


def _pem(data: Any, what: str) -> str:
    if not data:
        return ""
    try:
        return base64.b64decode(data).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConnectionFailure(f"kubeconfig: {what} is not valid base64 PEM") from exc


def _named(entries: Any, name: str, what: str) -> Mapping[str, Any]:
    for entry in entries or []:
        if isinstance(entry, Mapping) and entry.get("name") == name:
            return entry.get(what) or {}
    raise ConnectionFailure(f"kubeconfig: no {what} named '{name}'")


def from_kubeconfig(text: str, context: str = "") -> KubernetesSettings:
    """Only inline data: paths in a kubeconfig would read files of the worker."""
    try:
        # The catalog's loader: duplicate keys, alias bombs and size are refused here too.
        config = load_one(text)
    except DocumentError:
        # No parser detail: it quotes the offending line, and a kubeconfig holds secrets.
        raise ConnectionFailure("kubeconfig: not valid YAML") from None
    if not isinstance(config, Mapping):
        raise ConnectionFailure("kubeconfig: not a kubeconfig document")
    context = context or str(config.get("current-context") or "")
    if not context:
        raise ConnectionFailure("kubeconfig: no context given and no current-context")
    ctx = _named(config.get("contexts"), context, "context")
    cluster = _named(config.get("clusters"), str(ctx.get("cluster", "")), "cluster")
    user = _named(config.get("users"), str(ctx.get("user", "")), "user") if ctx.get("user") else {}
    for forbidden in ("certificate-authority", "client-certificate", "client-key", "tokenFile",
                      "exec", "auth-provider"):
        if forbidden in cluster or forbidden in user:
            raise ConnectionFailure(
                f"kubeconfig: '{forbidden}' is not supported; inline the data (*-data fields) "
                "or a token")
    if not cluster.get("server"):
        raise ConnectionFailure(f"kubeconfig: cluster of context '{context}' has no server")
    return KubernetesSettings(
        server=str(cluster["server"]).rstrip("/"),
        token=str(user.get("token") or ""),
        ca=_pem(cluster.get("certificate-authority-data"), "certificate-authority-data"),
        cert=_pem(user.get("client-certificate-data"), "client-certificate-data"),
        key=_pem(user.get("client-key-data"), "client-key-data"),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
    )


def in_cluster() -> KubernetesSettings:
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get(
        "KUBERNETES_SERVICE_PORT", "443")
    if not host:
        raise ConnectionFailure("not running in a cluster (KUBERNETES_SERVICE_HOST is unset) "
                                "and no kubeconfig is given")
    try:
        token = (SERVICE_ACCOUNT / "token").read_text().strip()
        ca = (SERVICE_ACCOUNT / "ca.crt").read_text()
    except OSError as exc:
        raise ConnectionFailure("the in-cluster service account token is not mounted") from exc
    server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
    return KubernetesSettings(server=server, token=token, ca=ca, in_cluster=True)


def settings(block: Mapping[str, Any]) -> KubernetesSettings:
    base = (from_kubeconfig(block["kubeconfig"], block.get("context") or "")
            if block.get("kubeconfig") else in_cluster())
    if block.get("server"):
        from dataclasses import replace

        base = replace(base, server=str(block["server"]).rstrip("/"))
    return base


def policy_for(conf: KubernetesSettings, policy: ssrf.Policy) -> ssrf.Policy:
    """The in-cluster API server is the operator's own: internal by definition."""
    if conf.in_cluster and not policy.allow_internal:
        from dataclasses import replace

        return replace(policy, allow_internal=True)
    return policy


def get_json(conf: KubernetesSettings, path: str, ctx: ProbeContext,
             method: str = "GET", body: Any = None) -> tuple[int, Any]:
    """A call to the API server through the SSRF guard; the body only on success."""
    headers = {**conf.headers(), "Accept": "application/json"}
    payload = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        payload = json.dumps(body).encode()
    response = ssrf.request(method, conf.server + path, policy=policy_for(conf, ctx.policy),
                            headers=headers, body=payload, tls=conf.tls(ctx.tls))
    if not response.ok:
        return response.status, None
    try:
        return response.status, response.json()
    except ValueError:
        return response.status, None


def probe(conf: KubernetesSettings, ctx: ProbeContext) -> ProbeResult:
    def run() -> ProbeResult:
        status, version = get_json(conf, "/version", ctx)
        if not isinstance(version, Mapping):
            return ProbeResult(False, f"GET /version: HTTP {status}")
        message = f"Kubernetes {version.get('gitVersion', '?')}"
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview",
                  "spec": {"namespace": "default"}}
        status, answer = get_json(
            conf, "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", ctx, "POST", review)
        if isinstance(answer, Mapping):
            rules = (answer.get("status") or {}).get("resourceRules") or []
            message += f"; {len(rules)} resource rules in namespace default"
        else:
            message += f"; rules review unavailable (HTTP {status})"
        return ProbeResult(True, message, details={"version": version.get("gitVersion")})

    return timed(run)


def configuration(conf: KubernetesSettings) -> Any:
    """An official-client Configuration, for scrapers that stream with the kubernetes client."""
    from kubernetes import client

    configuration = client.Configuration(host=conf.server)
    if conf.token:
        configuration.api_key = {"authorization": conf.token}
        configuration.api_key_prefix = {"authorization": "Bearer"}
    if conf.ca:
        configuration.ca_cert_data = conf.ca
    configuration.verify_ssl = not conf.insecure
    if conf.cert:
        from kubernetes.config.kube_config import _create_temp_file_with_content

        configuration.cert_file = _create_temp_file_with_content(conf.cert)
        configuration.key_file = _create_temp_file_with_content(conf.key)
    return configuration


KIND = Kind("kubernetes", "Kubernetes", FIELDS, settings, probe,
            summary="GET /version and a SelfSubjectRulesReview")
