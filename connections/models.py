"""Connections: typed settings and secret references for outside systems, never plaintext."""

from typing import Any

from django.db import models
from django.db.models import Q

from portal.ids import uuid7
from portal.models import Syncable
from portal.permissions import GrantedQuerySet


class ConnectionType(models.TextChoices):
    KUBERNETES = "kubernetes", "Kubernetes"
    HTTP = "http", "HTTP"
    POSTGRES = "postgres", "PostgreSQL"
    MYSQL = "mysql", "MySQL"
    GIT = "git", "Git"
    GITHUB = "github", "GitHub"
    GITLAB = "gitlab", "GitLab"
    SLACK = "slack", "Slack"
    SMTP = "smtp", "SMTP"
    WEBHOOK = "webhook", "Webhook"
    AWS = "aws", "AWS"
    GCP = "gcp", "Google Cloud"
    AZURE = "azure", "Azure"


class ConnectionQuerySet(GrantedQuerySet):
    """`view`, `use` or `change`: granted per connection through guardian, admins see all."""


class Connection(Syncable):
    """`spec` is the resource's spec; the typed columns below are a projection of it."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    type = models.CharField(max_length=16, choices=ConnectionType)
    url = models.TextField(blank=True)  # may hold $(username) / $(password) placeholders
    # EnvVar objects ({"value"} for non-secrets, {"valueFrom": ...} otherwise), never literals.
    username = models.JSONField(default=dict, blank=True)
    password = models.JSONField(default=dict, blank=True)
    certificate = models.JSONField(default=dict, blank=True)
    secrets = models.JSONField(default=dict, blank=True)  # {field path: EnvVar}
    properties = models.JSONField(default=dict, blank=True)  # non-secret typed fields
    insecure_tls = models.BooleanField(default=False)
    last_tested_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True, blank=True)
    last_test_message = models.TextField(blank=True)

    objects = ConnectionQuerySet.as_manager()

    class Meta:
        permissions = [("use_connection", "Can use this connection in scrapers and playbooks")]
        constraints = [
            models.UniqueConstraint(
                fields=["namespace", "name"], condition=Q(deleted_at__isnull=True),
                name="connection_ns_name_live",
            )
        ]
        indexes = [models.Index(fields=["type"], name="connection_type")]

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("connections:detail", args=[self.pk])

    @property
    def reference(self) -> str:
        return f"connection://{self.namespace}/{self.name}"

    @property
    def internal(self) -> bool:
        return bool((self.spec or {}).get("internal"))

    @property
    def allowed_namespaces(self) -> list[str]:
        return list((self.spec or {}).get("allowedNamespaces") or [])

    @property
    def block(self) -> dict[str, Any]:
        """The typed block of the spec (`spec.postgres`, `spec.http`, ...)."""
        return dict((self.spec or {}).get(self.type) or {})


class ConnectionSecret(models.Model):
    """A secret typed into the UI or API, encrypted with FLIGHTDECK_SECRET_KEYS (crypto.py)."""

    id = models.BigAutoField(primary_key=True)
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE,
                                   related_name="stored_secrets")
    field = models.CharField(max_length=64)
    ciphertext = models.BinaryField()
    key_id = models.CharField(max_length=16)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "field"], name="connsecret_field")
        ]

    def __str__(self) -> str:
        return f"{self.connection_id}:{self.field} (key {self.key_id})"
