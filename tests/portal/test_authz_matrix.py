"""The authorization matrix, generated from the URL resolver (quality.md §5)."""

import re
import uuid
from collections.abc import Iterator

import pytest
from django.db import connection
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from guardian.shortcuts import assign_perm

from catalog.models import (
    ConfigChange,
    ConfigInsight,
    ConfigItem,
    ConfigRelationship,
    ScrapeConfig,
    ScrapeRun,
)
from connections.models import Connection
from portal.access_rules import ADMIN, OBJECT, OWN, PUBLIC, rule_for
from portal.ids import natural_id
from tests.catalog.scrape_helpers import file_scraper, run_now

MARKER = "team-a-secret-marker"


def routes(resolver: URLResolver | None = None, prefix: str = "",
           namespace: str = "") -> Iterator[tuple[str, str, object]]:
    """(url regex, name, pattern) for every route, DRF routers and admin included."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}:{entry.namespace}".strip(":") if entry.namespace else namespace
            yield from routes(entry, prefix + str(entry.pattern.regex.pattern).lstrip("^"), ns)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace and entry.name else (entry.name or "")
            yield prefix + str(entry.pattern.regex.pattern).lstrip("^"), name, entry


def test_every_route_declares_an_access_rule():
    # The admin's unnamed redirect routes belong to the admin site, which checks staff itself.
    missing = sorted({name or regex for regex, name, _ in routes()
                      if rule_for(name) is None and not regex.startswith("admin/")})

    assert missing == [], f"routes without an access rule in portal/access_rules.py: {missing}"


@pytest.fixture
def team_a(manifests, db):
    cm = f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {MARKER}, namespace: a}}\n"
    config = file_scraper(manifests("cm.yaml", cm).parent, name="team-a")
    run = run_now(config)
    item = ConfigItem.objects.get(name=MARKER)
    change = ConfigChange.objects.create(config=item, change_type="Note", summary=MARKER,
                                         fingerprint="f" * 64)
    relationship = ConfigRelationship.objects.create(
        config=item, related=ConfigItem.objects.get(type="Kubernetes::Cluster"), relation="x")
    connection = Connection.objects.create(
        namespace="team-a", name=MARKER, type="http",
        spec={"http": {"url": "https://a.example.com"}}, url="https://a.example.com")
    insight = ConfigInsight.objects.create(id=natural_id(item.pk, "a", "t"), config=item,
                                           analyzer=MARKER, source="test")
    return {"item": item, "config": config, "run": run, "change": change,
            "relationship": relationship, "insight": insight, "connection": connection}


def concrete(regex: str, name: str, objects: dict) -> str | None:
    """Fill the route's parameters from the team A objects, or None when it takes others."""
    def pick() -> str:
        for key, obj in (("connection", "connection"), ("run", "run"), ("scraper", "config"),
                         ("scrapeconfig", "config"),
                         ("change", "change"), ("relationship", "relationship"),
                         ("insight", "insight"), ("item", "item"), ("graph", "item")):
            if key in name:
                return str(objects[obj].pk)
        return str(objects["item"].pk)

    path = re.sub(r"\(\?P<pk>[^)]*\)", pick(), regex)
    path = re.sub(r"\(\?P<format>[^)]*\)", "json", path)
    path = path.replace("\\.", ".").rstrip("$").replace("/?", "/")
    if "(?P<" in path or "<" in path or "\\" in path:
        return None
    return "/" + path


def page_routes(objects: dict) -> list[tuple[str, str, str]]:
    found = []
    for regex, name, _ in routes():
        rule = rule_for(name)
        if rule in (PUBLIC, ADMIN) or name.startswith("admin:") or name == "logout":
            continue
        path = concrete(regex, name, objects)
        if path is not None:
            found.append((path, name, rule))
    return found


def table_counts() -> dict[str, int]:
    with connection.cursor() as cur:
        cur.execute("SELECT relname, n_live_tup FROM pg_stat_user_tables")
        names = [r[0] for r in cur.fetchall()]
        counts = {}
        for table in names:
            cur.execute(f'SELECT count(*) FROM "{table}"')  # noqa: S608 - catalog names
            counts[table] = cur.fetchone()[0]
        return counts


@pytest.mark.django_db
def test_anonymous_gets_login_redirect_for_pages_and_401_for_the_api(team_a):
    client = Client()
    for path, name, _ in page_routes(team_a):
        for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
            response = client.get(path, **headers)
            if path.startswith("/api/"):
                assert response.status_code == 401, (name, path)
            else:
                assert response.status_code == 302, (name, path)
                assert response["Location"].startswith("/accounts/login/"), (name, path)


@pytest.mark.django_db
def test_a_person_without_grants_sees_nothing_of_team_a(team_a, carol):
    client = Client()
    client.force_login(carol)
    before = table_counts()
    for path, name, rule in page_routes(team_a):
        for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
            response = client.get(path, **headers)
            if rule in (OBJECT, OWN):
                assert response.status_code in (403, 404, 405), (name, path, response.status_code)
            else:  # 405: a POST-only endpoint answered a GET without showing anything
                assert response.status_code in (200, 405), (name, path, response.status_code)
            assert MARKER not in response.content.decode(errors="ignore"), (name, path)
    assert table_counts() == before  # GETs change nothing


@pytest.mark.django_db
def test_a_granted_person_can_open_every_object_route(team_a, alice):
    assign_perm("view_scrapeconfig", alice, team_a["config"])
    for perm in ("view_connection", "change_connection"):
        assign_perm(perm, alice, team_a["connection"])
    post_only = {"catalog:scraper_run_now", "scrapeconfig-run", "connections:test",
                 "connections:delete", "connection-test"}
    client = Client()
    client.force_login(alice)
    for path, name, rule in page_routes(team_a):
        if rule != OBJECT or name in post_only:
            continue
        assert client.get(path).status_code == 200, (name, path)


@pytest.mark.django_db
def test_admin_is_for_staff_only(carol):
    client = Client()
    client.force_login(carol)

    response = client.get("/admin/")

    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.django_db
def test_state_changes_need_a_csrf_token(team_a, root):
    client = Client(enforce_csrf_checks=True)
    client.force_login(root)

    page = client.post(f"/scrapers/{team_a['config'].pk}/run/")
    api = client.post(f"/api/v1/scrape-configs/{team_a['config'].pk}/run/")

    assert page.status_code == 403 and api.status_code == 403
    assert ScrapeRun.objects.filter(status="queued").count() == 0
    assert not ScrapeConfig.objects.filter(pk=uuid.uuid4()).exists()
