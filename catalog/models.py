"""The catalog: config items, their changes, relationships, insights, scrapers and scrape runs."""

import uuid

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import BrinIndex, GinIndex, OpClass
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from catalog.access import ItemQuerySet, ScrapeConfigQuerySet, ScrapeScopedQuerySet
from portal.ids import LOCAL_AGENT_ID, uuid7
from portal.models import RunFields, RunLogLine, Syncable


class Health(models.TextChoices):
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    WARNING = "warning"
    UNKNOWN = "unknown"


class Severity(models.TextChoices):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class DeleteReason(models.TextChoices):
    STALE = "stale"
    SOURCE_DELETED = "source_deleted"
    FROM_EVENT = "from_event"
    FROM_FIELD = "from_field"
    SCRAPER_DELETED = "scraper_deleted"
    MANUAL = "manual"


def _agent_fk() -> models.ForeignKey:
    return models.ForeignKey(
        "accounts.Agent", on_delete=models.PROTECT, default=LOCAL_AGENT_ID, related_name="+"
    )


class ScrapeConfig(Syncable):
    """A set of scrapers (file, git, kubernetes...) run on a schedule; the lists live in spec."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    agent = _agent_fk()
    schedule = models.CharField(max_length=64, default="@every 15m")
    paused = models.BooleanField(default=False)
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_run = models.ForeignKey(
        "ScrapeRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ScrapeConfigQuerySet.as_manager()

    class Meta:
        permissions = [("run_scrapeconfig", "Can run this scraper now")]
        constraints = [
            models.UniqueConstraint(
                fields=["namespace", "name"], condition=Q(deleted_at__isnull=True),
                name="scrapeconfig_ns_name_live",
            )
        ]
        indexes = [
            # Beat's dispatcher: which live, unpaused scrapers are due.
            models.Index(
                fields=["next_run_at"], condition=Q(deleted_at__isnull=True, paused=False),
                name="scrapeconfig_due",
            )
        ]

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("catalog:scraper_detail", args=[self.pk])


class ScrapeRun(RunFields):
    """A long job as a row: status, counters and log lines; Celery carries only its id."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        PARTIAL = "partial"
        FAILED = "failed"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule"
        MANUAL = "manual"
        WATCH = "watch"
        API = "api"

    TERMINAL = frozenset({Status.SUCCEEDED, Status.PARTIAL, Status.FAILED})

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    scrape_config = models.ForeignKey(ScrapeConfig, on_delete=models.CASCADE, related_name="runs")
    agent = _agent_fk()
    trigger = models.CharField(max_length=10, choices=Trigger, default=Trigger.MANUAL)
    status = models.CharField(max_length=10, choices=Status, default=Status.QUEUED)
    created = models.IntegerField(default=0)
    updated = models.IntegerField(default=0)
    unchanged = models.IntegerField(default=0)
    deleted = models.IntegerField(default=0)
    undeleted = models.IntegerField(default=0)
    changes = models.IntegerField(default=0)
    changes_deduped = models.IntegerField(default=0)
    insights = models.IntegerField(default=0)
    errors = models.IntegerField(default=0)
    per_type = models.JSONField(default=dict, blank=True)
    error_list = models.JSONField(default=list, blank=True)

    objects = ScrapeScopedQuerySet.as_manager()

    class Meta:
        indexes = [
            # The scraper page lists its runs newest first.
            models.Index(fields=["scrape_config", "-started_at"], name="scraperun_config_started"),
        ]
        constraints = [
            # Two runs of one ScrapeConfig never overlap: at most one live run per config.
            models.UniqueConstraint(
                fields=["scrape_config"], condition=Q(status__in=["queued", "running"]),
                name="scraperun_one_live_per_config",
            )
        ]

    def __str__(self) -> str:
        return f"run {self.id} ({self.status})"

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("catalog:run_detail", args=[self.pk])

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL


class ScrapeLogLine(RunLogLine):
    """Progress a person can read while the run is still going."""

    run = models.ForeignKey(ScrapeRun, on_delete=models.CASCADE, related_name="log_lines")

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="scrapelog_run_seq")]


class ConfigItem(models.Model):
    id = models.UUIDField(primary_key=True, editable=False)  # deterministic, see catalog.identity
    agent = _agent_fk()
    scraper = models.ForeignKey(
        ScrapeConfig, null=True, blank=True, on_delete=models.SET_NULL, related_name="items"
    )
    type = models.CharField(max_length=255)
    config_class = models.CharField(max_length=100, blank=True)
    name = models.CharField(max_length=512)
    namespace = models.CharField(max_length=253, blank=True)
    labels = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=dict, blank=True)
    config = models.JSONField(null=True, blank=True)
    config_hash = models.CharField(max_length=64, blank=True)
    # Hash of everything the scraper supplied (config hash, names, labels, tags, parent...):
    # equal => the re-scrape writes nothing to this row.
    item_hash = models.CharField(max_length=64, blank=True)
    config_truncated = models.BooleanField(default=False)
    health = models.CharField(max_length=10, choices=Health, default=Health.UNKNOWN)
    status = models.CharField(max_length=100, blank=True)
    ready = models.BooleanField(default=False)
    message = models.TextField(blank=True)
    description = models.TextField(blank=True)
    icon = models.CharField(max_length=100, blank=True)
    external_ids = ArrayField(models.TextField(), default=list, blank=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children",
        db_constraint=False,  # parents may arrive in a later batch than their children
    )
    path = models.TextField(blank=True)
    properties = models.JSONField(default=list, blank=True)
    source = models.TextField(blank=True)
    # Reserved for cost data (searchable as cost_*); nothing writes these yet.
    cost_per_minute = models.DecimalField(max_digits=18, decimal_places=6, null=True, blank=True)
    cost_total_1d = models.DecimalField(max_digits=18, decimal_places=6, null=True, blank=True)
    cost_total_7d = models.DecimalField(max_digits=18, decimal_places=6, null=True, blank=True)
    cost_total_30d = models.DecimalField(max_digits=18, decimal_places=6, null=True, blank=True)
    managed_by = models.CharField(max_length=10, default="scraper")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    first_seen_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)
    delete_reason = models.CharField(max_length=32, blank=True)

    objects = ItemQuerySet.as_manager()

    class Meta:
        permissions = [("run_playbook_on_configitem", "Can run playbooks on this item")]
        indexes = [
            # Selectors and relationship lookups: agent + type + case-insensitive name.
            models.Index("agent", "type", Lower("name"), name="item_agent_type_name"),
            # Catalog summary counts per type and health.
            models.Index(
                fields=["type", "health"], condition=Q(deleted_at__isnull=True),
                name="item_type_health_live",
            ),
            # Alias lookups when resolving relationships and pushed changes.
            GinIndex(fields=["external_ids"], name="item_external_ids"),
            # Containment filters labels.app=x / tags.cluster=x.
            GinIndex(
                OpClass("labels", name="jsonb_path_ops"), name="item_labels"
            ),
            GinIndex(OpClass("tags", name="jsonb_path_ops"), name="item_tags"),
            # `*infix*` wildcard search (trigram) and bare-word prefix search.
            GinIndex(
                OpClass(Lower("name"), name="gin_trgm_ops"), name="item_name_trgm"
            ),
            models.Index(
                OpClass(Lower("name"), name="text_pattern_ops"), name="item_name_prefix"
            ),
            # Subtree queries: path LIKE '<root path>.%'.
            models.Index(OpClass("path", name="text_pattern_ops"), name="item_path_prefix"),
            # Stale detection and scraper-deletion cascades.
            models.Index(
                fields=["scraper"], condition=Q(deleted_at__isnull=True), name="item_scraper_live"
            ),
            # "Recently changed" lists and the default catalog order.
            models.Index(fields=["-updated_at", "id"], name="item_updated"),
            # Keyset pagination of the catalog list by (type, name, id).
            models.Index(
                fields=["type", "name", "id"], condition=Q(deleted_at__isnull=True),
                name="item_list_keyset",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.namespace}/{self.name}" if self.namespace else self.name

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("catalog:item_detail", args=[self.pk])

    @property
    def kind(self) -> str:
        return self.type.rsplit("::", 1)[-1]


class ConfigItemSeen(models.Model):
    """Narrow UNLOGGED table so "seen again, unchanged" never rewrites the wide item row."""

    config_item = models.OneToOneField(
        ConfigItem, primary_key=True, on_delete=models.CASCADE, related_name="+",
        db_constraint=False,
    )
    last_scraped_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.config_item_id} seen {self.last_scraped_at}"


class ConfigChange(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    config = models.ForeignKey(ConfigItem, on_delete=models.CASCADE, related_name="changes")
    agent = _agent_fk()
    change_type = models.CharField(max_length=100)
    severity = models.CharField(max_length=10, choices=Severity, default=Severity.INFO)
    source = models.CharField(max_length=255, blank=True)
    summary = models.TextField(blank=True)
    diff = models.TextField(null=True, blank=True)  # noqa: DJ001 - NULL means "no diff taken"
    patch = models.JSONField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    fingerprint = models.CharField(max_length=64)
    count = models.PositiveIntegerField(default=1)
    first_observed = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    # NULL, not "", so the partial unique index ignores changes without a source id.
    external_change_id = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    created_by = models.ForeignKey(
        "accounts.Person", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    external_created_by = models.CharField(max_length=255, blank=True)
    inserted_at = models.DateTimeField(default=timezone.now)

    objects = ScrapeScopedQuerySet.as_manager()

    class Meta:
        indexes = [
            # Retention walks created_at in batches; append-mostly, so BRIN stays tiny.
            BrinIndex(fields=["created_at"], name="change_created_brin"),
            # The item timeline.
            models.Index(fields=["config", "-created_at"], name="change_item_timeline"),
            # The dedupe probe within the window.
            models.Index(
                fields=["config", "fingerprint", "-created_at"], name="change_dedupe_probe"
            ),
            # Facets on the changes page.
            models.Index(fields=["change_type"], name="change_type"),
            models.Index(fields=["severity"], name="change_severity"),
            # The global timeline, newest first.
            models.Index(fields=["-created_at", "id"], name="change_recent"),
        ]
        constraints = [
            # Idempotent ingestion of changes the source already identifies.
            models.UniqueConstraint(
                fields=["config", "external_change_id"],
                condition=Q(external_change_id__isnull=False),
                name="change_external_id_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.change_type}: {self.summary[:60]}"


class ConfigRelationship(models.Model):
    config = models.ForeignKey(ConfigItem, on_delete=models.CASCADE, related_name="outgoing")
    related = models.ForeignKey(ConfigItem, on_delete=models.CASCADE, related_name="incoming")
    relation = models.CharField(max_length=100)
    scraper = models.ForeignKey(
        ScrapeConfig, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = ScrapeScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["config", "related", "relation"], name="relationship_unique"
            )
        ]
        indexes = [
            # Incoming traversal in the graph's recursive CTE.
            models.Index(fields=["related"], name="relationship_incoming"),
        ]

    def __str__(self) -> str:
        return f"{self.config_id} -{self.relation}-> {self.related_id}"


class ConfigInsight(models.Model):
    class AnalysisType(models.TextChoices):
        AVAILABILITY = "availability"
        COMPLIANCE = "compliance"
        COST = "cost"
        INTEGRATION = "integration"
        OTHER = "other"
        PERFORMANCE = "performance"
        RECOMMENDATION = "recommendation"
        RELIABILITY = "reliability"
        SECURITY = "security"
        TECHNICAL_DEBT = "technical_debt"

    class Status(models.TextChoices):
        OPEN = "open"
        RESOLVED = "resolved"
        SILENCED = "silenced"

    id = models.UUIDField(primary_key=True, editable=False)  # natural_id(config, analyzer, source)
    config = models.ForeignKey(ConfigItem, on_delete=models.CASCADE, related_name="insights")
    scraper = models.ForeignKey(
        ScrapeConfig, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    agent = _agent_fk()
    analyzer = models.CharField(max_length=255)
    analysis_type = models.CharField(
        max_length=16, choices=AnalysisType, default=AnalysisType.OTHER
    )
    severity = models.CharField(max_length=10, choices=Severity, default=Severity.INFO)
    status = models.CharField(max_length=10, choices=Status, default=Status.OPEN)
    summary = models.TextField(blank=True)
    message = models.TextField(blank=True)
    analysis = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=255, blank=True)
    first_observed = models.DateTimeField(default=timezone.now)
    last_observed = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    objects = ScrapeScopedQuerySet.as_manager()

    class Meta:
        indexes = [
            BrinIndex(fields=["last_observed"], name="insight_last_observed_brin"),
            # The insights page filters.
            models.Index(fields=["status", "analysis_type", "severity"], name="insight_page"),
            # The item's Insights tab.
            models.Index(fields=["config", "status"], name="insight_item"),
        ]

    def __str__(self) -> str:
        return f"{self.analyzer} on {self.config_id}"


class HealthRule(models.Model):
    """User CEL health rules: scraper-scoped ones first, then global, each in `order`."""

    class Scope(models.TextChoices):
        GLOBAL = "global"
        SCRAPER = "scraper"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    scope = models.CharField(max_length=8, choices=Scope, default=Scope.GLOBAL)
    scraper = models.ForeignKey(
        ScrapeConfig, null=True, blank=True, on_delete=models.CASCADE, related_name="health_rules"
    )
    types = ArrayField(models.CharField(max_length=255), default=list, blank=True)
    order = models.IntegerField(default=0)
    when = models.TextField()
    health = models.CharField(max_length=10, choices=Health, blank=True)
    status = models.TextField(blank=True)
    ready = models.TextField(blank=True)
    message = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    last_error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["scope", "order"], name="healthrule_scope_order")]

    def __str__(self) -> str:
        return f"{self.scope} rule {self.when[:40]}"
