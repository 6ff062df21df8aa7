"""One serializer for connections: the API, the forms and the CR controller validate with it.

Secret fields are write-only: output shows `***` for an encrypted value and the reference
(Secret name and key, never its content) for valueFrom sources.
"""

import copy
from typing import Any

from rest_framework import serializers

from connections import spec as specs
from connections.kinds.base import get_path, set_path
from connections.models import Connection
from connections.store import stored_fields
from portal.permissions import is_admin


def public_spec(connection: Connection) -> dict[str, Any]:
    """The spec as people may see it: stored secrets masked, references shown."""
    spec = copy.deepcopy(connection.spec or {})
    kind = specs.kind_of(spec)
    if kind is None:
        return spec
    block = spec[kind.name]
    for path in kind.secret_paths:
        value = get_path(block, path)
        if specs.present(value) and (not specs.is_envvar(value) or "value" in value
                                     or "stored" in value.get("valueFrom", {})):
            set_path(block, path, specs.KEEP)
    return spec


def secret_status(connection: Connection) -> dict[str, str]:
    """`set — encrypted`, `set — from Secret db-creds, key password`, per secret field."""
    kind = specs.kind_of(connection.spec)
    if kind is None:
        return {}
    return {path: specs.describe_source(get_path(connection.block, path))
            for path in kind.secret_paths if specs.present(get_path(connection.block, path))}


class ConnectionSerializer(serializers.ModelSerializer):
    spec = serializers.JSONField()
    ref = serializers.CharField(source="reference", read_only=True)
    secrets_set = serializers.SerializerMethodField()

    class Meta:
        model = Connection
        fields = ["id", "name", "namespace", "type", "ref", "spec", "secrets_set", "managed_by",
                  "source_ref", "sync_status", "sync_error", "last_tested_at", "last_test_ok",
                  "last_test_message", "created_at", "updated_at"]
        read_only_fields = ["id", "type", "managed_by", "source_ref", "sync_status",
                            "sync_error", "last_tested_at", "last_test_ok", "last_test_message",
                            "created_at", "updated_at"]

    def get_secrets_set(self, instance: Connection) -> dict[str, str]:
        return secret_status(instance)

    def to_representation(self, instance: Connection) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["spec"] = public_spec(instance)
        return data

    def validate_name(self, name: str) -> str:
        if not specs.DNS_SUBDOMAIN.match(name):
            raise serializers.ValidationError("Use lowercase letters, digits, '-' and '.'.")
        return name

    def validate_namespace(self, namespace: str) -> str:
        if not specs.DNS_LABEL.match(namespace):
            raise serializers.ValidationError("Use a Kubernetes namespace name.")
        return namespace

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        instance: Connection | None = self.instance
        spec = attrs.get("spec", instance.spec if instance else None)
        user = self.context.get("user") or getattr(self.context.get("request"), "user", None)
        already_internal = bool(instance and instance.internal)
        errors = specs.validate_spec(
            spec,
            literals=self.context.get("literals", True),
            allow_internal=is_admin(user) or self.context.get("trusted", False)
            or already_internal,
            stored=stored_fields(instance),
        )
        if errors:
            raise serializers.ValidationError({"spec": errors})
        namespace = attrs.get("namespace", instance.namespace if instance else "default")
        name = attrs.get("name", instance.name if instance else "")
        clash = Connection.objects.live().filter(namespace=namespace, name=name)
        if instance is not None:
            clash = clash.exclude(pk=instance.pk)
        if name and clash.exists():
            raise serializers.ValidationError(
                {"name": f"connection://{namespace}/{name} already exists."})
        attrs["type"] = specs.kind_of(spec).name
        return attrs


class TestResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    message = serializers.CharField()
    latency_ms = serializers.FloatField()
    tested_at = serializers.DateTimeField(allow_null=True)


class UnsavedTestSerializer(serializers.Serializer):
    namespace = serializers.CharField(default="default")
    spec = serializers.JSONField()
