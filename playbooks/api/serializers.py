"""API shapes; the spec itself is validated by playbooks/spec.py, the one validator."""

from typing import Any

from rest_framework import serializers

from playbooks import parameters
from playbooks import spec as specs
from playbooks.models import Playbook, PlaybookRun, PlaybookRunAction


class PlaybookSerializer(serializers.ModelSerializer):
    class Meta:
        model = Playbook
        fields = ["id", "name", "namespace", "title", "description", "category", "icon", "spec",
                  "managed_by", "source_ref", "created_at", "updated_at"]
        read_only_fields = ["id", "title", "description", "category", "icon", "managed_by",
                            "source_ref", "created_at", "updated_at"]

    def validate_spec(self, value: Any) -> dict[str, Any]:
        try:
            return specs.validate(value)
        except specs.SpecError as exc:
            raise serializers.ValidationError(
                [f"{path}: {message}" if path else message for path, message in exc.problems]
            ) from None


class RunRequestSerializer(serializers.Serializer):
    config = serializers.UUIDField(required=False, allow_null=True,
                                   help_text="the catalog item to run against")
    params = serializers.DictField(required=False, default=dict)
    dry_run = serializers.BooleanField(default=False)


class PlaybookRunActionSerializer(serializers.ModelSerializer):
    class Meta:
        model = PlaybookRunAction
        fields = ["id", "name", "kind", "position", "attempt", "status", "result", "error",
                  "started_at", "finished_at"]


class PlaybookRunSerializer(serializers.ModelSerializer):
    actions = PlaybookRunActionSerializer(many=True, read_only=True)
    parameters = serializers.SerializerMethodField()
    created_by = serializers.SlugRelatedField(slug_field="email", read_only=True)

    class Meta:
        model = PlaybookRun
        fields = ["id", "playbook", "status", "trigger", "config", "parameters", "dry_run",
                  "created_by", "created_at", "started_at", "finished_at", "timeout_at",
                  "error", "actions"]

    def get_parameters(self, run: PlaybookRun) -> dict[str, Any]:
        return parameters.shown(run.parameters)


class DecisionSerializer(serializers.Serializer):
    """The body of approve and reject; the comment is kept with the decision."""

    comment = serializers.CharField(required=False, allow_blank=True, default="",
                                    max_length=2000)
