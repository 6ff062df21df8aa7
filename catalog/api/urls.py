from rest_framework.routers import DefaultRouter

from catalog.api import views

router = DefaultRouter()
router.register("catalog/items", views.ConfigItemViewSet, basename="configitem")
router.register("catalog/changes", views.ConfigChangeViewSet, basename="configchange")
router.register("catalog/relationships", views.ConfigRelationshipViewSet,
                basename="configrelationship")
router.register("catalog/insights", views.ConfigInsightViewSet, basename="configinsight")
router.register("scrape-configs", views.ScrapeConfigViewSet, basename="scrapeconfig")
router.register("scrape-runs", views.ScrapeRunViewSet, basename="scraperun")

urlpatterns = router.urls
