"""`manage.py kubeconfig_scraper`: a ScrapeConfig for $KUBECONFIG's current context.

`make run` calls it when KUBECONFIG is set, so a developer's cluster shows up without any YAML.
"""

import hashlib
import os
import re
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from kubernetes import config as k8s_config
from kubernetes.config.config_exception import ConfigException

from catalog import specs
from catalog.diff import canonical_json
from catalog.models import ScrapeConfig
from portal.models import ManagedBy

NAMESPACE = "default"
# UI- and CRD-managed ScrapeConfigs are never overwritten by this command; file- and API-managed
# ones are, because this command is their source.
OVERWRITABLE = (ManagedBy.FILE, ManagedBy.API)


def dns1123(name: str) -> str:
    """kind-prod/eu:1 -> kind-prod-eu-1: lowercase alphanumerics and '-', at most 253 chars."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    cleaned = re.sub(r"-{2,}", "-", cleaned)[:253].strip("-")
    return cleaned or "kubeconfig"


class Command(BaseCommand):
    help = "Create or update the ScrapeConfig for the current context of $KUBECONFIG."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG", ""),
                            help="kubeconfig path(s), default $KUBECONFIG")
        parser.add_argument("--context", help="use this context instead of the current one")

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["kubeconfig"]
        if not path:
            raise CommandError("KUBECONFIG is not set")
        try:
            contexts, current = k8s_config.list_kube_config_contexts(config_file=path)
        except (ConfigException, OSError) as exc:
            raise CommandError(f"cannot read kubeconfig {path}: {exc}") from exc
        context = options["context"] or (current or {}).get("name")
        if not context or context not in {c.get("name") for c in contexts or []}:
            raise CommandError(f"context {context!r} is not in {path}")
        spec = {"kubernetes": [{"clusterName": context, "kubeconfig": path, "context": context}]}
        errors = specs.validate_spec(spec)
        if errors:
            raise CommandError("; ".join(errors))
        name = dns1123(context)
        digest = hashlib.sha256(canonical_json(spec)).hexdigest()
        with transaction.atomic():
            config = (ScrapeConfig.objects.select_for_update()
                      .filter(namespace=NAMESPACE, name=name, deleted_at__isnull=True).first())
            if config is None:
                config = ScrapeConfig.objects.create(
                    namespace=NAMESPACE, name=name, spec=spec, managed_by=ManagedBy.FILE,
                    source_ref=f"file://{path}", source_hash=digest,
                )
                verb = "created"
            elif config.managed_by not in OVERWRITABLE:
                raise CommandError(f"ScrapeConfig {config} is managed by {config.managed_by}; "
                                   "not overwriting it")
            elif config.source_hash == digest and config.spec == spec:
                verb = "unchanged"
            else:
                config.spec, config.source_hash = spec, digest
                config.source_ref = f"file://{path}"
                config.save(update_fields=["spec", "source_hash", "source_ref", "updated_at"])
                verb = "updated"
        self.stdout.write(f"ScrapeConfig {config} {verb} for context {context}")
