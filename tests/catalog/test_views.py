"""Catalog pages: list, search, facets, item tabs, changes, graph, health and API token pages."""

import json
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import assign_perm

from accounts.models import APIToken, AuditEvent
from catalog.models import ConfigChange, ConfigItem, ConfigRelationship, ScrapeConfig
from tests.catalog.scrape_helpers import file_scraper, run_now

pytestmark = pytest.mark.django_db

PAYMENTS = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: payments-api-marker
  namespace: payments
  uid: 11111111-0000-4000-8000-000000000001
  labels: {team: payments-team}
spec: {replicas: 1}
status: {replicas: 1, readyReplicas: 1, updatedReplicas: 1, availableReplicas: 1}
---
apiVersion: v1
kind: Pod
metadata:
  name: payments-api-pod-marker
  namespace: payments
  uid: 11111111-0000-4000-8000-000000000002
  ownerReferences:
    - {apiVersion: apps/v1, kind: Deployment, name: payments-api-marker, controller: true,
       uid: 11111111-0000-4000-8000-000000000001}
spec:
  containers: [{name: api, image: "payments:{tag}"}]
  volumes: [{name: cfg, configMap: {name: payments-cfg-marker}}]
status:
  phase: Running
  containerStatuses:
    - name: api
      ready: false
      restartCount: 0
      state: {waiting: {reason: CrashLoopBackOff, message: back-off restarting}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: payments-cfg-marker, namespace: payments,
           uid: 11111111-0000-4000-8000-000000000003}
data: {mode: "{mode}"}
"""

CHECKOUT = """
apiVersion: v1
kind: ConfigMap
metadata: {name: checkout-secret-marker, namespace: checkout,
           uid: 22222222-0000-4000-8000-000000000001}
data: {k: v}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: checkout-bob-marker, namespace: checkout,
           uid: 22222222-0000-4000-8000-000000000002}
data: {k: v}
"""

ALICE_MARKERS = ("payments-api-marker", "payments-api-pod-marker", "payments-cfg-marker")
HIDDEN_FROM_ALICE = ("checkout-secret-marker", "checkout-bob-marker")


def _payments(tag: str = "1.0", mode: str = "a") -> str:
    return PAYMENTS.replace("{tag}", tag).replace("{mode}", mode)


@pytest.fixture
def estate(manifests, alice, bob):
    """alice sees the payments scraper; bob one checkout item; a cross-scraper edge exists."""
    pay_file = manifests("p/all.yaml", _payments())
    payments = file_scraper(pay_file.parent, name="payments", cluster="prod")
    checkout = file_scraper(manifests("c/cm.yaml", CHECKOUT).parent, name="checkout",
                            cluster="prod-2")
    run_now(payments)
    run_now(checkout)
    assign_perm("view_scrapeconfig", alice, payments)
    assign_perm("view_configitem", bob, ConfigItem.objects.get(name="checkout-bob-marker"))
    ConfigRelationship.objects.create(
        config=ConfigItem.objects.get(name="payments-api-marker"),
        related=ConfigItem.objects.get(name="checkout-secret-marker"),
        relation="DeploymentConfigMap")
    return {"payments": payments, "checkout": checkout, "pay_file": pay_file}


def item(name: str) -> ConfigItem:
    return ConfigItem.objects.get(name=name)


def page(client, url: str, **headers) -> str:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


HTMX = {"HX-Request": "true"}


# -- catalog list --------------------------------------------------------------------------


def test_catalog_lists_summary_facets_and_rows(client, estate, alice):
    client.force_login(alice)

    html = page(client, reverse("catalog:item_list"))

    assert "Kubernetes::Deployment" in html and "Refine" in html
    assert all(marker in html for marker in ALICE_MARKERS)
    assert 'id="item-rows"' in html and 'hx-trigger="every 10s"' in html


def test_search_language_filters_rows_and_facets(client, estate, root):
    client.force_login(root)

    html = page(client, reverse("catalog:item_list") + "?q=health=unhealthy+type=Kubernetes::Pod")

    assert "payments-api-pod-marker" in html
    assert "payments-cfg-marker" not in html
    assert "Kubernetes::ConfigMap" not in html  # the type facet and summary follow the query


def test_search_error_is_shown_with_its_position_not_a_500(client, estate, alice):
    client.force_login(alice)

    full = client.get(reverse("catalog:item_list"), {"q": "name=payments bogus=1"})
    fragment = client.get(reverse("catalog:item_list"), {"q": "name=payments bogus=1"},
                          headers={**HTMX, "HX-Target": "results"})

    for response in (full, fragment):
        html = response.content.decode()
        assert response.status_code == 200
        assert "unknown field &#x27;bogus&#x27; at position 14" in html
        assert "<mark>b</mark>ogus=1" in html


def test_rows_fragment_is_only_the_rows(client, estate, alice):
    client.force_login(alice)

    html = page(client, reverse("catalog:item_list"), **HTMX, **{"HX-Target": "item-rows"})

    assert html.lstrip().startswith("{#") is False
    assert "<html" not in html and 'id="item-rows"' in html and 'id="results"' not in html


def test_results_fragment_for_the_search_form(client, estate, alice):
    client.force_login(alice)

    html = page(client, reverse("catalog:item_list") + "?q=payments", **HTMX,
                **{"HX-Target": "results"})

    assert "<html" not in html and 'id="results"' in html and "payments-api-marker" in html


def test_keyset_pagination_walks_forward_and_back_without_offset(client, root, manifests):
    docs = "\n---\n".join(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i:03d}, namespace: bulk}}"
        for i in range(60))
    run_now(file_scraper(manifests("bulk/cms.yaml", docs).parent, name="bulk"))
    client.force_login(root)
    url = reverse("catalog:item_list") + "?q=type=Kubernetes::ConfigMap"

    first = page(client, url)
    next_link = re.search(r'href="(/catalog/\?[^"]*after=[^"]+)" hx-get', first).group(1)
    second = page(client, next_link.replace("&amp;", "&"))
    prev_link = re.search(r'href="(/catalog/\?[^"]*before=[^"]+)" hx-get', second).group(1)
    back = page(client, prev_link.replace("&amp;", "&"))

    assert "cm-000" in first and "cm-049" in first and "cm-050" not in first
    assert "cm-050" in second and "cm-059" in second and "cm-049" not in second
    assert "cm-000" in back and "cm-049" in back and "offset" not in next_link


def test_deleted_items_only_on_request(client, estate, root):
    gone = item("payments-cfg-marker")
    ConfigItem.objects.filter(pk=gone.pk).update(deleted_at=timezone.now(),
                                                 delete_reason="manual")
    client.force_login(root)

    hidden = page(client, reverse("catalog:item_list"))
    shown = page(client, reverse("catalog:item_list") + "?deleted=1")

    assert "payments-cfg-marker" not in hidden
    assert "payments-cfg-marker" in shown


@pytest.mark.parametrize("persona", ["alice", "bob", "carol"])
def test_list_facets_and_summary_never_show_invisible_items(client, estate, persona, request):
    user = request.getfixturevalue(persona)
    client.force_login(user)
    visible = set(ConfigItem.objects.for_user(user).values_list("name", flat=True))

    html = page(client, reverse("catalog:item_list") + "?q=name=*marker*")

    for marker in (*ALICE_MARKERS, *HIDDEN_FROM_ALICE):
        assert (marker in html) == (marker in visible), marker
    if persona == "carol":
        assert "checkout" not in html and "payments" not in html.replace("payments-", "")


# -- item page -----------------------------------------------------------------------------


@pytest.mark.parametrize("tab", ["config", "changes", "insights", "relationships", "playbooks",
                                 "checks"])
def test_item_tabs_render_as_page_and_fragment(client, estate, alice, tab):
    client.force_login(alice)
    url = reverse("catalog:item_detail", args=[item("payments-api-pod-marker").pk])

    full = page(client, f"{url}?tab={tab}")
    fragment = page(client, f"{url}?tab={tab}", **HTMX)

    assert 'aria-current="page">' + tab.capitalize() in full.replace("\n", "")
    assert "<html" not in fragment and 'id="tabs"' in fragment
    assert "payments-team" not in fragment  # the header is not repeated in the fragment


def test_item_header_shows_verdict_owner_and_parent(client, estate, alice):
    client.force_login(alice)

    html = page(client, reverse("catalog:item_detail", args=[item("payments-api-marker").pk]))

    assert "payments-team" in html  # owner from labels.team
    assert "Kubernetes::Deployment" in html and "healthy" in html


def test_playbooks_tab_says_when_none_applies_and_checks_when_they_arrive(client, estate,
                                                                          alice):
    client.force_login(alice)
    url = reverse("catalog:item_detail", args=[item("payments-api-marker").pk])

    assert "No playbook you may run applies to this item." in page(client,
                                                                   url + "?tab=playbooks")
    assert "arrive with the checks capability" in page(client, url + "?tab=checks")


def test_item_tabs_come_from_the_registry_in_order(client, estate, alice):
    from catalog import tabs

    tabs.register(tabs.Tab("extra", "Extra", "catalog/partials/_tab_checks.html", order=15,
                           visible_fn=lambda request, item: item.type.endswith("Deployment")))
    try:
        client.force_login(alice)
        deploy = page(client, reverse("catalog:item_detail",
                                      args=[item("payments-api-marker").pk]))
        pod = page(client, reverse("catalog:item_detail",
                                   args=[item("payments-api-pod-marker").pk]))
        unknown = page(client, reverse("catalog:item_detail",
                                       args=[item("payments-api-marker").pk]) + "?tab=nope")
    finally:
        tabs.unregister("extra")

    labels = re.findall(r'hx-push-url="true"(?: aria-current="page")?>(\w+)</a>', deploy)
    assert labels == ["Config", "Extra", "Changes", "Insights", "Relationships", "Playbooks",
                      "Checks"]
    assert "?tab=extra" not in pod  # hidden where visible_fn says no
    assert 'aria-current="page">Config' in unknown  # an unknown tab falls back to the first


def _rescrape(estate, **values) -> None:
    estate["pay_file"].write_text(_payments(**values))
    run_now(estate["payments"])


def test_changes_tab_lists_diffs_and_the_drawer_shows_them(client, estate, alice):
    _rescrape(estate, tag="2.0")
    client.force_login(alice)
    pod = item("payments-api-pod-marker")
    change = ConfigChange.objects.get(config=pod, change_type="diff")

    tab = page(client, reverse("catalog:item_detail", args=[pod.pk]) + "?tab=changes")
    drawer = page(client, reverse("catalog:change_detail", args=[change.pk]), **HTMX)

    assert "spec.containers[0].image" in tab
    assert '<span class="d-del">-  - image: payments:1.0</span>' in drawer
    assert '<span class="d-add">+  - image: payments:2.0</span>' in drawer


def test_config_tab_compares_with_a_version_rebuilt_from_diffs(client, estate, alice):
    _rescrape(estate, tag="2.0")
    _rescrape(estate, tag="3.0")
    client.force_login(alice)
    pod = item("payments-api-pod-marker")
    oldest = ConfigChange.objects.filter(config=pod, change_type="diff").order_by(
        "created_at").first()

    html = page(client, reverse("catalog:item_detail", args=[pod.pk])
                + f"?tab=config&compare={oldest.pk}")

    assert '<span class="d-del">-  - image: payments:1.0</span>' in html
    assert '<span class="d-add">+  - image: payments:3.0</span>' in html


def test_changes_tab_includes_related_items_on_request(client, estate, alice):
    _rescrape(estate, mode="b")
    client.force_login(alice)
    url = reverse("catalog:item_detail", args=[item("payments-api-pod-marker").pk])

    alone = page(client, url + "?tab=changes")
    related = page(client, url + "?tab=changes&related=downstream&depth=1")

    assert "data.mode" not in alone
    assert "data.mode" in related and "payments-cfg-marker" in related


def test_correlation_panel_lists_nearby_changes_before_the_transition(client, estate, alice):
    pod, deployment, cfg = (item("payments-api-pod-marker"), item("payments-api-marker"),
                            item("payments-cfg-marker"))
    hidden = item("checkout-secret-marker")
    ConfigRelationship.objects.create(config=hidden, related=pod, relation="Leak")
    now = timezone.now()

    def change(target, minutes, change_type, summary, source="diff"):
        ConfigChange.objects.create(config=target, change_type=change_type, source=source,
                                    summary=summary, fingerprint=summary,
                                    created_at=now - timedelta(minutes=minutes))

    change(pod, 0, "Unhealthy", "healthy → unhealthy (CrashLoopBackOff)", "flightdeck/health")
    change(deployment, 3, "diff", "parent-image-bumped")
    change(cfg, 10, "diff", "configmap-edited")
    change(pod, 45, "diff", "too-old-to-matter")
    change(hidden, 2, "diff", "hidden-change-marker")
    client.force_login(alice)

    html = page(client, reverse("catalog:item_detail", args=[pod.pk]) + "?tab=changes")
    panel = html[html.index('id="correlation"'):html.index("</section>",
                                                           html.index('id="correlation"'))]

    assert panel.index("parent-image-bumped") < panel.index("configmap-edited")
    assert "too-old-to-matter" not in panel
    assert "hidden-change-marker" not in html and "checkout-secret-marker" not in html


def test_item_page_of_invisible_item_is_404_for_every_tab(client, estate, carol):
    client.force_login(carol)
    url = reverse("catalog:item_detail", args=[item("payments-api-marker").pk])

    assert client.get(url).status_code == 404
    assert client.get(url + "?tab=changes", headers=HTMX).status_code == 404


# -- changes page --------------------------------------------------------------------------


def test_changes_page_filters_with_the_language_and_controls(client, estate, alice):
    _rescrape(estate, tag="2.0", mode="b")
    client.force_login(alice)
    url = reverse("catalog:change_list")

    pods = page(client, url + "?config_type=Kubernetes::Pod&range=1h")
    maps = page(client, url + "?q=config.type=Kubernetes::ConfigMap")

    assert "spec.containers[0].image" in pods and "data.mode" not in pods
    assert "data.mode" in maps and "spec.containers[0].image" not in maps


def test_changes_page_search_error_is_shown(client, estate, alice):
    client.force_login(alice)

    html = page(client, reverse("catalog:change_list") + "?q=nonsense>", **HTMX)

    assert "Search error" in html and "<mark>" in html


@pytest.mark.parametrize("persona", ["alice", "bob", "carol"])
def test_changes_page_and_drawer_follow_item_visibility(client, estate, persona, request):
    ConfigChange.objects.create(config=item("checkout-secret-marker"), change_type="diff",
                                summary="checkout-change-marker", fingerprint="x")
    user = request.getfixturevalue(persona)
    client.force_login(user)
    hidden = ConfigChange.objects.get(summary="checkout-change-marker")

    html = page(client, reverse("catalog:change_list"))

    assert "checkout-change-marker" not in html and "checkout-secret-marker" not in html
    assert client.get(reverse("catalog:change_detail", args=[hidden.pk])).status_code == 404


# -- graph ---------------------------------------------------------------------------------


def graph_json(client, root, **params) -> dict:
    response = client.get(reverse("catalog:graph"), {"root": str(root.pk), "format": "json",
                                                     **params})
    assert response.status_code == 200
    return response.json()


def test_graph_returns_nodes_edges_with_parent_and_soft_links(client, estate, root):
    client.force_login(root)
    deployment = item("payments-api-marker")

    data = graph_json(client, deployment, depth=2, direction="outgoing")
    names = {n["name"] for n in data["nodes"]}
    relations = {e["relation"] for e in data["edges"]}

    assert {"payments-api-pod-marker", "payments-cfg-marker", "checkout-secret-marker"} <= names
    assert "parent" in relations and "PodConfigMap" in relations
    assert data["truncated"] is False


def test_graph_badges_recent_changes(client, estate, root):
    _rescrape(estate, tag="2.0")
    client.force_login(root)

    data = graph_json(client, item("payments-api-marker"), depth=1)

    pod = next(n for n in data["nodes"] if n["name"] == "payments-api-pod-marker")
    assert pod["recent_changes"] == 1 and pod["health"] == "unhealthy"


def test_graph_is_capped_with_a_truncated_flag(client, estate, root):
    client.force_login(root)

    data = graph_json(client, item("payments-api-marker"), depth=3, limit=2)

    assert len(data["nodes"]) == 2 and data["truncated"] is True


@pytest.mark.parametrize("persona", ["alice", "bob", "carol"])
def test_graph_never_reaches_invisible_items(client, estate, persona, request):
    user = request.getfixturevalue(persona)
    client.force_login(user)
    start = item("payments-api-marker")

    response = client.get(reverse("catalog:graph"), {"root": str(start.pk), "depth": 3})
    data = client.get(reverse("catalog:graph"), {"root": str(start.pk), "depth": 3,
                                                  "format": "json"})

    if persona == "alice":
        assert all(m not in response.content.decode() for m in HIDDEN_FROM_ALICE)
        assert all(m not in data.content.decode() for m in HIDDEN_FROM_ALICE)
    else:
        assert response.status_code == 404 and data.status_code == 404


def test_graph_page_embeds_data_for_the_script_without_inline_code(client, estate, alice):
    client.force_login(alice)

    html = page(client, reverse("catalog:graph") + f"?root={item('payments-api-marker').pk}")

    embedded = re.search(r'<script id="graph-data" type="application/json">(.*?)</script>',
                         html, re.S).group(1)
    assert json.loads(embedded)["nodes"]
    assert re.findall(r"<script(?![^>]*(src=|application/json))", html) == []
    assert ' style="' not in html


# -- health dashboard ----------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["alice", "bob", "carol"])
def test_health_dashboard_counts_only_visible_items(client, estate, persona, request):
    ConfigChange.objects.create(config=item("checkout-secret-marker"), change_type="Unhealthy",
                                source="flightdeck/health", summary="checkout-health-marker",
                                fingerprint="y")
    user = request.getfixturevalue(persona)
    client.force_login(user)

    html = page(client, reverse("catalog:health"))

    assert "checkout-health-marker" not in html and "checkout-secret-marker" not in html
    assert ("payments-api-pod-marker" in html) == (persona == "alice")
    assert ("prod-2" in html) == (persona == "bob")  # bob's one item lives in prod-2


def test_health_dashboard_lists_unhealthy_first_and_health_changes(client, estate, root):
    _rescrape(estate, tag="2.0")
    ConfigChange.objects.create(config=item("payments-api-pod-marker"), change_type="Unhealthy",
                                source="flightdeck/health", summary="went-red-marker",
                                fingerprint="z")
    client.force_login(root)

    html = page(client, reverse("catalog:health"))

    assert "By cluster" in html and "went-red-marker" in html
    assert "payments-api-pod-marker" in html


# -- query counts --------------------------------------------------------------------------


def _bulk(manifests, count: int) -> ScrapeConfig:
    docs = "\n---\n".join(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: q-{i:03d}, namespace: n{i % 7}}}"
        for i in range(count))
    config = file_scraper(manifests(f"q{count}/cms.yaml", docs).parent, name=f"q{count}")
    run_now(config)
    return config


@pytest.mark.parametrize("count", [10, 60])
def test_list_item_and_graph_queries_do_not_grow_with_rows(
        client, alice, manifests, django_assert_max_num_queries, count):
    config = _bulk(manifests, count)
    assign_perm("view_scrapeconfig", alice, config)
    maps = list(ConfigItem.objects.filter(scraper=config, type="Kubernetes::ConfigMap")
                .order_by("name"))
    some, last = maps[0], maps[-1]
    # A hub: the graph around `some` holds every row, so its cost is measured at size.
    ConfigRelationship.objects.bulk_create(
        ConfigRelationship(config=some, related=other, relation="Uses") for other in maps[1:])
    client.force_login(alice)
    # Each page is fetched inside the budget and checked outside it: an error page or a
    # redirect to the login form would be cheap too, so status and content are asserted.
    budgets = [
        (12, reverse("catalog:item_list"), "q-000"),
        (12, reverse("catalog:item_list") + "?q=type=Kubernetes::ConfigMap", "q-000"),
        (10, reverse("catalog:item_detail", args=[some.pk]), some.name),
        (14, reverse("catalog:item_detail", args=[some.pk]) + "?tab=changes",
         'id="item-changes"'),
        (8, reverse("catalog:graph") + f"?root={some.pk}&depth=2", f'data-node="{last.pk}"'),
    ]

    for budget, url, expected in budgets:
        with django_assert_max_num_queries(budget):
            response = client.get(url)
        assert response.status_code == 200, url
        assert expected in response.content.decode(), url


# -- API tokens ----------------------------------------------------------------------------


def test_token_is_shown_once_and_works_as_bearer(client, estate, alice):
    client.force_login(alice)

    created = client.post(reverse("accounts:token_create"), {"name": "ci", "expires": ""})
    plaintext = re.search(r'value="(fd_[^"]+)"', created.content.decode()).group(1)
    listing = page(client, reverse("accounts:token_list"))
    client.logout()
    api = client.get("/api/v1/catalog/items/?page_size=500",
                     headers={"Authorization": f"Bearer {plaintext}"})

    assert created.status_code == 200 and "no-store" in created["Cache-Control"]
    assert plaintext not in listing and "ci" in listing
    assert api.status_code == 200
    assert {i["name"] for i in api.json()["results"]} >= set(ALICE_MARKERS)
    assert AuditEvent.objects.filter(action="token.create", actor_person=alice).exists()


def test_token_with_an_expiry_in_the_past_is_refused(client, alice):
    client.force_login(alice)

    response = client.post(reverse("accounts:token_create"),
                           {"name": "old", "expires": "2001-01-01"})

    assert response.status_code == 200 and "Pick today or a later day." in response.content.decode()
    assert not APIToken.objects.filter(person=alice).exists()


def test_revoked_token_stops_working(client, alice):
    from accounts.tokens import create_token

    token, plaintext = create_token(alice, "to-revoke")
    client.force_login(alice)

    revoked = client.post(reverse("accounts:token_revoke", args=[token.pk]), follow=True)
    client.logout()
    api = client.get("/api/v1/catalog/items/", headers={"Authorization": f"Bearer {plaintext}"})

    assert revoked.redirect_chain == [(reverse("accounts:token_list"), 302)]
    assert "to-revoke" in revoked.content.decode() and "revoked" in revoked.content.decode()
    assert api.status_code == 401
    assert AuditEvent.objects.filter(action="token.revoke", object_id=str(token.pk)).exists()


def test_people_cannot_see_or_revoke_each_others_tokens(client, alice, bob):
    from accounts.tokens import create_token

    token, _ = create_token(alice, "alice-token-marker")
    client.force_login(bob)

    listing = page(client, reverse("accounts:token_list"))
    revoke = client.post(reverse("accounts:token_revoke", args=[token.pk]))

    assert "alice-token-marker" not in listing and revoke.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


# -- markup rules --------------------------------------------------------------------------


def test_pages_carry_no_inline_styles_or_scripts(client, estate, root):
    client.force_login(root)
    pod = item("payments-api-pod-marker")
    urls = [reverse("catalog:item_list"), reverse("catalog:change_list"),
            reverse("catalog:health"), reverse("accounts:token_list"),
            reverse("catalog:item_detail", args=[pod.pk]) + "?tab=relationships"]

    for url in urls:
        html = page(client, url)
        assert ' style="' not in html and " hx-on" not in html and "onclick" not in html, url
        assert re.findall(r"<script(?![^>]*(src=|application/json))", html) == [], url
