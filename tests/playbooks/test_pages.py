"""Playbook pages over real HTTP (Django's test client) and PostgreSQL: the catalog, the run
form for every parameter type, starting and cancelling runs, the run page and its live log,
the run history and the Playbooks tab of a catalog item."""

import re
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import assign_perm

from accounts.models import Team
from catalog.models import ConfigItem
from connections.models import Connection
from playbooks.models import Playbook, PlaybookLogLine, PlaybookRun, PlaybookRunAction
from playbooks.spec import validate
from tests.catalog.scrape_helpers import file_scraper, run_now

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
HELLO = [{"name": "hello", "exec": {"script": "echo hi"}}]
MANIFESTS = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web-deploy, namespace: shop, uid: 33333333-0000-4000-8000-000000000001}
spec: {replicas: 1}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web-settings, namespace: shop, uid: 33333333-0000-4000-8000-000000000002}
data: {k: v}
"""

EVERY_TYPE = [
    {"name": "ticket", "label": "Ticket", "type": "text", "required": True,
     "description": "The change ticket this run belongs to",
     "properties": {"pattern": "[A-Z]+-[0-9]+", "minLength": 3, "maxLength": 20}},
    {"name": "notes", "type": "text", "properties": {"multiline": True},
     "default": "for {{ user.email }}"},
    {"name": "script", "type": "code", "properties": {"language": "python"},
     "default": "print('hi')"},
    {"name": "force", "type": "checkbox", "default": True},
    {"name": "regions", "type": "list",
     "properties": {"multiple": True, "options": [{"label": "Europe", "value": "eu"},
                                                  {"label": "America", "value": "us"}]}},
    {"name": "owner", "type": "people"},
    {"name": "team", "type": "team"},
    {"name": "item", "type": "config"},
    {"name": "conn", "type": "connection"},
    {"name": "password", "type": "secret", "required": True},
]


def make(name: str, *, parameters: list | None = None,
         configs: list | None = None, **extra: Any) -> Playbook:
    spec = {"title": extra.pop("title", name.replace("-", " ").title()), "actions": HELLO,
            "parameters": parameters or [], **extra}
    if configs is not None:
        spec["configs"] = configs
    clean = validate(spec)
    return Playbook.objects.create(
        name=name, namespace="shop", spec=clean, title=clean["title"],
        description=clean["description"], category=clean["category"], icon=clean["icon"])


def grant(person: Any, playbook: Playbook, *perms: str) -> None:
    for perm in perms or ("view", "run"):
        assign_perm(f"{perm}_playbook", person, playbook)


def page(client, url: str, status: int = 200, **headers: str) -> str:
    response = client.get(url, headers=headers)
    assert response.status_code == status, response.content[:500]
    return response.content.decode()


@pytest.fixture(autouse=True)
def secret_keys(settings) -> None:
    """Secret parameters are encrypted before the run row is written."""
    from cryptography.fernet import Fernet

    settings.FLIGHTDECK_SECRET_KEYS = [Fernet.generate_key().decode()]


@pytest.fixture
def items(manifests) -> dict[str, ConfigItem]:
    run_now(file_scraper(manifests("shop/all.yaml", MANIFESTS).parent, name="shop"))
    return {"deploy": ConfigItem.objects.get(name="web-deploy"),
            "settings": ConfigItem.objects.get(name="web-settings")}


@pytest.fixture
def every_type(alice, items) -> Playbook:
    """A playbook with one parameter of each type, alice granted view and run, and a team, a
    connection and an item for the selects to offer."""
    Team.objects.create(name="payments-team", slug="payments-team",
                        group=Group.objects.create(name="team-payments"))
    conn = Connection.objects.create(namespace="shop", name="shop-http", type="http",
                                     spec={"http": {"url": "https://shop.example.com/"}},
                                     url="https://shop.example.com/")
    assign_perm("view_connection", alice, conn)
    assign_perm("use_connection", alice, conn)
    assign_perm("view_configitem", alice, items["deploy"])
    playbook = make("every-type", parameters=EVERY_TYPE, description="All the controls")
    grant(alice, playbook)
    return playbook


def valid_post(items: dict[str, ConfigItem], **changes: Any) -> dict[str, Any]:
    data = {"param-ticket": "OPS-42", "param-notes": "typed notes",
            "param-script": "print(1)", "param-force": ["false", "true"],
            "param-regions": ["eu", "us"], "param-owner": "alice@example.com",
            "param-team": "payments-team", "param-item": str(items["deploy"].pk),
            "param-conn": "connection://shop/shop-http", "param-password": "hunter2"}
    data.update(changes)
    return data


# -- the catalog of playbooks ----------------------------------------------------------------


def test_catalog_lists_only_visible_playbooks_by_category(client, alice):
    shown = make("restart-web", category="Operations", description="Restart the web tier",
                 icon="rotate", title="Restart web")
    hidden = make("drop-database", category="Operations", title="Drop the database")
    grant(alice, shown, "view")
    PlaybookRun.objects.create(playbook=shown, spec=shown.spec, status="completed")
    client.force_login(alice)

    html = page(client, reverse("playbooks:list"))

    assert "Restart web" in html and "Restart the web tier" in html
    assert "Operations" in html and "1 run" in html and 'data-icon="rotate"' in html
    assert hidden.title not in html
    assert reverse("playbooks:detail", args=[shown.pk]) in html
    assert reverse("playbooks:detail", args=[hidden.pk]) not in html


def test_catalog_filter_is_a_fragment_for_htmx(client, alice):
    for name in ("restart-web", "scale-workers"):
        grant(alice, make(name), "view")
    client.force_login(alice)

    fragment = page(client, reverse("playbooks:list") + "?q=scale", **HTMX)

    assert "<html" not in fragment and 'id="playbook-catalog"' in fragment
    assert "Scale Workers" in fragment and "Restart Web" not in fragment


# -- the run form ----------------------------------------------------------------------------


def test_form_renders_each_parameter_type(client, alice, every_type, items):
    client.force_login(alice)

    html = page(client, reverse("playbooks:run", args=[every_type.pk]))

    ticket = re.search(r'<input type="text" id="param-ticket"[^>]*>', html)[0]
    assert 'pattern="[A-Z]+-[0-9]+"' in ticket and 'minlength="3"' in ticket
    assert 'maxlength="20"' in ticket and "required" in ticket
    assert "The change ticket this run belongs to" in html  # the description
    assert re.search(r'Ticket <span class="required" aria-hidden="true">\*</span>', html)
    # Defaults are rendered by the same template code the run uses.
    assert re.search(r'<textarea id="param-notes"[^>]*>for alice@example.com</textarea>', html)
    assert re.search(r'<textarea id="param-script"[^>]*class="code"[^>]*'
                     r'data-language="python"[^>]*>print\(&#x27;hi&#x27;\)</textarea>', html)
    assert re.search(r'<input type="checkbox" id="param-force"[^>]*checked', html)
    assert re.search(r'<select id="param-regions"[^>]*multiple', html)
    assert '<option value="eu">Europe</option>' in html
    assert re.search(r'<select id="param-owner".*?<option value="alice@example.com">', html,
                     re.S)
    assert re.search(r'<select id="param-team".*?payments-team', html, re.S)
    assert re.search(rf'<select id="param-item".*?<option value="{items["deploy"].pk}">', html,
                     re.S)
    assert str(items["settings"].pk) not in html  # not shared with alice
    assert re.search(r'<select id="param-conn".*?connection://shop/shop-http', html, re.S)
    assert '<input type="password" id="param-password"' in html
    assert 'name="dry_run"' in html and 'name="csrfmiddlewaretoken"' in html


def test_detail_page_shows_the_spec_owner_runs_and_the_form(client, alice, every_type):
    PlaybookRun.objects.create(playbook=every_type, spec=every_type.spec, status="failed",
                               created_by=alice)
    client.force_login(alice)

    html = page(client, reverse("playbooks:detail", args=[every_type.pk]))

    assert "All the controls" in html and "shop/every-type" in html
    assert "managed by ui" in html.lower()
    assert "hello" in html and "exec" in html  # the action and its kind
    assert "run-status-failed" in html  # a recent run
    assert 'id="run-form"' in html and 'id="param-ticket"' in html


def test_a_bad_value_is_shown_next_to_its_field_and_typed_text_is_kept(client, alice, items,
                                                                       every_type):
    client.force_login(alice)
    url = reverse("playbooks:run", args=[every_type.pk])

    response = client.post(url, valid_post(items, **{"param-ticket": "not a ticket",
                                                     "param-notes": "keep <these> notes"}))

    html = response.content.decode()
    assert response.status_code == 400
    error = re.search(r'<p class="error" id="param-ticket-error" role="alert">([^<]*)</p>',
                      html)
    assert error and "must match [A-Z]+-[0-9]+" in error[1]
    field = html[html.index('id="param-ticket"') - 40:html.index('id="param-ticket-error"')]
    assert 'value="not a ticket"' in field and 'aria-invalid="true"' in field
    assert "keep &lt;these&gt; notes</textarea>" in html  # typed, and escaped
    assert "hunter2" not in html  # a secret is never sent back
    assert PlaybookRun.objects.count() == 0


def test_a_required_value_left_empty_is_refused(client, alice, items, every_type):
    client.force_login(alice)

    response = client.post(reverse("playbooks:run", args=[every_type.pk]),
                           valid_post(items, **{"param-password": ""}))

    assert response.status_code == 400
    assert 'id="param-password-error"' in response.content.decode()
    assert "is required" in response.content.decode()


def test_a_valid_post_starts_the_run_and_keeps_the_secret_out_of_the_row(client, alice,
                                                                         items, every_type):
    client.force_login(alice)

    response = client.post(reverse("playbooks:run", args=[every_type.pk]),
                           valid_post(items, dry_run="on"))

    run = PlaybookRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("playbooks:run_detail", args=[run.pk])
    assert run.created_by == alice and run.dry_run and run.trigger == "manual"
    assert run.parameters["ticket"] == "OPS-42" and run.parameters["regions"] == ["eu", "us"]
    assert run.parameters["force"] is True and run.parameters["team"] == "payments-team"
    assert "hunter2" not in str(run.parameters)

    html = page(client, response["Location"])
    assert "OPS-42" in html and "***" in html and "hunter2" not in html


def test_an_unticked_checkbox_is_false_even_when_the_default_is_true(client, alice, items,
                                                                     every_type):
    client.force_login(alice)

    client.post(reverse("playbooks:run", args=[every_type.pk]),
                valid_post(items, **{"param-force": ["false"]}))

    assert PlaybookRun.objects.get().parameters["force"] is False


def test_a_targeted_playbook_needs_an_item_it_applies_to(client, alice, items):
    playbook = make("restart", configs=[{"types": ["Kubernetes::Deployment"]}])
    grant(alice, playbook)
    for item in items.values():
        assign_perm("view_configitem", alice, item)
    client.force_login(alice)
    url = reverse("playbooks:run", args=[playbook.pk])

    form = page(client, f"{url}?config={items['deploy'].pk}")
    missing = client.post(url, {})
    wrong = client.post(url, {"config": str(items["settings"].pk)})
    right = client.post(url, {"config": str(items["deploy"].pk)})

    assert re.search(rf'<option value="{items["deploy"].pk}" selected>', form)
    assert missing.status_code == 400 and 'id="run-config-error"' in missing.content.decode()
    assert wrong.status_code == 400 and "does not apply" in wrong.content.decode()
    assert right.status_code == 302
    assert PlaybookRun.objects.get().config == items["deploy"]


# -- the run page and its live log -----------------------------------------------------------


@pytest.fixture
def a_run(alice, items) -> PlaybookRun:
    playbook = make("restart", configs=[{"types": ["Kubernetes::Deployment"]}])
    grant(alice, playbook)
    assign_perm("view_configitem", alice, items["deploy"])
    run = PlaybookRun.objects.create(playbook=playbook, spec=playbook.spec, status="running",
                                     config=items["deploy"], created_by=alice,
                                     started_at=timezone.now(), parameters={"n": 1})
    action = PlaybookRunAction.objects.create(
        run=run, name="hello", kind="exec", position=0, attempt=2, status="failed",
        error="exit status 3", result={"exitCode": 3}, started_at=timezone.now(),
        finished_at=timezone.now())
    for seq in (1, 2, 3):
        PlaybookLogLine.objects.create(run=run, seq=seq, line=f"log line number {seq}",
                                       action=action if seq > 1 else None)
    return run


def test_run_page_shows_target_actions_and_log(client, alice, a_run, items):
    client.force_login(alice)

    html = page(client, reverse("playbooks:run_detail", args=[a_run.pk]))

    assert "Restart" in html and "web-deploy" in html
    assert reverse("catalog:item_detail", args=[items["deploy"].pk]) in html
    assert "alice@example.com" in html and "run-status-running" in html
    assert "hello" in html and "exit status 3" in html and "exitCode=3" in html
    assert all(f"log line number {n}" in html for n in (1, 2, 3))
    assert 'hx-trigger="every 1s"' in html and "?after=3" in html
    assert "Cancel run" in html


def test_log_fragment_returns_only_newer_lines_and_stops_polling_when_done(client, alice,
                                                                           a_run):
    client.force_login(alice)
    url = reverse("playbooks:run_detail", args=[a_run.pk])

    fragment = page(client, url + "?after=1", **HTMX)

    assert "<html" not in fragment
    assert "log line number 2" in fragment and "log line number 3" in fragment
    assert "log line number 1" not in fragment
    assert 'hx-swap-oob="beforeend:#log-lines"' in fragment
    assert 'hx-trigger="every 1s"' in fragment and "?after=3" in fragment

    PlaybookRun.objects.filter(pk=a_run.pk).update(status="completed",
                                                    finished_at=timezone.now())
    done = page(client, url + "?after=3", **HTMX)
    assert "log line number" not in done
    assert 'id="log-poller"' in done and "hx-trigger" not in done and "hx-get" not in done
    assert "run-status-completed" in done and "Cancel run" not in done


def test_cancel_stops_a_scheduled_run(client, alice, a_run):
    PlaybookRun.objects.filter(pk=a_run.pk).update(status="scheduled")
    client.force_login(alice)

    response = client.post(reverse("playbooks:run_cancel", args=[a_run.pk]))

    a_run.refresh_from_db()
    assert response.status_code == 302
    assert response["Location"] == reverse("playbooks:run_detail", args=[a_run.pk])
    assert a_run.status == "cancelled" and "alice@example.com" in a_run.error
    html = page(client, response["Location"])
    assert "Run cancelled." in html and "Cancel run" not in html


def test_cancel_of_a_running_run_asks_the_engine(client, alice, a_run):
    client.force_login(alice)

    client.post(reverse("playbooks:run_cancel", args=[a_run.pk]))

    a_run.refresh_from_db()
    assert a_run.status == "running" and a_run.cancel_requested_at is not None


def test_run_history_filters_and_pages_newest_first(client, alice, a_run):
    other = make("other")
    grant(alice, other, "view")
    for _ in range(3):
        PlaybookRun.objects.create(playbook=other, spec=other.spec, status="completed")
    client.force_login(alice)
    url = reverse("playbooks:run_list")

    everything = page(client, url)
    by_playbook = page(client, f"{url}?playbook={a_run.playbook_id}")
    by_status = page(client, f"{url}?status=completed", **HTMX)

    assert everything.count("run-status-completed") == 3 and "run-status-running" in everything
    assert "run-status-completed" not in by_playbook and "run-status-running" in by_playbook
    assert "<html" not in by_status and by_status.count("run-status-completed") == 3
    assert "run-status-running" not in by_status


def test_run_history_keyset_pages(client, root, monkeypatch):
    from playbooks import views

    monkeypatch.setattr(views, "RUNS_PAGE", 2)
    playbook = make("many")
    runs = [PlaybookRun.objects.create(playbook=playbook, spec=playbook.spec) for _ in range(3)]
    client.force_login(root)

    first = page(client, reverse("playbooks:run_list"))
    older = re.search(r'href="(\?before=[^"]+)"[^>]*rel="next"', first)[1].replace("&amp;", "&")
    second = page(client, reverse("playbooks:run_list") + older)

    link = [reverse("playbooks:run_detail", args=[r.pk]) for r in runs]
    assert link[2] in first and link[1] in first and link[0] not in first
    assert link[0] in second and link[2] not in second and link[1] not in second


# -- who may see what ------------------------------------------------------------------------


def test_no_grant_is_404_on_detail_run_form_run_page_and_cancel(client, carol, a_run):
    client.force_login(carol)
    playbook = a_run.playbook

    for url in (reverse("playbooks:detail", args=[playbook.pk]),
                reverse("playbooks:run", args=[playbook.pk]),
                reverse("playbooks:run_detail", args=[a_run.pk])):
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("playbooks:run", args=[playbook.pk]), {}).status_code == 404
    assert client.post(reverse("playbooks:run_cancel", args=[a_run.pk])).status_code == 404
    assert PlaybookRun.objects.count() == 1
    assert playbook.title not in page(client, reverse("playbooks:list"))
    assert "log line number" not in page(client, reverse("playbooks:run_list"))


def test_view_without_run_shows_the_playbook_but_refuses_the_form(client, bob):
    playbook = make("look-only")
    grant(bob, playbook, "view")
    client.force_login(bob)

    html = page(client, reverse("playbooks:detail", args=[playbook.pk]))

    assert "Look Only" in html and 'id="run-form"' not in html
    assert client.get(reverse("playbooks:run", args=[playbook.pk])).status_code == 404
    assert client.post(reverse("playbooks:run", args=[playbook.pk]), {}).status_code == 404


# -- the Playbooks tab of an item ------------------------------------------------------------


def test_item_tab_lists_applicable_playbooks_and_the_items_runs(client, alice, a_run, items):
    applies = a_run.playbook
    wrong_type = make("rotate-config", configs=[{"types": ["Kubernetes::ConfigMap"]}])
    untargeted = make("say-hello")
    not_runnable = make("scale-up", configs=[{"types": ["Kubernetes::Deployment"]}])
    for playbook in (wrong_type, untargeted):
        grant(alice, playbook)
    grant(alice, not_runnable, "view")
    client.force_login(alice)
    url = reverse("catalog:item_detail", args=[items["deploy"].pk]) + "?tab=playbooks"

    full = page(client, url)
    fragment = page(client, url, **HTMX)

    for html in (full, fragment):
        assert applies.title in html
        assert f'{reverse("playbooks:run", args=[applies.pk])}?config={items["deploy"].pk}' \
            in html
        assert wrong_type.title not in html and untargeted.title not in html
        assert not_runnable.title not in html
        assert reverse("playbooks:run_detail", args=[a_run.pk]) in html  # the item's runs
        assert "run-status-running" in html
    assert "<html" not in fragment


def test_nav_links_to_the_playbook_pages(client, alice):
    client.force_login(alice)

    html = page(client, reverse("playbooks:list"))

    assert f'href="{reverse("playbooks:run_list")}"' in html
    assert f'href="{reverse("playbooks:list")}"' in html
