"""Identity from the first migration: people, teams, agents, API tokens and the audit trail."""

import uuid
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, Group, PermissionsMixin
from django.db import models
from django.utils import timezone

from portal.ids import LOCAL_AGENT_ID, uuid7

ROLES = ("admin", "editor", "operator", "viewer", "agent")


class PersonManager(BaseUserManager["Person"]):
    def create_user(self, email: str, password: str | None = None, **extra: Any) -> "Person":
        if not email:
            raise ValueError("A person needs an email address to log in with.")
        person = self.model(email=self.normalize_email(email).lower(), **extra)
        person.set_password(password)
        person.save(using=self._db)
        return person

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> "Person":
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class Person(AbstractBaseUser, PermissionsMixin):
    """Logs in by email; roles are the groups admin, editor, operator, viewer and agent."""

    class Kind(models.TextChoices):
        HUMAN = "human"
        AGENT = "agent"
        SERVICE = "service"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(unique=True)
    name = models.CharField(max_length=200, blank=True)
    avatar = models.URLField(blank=True)
    kind = models.CharField(max_length=8, choices=Kind, default=Kind.HUMAN)
    external_id = models.CharField(max_length=255, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = PersonManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.name or self.email

    def has_role(self, role: str) -> bool:
        return self.is_superuser or self.groups.filter(name=role).exists()


class Team(models.Model):
    """A team owns a Django group so guardian can grant object permissions to all its members."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    icon = models.CharField(max_length=100, blank=True)
    group = models.OneToOneField(Group, on_delete=models.PROTECT, related_name="team")
    members = models.ManyToManyField(Person, through="TeamMembership", related_name="teams")

    def __str__(self) -> str:
        return self.name


class TeamMembership(models.Model):
    class Role(models.TextChoices):
        MEMBER = "member"
        LEAD = "lead"

    team = models.ForeignKey(Team, on_delete=models.CASCADE)
    person = models.ForeignKey(Person, on_delete=models.CASCADE)
    role = models.CharField(max_length=8, choices=Role, default=Role.MEMBER)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "person"], name="team_person_unique")
        ]

    def __str__(self) -> str:
        return f"{self.person} in {self.team}"


class Agent(models.Model):
    """Where rows come from; the built-in `local` agent (nil UUID) is the hub itself."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    hostname = models.CharField(max_length=255, blank=True)
    version = models.CharField(max_length=64, blank=True)
    labels = models.JSONField(default=dict, blank=True)
    properties = models.JSONField(default=dict, blank=True)
    person = models.ForeignKey(Person, null=True, blank=True, on_delete=models.SET_NULL)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    last_push_at = models.DateTimeField(null=True, blank=True)
    last_push_stats = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # The agents page sorts and filters by liveness.
        indexes = [models.Index(fields=["last_seen_at"], name="agent_last_seen")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_local(self) -> bool:
        return self.id == LOCAL_AGENT_ID


class APIToken(models.Model):
    """`fd_<prefix>_<secret>`: looked up by prefix, compared by hash, shown once."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    name = models.CharField(max_length=100)
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="api_tokens")
    prefix = models.CharField(max_length=12, unique=True)
    secret_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    created_by = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} (fd_{self.prefix}_…)"

    @property
    def is_active(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class AuditEvent(models.Model):
    """Append-only: a database trigger rejects UPDATE and DELETE, even for superusers."""

    class Outcome(models.TextChoices):
        SUCCESS = "success"
        DENIED = "denied"
        ERROR = "error"

    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField(default=timezone.now)
    actor_person = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False,
        related_name="+",
    )
    actor_token = models.ForeignKey(
        APIToken, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False,
        related_name="+",
    )
    actor_agent = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False,
        related_name="+",
    )
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=255, blank=True)
    outcome = models.CharField(max_length=8, choices=Outcome, default=Outcome.SUCCESS)
    changes = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True)

    class Meta:
        indexes = [
            # An object's history on its page.
            models.Index(fields=["object_type", "object_id", "-at"], name="audit_object"),
            # A person's activity in the audit viewer.
            models.Index(fields=["actor_person", "-at"], name="audit_actor"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action} {self.outcome}"
