"""The bundled demo catalog, loaded through the real file scraper with timestamps made recent."""

import re
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from catalog.models import ScrapeConfig
from portal.models import ManagedBy

_PLACEHOLDER = re.compile(r"\$\{now(?:([+-])(\d+)([smhdw]))?\}")
_UNIT = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def render_placeholders(text: str, now: datetime) -> str:
    """`${now-2h}` -> an RFC 3339 time two hours ago, so the demo always looks current."""

    def replace(match: re.Match[str]) -> str:
        moment = now
        if match.group(1):
            delta = timedelta(**{_UNIT[match.group(3)]: int(match.group(2))})
            moment = now + delta if match.group(1) == "+" else now - delta
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    return _PLACEHOLDER.sub(replace, text)


def render_tree(source: Path, target: Path, now: datetime) -> None:
    if target.exists():
        shutil.rmtree(target)
    for path in source.rglob("*"):
        if path.is_file() and path.suffix in (".yaml", ".yml", ".json"):
            out = target / path.relative_to(source)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(render_placeholders(path.read_text(), now))


def install(now: datetime | None = None) -> list[ScrapeConfig]:
    """Creates or updates one ScrapeConfig per demo manifest; paths point at the rendered copy."""
    now = now or timezone.now()
    source = Path(settings.FLIGHTDECK_DEMO_DIR)
    target = Path(settings.FLIGHTDECK_STATE_DIR) / "demo"
    render_tree(source, target, now)
    manifests = [m for m in yaml.safe_load_all((source / "scrapeconfigs.yaml").read_text()) if m]
    configs = []
    with transaction.atomic():
        for manifest in manifests:
            spec: dict[str, Any] = dict(manifest["spec"])
            for kind in ("file",):
                for entry in spec.get(kind) or []:
                    entry["base"] = str(target)
            meta = manifest["metadata"]
            config, _ = ScrapeConfig.objects.update_or_create(
                namespace=meta.get("namespace", "default"), name=meta["name"],
                deleted_at__isnull=True,
                defaults={
                    "spec": spec, "schedule": spec.get("schedule", "@every 15m"),
                    "managed_by": ManagedBy.FILE,
                    "source_ref": f"file://{source / 'scrapeconfigs.yaml'}",
                },
            )
            configs.append(config)
    return configs
