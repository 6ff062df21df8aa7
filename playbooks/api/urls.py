"""Mounted at api/v1/ by portal/urls.py."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from playbooks import webhooks
from playbooks.api import views

router = SimpleRouter()
router.register("playbooks", views.PlaybookViewSet, basename="playbook")
router.register("playbook-runs", views.PlaybookRunViewSet, basename="playbookrun")

urlpatterns = [
    # A plain view, not DRF: the webhook's signature is its authentication (playbooks/webhooks.py).
    path("webhooks/<str:path>", webhooks.receive, name="playbook-webhook"),
    *router.urls,
]
