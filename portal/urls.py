"""Root URLconf: pages, the API under /api/v1/, its schema, and the probes."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from portal import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("catalog.urls")),
    path("", include("accounts.urls")),
    path("api/v1/", include("catalog.api.urls")),
    path("", include("connections.urls")),
    path("playbooks/", include("playbooks.urls")),
    path("api/v1/connections/", include("connections.api.urls")),
    path("api/v1/", include("accounts.api.urls")),
    path("api/v1/", include("playbooks.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its script from a URL, so the CSP needs no 'unsafe-inline'.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]
