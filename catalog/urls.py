from django.urls import path

from catalog import views

app_name = "catalog"

urlpatterns = [
    path("catalog/", views.item_list, name="item_list"),
    path("catalog/health/", views.health_dashboard, name="health"),
    path("catalog/<uuid:pk>/", views.item_detail, name="item_detail"),
    path("changes/", views.change_list, name="change_list"),
    path("changes/<uuid:pk>/", views.change_detail, name="change_detail"),
    path("graph/", views.graph_view, name="graph"),
    path("scrapers/", views.scraper_list, name="scraper_list"),
    path("scrapers/<uuid:pk>/", views.scraper_detail, name="scraper_detail"),
    path("scrapers/<uuid:pk>/run/", views.scraper_run_now, name="scraper_run_now"),
    path("scrapers/runs/<uuid:pk>/", views.run_detail, name="run_detail"),
]
