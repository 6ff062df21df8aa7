"""Admin for people, teams, agents, tokens (never their secrets) and the read-only audit trail."""

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.http import HttpRequest

from accounts.models import Agent, APIToken, AuditEvent, Person, Team, TeamMembership


@admin.register(Person)
class PersonAdmin(UserAdmin):
    ordering = ("email",)
    list_display = ("email", "name", "kind", "is_active", "is_superuser", "last_login")
    list_filter = ("kind", "is_active", "is_superuser", "groups")
    search_fields = ("email", "name")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("name", "avatar", "kind", "external_id")}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",),
                             "fields": ("email", "password1", "password2")}),)
    filter_horizontal = ("groups",)


class MembershipInline(admin.TabularInline):
    model = TeamMembership
    raw_id_fields = ("person",)
    extra = 0


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "group")
    search_fields = ("name", "slug")
    inlines = [MembershipInline]


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ("name", "hostname", "version", "last_seen_at", "deleted_at")
    search_fields = ("name", "hostname")


@admin.register(APIToken)
class APITokenAdmin(admin.ModelAdmin):
    list_display = ("name", "person", "prefix", "created_at", "expires_at", "last_used_at",
                    "revoked_at")
    search_fields = ("name", "prefix", "person__email")
    raw_id_fields = ("person", "created_by")
    # The hash is never shown; tokens are created on the settings page, where the secret is
    # displayed once.
    exclude = ("secret_hash",)
    readonly_fields = ("prefix", "last_used_at", "last_used_ip", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("at", "action", "outcome", "actor_person", "object_type", "object_repr",
                    "ip")
    list_filter = ("outcome",)
    search_fields = ("action", "object_id")
    show_full_result_count = False
    date_hierarchy = "at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
