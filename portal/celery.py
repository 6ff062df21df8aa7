"""The Celery app: JSON only, ids only, one queue per workload (settings under CELERY_*)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("flightdeck")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
