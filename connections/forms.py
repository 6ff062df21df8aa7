"""One form per connection kind, built from the kind's declared fields; validation is the API's.

Secret inputs never render a value: a blank input keeps what is stored, a new value replaces
it, "from" names a Secret, ConfigMap or environment variable instead, and "clear" removes it.
"""

import re
from typing import Any

from django import forms

from connections import secret_store
from connections.api.serializers import ConnectionSerializer, secret_status
from connections.kinds.base import (
    BOOL,
    CHOICE,
    INT,
    KEYVALUES,
    LIST,
    TEXT,
    Field,
    Kind,
    get_path,
    set_path,
)
from connections.models import Connection
from connections.spec import KEEP, is_envvar

SOURCE = re.compile(r"^(?P<kind>secret|configmap|env):(?P<name>[^/\s]+)(?:/(?P<key>\S+))?$")


class SecretTextarea(forms.Textarea):
    """Multi-line secrets (kubeconfig, keys): like PasswordInput, never renders a value."""

    def format_value(self, value: Any) -> None:
        return None


def parse_source(text: str) -> dict[str, Any] | None:
    """`secret:name/key`, `configmap:name/key` or `env:NAME` as an EnvVar, None if malformed."""
    match = SOURCE.match(text.strip())
    if not match:
        return None
    if match["kind"] == "env":
        return None if match["key"] else {"valueFrom": {"env": {"name": match["name"]}}}
    if not match["key"]:
        return None
    ref = "secretKeyRef" if match["kind"] == "secret" else "configMapKeyRef"
    return {"valueFrom": {ref: {"name": match["name"], "key": match["key"]}}}


def format_source(value: Any) -> str:
    if not is_envvar(value) or "valueFrom" not in value:
        return ""
    (kind, ref), = value["valueFrom"].items()
    if kind == "env":
        return f"env:{ref.get('name')}"
    if kind in ("secretKeyRef", "configMapKeyRef"):
        prefix = "secret" if kind == "secretKeyRef" else "configmap"
        return f"{prefix}:{ref.get('name')}/{ref.get('key')}"
    return ""


def _plain_field(field: Field) -> forms.Field:
    common = {"label": field.label, "required": False, "help_text": field.help}
    if field.type == INT:
        return forms.IntegerField(min_value=1, max_value=65535, **common)
    if field.type == BOOL:
        return forms.BooleanField(**common)
    if field.type == CHOICE:
        return forms.ChoiceField(choices=[("", "—")] + [(c, c) for c in field.choices], **common)
    if field.type in (TEXT, KEYVALUES):
        return forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), strip=False, **common)
    return forms.CharField(**common)


def _secret_field(field: Field) -> forms.Field:
    widget = SecretTextarea(attrs={"rows": 4, "autocomplete": "off"}) if field.type == TEXT \
        else forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})
    return forms.CharField(label=field.label, required=False, widget=widget, strip=False,
                           help_text=field.help)


class ConnectionForm(forms.Form):
    """Common fields; `form_class(kind)` adds the kind's own."""

    kind: Kind
    name = forms.CharField(max_length=253)
    namespace = forms.CharField(max_length=63, initial="default")
    properties = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}),
                                 help_text="One 'key: value' per line, shown on the page.")
    allowed_namespaces = forms.CharField(
        required=False, help_text="Other namespaces that may reference this connection, "
                                  "comma-separated.")
    kubernetes_connection = forms.CharField(
        required=False, help_text="connection://ns/name of the cluster that holds referenced "
                                  "Secrets; empty: the in-cluster service account.")
    insecure_tls = forms.BooleanField(required=False, label="Skip TLS verification")
    internal = forms.BooleanField(required=False, label="Internal (may reach private "
                                                        "addresses; admins only)")

    def __init__(self, *args: Any, connection: Connection | None = None, user: Any = None,
                 **kwargs: Any) -> None:
        self.connection, self.user = connection, user
        if connection is not None and "initial" not in kwargs:
            kwargs["initial"] = self.initial_from(connection)
        super().__init__(*args, **kwargs)
        from portal.permissions import is_admin

        if not is_admin(user) and not (connection is not None and connection.internal):
            self.fields["internal"].disabled = True
        self.status = secret_status(connection) if connection is not None else {}

    def initial_from(self, connection: Connection) -> dict[str, Any]:
        spec, block = connection.spec or {}, connection.block
        initial: dict[str, Any] = {
            "name": connection.name, "namespace": connection.namespace,
            "properties": "\n".join(f"{k}: {v}" for k, v in (spec.get("properties") or {}).items()),
            "allowed_namespaces": ", ".join(spec.get("allowedNamespaces") or []),
            "kubernetes_connection": spec.get("kubernetesConnection") or "",
            "insecure_tls": bool(spec.get("insecureTLS")),
            "internal": bool(spec.get("internal")),
        }
        for field in self.kind.fields:
            value = get_path(block, field.path)
            if field.secret:
                # A Secret the store wrote is "a stored value", like an encrypted one: leaving
                # the input blank keeps it and typing replaces it, so no "from" prefill.
                if not secret_store.owns(value, connection.name, field.path):
                    initial[f"{field.form_name}__from"] = format_source(value)
            elif field.envvar and is_envvar(value):
                initial[f"{field.form_name}__from"] = format_source(value)
                initial[field.form_name] = value.get("value", "")
            elif field.type == LIST:
                initial[field.form_name] = ", ".join(value or [])
            elif field.type == KEYVALUES:
                initial[field.form_name] = "\n".join(
                    f"{h.get('name')}: {h.get('value', '')}" for h in value or [])
            elif value is not None:
                initial[field.form_name] = value
        return initial

    def rows(self) -> list[dict[str, Any]]:
        """Per kind field: the input, its 'from' and 'clear' companions, and what is set now."""
        rows = []
        for field in self.kind.fields:
            name = field.form_name
            rows.append({
                "field": self[name], "spec": field,
                "source": self[f"{name}__from"] if f"{name}__from" in self.fields else None,
                "clear": self[f"{name}__clear"] if f"{name}__clear" in self.fields else None,
                "status": self.status.get(field.path, ""),
            })
        return rows

    def _value(self, field: Field) -> Any:
        data = self.cleaned_data
        name = field.form_name
        raw = data.get(name)
        source_text = (data.get(f"{name}__from") or "").strip()
        if source_text:
            source = parse_source(source_text)
            if source is None:
                self.add_error(f"{name}__from", "Use secret:name/key, configmap:name/key or "
                                                "env:NAME.")
            return source
        if field.secret:
            if data.get(f"{name}__clear"):
                return None
            if raw:
                return {"value": raw}
            return KEEP if field.path in self.status else None
        if field.type == LIST:
            return [part.strip() for part in (raw or "").split(",") if part.strip()] or None
        if field.type == KEYVALUES:
            pairs = [line.split(":", 1) for line in (raw or "").splitlines() if ":" in line]
            return [{"name": k.strip(), "value": v.strip()} for k, v in pairs] or None
        if field.type == BOOL:
            return bool(raw)
        return raw if raw not in ("", None) else None

    def build_spec(self) -> dict[str, Any]:
        data = self.cleaned_data
        block: dict[str, Any] = {}
        for field in self.kind.fields:
            value = self._value(field)
            if value is not None:
                set_path(block, field.path, value)
        spec: dict[str, Any] = {self.kind.name: block}
        properties = dict(
            (k.strip(), v.strip()) for k, v in
            (line.split(":", 1) for line in (data.get("properties") or "").splitlines()
             if ":" in line))
        if properties:
            spec["properties"] = properties
        namespaces = [n.strip() for n in (data.get("allowed_namespaces") or "").split(",")
                      if n.strip()]
        if namespaces:
            spec["allowedNamespaces"] = namespaces
        if data.get("kubernetes_connection"):
            spec["kubernetesConnection"] = data["kubernetes_connection"].strip()
        if data.get("insecure_tls"):
            spec["insecureTLS"] = True
        internal = data.get("internal") if not self.fields["internal"].disabled else (
            self.connection is not None and self.connection.internal)
        if internal:
            spec["internal"] = True
        return spec

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        spec = self.build_spec()
        if self.errors:
            return data
        serializer = ConnectionSerializer(
            self.connection, data={"name": data.get("name"), "namespace": data.get("namespace"),
                                   "spec": spec},
            context={"user": self.user, "literals": True})
        if not serializer.is_valid():
            self._attach(serializer.errors)
        data["spec"] = spec
        return data

    def _attach(self, errors: dict[str, Any]) -> None:
        """Serializer errors by spec path onto the inputs they concern."""
        by_path = {f"{self.kind.name}.{f.path}": f.form_name for f in self.kind.fields}
        common = {"properties": "properties", "allowedNamespaces": "allowed_namespaces",
                  "kubernetesConnection": "kubernetes_connection", "internal": "internal",
                  "insecureTLS": "insecure_tls"}
        for key, value in errors.items():
            if key == "spec" and isinstance(value, dict):
                for path, message in value.items():
                    if isinstance(message, list):
                        message = " ".join(str(m) for m in message)
                    target = by_path.get(path) or common.get(path)
                    self.add_error(target if target in self.fields else None,
                                   f"{path}: {message}" if target is None else str(message))
            elif key in self.fields:
                self.add_error(key, [str(m) for m in value])
            else:
                self.add_error(None, [str(m) for m in value])


def form_class(kind: Kind) -> type[ConnectionForm]:
    """A ConnectionForm subclass with the kind's inputs, built once per request."""
    attrs: dict[str, Any] = {"kind": kind}
    for field in kind.fields:
        name = field.form_name
        attrs[name] = _secret_field(field) if field.secret else _plain_field(field)
        if field.secret or field.envvar:
            attrs[f"{name}__from"] = forms.CharField(
                required=False, label=f"{field.label} from",
                help_text="secret:name/key, configmap:name/key or env:NAME")
        if field.secret:
            attrs[f"{name}__clear"] = forms.BooleanField(required=False, label="clear")
    return type(f"{kind.name.title()}ConnectionForm", (ConnectionForm,), attrs)
