"""Cross-cutting models: the Syncable base every CR-backed model shares, and the event outbox."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from portal.ids import LOCAL_AGENT_ID


class ManagedBy(models.TextChoices):
    CRD = "crd"
    UI = "ui"
    API = "api"
    FILE = "file"


class SyncStatus(models.TextChoices):
    IN_SYNC = "in_sync"
    PENDING_WRITE = "pending_write"
    CONFLICT = "conflict"
    ERROR = "error"


class Syncable(models.Model):
    """Records who owns a row, so importers can leave objects managed elsewhere alone."""

    name = models.CharField(max_length=253)
    namespace = models.CharField(max_length=63, default="default")
    spec = models.JSONField(default=dict, blank=True)
    managed_by = models.CharField(max_length=8, choices=ManagedBy, default=ManagedBy.UI)
    source_ref = models.TextField(blank=True)  # k8s://cluster/ns/Kind/name or file://path
    source_hash = models.CharField(max_length=64, blank=True)
    resource_version = models.CharField(max_length=32, blank=True)
    generation = models.BigIntegerField(default=0)
    sync_status = models.CharField(max_length=16, choices=SyncStatus, default=SyncStatus.IN_SYNC)
    sync_error = models.TextField(blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    delete_reason = models.CharField(max_length=32, blank=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


class EventName(models.TextChoices):
    CONFIG_CREATED = "config.created"
    CONFIG_UPDATED = "config.updated"
    CONFIG_CHANGED = "config.changed"
    CONFIG_DELETED = "config.deleted"
    CONFIG_HEALTHY = "config.healthy"
    CONFIG_UNHEALTHY = "config.unhealthy"
    CONFIG_WARNING = "config.warning"
    CONFIG_UNKNOWN = "config.unknown"
    INSIGHT_OPENED = "insight.opened"
    INSIGHT_RESOLVED = "insight.resolved"
    SCRAPE_FAILED = "scrape.failed"
    SYNC_CONFLICT = "sync.conflict"


class Event(models.Model):
    """Transactional outbox: written in the same transaction as the change that caused it."""

    id = models.BigAutoField(primary_key=True)
    name = models.CharField(max_length=64)
    object_type = models.CharField(max_length=32)
    object_id = models.UUIDField()
    agent = models.ForeignKey(
        "accounts.Agent", on_delete=models.PROTECT, default=LOCAL_AGENT_ID, related_name="+"
    )
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # Consumers filter the feed by event name and time (notification rules, SSE).
            models.Index(fields=["name", "created_at"], name="event_name_created"),
            # An object's event history on its page.
            models.Index(fields=["object_id"], name="event_object"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.name}"


class EventCursor(models.Model):
    """One integer per consumer instead of millions of pending rows."""

    consumer = models.CharField(max_length=64, primary_key=True)
    last_event_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.consumer}@{self.last_event_id}"


class RunFields(models.Model):
    """The columns portal/runs.py needs on every long job (scrapes, playbook runs, checks, sends).

    Subclasses define `status` with their own choices; the machinery uses queued/running/failed.
    """

    created_at = models.DateTimeField(default=timezone.now)
    # When the row last became queued (created or re-queued): the reaper resends stale ones.
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.IntegerField(null=True, blank=True)
    # How many times a worker claimed it; the reaper retries up to the kind's max_attempts.
    attempt = models.IntegerField(default=0)
    # Lease: the holder's heartbeat renews lease_expires_at; every write checks lease_token.
    lease_holder = models.CharField(max_length=255, blank=True)
    lease_token = models.UUIDField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    hostname = models.CharField(max_length=255, blank=True)
    worker_id = models.CharField(max_length=255, blank=True)

    class Meta:
        abstract = True


class RunLogLine(models.Model):
    """Progress a person can read while the run is still going; subclasses add `run`."""

    class Level(models.TextChoices):
        INFO = "info"
        WARNING = "warning"
        ERROR = "error"

    id = models.BigAutoField(primary_key=True)
    seq = models.IntegerField()
    ts = models.DateTimeField(default=timezone.now)
    level = models.CharField(max_length=8, choices=Level, default=Level.INFO)
    line = models.TextField()

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.line[:80]


class EventRetry(models.Model):
    """Only the failures: an event a consumer could not handle, retried with backoff."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="retries")
    consumer = models.CharField(max_length=64)
    attempts = models.IntegerField(default=1)
    next_attempt_at = models.DateTimeField()
    last_error = models.TextField(blank=True)
    # Set after the last attempt failed: kept for the operator, never retried again.
    gave_up_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "consumer"], name="eventretry_once"),
        ]
        indexes = [models.Index(fields=["next_attempt_at"], name="eventretry_due")]

    def __str__(self) -> str:
        return f"{self.consumer}: event {self.event_id} ({self.attempts} attempts)"
