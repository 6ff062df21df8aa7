"""Hidden rows never leak: dana is granted view on ONE item (not its scraper) and sees only it.

The estate is a tree and a few soft edges, all produced by a scraper dana was not granted:

    hidden-root-marker (Namespace)
      └─ hidden-mid-marker (Deployment)
           └─ seen-pod-marker (Pod)            <- dana's one grant
    seen-pod-marker  -soft->  near-cfg-marker   (visible only where a test grants it)
    hidden-mid-marker -soft-> far-cfg-marker    (visible only where a test grants it)

Every hidden row carries a unique marker in its name, namespace, summary or scraper name; each
test asserts what dana does see and that no marker, and no hidden id, reaches the response.
"""

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import assign_perm

from catalog import views
from catalog.models import ConfigChange, ConfigItem, ConfigRelationship, ScrapeConfig
from catalog.walk import walk
from tests.conftest import make_person

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
HIDDEN_MARKERS = ("hidden-root-marker", "hidden-mid-marker", "hidden-scraper-marker",
                  "hidden-ns-marker", "hidden-change-marker", "hidden-cluster-marker")


class Estate:
    def __init__(self) -> None:
        now = timezone.now()
        self.scraper = ScrapeConfig.objects.create(namespace="platform",
                                                   name="hidden-scraper-marker", spec={})
        root_id, mid_id, pod_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        self.root = self._item(root_id, "hidden-root-marker", "Kubernetes::Namespace",
                               namespace="hidden-ns-marker", path=f"{root_id}",
                               tags={"cluster": "hidden-cluster-marker"})
        self.mid = self._item(mid_id, "hidden-mid-marker", "Kubernetes::Deployment",
                              namespace="hidden-ns-marker", parent_id=root_id,
                              path=f"{root_id}.{mid_id}",
                              tags={"cluster": "hidden-cluster-marker"})
        self.pod = self._item(pod_id, "seen-pod-marker", "Kubernetes::Pod", namespace="shop",
                              parent_id=mid_id, path=f"{root_id}.{mid_id}.{pod_id}",
                              health="unhealthy", tags={"cluster": "prod"})
        self.near = self._item(uuid.uuid4(), "near-cfg-marker", "Kubernetes::ConfigMap",
                               namespace="shop")
        self.far = self._item(uuid.uuid4(), "far-cfg-marker", "Kubernetes::ConfigMap",
                              namespace="shop")
        ConfigRelationship.objects.create(config=self.pod, related=self.near, relation="Uses",
                                          scraper=self.scraper)
        ConfigRelationship.objects.create(config=self.mid, related=self.far, relation="Uses",
                                          scraper=self.scraper)
        self.transition = self._change(self.pod, now, "Unhealthy", "seen-went-unhealthy",
                                       source="flightdeck/health")
        self._change(self.pod, now - timedelta(minutes=20), "diff", "seen-change-marker")
        self._change(self.mid, now - timedelta(minutes=5), "diff", "hidden-change-marker")
        self._change(self.root, now - timedelta(minutes=6), "diff", "hidden-change-marker-2")
        self._change(self.far, now - timedelta(minutes=7), "diff", "far-change-marker")
        self._change(self.near, now - timedelta(minutes=8), "diff", "near-change-marker")
        self.dana = make_person("dana@example.com", "viewer")
        assign_perm("view_configitem", self.dana, self.pod)

    def _item(self, pk: uuid.UUID, name: str, type_: str, **fields: Any) -> ConfigItem:
        return ConfigItem.objects.create(id=pk, name=name, type=type_, scraper=self.scraper,
                                         **fields)

    def _change(self, item: ConfigItem, at: Any, change_type: str, summary: str,
                source: str = "diff") -> ConfigChange:
        return ConfigChange.objects.create(config=item, change_type=change_type, source=source,
                                           summary=summary, fingerprint=summary, created_at=at)

    def grant(self, *items: ConfigItem) -> None:
        for item in items:
            assign_perm("view_configitem", self.dana, item)

    @property
    def hidden_ids(self) -> tuple[str, ...]:
        return (str(self.root.pk), str(self.mid.pk), str(self.scraper.pk))


@pytest.fixture
def estate(db: None) -> Estate:
    return Estate()


@pytest.fixture
def dana(client, estate: Estate):
    client.force_login(estate.dana)
    return client


def assert_nothing_hidden(estate: Estate, text: str, also: tuple[str, ...] = ()) -> None:
    for marker in (*HIDDEN_MARKERS, *estate.hidden_ids, *also):
        assert marker not in text, f"{marker!r} leaked"


def without_tokens(html: str) -> str:
    """The CSRF token is masked afresh on every render; nothing else may differ."""
    return re.sub(r'("X-CSRFToken": "|name="csrfmiddlewaretoken" value=")[^"]+', r"\1", html)


def get(client, url: str, status: int = 200, headers: dict[str, str] | None = None,
        **params: Any) -> str:
    response = client.get(url, params, headers=headers or {})
    assert response.status_code == status, response.content[:600]
    return response.content.decode()


# -- related= in the search language ---------------------------------------------------------


def test_related_from_a_hidden_start_reads_exactly_like_an_unknown_id(dana, estate):
    unknown = str(uuid.uuid4())
    url = reverse("catalog:item_list")

    hidden = get(dana, url, q=f"related={estate.mid.pk}")
    missing = get(dana, url, q=f"related={unknown}")

    assert f"no item {estate.mid.pk}, or it is not shared with you" in hidden
    assert without_tokens(hidden.replace(str(estate.mid.pk), unknown)) == without_tokens(missing)
    # seen-pod-marker is the hidden item's visible neighbour: it must not be listed for it.
    assert 'href="/catalog/' + str(estate.pod.pk) not in hidden
    assert_nothing_hidden(estate, hidden.replace(str(estate.mid.pk), ""))


def test_api_related_from_a_hidden_start_is_the_unknown_id_error(dana, estate):
    unknown = str(uuid.uuid4())

    hidden = dana.get("/api/v1/catalog/items/", {"q": f"related={estate.mid.pk}"})
    missing = dana.get("/api/v1/catalog/items/", {"q": f"related={unknown}"})
    changes = dana.get("/api/v1/catalog/changes/", {"q": f"config.related={estate.mid.pk}"})

    assert hidden.status_code == missing.status_code == changes.status_code == 400
    assert hidden.json()["errors"]["q"] == [
        m.replace(unknown, str(estate.mid.pk)) for m in missing.json()["errors"]["q"]]
    assert "seen-pod-marker" not in hidden.content.decode() + changes.content.decode()


def test_related_never_walks_through_a_hidden_middle_item(dana, estate):
    estate.grant(estate.near, estate.far)  # far is visible, but only reachable via hidden mid

    html = get(dana, reverse("catalog:item_list"), q=f"related={estate.pod.pk},depth=3")
    api = dana.get("/api/v1/catalog/items/", {"q": f"related={estate.pod.pk},depth=3"})

    assert "near-cfg-marker" in html and "far-cfg-marker" not in html
    assert "seen-pod-marker" not in html.split('id="item-rows"')[1]  # the start is not related
    assert [i["name"] for i in api.json()["results"]] == ["near-cfg-marker"]
    assert_nothing_hidden(estate, html + api.content.decode())


def test_related_through_the_system_user_does_walk_everything(estate):
    reach = walk([estate.pod.pk], user=None, direction="both", depth=3, max_rows=100)

    assert set(reach.reached) == {str(i.pk) for i in (estate.mid, estate.root, estate.near,
                                                      estate.far)}
    assert reach.hops[str(estate.far.pk)] == 2 and not reach.truncated


# -- the walk itself ------------------------------------------------------------------------


def test_walk_treats_hidden_and_unknown_starts_alike(estate):
    unknown = uuid.uuid4()

    reach = walk([estate.mid.pk, unknown, "not-an-id", estate.pod.pk], user=estate.dana,
                 direction="both", depth=3, max_rows=100)

    assert reach.starts == [str(estate.pod.pk)]
    assert set(reach.missing) == {str(estate.mid.pk), str(unknown), "not-an-id"}
    assert reach.reached == []  # the pod's neighbours are all hidden from dana


def test_walk_stops_at_the_row_cap_and_says_so(estate):
    capped = walk([estate.pod.pk], user=None, direction="both", depth=3, max_rows=2)
    exact = walk([estate.pod.pk], user=None, direction="outgoing", depth=1, max_rows=1,
                 kind="soft")

    assert len(capped.reached) == 2 and capped.truncated
    assert exact.reached == [str(estate.near.pk)] and not exact.truncated


def test_walk_is_one_query_per_depth_plus_one_for_the_starts(estate):
    estate.grant(estate.near)
    with CaptureQueriesContext(connection) as queries:
        walk([estate.pod.pk], user=estate.dana, direction="both", depth=3, max_rows=100)

    assert len(queries.captured_queries) <= 1 + 3


def test_walk_refuses_unbounded_requests(estate):
    for kwargs in ({"depth": 11, "max_rows": 10}, {"depth": 1, "max_rows": 10_001}):
        with pytest.raises(ValueError):
            walk([estate.pod.pk], user=None, direction="both", **kwargs)
    with pytest.raises(ValueError):
        walk([estate.pod.pk], user=None, direction="all", depth=1, max_rows=1)  # type: ignore[arg-type]


# -- graph page -----------------------------------------------------------------------------


def test_graph_of_a_hidden_root_is_the_unknown_root_404(dana, estate):
    unknown = str(uuid.uuid4())
    url = reverse("catalog:graph")

    hidden = get(dana, url, 404, root=str(estate.mid.pk))
    missing = get(dana, url, 404, root=unknown)
    hidden_json = get(dana, url, 404, root=str(estate.mid.pk), format="json")

    assert without_tokens(hidden.replace(str(estate.mid.pk), unknown)) == without_tokens(missing)
    assert "seen-pod-marker" not in hidden + hidden_json
    assert_nothing_hidden(estate, (hidden + hidden_json).replace(str(estate.mid.pk), ""))


def test_graph_never_passes_through_hidden_nodes(dana, estate):
    estate.grant(estate.near, estate.far)
    url = reverse("catalog:graph")

    html = get(dana, url, root=str(estate.pod.pk), depth="3")
    data = dana.get(url, {"root": str(estate.pod.pk), "depth": "3", "format": "json"}).json()

    assert {n["name"] for n in data["nodes"]} == {"seen-pod-marker", "near-cfg-marker"}
    assert [(e["source"], e["target"]) for e in data["edges"]] == [
        (str(estate.pod.pk), str(estate.near.pk))]
    assert "near-cfg-marker" in html and "2 nodes, 1 edge" in html
    assert "far-cfg-marker" not in html
    assert_nothing_hidden(estate, html + str(data))


# -- the item page and API: parent, path, scraper -------------------------------------------


@pytest.mark.parametrize("tab", ["config", "changes", "relationships", "insights"])
def test_item_page_shows_no_hidden_parent_ancestor_or_scraper(dana, estate, tab):
    url = reverse("catalog:item_detail", args=[estate.pod.pk])

    full = get(dana, url, tab=tab)
    partial = get(dana, url, tab=tab, headers=HTMX)

    assert "seen-pod-marker" in full and str(estate.pod.pk) in full
    assert 'aria-label="Parents"' not in full  # no breadcrumb: both ancestors are hidden
    assert "<dt>Scraper</dt>" not in full
    for text in (full, partial):
        assert_nothing_hidden(estate, text)


def test_relationships_tab_shows_a_visible_parent_by_name(dana, estate):
    estate.grant(estate.mid)

    html = get(dana, reverse("catalog:item_detail", args=[estate.pod.pk]), tab="relationships")

    assert "hidden-mid-marker" in html  # now granted, so shown (the marker is just its name)
    assert "hidden-root-marker" not in html and str(estate.root.pk) not in html


def test_item_api_blanks_hidden_parent_path_and_scraper(dana, estate):
    detail = dana.get(f"/api/v1/catalog/items/{estate.pod.pk}/")
    listing = dana.get("/api/v1/catalog/items/")

    assert detail.status_code == listing.status_code == 200
    row = detail.json()
    assert (row["name"], row["parent"], row["path"], row["scraper"]) == (
        "seen-pod-marker", None, str(estate.pod.pk), None)
    assert [(r["name"], r["parent"], r["path"], r["scraper"])
            for r in listing.json()["results"]] == [("seen-pod-marker", None, str(estate.pod.pk),
                                                     None)]
    assert_nothing_hidden(estate, detail.content.decode() + listing.content.decode())


def test_item_api_keeps_visible_ancestors_in_path_and_parent(dana, estate):
    estate.grant(estate.mid)

    row = dana.get(f"/api/v1/catalog/items/{estate.pod.pk}/").json()

    assert row["parent"] == str(estate.mid.pk)
    assert row["path"] == f"{estate.mid.pk}.{estate.pod.pk}"
    assert str(estate.root.pk) not in str(row)


def test_admin_still_sees_every_reference(client, estate, root):
    client.force_login(root)

    row = client.get(f"/api/v1/catalog/items/{estate.pod.pk}/").json()
    html = get(client, reverse("catalog:item_detail", args=[estate.pod.pk]))

    assert (row["parent"], row["path"], row["scraper"]) == (
        str(estate.mid.pk), estate.pod.path, str(estate.scraper.pk))
    assert "hidden-scraper-marker" in html and "hidden-root-marker" in html


def test_relationship_api_blanks_a_scraper_not_granted(dana, estate):
    estate.grant(estate.near)

    rows = dana.get("/api/v1/catalog/relationships/").json()["results"]

    assert [(r["config"], r["related"], r["scraper"]) for r in rows] == [
        (str(estate.pod.pk), str(estate.near.pk), None)]


def test_scraper_name_cannot_be_probed_through_search(dana, estate):
    url = reverse("catalog:item_list")

    probe = get(dana, url, q="scraper=hidden-scraper*")
    by_id = dana.get("/api/v1/catalog/items/", {"q": f"scraper={estate.scraper.pk}"})
    ordered = get(dana, url, q="@order=scraper")

    assert "No items match." in probe and "seen-pod-marker" not in probe.split("item-rows")[1]
    assert by_id.json()["results"] == []
    assert "seen-pod-marker" in ordered
    assert_nothing_hidden(estate, probe + ordered + by_id.content.decode())


def test_api_filters_refuse_hidden_ids_exactly_like_unknown_ones(dana, estate):
    unknown = str(uuid.uuid4())
    cases = [("/api/v1/catalog/items/", "scraper", str(estate.scraper.pk)),
             ("/api/v1/catalog/changes/", "config", str(estate.mid.pk)),
             ("/api/v1/catalog/relationships/", "config", str(estate.mid.pk)),
             ("/api/v1/catalog/insights/", "config", str(estate.mid.pk)),
             ("/api/v1/scrape-runs/", "scrape_config", str(estate.scraper.pk))]

    for url, name, hidden_id in cases:
        hidden = dana.get(url, {name: hidden_id})
        missing = dana.get(url, {name: unknown})
        assert hidden.status_code == missing.status_code == 400, url
        assert hidden.content.decode().replace(hidden_id, unknown) == missing.content.decode()

    own = dana.get("/api/v1/catalog/changes/", {"config": str(estate.pod.pk)})
    assert own.status_code == 200
    assert {c["summary"] for c in own.json()["results"]} == {"seen-went-unhealthy",
                                                              "seen-change-marker"}


# -- facets, counts, change feed and correlation --------------------------------------------


def test_facets_and_counts_cover_only_the_visible_item(dana, estate):
    html = get(dana, reverse("catalog:item_list"))
    health = get(dana, reverse("catalog:health"))

    counts = re.findall(r'<span class="count">(\d+)</span>', html)
    summary = re.findall(r'<th scope="row"><a [^>]*>([^<]+)</a></th>\s*<td>(\d+)</td>', html)

    assert "seen-pod-marker" in html and "shop" in html
    assert counts == ["1"] * len(views.ITEM_FACETS)  # one value per facet, counting the pod
    assert summary == [("Kubernetes::Pod", "1")]
    assert "seen-pod-marker" in health
    assert_nothing_hidden(estate, html + health, also=("near-cfg-marker", "far-cfg-marker"))


def test_change_feed_page_and_api_show_only_visible_changes(dana, estate):
    html = get(dana, reverse("catalog:change_list"))
    partial = get(dana, reverse("catalog:change_list"), headers=HTMX)
    api = dana.get("/api/v1/catalog/changes/")

    assert "seen-change-marker" in html and "seen-change-marker" in partial
    assert {c["summary"] for c in api.json()["results"]} == {"seen-went-unhealthy",
                                                              "seen-change-marker"}
    for text in (html, partial, api.content.decode()):
        assert_nothing_hidden(estate, text, also=("near-change-marker", "far-change-marker"))


def test_change_of_a_hidden_item_is_the_unknown_change_404(dana, estate):
    hidden = ConfigChange.objects.get(summary="hidden-change-marker")

    page = dana.get(reverse("catalog:change_detail", args=[hidden.pk]))
    api = dana.get(f"/api/v1/catalog/changes/{hidden.pk}/")

    assert page.status_code == api.status_code == 404
    assert_nothing_hidden(estate, page.content.decode() + api.content.decode())


def test_item_changes_tab_with_related_items_counts_only_visible_ones(dana, estate):
    estate.grant(estate.near, estate.far)
    url = reverse("catalog:item_detail", args=[estate.pod.pk])

    html = get(dana, url, tab="changes", related="all", depth="3")

    assert "Showing changes of this item and 1 related item." in html
    assert "near-change-marker" in html and "far-change-marker" not in html
    assert_nothing_hidden(estate, html)


def test_correlation_panel_neither_lists_nor_counts_hidden_items(dana, estate):
    estate.grant(estate.near, estate.far)

    html = get(dana, reverse("catalog:item_detail", args=[estate.pod.pk]), tab="changes")
    start = html.index('id="correlation"')
    panel = html[start:html.index("</section>", start)]

    assert "seen-went-unhealthy" in panel
    assert "on this item and 1 related item " in panel  # near only: mid and root are hidden
    assert "near-change-marker" in panel and "seen-change-marker" in panel
    assert "far-change-marker" not in panel
    assert_nothing_hidden(estate, html)


def test_config_compare_answers_a_hidden_items_change_as_an_unknown_one(dana, estate):
    hidden = ConfigChange.objects.get(summary="hidden-change-marker")
    url = reverse("catalog:item_detail", args=[estate.pod.pk])

    answers = [get(dana, url, tab="config", compare=value)
               for value in (str(hidden.pk), str(uuid.uuid4()), "not-an-id")]

    assert all("That version cannot be rebuilt: that change is not a config diff of this item"
               in html for html in answers)
    assert "seen-pod-marker" in answers[0]
    assert_nothing_hidden(estate, answers[0].replace(str(hidden.pk), ""))
