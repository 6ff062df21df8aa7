"""The `kubernetes` action: apply, patch, delete, scale or restart one object through a connection.

Requests go through the official client's ApiClient as raw JSON; the resource (plural, scope)
behind an apiVersion/kind comes from the group version's discovery document, so custom resources
work like built-in ones. Dry runs ask the API server (`dryRun=All`) and then check that it really
changed nothing; a server that cannot dry-run gets no request and the action returns its plan.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import urllib3

from catalog.scrapers.documents import DocumentError, load_one
from playbooks.actions.base import ActionContext, ActionError, Problem

OPERATIONS = ("apply", "patch", "delete", "scale", "restart")
PATCH_TYPES = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
}
RESTARTABLE = frozenset({("apps", "Deployment"), ("apps", "StatefulSet"), ("apps", "DaemonSet")})
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
MAX_RESULT = 256 * 1024  # bytes of JSON kept for the resulting object
# dryRun=All became GA in 1.18; older servers either reject the parameter or ignore it.
DRY_RUN_SINCE = (1, 18)
_TEMPLATE = re.compile(r"\{\{.*\}\}", re.S)


@dataclass(frozen=True)
class Resource:
    """What discovery says about one kind: where it lives and whether it is namespaced."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool

    def path(self, namespace: str | None, name: str | None = None) -> str:
        group_version = self.api_version
        base = f"/apis/{group_version}" if "/" in group_version else f"/api/{group_version}"
        if self.namespaced:
            base += f"/namespaces/{quote(namespace or 'default', safe='')}"
        base += f"/{self.plural}"
        return f"{base}/{quote(name, safe='')}" if name else base


@dataclass(frozen=True)
class Ref:
    api_version: str
    kind: str
    namespace: str | None
    name: str

    def label(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name} ({self.api_version})"


# -- validation -------------------------------------------------------------------------------


def _templated(value: Any) -> bool:
    return isinstance(value, str) and bool(_TEMPLATE.search(value))


def validate(spec: Mapping[str, Any]) -> list[Problem]:
    """Shape only: values may still be templates, which render when the action runs."""
    problems: list[Problem] = []
    if not isinstance(spec, Mapping):
        return [("", "must be an object")]
    if not isinstance(spec.get("connection"), str) or not spec.get("connection"):
        problems.append(("connection", "a kubernetes connection reference is required"))
    operation = spec.get("operation")
    if operation not in OPERATIONS:
        problems.append(("operation", f"must be one of {', '.join(OPERATIONS)}"))
    if operation == "apply":
        if not isinstance(spec.get("manifest"), str) or not spec["manifest"].strip():
            problems.append(("manifest", "apply needs a manifest (YAML text)"))
    elif "manifest" in spec:
        problems.append(("manifest", f"only apply takes a manifest, not {operation}"))
    target = spec.get("target")
    if target is not None:
        if not isinstance(target, Mapping):
            problems.append(("target", "must be an object"))
        else:
            for key in ("apiVersion", "kind", "namespace", "name"):
                if key in target and not isinstance(target[key], str):
                    problems.append((f"target.{key}", "must be a string"))
            for key in set(target) - {"apiVersion", "kind", "namespace", "name"}:
                problems.append((f"target.{key}", "unknown field"))
    if operation == "patch":
        patch = spec.get("patch")
        if not isinstance(patch, Mapping):
            problems.append(("patch", "patch needs {type, body}"))
        else:
            if patch.get("type", "merge") not in PATCH_TYPES:
                problems.append(("patch.type", f"must be one of {', '.join(PATCH_TYPES)}"))
            if "body" not in patch:
                problems.append(("patch.body", "required"))
            elif not isinstance(patch["body"], Mapping | list | str):
                problems.append(("patch.body", "must be an object, a list or YAML text"))
    if operation == "scale":
        replicas = spec.get("replicas")
        if not _templated(replicas) and not (
                isinstance(replicas, int) and not isinstance(replicas, bool) and replicas >= 0):
            problems.append(("replicas", "scale needs a whole number of replicas, 0 or more"))
    if "serverDryRun" in spec and not isinstance(spec["serverDryRun"], bool):
        problems.append(("serverDryRun", "must be true or false"))
    return problems


# -- the API server ---------------------------------------------------------------------------


class Api:
    """Raw JSON requests over the official ApiClient; errors carry the server's message."""

    def __init__(self, configuration: Any, timeout: float) -> None:
        from kubernetes import client

        self.client = client.ApiClient(configuration)
        # (connect, read): an attempt must end by the engine's deadline.
        self.timeout = (min(10.0, timeout), max(1.0, timeout))

    def close(self) -> None:
        self.client.close()

    def call(self, method: str, path: str, *, body: Any = None, query: Mapping[str, str] | None
             = None, content_type: str = "application/json") -> tuple[int, Any]:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        method, url, headers, payload, post = self.client.param_serialize(
            method, path, query_params=list((query or {}).items()), header_params=headers,
            body=body, auth_settings=["BearerToken"])
        response = self.client.call_api(method, url, headers, payload, post,
                                        _request_timeout=self.timeout)
        raw = response.read()
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = None
        return response.status, data


def _message(status: int, data: Any) -> str:
    if isinstance(data, Mapping) and data.get("message"):
        return str(data["message"])[:500]
    return f"HTTP {status}"


def _fail(what: str, status: int, data: Any, **result: Any) -> ActionError:
    reason = data.get("reason") if isinstance(data, Mapping) else None
    return ActionError(f"{what}: {_message(status, data)}",
                       {"status": status, "reason": reason or "", **result})


def discover(api: Api, api_version: str, kind: str) -> Resource:
    """The resource serving `kind` in `api_version`, from that group version's discovery."""
    path = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
    status, data = api.call("GET", path)
    if status == 404:
        raise ActionError(f"apiVersion {api_version} is not served by the cluster",
                          {"status": 404})
    if not 200 <= status < 300 or not isinstance(data, Mapping):
        raise _fail(f"discovery of {api_version}", status, data)
    for entry in data.get("resources") or []:
        if entry.get("kind") == kind and "/" not in str(entry.get("name", "")):
            return Resource(api_version, kind, str(entry["name"]), bool(entry.get("namespaced")))
    raise ActionError(f"kind {kind} is not served in {api_version}", {"status": 404})


def supports_dry_run(api: Api) -> bool:
    """GA since 1.18; earlier servers may answer as if the write happened."""
    status, data = api.call("GET", "/version")
    if status != 200 or not isinstance(data, Mapping):
        return False
    try:
        major = int(re.sub(r"\D", "", str(data.get("major", ""))) or 0)
        minor = int(re.sub(r"\D", "", str(data.get("minor", ""))) or 0)
    except ValueError:
        return False
    return (major, minor) >= DRY_RUN_SINCE


# -- what to act on ---------------------------------------------------------------------------


def _parse_manifest(text: str) -> dict[str, Any]:
    try:
        manifest = load_one(text)
    except DocumentError as exc:
        raise ActionError(f"manifest: {exc}") from None
    if not isinstance(manifest, Mapping):
        raise ActionError("manifest: not a Kubernetes object (a YAML mapping)")
    for key in ("apiVersion", "kind"):
        if not isinstance(manifest.get(key), str) or not manifest[key]:
            raise ActionError(f"manifest: {key} is required")
    meta = manifest.get("metadata")
    if not isinstance(meta, Mapping) or not isinstance(meta.get("name"), str) or not meta["name"]:
        # generateName would create a new object on every run: apply must be repeatable.
        raise ActionError("manifest: metadata.name is required")
    return dict(manifest)


def target_of(spec: Mapping[str, Any], config: Mapping[str, Any] | None) -> Ref:
    """`target`, filled in from the run's config item (its scraped body, then its tags)."""
    target = dict(spec.get("target") or {})
    body = (config or {}).get("config") if isinstance(config, Mapping) else None
    body = body if isinstance(body, Mapping) else {}
    meta = body.get("metadata") if isinstance(body.get("metadata"), Mapping) else {}
    tags = (config or {}).get("tags") if isinstance(config, Mapping) else None
    tags = tags if isinstance(tags, Mapping) else {}
    item_type = str((config or {}).get("type") or "") if isinstance(config, Mapping) else ""
    api_version = target.get("apiVersion") or body.get("apiVersion") or tags.get("apiVersion")
    kind = target.get("kind") or body.get("kind") or (
        item_type.split("::", 1)[1] if item_type.startswith("Kubernetes::") else None)
    name = target.get("name") or meta.get("name") or (config or {}).get("name")
    namespace = (target.get("namespace") or meta.get("namespace") or tags.get("namespace")
                 or (config or {}).get("namespace"))
    missing = [key for key, value in (("apiVersion", api_version), ("kind", kind),
                                      ("name", name)) if not value]
    if missing:
        raise ActionError(f"target: {', '.join(missing)} not given and not known from the "
                          "run's config item")
    return Ref(str(api_version), str(kind), str(namespace) if namespace else None, str(name))


def strip(obj: Any) -> Any:
    """managedFields is bookkeeping of the server, large and useless in a run's result."""
    if isinstance(obj, Mapping) and isinstance(obj.get("metadata"), Mapping):
        meta = {k: v for k, v in obj["metadata"].items() if k != "managedFields"}
        obj = {**obj, "metadata": meta}
    if len(json.dumps(obj, default=str)) > MAX_RESULT:
        meta = obj.get("metadata", {}) if isinstance(obj, Mapping) else {}
        return {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"),
                "metadata": {k: meta.get(k) for k in ("name", "namespace", "uid",
                                                        "resourceVersion")},
                "truncated": f"the object is larger than {MAX_RESULT} bytes of JSON"}
    return obj


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _replicas(value: Any) -> int:
    if isinstance(value, bool):
        raise ActionError("replicas: must be a whole number")
    try:
        count = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        raise ActionError(f"replicas: {str(value)[:50]!r} is not a whole number") from None
    if count < 0:
        raise ActionError("replicas: must be 0 or more")
    return count


def _patch_body(patch: Mapping[str, Any]) -> tuple[str, Any]:
    kind = patch.get("type") or "merge"
    if kind not in PATCH_TYPES:
        raise ActionError(f"patch.type: must be one of {', '.join(PATCH_TYPES)}")
    body = patch.get("body")
    if isinstance(body, str):  # a rendered YAML or JSON text
        try:
            body = load_one(body)
        except DocumentError as exc:
            raise ActionError(f"patch.body: {exc}") from None
    if kind == "json" and not isinstance(body, list):
        raise ActionError("patch.body: a JSON patch is a list of operations")
    if kind != "json" and not isinstance(body, Mapping):
        raise ActionError(f"patch.body: a {kind} patch is an object")
    return PATCH_TYPES[kind], body


# -- one request, maybe dry ---------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One write to send: kept as data so a dry run can show exactly what would be sent."""

    method: str
    path: str
    body: Any = None
    content_type: str = "application/json"

    def plan(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "contentType": self.content_type,
                "body": self.body}


class Runner:
    def __init__(self, api: Api, ctx: ActionContext, dry: bool, server_dry: bool) -> None:
        self.api, self.ctx, self.dry, self.server_dry = api, ctx, dry, server_dry

    def get(self, resource: Resource, ref: Ref) -> Any:
        status, data = self.api.call("GET", resource.path(ref.namespace, ref.name))
        if status == 404:
            return None
        if not 200 <= status < 300:
            raise _fail(f"cannot read {ref.label()}", status, data)
        return data

    def send(self, step: Step) -> tuple[int, Any]:
        query = {"dryRun": "All"} if self.dry and self.server_dry else None
        self.ctx.log(f"{step.method} {step.path}" + (" (dryRun=All)" if query else ""),
                     "system")
        status, data = self.api.call(step.method, step.path, body=step.body, query=query,
                                     content_type=step.content_type)
        return status, data


def _state(obj: Any) -> Any:
    """What a dry run must leave as it was: the object minus the server's bookkeeping."""
    if not isinstance(obj, Mapping):
        return obj
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
    return {**obj, "metadata": meta}


def _checked_dry_run(runner: Runner, resource: Resource, ref: Ref, before: Any,
                     operation: str) -> None:
    """A server that ignores dryRun would have written: say so rather than report a plan."""
    after = runner.get(resource, ref)
    if _state(after) != _state(before):
        raise ActionError(
            f"{ref.label()}: the API server ignored dryRun=All and the {operation} was made",
            {"operation": operation, "dryRun": "ignored", "object": strip(after)})


class KubernetesKind:
    name = "kubernetes"

    def validate(self, spec: Mapping[str, Any]) -> list[Problem]:
        return validate(spec)

    def run(self, ctx: ActionContext) -> dict[str, Any]:
        from connections.errors import ConnectionFailure
        from connections.resolve import kubernetes_configuration

        spec = ctx.spec
        problems = [p for p in validate(spec) if not p[0].startswith("replicas")]
        if problems:
            raise ActionError("; ".join(f"{path}: {message}" for path, message in problems))
        operation = str(spec["operation"])
        try:
            configuration = kubernetes_configuration(
                str(spec["connection"]), ctx.namespace,
                purpose=f"playbook action {ctx.action_name}", actor=ctx.actor)
        except ConnectionFailure as exc:
            raise ActionError(str(exc)) from None
        api = Api(configuration, ctx.timeout)
        try:
            return self._run(api, ctx, operation)
        except ActionError:
            raise
        except (OSError, urllib3.exceptions.HTTPError) as exc:
            raise ActionError(f"cannot reach the API server ({exc.__class__.__name__})") from None
        finally:
            api.close()

    def _run(self, api: Api, ctx: ActionContext, operation: str) -> dict[str, Any]:
        spec = ctx.spec
        dry = ctx.dry_run or bool(spec.get("serverDryRun"))
        server_dry = supports_dry_run(api) if dry else False
        runner = Runner(api, ctx, dry, server_dry)
        manifest = _parse_manifest(str(spec["manifest"])) if operation == "apply" else None
        if manifest is not None:
            meta = manifest["metadata"]
            ref = Ref(manifest["apiVersion"], manifest["kind"], meta.get("namespace")
                      or (spec.get("target") or {}).get("namespace"), meta["name"])
        else:
            ref = target_of(spec, ctx.config)
        resource = discover(api, ref.api_version, ref.kind)
        if resource.namespaced and not ref.namespace:
            ref = Ref(ref.api_version, ref.kind, "default", ref.name)
        if not resource.namespaced:
            ref = Ref(ref.api_version, ref.kind, None, ref.name)
        before = runner.get(resource, ref)
        if operation != "apply" and before is None:
            raise ActionError(f"{ref.label()} not found", {"status": 404, "operation": operation})

        created = False
        if operation == "apply":
            assert manifest is not None
            if resource.namespaced:
                manifest["metadata"] = {**manifest["metadata"], "namespace": ref.namespace}
            # Server-side apply needs field managers, which the test emulator only approximates
            # (and plain kmock lacks): apply is create, or on 409 a merge patch of the manifest.
            # Unlike SSA, fields absent from the manifest are kept and lists are replaced.
            steps = [Step("POST", resource.path(ref.namespace), manifest),
                     Step("PATCH", resource.path(ref.namespace, ref.name), manifest,
                          PATCH_TYPES["merge"])]
            if before is not None:
                steps = steps[1:]
        elif operation == "patch":
            content_type, body = _patch_body(spec["patch"])
            steps = [Step("PATCH", resource.path(ref.namespace, ref.name), body, content_type)]
        elif operation == "delete":
            steps = [Step("DELETE", resource.path(ref.namespace, ref.name),
                          {"propagationPolicy": "Background"})]
        elif operation == "scale":
            count = _replicas(spec.get("replicas"))
            if "replicas" not in ((before or {}).get("spec") or {}) and (
                    resource.api_version, resource.kind) not in {
                    ("apps/v1", k) for k in ("Deployment", "StatefulSet", "ReplicaSet")}:
                raise ActionError(f"{ref.label()} has no spec.replicas to scale")
            # kubectl scale writes the /scale subresource; patching spec.replicas is the same
            # change for workloads and also works where that subresource is not served.
            steps = [Step("PATCH", resource.path(ref.namespace, ref.name),
                          {"spec": {"replicas": count}}, PATCH_TYPES["merge"])]
        else:  # restart
            group = ref.api_version.split("/", 1)[0] if "/" in ref.api_version else ""
            if (group, ref.kind) not in RESTARTABLE:
                raise ActionError(f"{ref.label()}: restart works on Deployments, StatefulSets "
                                  "and DaemonSets")
            # What `kubectl rollout restart` sends: a changed pod template rolls the pods.
            body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: _now()}}}}}
            steps = [Step("PATCH", resource.path(ref.namespace, ref.name), body,
                          PATCH_TYPES["merge"])]

        if dry and not server_dry:
            ctx.log(f"{ref.label()}: the API server cannot dry-run; nothing was sent", "system")
            return {"operation": operation, "dryRun": "plan", "object": strip(before),
                    "plan": [steps[0].plan()]}

        status, data = runner.send(steps[0])
        if status == 409 and operation == "apply" and len(steps) > 1:
            status, data = runner.send(steps[1])
        else:
            created = operation == "apply" and before is None and 200 <= status < 300
        if not 200 <= status < 300:
            raise _fail(f"cannot {operation} {ref.label()}", status, data, operation=operation)
        result: dict[str, Any] = {"operation": operation, "object": strip(data)}
        if operation == "apply":
            result["created"] = created
        if dry:
            _checked_dry_run(runner, resource, ref, before, operation)
            result["dryRun"] = "server"
        ctx.log(f"{ref.label()}: {operation} " + ("dry-run by the API server" if dry else "done"),
                "system")
        return result


KIND = KubernetesKind()
