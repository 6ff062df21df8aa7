"""Playbook pages, mounted at playbooks/ by portal/urls.py."""

from django.urls import path

from playbooks import views

app_name = "playbooks"

urlpatterns = [
    path("", views.playbook_list, name="list"),
    path("<uuid:pk>/", views.playbook_detail, name="detail"),
    path("<uuid:pk>/run/", views.playbook_run, name="run"),
    path("runs/", views.run_list, name="run_list"),
    path("runs/<uuid:pk>/", views.run_detail, name="run_detail"),
    path("runs/<uuid:pk>/cancel/", views.run_cancel, name="run_cancel"),
    path("approvals/", views.approval_inbox, name="approvals"),
    path("runs/<uuid:pk>/decide/", views.run_decide, name="run_decide"),
]
