from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("settings/tokens/", views.token_list, name="token_list"),
    path("settings/tokens/new/", views.token_create, name="token_create"),
    path("settings/tokens/<uuid:pk>/revoke/", views.token_revoke, name="token_revoke"),
]
