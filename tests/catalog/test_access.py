"""Personas: alice is granted the payments scraper, bob one item, carol nothing, root all."""

import pytest
from django.urls import reverse
from guardian.shortcuts import assign_perm

from catalog.models import ConfigItem, ScrapeConfig
from tests.catalog.scrape_helpers import file_scraper, run_now

pytestmark = pytest.mark.django_db

CM = """apiVersion: v1
kind: ConfigMap
metadata: {{name: {name}, namespace: {ns}}}
"""


@pytest.fixture
def estate(manifests, alice, bob):
    payments = file_scraper(manifests("p/cm.yaml", CM.format(name="payments-db-marker",
                                                             ns="payments")).parent,
                            name="payments", cluster="prod")
    checkout = file_scraper(manifests("c/cm.yaml", CM.format(name="checkout-marker",
                                                             ns="checkout")).parent,
                            name="checkout", cluster="prod-2")
    run_now(payments)
    run_now(checkout)
    assign_perm("view_scrapeconfig", alice, payments)
    assign_perm("view_configitem", bob, ConfigItem.objects.get(name="checkout-marker"))
    return payments, checkout


def names(qs):
    return set(qs.values_list("name", flat=True))


def test_for_user_applies_scraper_and_item_grants(estate, root, alice, bob, carol):
    items = ConfigItem.objects.filter(type="Kubernetes::ConfigMap")

    assert names(items.for_user(root)) == {"payments-db-marker", "checkout-marker"}
    assert names(items.for_user(alice)) == {"payments-db-marker"}
    assert names(items.for_user(bob)) == {"checkout-marker"}
    assert names(items.for_user(carol)) == set()


def test_team_grant_through_group_reaches_members(estate, carol):
    from django.contrib.auth.models import Group

    team = Group.objects.create(name="team-payments")
    carol.groups.add(team)
    assign_perm("view_scrapeconfig", team, estate[0])

    assert names(ConfigItem.objects.filter(type="Kubernetes::ConfigMap").for_user(carol)) == {
        "payments-db-marker"}


@pytest.mark.parametrize("persona", ["alice", "bob", "carol"])
def test_catalog_page_and_api_show_only_granted_items(estate, client, persona, request):
    user = request.getfixturevalue(persona)
    client.force_login(user)
    visible = names(ConfigItem.objects.for_user(user))

    page = client.get(reverse("catalog:item_list")).content.decode()
    api = client.get("/api/v1/catalog/items/?page_size=500").json()

    for marker in ("payments-db-marker", "checkout-marker"):
        assert (marker in page) == (marker in visible)
        assert (marker in {i["name"] for i in api["results"]}) == (marker in visible)


def test_item_page_of_an_invisible_item_is_404(estate, client, carol):
    client.force_login(carol)
    item = ConfigItem.objects.get(name="payments-db-marker")

    assert client.get(reverse("catalog:item_detail", args=[item.pk])).status_code == 404
    assert client.get(f"/api/v1/catalog/items/{item.pk}/").status_code == 404


def test_changes_and_scrapers_follow_item_visibility(estate, client, bob):
    client.force_login(bob)

    scrapers = client.get("/api/v1/scrape-configs/").json()["results"]
    runs = client.get("/api/v1/scrape-runs/").json()["results"]

    assert scrapers == [] and runs == []
    assert ScrapeConfig.objects.for_user(bob).count() == 0


def test_anonymous_is_sent_to_login_and_api_says_401(client, estate):
    page = client.get(reverse("catalog:item_list"))
    api = client.get("/api/v1/catalog/items/")

    assert page.status_code == 302 and page["Location"].startswith(reverse("login"))
    assert api.status_code == 401
    assert api["Content-Type"] == "application/problem+json"


def test_api_search_language_filters_within_what_the_person_may_see(estate, client, alice):
    client.force_login(alice)

    hit = client.get("/api/v1/catalog/items/", {"q": "type=configmap namespace=payments"})
    hidden = client.get("/api/v1/catalog/items/", {"q": "namespace=checkout"})
    bad = client.get("/api/v1/catalog/items/", {"q": "helth=unhealthy"})

    assert [i["name"] for i in hit.json()["results"]] == ["payments-db-marker"]
    assert hidden.json()["results"] == []
    assert bad.status_code == 400 and bad["Content-Type"] == "application/problem+json"
    assert "helth" in bad.json()["errors"]["q"][0] and "position 0" in bad.json()["errors"]["q"][0]
