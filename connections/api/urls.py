"""Mounted at api/v1/connections/ by portal/urls.py."""

from rest_framework.routers import SimpleRouter

from connections.api import views

router = SimpleRouter()
router.register("", views.ConnectionViewSet, basename="connection")

urlpatterns = router.urls
