from typing import Any

from rest_framework import serializers

from accounts.models import APIToken
from accounts.tokens import DEFAULT_SCOPES, SCOPES


class APITokenSerializer(serializers.ModelSerializer):
    """The plaintext token appears once, in the create response (`token`), never again."""

    token = serializers.SerializerMethodField()
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(SCOPES)), allow_empty=False,
        required=False, default=lambda: list(DEFAULT_SCOPES),
        help_text="`read` (safe methods) or `write` (every method); `read` when left out.",
    )

    class Meta:
        model = APIToken
        fields = ["id", "name", "prefix", "scopes", "expires_at", "created_at", "last_used_at",
                  "last_used_ip", "revoked_at", "token"]
        read_only_fields = ["id", "prefix", "created_at", "last_used_at", "last_used_ip",
                            "revoked_at", "token"]

    def get_token(self, obj: APIToken) -> str | None:
        return getattr(obj, "plaintext", None)

    def to_representation(self, instance: APIToken) -> dict[str, Any]:
        data = super().to_representation(instance)
        if data.get("token") is None:
            data.pop("token")
        return data
