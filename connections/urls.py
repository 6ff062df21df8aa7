from django.urls import path

from connections import views

app_name = "connections"

urlpatterns = [
    path("connections/", views.connection_list, name="list"),
    path("connections/new/", views.connection_choose, name="choose"),
    path("connections/new/<slug:kind>/", views.connection_create, name="create"),
    path("connections/<uuid:pk>/", views.connection_detail, name="detail"),
    path("connections/<uuid:pk>/edit/", views.connection_edit, name="edit"),
    path("connections/<uuid:pk>/test/", views.connection_test, name="test"),
    path("connections/<uuid:pk>/delete/", views.connection_delete, name="delete"),
]
