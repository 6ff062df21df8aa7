"""The Connection spec: validation shared by the CR controller, the API and the forms.

Shape: exactly one typed block (`postgres: {...}`) plus `properties`, `allowedNamespaces`,
`internal`, `insecureTLS` and `kubernetesConnection` (where secretKeyRef/configMapKeyRef are read;
the in-cluster service account when absent). Secret fields hold EnvVar objects; only UI and API
writes may carry a literal, which the store encrypts and replaces by a `stored` reference.
"""

import re
from collections.abc import Mapping
from typing import Any

from connections.kinds import KINDS
from connections.kinds.base import (
    BOOL,
    CHOICE,
    INT,
    KEYVALUES,
    LIST,
    STRING,
    TEXT,
    Field,
    Kind,
    get_path,
)

KEEP = "***"  # a secret field sent back unchanged: keep the stored value
SOURCES = ("secretKeyRef", "configMapKeyRef", "env", "stored")
COMMON = ("properties", "allowedNamespaces", "internal", "insecureTLS", "kubernetesConnection")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
PLACEHOLDER = re.compile(r"\$\(([\w.]+)\)")
REFERENCE = re.compile(r"^connection://(?:(?P<ns>[a-z0-9-]{1,63})/)?(?P<name>[a-z0-9.-]{1,253})$")
MAX_TEXT = 64 * 1024


def kind_of(spec: Any) -> Kind | None:
    if not isinstance(spec, Mapping):
        return None
    found = [KINDS[key] for key in spec if key in KINDS]
    return found[0] if len(found) == 1 else None


def is_envvar(value: Any) -> bool:
    return isinstance(value, Mapping) and bool(value) and set(value) <= {"value", "valueFrom"}


def is_literal(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, Mapping) and "value" in value)


def describe_source(value: Any) -> str:
    """How a secret is set, for pages and API output: never the value itself."""
    if not isinstance(value, Mapping) or "valueFrom" not in value:
        return "set"
    source = value["valueFrom"]
    if "secretKeyRef" in source:
        ref = source["secretKeyRef"]
        return f"from Secret {ref.get('name')}, key {ref.get('key')}"
    if "configMapKeyRef" in source:
        ref = source["configMapKeyRef"]
        return f"from ConfigMap {ref.get('name')}, key {ref.get('key')}"
    if "env" in source:
        return f"from environment variable {source['env'].get('name')}"
    return "encrypted"


def _source_error(value: Mapping[str, Any], stored_ok: bool) -> str | None:
    source = value.get("valueFrom")
    if not isinstance(source, Mapping) or len(source) != 1:
        return "valueFrom needs exactly one of secretKeyRef, configMapKeyRef or env"
    (kind, ref), = source.items()
    if kind not in SOURCES or (kind == "stored" and not stored_ok):
        return f"valueFrom.{kind} is not a supported source"
    if not isinstance(ref, Mapping):
        return f"valueFrom.{kind} must be an object"
    needs = {"secretKeyRef": ("name", "key"), "configMapKeyRef": ("name", "key"),
             "env": ("name",), "stored": ("key",)}[kind]
    for part in needs:
        if not isinstance(ref.get(part), str) or not ref[part]:
            return f"valueFrom.{kind}.{part} is required"
    if kind in ("secretKeyRef", "configMapKeyRef") and not DNS_SUBDOMAIN.match(ref["name"]):
        return f"valueFrom.{kind}.name must be a Kubernetes object name"
    return None


def secret_reference_error(value: Any) -> str | None:
    """For a secret kept outside a connection (a webhook's credentials): a reference, never a
    literal, because the spec is stored and shown in clear."""
    if not is_envvar(value) or "value" in value or "valueFrom" not in value:
        return "must be a secret reference ({valueFrom: {secretKeyRef: {name, key}}} or " \
               "{valueFrom: {env: {name}}}), never a literal value"
    return _source_error(value, stored_ok=False)


def _value_error(field: Field, value: Any, *, literals: bool, stored_ok: bool) -> str | None:
    if field.secret:
        if value == KEEP and literals:
            return None
        if isinstance(value, str) or (isinstance(value, Mapping) and "value" in value):
            if not literals:
                return "secret fields take valueFrom (secretKeyRef, configMapKeyRef or env), " \
                       "never a literal value"
            literal = value if isinstance(value, str) else value.get("value")
            if not isinstance(literal, str) or len(literal) > MAX_TEXT:
                return "must be a string"
            return None
        if not is_envvar(value):
            return "must be an EnvVar object ({valueFrom: ...})"
        return _source_error(value, stored_ok)
    if field.envvar and isinstance(value, Mapping):
        if not is_envvar(value):
            return "must be a string or an EnvVar object"
        if "value" in value:
            return None if isinstance(value["value"], str) else "value must be a string"
        return _source_error(value, stored_ok)
    checks = {
        STRING: lambda v: isinstance(v, str) and len(v) <= 4096,
        TEXT: lambda v: isinstance(v, str) and len(v) <= MAX_TEXT,
        INT: lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 < v < 65536,
        BOOL: lambda v: isinstance(v, bool),
        LIST: lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v),
        CHOICE: lambda v: v in field.choices,
        KEYVALUES: lambda v: isinstance(v, list) and all(
            isinstance(i, Mapping) and isinstance(i.get("name"), str)
            and isinstance(i.get("value", ""), str) for i in v),
    }
    if not checks[field.type](value):
        expected = {STRING: "a string", TEXT: "a string", INT: "a port-sized integer",
                    BOOL: "true or false", LIST: "a list of strings",
                    CHOICE: "one of " + ", ".join(field.choices),
                    KEYVALUES: "a list of {name, value}"}[field.type]
        return f"must be {expected}"
    return None


def _unknown_paths(kind: Kind, block: Mapping[str, Any], prefix: str = "") -> list[str]:
    paths = {f.path for f in kind.fields}
    unknown = []
    for key, value in block.items():
        path = f"{prefix}{key}"
        if path in paths:
            continue
        if isinstance(value, Mapping) and any(p.startswith(path + ".") for p in paths):
            unknown += _unknown_paths(kind, value, path + ".")
        else:
            unknown.append(path)
    return unknown


def present(value: Any) -> bool:
    return value not in (None, "", [], {})


def validate_spec(spec: Any, *, literals: bool, allow_internal: bool,
                  stored: frozenset[str] = frozenset()) -> dict[str, str]:
    """Errors by field path (empty when valid). `literals`: a UI/API write, not a CR."""
    if not isinstance(spec, Mapping):
        return {"spec": "must be an object"}
    blocks = [key for key in spec if key in KINDS]
    if len(blocks) != 1:
        return {"spec": "needs exactly one typed block: " + ", ".join(KINDS)}
    kind = KINDS[blocks[0]]
    errors: dict[str, str] = {}
    for key in spec:
        if key not in KINDS and key not in COMMON:
            errors[key] = "unknown field"
    block = spec[kind.name]
    if not isinstance(block, Mapping):
        return {**errors, kind.name: "must be an object"}
    for path in _unknown_paths(kind, block):
        errors[f"{kind.name}.{path}"] = "unknown field"
    for field in kind.fields:
        value = get_path(block, field.path)
        where = f"{kind.name}.{field.path}"
        if not present(value):
            if field.required:
                errors[where] = "required"
            continue
        problem = _value_error(field, value, literals=literals,
                               stored_ok=field.path in stored)
        if problem:
            errors[where] = problem
    for path, message in kind.validate(block).items():
        errors.setdefault(f"{kind.name}.{path}", message)
    url = block.get("url")
    if isinstance(url, str):
        names = {f.path for f in kind.fields}
        for placeholder in PLACEHOLDER.findall(url):
            if placeholder not in names:
                errors.setdefault(f"{kind.name}.url",
                                  f"$({placeholder}) is not a field of a {kind.name} connection")
    errors.update(_common_errors(spec, allow_internal))
    return errors


def _common_errors(spec: Mapping[str, Any], allow_internal: bool) -> dict[str, str]:
    errors = {}
    properties = spec.get("properties")
    if properties is not None and not (
            isinstance(properties, Mapping)
            and all(isinstance(v, str | int | float | bool) for v in properties.values())):
        errors["properties"] = "must be a map of plain values"
    namespaces = spec.get("allowedNamespaces")
    if namespaces is not None and not (
            isinstance(namespaces, list)
            and all(isinstance(n, str) and (n == "*" or DNS_LABEL.match(n)) for n in namespaces)):
        errors["allowedNamespaces"] = "must be a list of namespace names (or *)"
    for flag in ("internal", "insecureTLS"):
        if spec.get(flag) is not None and not isinstance(spec.get(flag), bool):
            errors[flag] = "must be true or false"
    if spec.get("internal") and not allow_internal:
        errors["internal"] = "only an admin may let a connection reach private addresses"
    ref = spec.get("kubernetesConnection")
    if ref is not None and not (isinstance(ref, str) and REFERENCE.match(ref)):
        errors["kubernetesConnection"] = "must look like connection://<namespace>/<name>"
    return errors
