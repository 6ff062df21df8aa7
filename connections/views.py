"""Connection pages: thin adapters over for_user(), the form and connections.store/resolve."""

from django.contrib import messages
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.audit import record
from catalog.diff import to_yaml
from connections import resolve, store
from connections.api.serializers import public_spec, secret_status
from connections.api.views import can_create, grant_creator
from connections.forms import form_class
from connections.kinds import KINDS
from connections.models import Connection
from portal.htmx import htmx_redirect, is_partial
from portal.models import ManagedBy


@require_GET
def connection_list(request: HttpRequest) -> HttpResponse:
    connections = Connection.objects.for_user(request.user).live().order_by("namespace", "name")
    kind = request.GET.get("type", "")
    if kind in KINDS:
        connections = connections.filter(type=kind)
    return render(request, "connections/connection_list.html", {
        "connections": connections, "kinds": KINDS.values(), "selected": kind,
        "can_create": can_create(request.user)})


@require_GET
def connection_choose(request: HttpRequest) -> HttpResponse:
    return render(request, "connections/connection_choose.html",
                  {"kinds": KINDS.values(), "can_create": can_create(request.user)})


def _usages(connection: Connection, user: object) -> list:
    """Scrapers whose spec names this connection, the short form only from its namespace."""
    from catalog.models import ScrapeConfig

    text = Cast("spec", TextField())
    configs = ScrapeConfig.objects.for_user(user).filter(deleted_at__isnull=True).annotate(
        spec_text=text)
    full = f'"connection://{connection.namespace}/{connection.name}"'
    short = f'"connection://{connection.name}"'
    return list(configs.filter(Q(spec_text__contains=full) | Q(
        namespace=connection.namespace, spec_text__contains=short)).order_by("namespace", "name"))


@require_GET
def connection_detail(request: HttpRequest, pk: str) -> HttpResponse:
    connection = get_object_or_404(Connection.objects.for_user(request.user).live(), pk=pk)
    permitted = Connection.objects.filter(pk=pk)
    return render(request, "connections/connection_detail.html", {
        "connection": connection, "kind": KINDS[connection.type],
        "spec_yaml": to_yaml(public_spec(connection)), "secrets": secret_status(connection),
        "usages": _usages(connection, request.user),
        "can_change": permitted.for_user(request.user, "change").exists()
        and connection.managed_by not in (ManagedBy.CRD, ManagedBy.FILE),
        "can_use": permitted.for_user(request.user, "use").exists(),
        "can_delete": permitted.for_user(request.user, "delete").exists()
        and connection.managed_by != ManagedBy.FILE,
    })


@require_http_methods(["GET", "POST"])
def connection_create(request: HttpRequest, kind: str) -> HttpResponse:
    if kind not in KINDS or not can_create(request.user):
        raise Http404
    form = form_class(KINDS[kind])(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        prepared = store.separate(form.cleaned_data["spec"], frozenset())
        connection, changed = store.save(
            None, name=form.cleaned_data["name"], namespace=form.cleaned_data["namespace"],
            prepared=prepared, actor=request.user, managed_by=ManagedBy.UI)
        grant_creator(connection, request.user)
        record(request, "connection.create", obj=connection, changes={"fields": changed})
        return htmx_redirect(request, connection.get_absolute_url())
    return render(request, "connections/connection_form.html",
                  {"form": form, "kind": KINDS[kind], "connection": None})


@require_http_methods(["GET", "POST"])
def connection_edit(request: HttpRequest, pk: str) -> HttpResponse:
    connection = get_object_or_404(
        Connection.objects.for_user(request.user, "change").live(), pk=pk)
    if connection.managed_by in (ManagedBy.CRD, ManagedBy.FILE):
        messages.error(request, f"This connection is managed by {connection.managed_by} "
                                f"({connection.source_ref}); edit it there.")
        return htmx_redirect(request, connection.get_absolute_url())
    form = form_class(KINDS[connection.type])(request.POST or None, connection=connection,
                                              user=request.user)
    if request.method == "POST" and form.is_valid():
        prepared = store.separate(form.cleaned_data["spec"], store.stored_fields(connection))
        connection, changed = store.save(
            connection, name=form.cleaned_data["name"],
            namespace=form.cleaned_data["namespace"], prepared=prepared, actor=request.user,
            managed_by=connection.managed_by)
        record(request, "connection.update", obj=connection, changes={"fields": changed})
        return htmx_redirect(request, connection.get_absolute_url())
    return render(request, "connections/connection_form.html",
                  {"form": form, "kind": KINDS[connection.type], "connection": connection})


@require_POST
def connection_test(request: HttpRequest, pk: str) -> HttpResponse:
    connection = get_object_or_404(Connection.objects.for_user(request.user, "use").live(), pk=pk)
    result = resolve.test_and_store(connection, actor=request.user)
    if is_partial(request):
        return render(request, "connections/partials/_test_result.html",
                      {"connection": connection, "result": result})
    (messages.success if result.ok else messages.error)(
        request, f"Test {'passed' if result.ok else 'failed'}: {result.message}")
    return htmx_redirect(request, connection.get_absolute_url())


@require_POST
def connection_delete(request: HttpRequest, pk: str) -> HttpResponse:
    connection = get_object_or_404(
        Connection.objects.for_user(request.user, "delete").live(), pk=pk)
    if connection.managed_by == ManagedBy.FILE:
        messages.error(request, f"This connection comes from {connection.source_ref}; delete it "
                                "there.")
        return htmx_redirect(request, connection.get_absolute_url())
    store.soft_delete(connection)
    record(request, "connection.delete", obj=connection)
    messages.success(request, f"Deleted {connection.reference}.")
    from django.urls import reverse

    return htmx_redirect(request, reverse("connections:list"))
