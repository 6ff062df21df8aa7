"""Playbooks, their runs, the actions of each run and the run's log lines."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from portal.ids import uuid7
from portal.models import RunFields, RunLogLine, Syncable
from portal.permissions import GrantedQuerySet, is_admin


class PlaybookQuerySet(GrantedQuerySet):
    """Playbooks are granted one by one (view / run / approve); admins see all."""


class Playbook(Syncable):
    """A validated spec (playbooks/spec.py) plus the columns the catalog page groups by."""

    # A UUID like every granted model: guardian's object_pk is cast to uuid in the grant subquery.
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    title = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    category = models.CharField(max_length=100, blank=True)
    icon = models.CharField(max_length=64, blank=True)

    objects = PlaybookQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["namespace", "name"], condition=Q(deleted_at=None),
                                    name="playbook_unique_live_name"),
        ]
        indexes = [models.Index(fields=["category"], name="playbook_category")]
        permissions = [
            ("run_playbook", "Can run the playbook"),
            ("approve_playbook", "Can approve runs of the playbook"),
        ]

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("playbooks:detail", args=[self.pk])


class RunQuerySet(models.QuerySet):
    """A run is visible to whoever can see its playbook, and to the person who started it."""

    def for_user(self, user, action: str = "view") -> "RunQuerySet":
        if is_admin(user):
            return self
        if not getattr(user, "is_authenticated", False):
            return self.none()
        visible = Playbook.objects.for_user(user, action).values("pk")
        return self.filter(Q(playbook__in=visible) | Q(created_by=user))


class PlaybookRun(RunFields):
    """One execution. `spec` is a snapshot: editing the playbook never changes a running run."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled"
        PENDING_APPROVAL = "pending_approval"
        RUNNING = "running"
        COMPLETED = "completed"
        FAILED = "failed"
        CANCELLED = "cancelled"
        TIMED_OUT = "timed_out"

    class Trigger(models.TextChoices):
        MANUAL = "manual"
        API = "api"
        WEBHOOK = "webhook"
        EVENT = "event"
        SCHEDULE = "schedule"
        PLAYBOOK = "playbook"

    TERMINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED, Status.TIMED_OUT})

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    playbook = models.ForeignKey(Playbook, on_delete=models.PROTECT, related_name="runs")
    spec = models.JSONField(default=dict)
    status = models.CharField(max_length=20, choices=Status, default=Status.SCHEDULED)
    trigger = models.CharField(max_length=10, choices=Trigger, default=Trigger.MANUAL)
    event = models.ForeignKey("portal.Event", null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    config = models.ForeignKey("catalog.ConfigItem", null=True, blank=True,
                               on_delete=models.SET_NULL, related_name="playbook_runs")
    # Secret parameters are never stored: their names are listed in spec.parameters.
    parameters = models.JSONField(default=dict, blank=True)
    request = models.JSONField(null=True, blank=True)
    parent_run = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="child_runs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    dry_run = models.BooleanField(default=False)
    timeout_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    # A trigger that fires twice for the same cause (an event, a webhook delivery id) starts
    # one run: the second insert hits this unique key.
    idempotency_key = models.CharField(max_length=200, null=True, blank=True, unique=True)

    objects = RunQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["playbook", "-created_at"], name="pbrun_playbook_created"),
            models.Index(fields=["config", "-created_at"], name="pbrun_config_created"),
            models.Index(fields=["status"], name="pbrun_pending_approval",
                         condition=Q(status="pending_approval")),
        ]

    def __str__(self) -> str:
        return f"run {self.id} of {self.playbook_id} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("playbooks:run_detail", args=[self.pk])


class PlaybookRunAction(models.Model):
    """One attempt of one action; a retry is a new row with the next attempt number."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled"
        RUNNING = "running"
        SLEEPING = "sleeping"
        RETRYING = "retrying"
        COMPLETED = "completed"
        FAILED = "failed"
        SKIPPED = "skipped"
        CANCELLED = "cancelled"
        TIMED_OUT = "timed_out"

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    run = models.ForeignKey(PlaybookRun, on_delete=models.CASCADE, related_name="actions")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20)
    position = models.SmallIntegerField()
    attempt = models.SmallIntegerField(default=1)
    status = models.CharField(max_length=12, choices=Status, default=Status.SCHEDULED)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    scheduled_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position", "attempt"]
        constraints = [
            models.UniqueConstraint(fields=["run", "position", "attempt"],
                                    name="pbaction_run_position_attempt"),
        ]

    def __str__(self) -> str:
        return f"{self.name}#{self.attempt} ({self.status})"

    @property
    def duration_ms(self) -> int | None:
        if self.started_at and self.finished_at:
            return int((self.finished_at - self.started_at).total_seconds() * 1000)
        return None


class PlaybookLogLine(RunLogLine):
    """The run's live log; `action` is empty for the engine's own lines."""

    class Stream(models.TextChoices):
        STDOUT = "stdout"
        STDERR = "stderr"
        SYSTEM = "system"

    run = models.ForeignKey(PlaybookRun, on_delete=models.CASCADE, related_name="log_lines")
    action = models.ForeignKey(PlaybookRunAction, null=True, blank=True,
                               on_delete=models.CASCADE, related_name="log_lines")
    stream = models.CharField(max_length=6, choices=Stream, default=Stream.SYSTEM)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="pblog_run_seq")]


class PlaybookApproval(models.Model):
    """One person's decision on a run waiting for approval; each person decides once."""

    class Decision(models.TextChoices):
        APPROVED = "approved"
        REJECTED = "rejected"

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    run = models.ForeignKey(PlaybookRun, on_delete=models.CASCADE, related_name="approvals")
    # PROTECT: a decision is a record of who let a run happen; deactivate people instead.
    person = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                               related_name="+")
    # The listed team the person decided for, when they were not listed by email themselves.
    via_team = models.ForeignKey("accounts.Team", null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="+")
    decision = models.CharField(max_length=8, choices=Decision)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["run", "created_at"]
        constraints = [models.UniqueConstraint(fields=["run", "person"],
                                               name="pbapproval_run_person")]

    def __str__(self) -> str:
        return f"{self.decision} by {self.person_id} on {self.run_id}"


class ScheduleState(models.Model):
    """When each `on.schedule` entry of a playbook is next due; the beat task moves it on.

    `fingerprint` is the entry's cron and time zone: editing either starts counting afresh
    instead of firing for a slot computed from the old expression.
    """

    playbook = models.ForeignKey(Playbook, on_delete=models.CASCADE, related_name="+")
    index = models.PositiveSmallIntegerField()
    fingerprint = models.CharField(max_length=200)
    next_run_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["playbook", "index"],
                                               name="pbschedule_playbook_index")]

    def __str__(self) -> str:
        return f"{self.playbook_id}[{self.index}] next at {self.next_run_at}"
