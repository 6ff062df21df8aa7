"""The authorization matrix, generated from the URL resolver.

Every route is sent each method its view declares (require_http_methods and friends, a class
view's handlers, a DRF viewset's action map), with real objects of the model the view serves in
its URL, as four personas: anonymous, no-grant (a viewer granted nothing), granted (an editor
granted everything on team A's scraper and connection, owner of the token in the URL) and admin.
The expected answer is computed from the rule the route declares in portal/access_rules.py.
Every GET is sent again as an htmx partial. A refused state change must leave every table as it
was and add exactly one `denied` audit row; a GET must change nothing at all.

The Django admin is checked for the redirect to its login page for anonymous and non-staff
people (GET and POST, the two methods its views answer) and for a working GET as the admin.
"""

import inspect
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection, models, transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from guardian.shortcuts import assign_perm

from accounts.models import Agent, APIToken, AuditEvent, Person, Team
from accounts.tokens import create_token
from catalog.models import (
    ConfigChange,
    ConfigInsight,
    ConfigItem,
    ConfigRelationship,
    HealthRule,
    ScrapeConfig,
    ScrapeLogLine,
    ScrapeRun,
)
from connections.models import Connection
from playbooks.models import Playbook, PlaybookLogLine, PlaybookRun, PlaybookRunAction
from playbooks.spec import validate as validate_playbook
from portal.access_rules import ADMIN, EDITOR, LOGIN, OBJECT, OWN, PUBLIC, rule_for
from portal.ids import natural_id
from portal.models import EventCursor
from tests.catalog.scrape_helpers import file_scraper, run_now
from tests.conftest import make_person

MARKER = "team-a-secret-marker"
# Untargeted (no `configs`), so a run needs no item and no parameters.
PLAYBOOK_SPEC = {"title": MARKER, "actions": [{"name": "hello", "exec": {"script": "echo hi"}}]}
EXERCISED = ("GET", "POST", "PUT", "PATCH", "DELETE")
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PERSONAS = ("anonymous", "no-grant", "granted", "admin")
ADMIN_PERSONAS = ("anonymous", "no-grant")
LOGIN_PAGE = "/accounts/login/"
ADMIN_LOGIN_PAGE = "/admin/login/"
# Tables a request may touch without changing state: the session a login writes, and the audit
# trail, which is compared row by row instead.
VOLATILE_TABLES = frozenset({"django_session", "accounts_auditevent"})

# Page views take plain ids; which model an id names is declared here, and a page route with a
# parameter missing from this table fails the matrix.
PAGE_MODELS: dict[str, type[models.Model]] = {
    "catalog:item_detail": ConfigItem,
    "catalog:change_detail": ConfigChange,
    "catalog:scraper_detail": ScrapeConfig,
    "catalog:scraper_run_now": ScrapeConfig,
    "catalog:run_detail": ScrapeRun,
    "accounts:token_revoke": APIToken,
    "connections:detail": Connection,
    "connections:edit": Connection,
    "connections:test": Connection,
    "connections:delete": Connection,
    "playbooks:detail": Playbook,
    "playbooks:run": Playbook,
    "playbooks:run_detail": PlaybookRun,
    "playbooks:run_cancel": PlaybookRun,
    "playbooks:run_decide": PlaybookRun,
}
# Parameters that name a choice rather than an object.
VALUE_PARAMS: dict[str, str] = {"kind": "http", "url": "no-such-admin-page/",
                                "app_label": "catalog", "path": "matrix-hook"}
# Routes that name their object in the query string instead of the path.
QUERY_OBJECTS: dict[str, tuple[str, type[models.Model]]] = {"catalog:graph": ("root", ConfigItem)}

# What an allowed request gets, where it is not 200. Unsafe methods must be listed: a new
# state-changing route needs someone to say what success looks like.
ALLOWED: dict[tuple[str, str], set[int]] = {
    ("home", "GET"): {302},
    ("admin:login", "GET"): {200, 302},  # staff are sent on to the index
    ("admin:login", "POST"): {200},
    # Non-staff are sent to the admin index (and from there to its login); a superuser's GET
    # is refused because logging out is POST only.
    ("admin:logout", "GET"): {302, 405},
    ("admin:logout", "POST"): {302},
    ("login", "POST"): {200},
    ("login", "PUT"): {200},
    ("logout", "POST"): {302},
    ("catalog:scraper_run_now", "POST"): {302},
    ("accounts:token_create", "POST"): {200},
    ("accounts:token_revoke", "POST"): {302},
    ("connections:create", "POST"): {302},
    ("connections:edit", "POST"): {302},
    ("connections:test", "POST"): {302},
    ("connections:delete", "POST"): {302},
    ("scrapeconfig-list", "POST"): {201},
    ("scrapeconfig-detail", "PUT"): {200},
    ("scrapeconfig-detail", "PATCH"): {200},
    ("scrapeconfig-detail", "DELETE"): {204},
    ("scrapeconfig-run", "POST"): {202},
    ("connection-list", "POST"): {201},
    ("connection-detail", "PUT"): {200},
    ("connection-detail", "PATCH"): {200},
    ("connection-detail", "DELETE"): {204},
    ("connection-test", "POST"): {200},
    ("connection-test-unsaved", "POST"): {200},
    ("apitoken-list", "POST"): {201},
    ("apitoken-detail", "DELETE"): {204},
    ("playbooks:run", "POST"): {302},
    ("playbooks:run_cancel", "POST"): {302},
    ("playbook-list", "POST"): {201},
    ("playbook-detail", "PUT"): {200},
    ("playbook-detail", "PATCH"): {200},
    ("playbook-detail", "DELETE"): {204},
    ("playbook-run", "POST"): {202},
    ("playbookrun-cancel", "POST"): {200},
    # The world's run is scheduled, not waiting for approval: whoever may see it is told 409
    # (nothing to decide) before being asked whether they are an approver, so the granted and
    # admin personas get 409 and the no-grant persona 404. Approving for real is in
    # tests/playbooks/test_approvals.py.
    ("playbooks:run_decide", "POST"): {302},  # the 409 as a message on the inbox
    ("playbookrun-approve", "POST"): {409},
    ("playbookrun-reject", "POST"): {409},
    # Public, but a session is no credential: without the webhook's bearer token, 401.
    ("playbook-webhook", "POST"): {401},
}
# The admin's own answers to a superuser's GET, where they are not 200.
ADMIN_GET: dict[str, set[int]] = {
    "admin:view_on_site": {302, 404},  # 404 for models without get_absolute_url
    "admin:autocomplete": {403},  # needs the field it completes in the query
    "admin:accounts_apitoken_add": {403},  # tokens are made by their owner, shown once
    "admin:connections_connection_add": {403},  # connections are made through their form
    "admin:accounts_auditevent_add": {403},  # the audit trail is append-only
    "admin:accounts_auditevent_delete": {403},
    # Playbooks are written through their spec validator and runs through the engine.
    "admin:playbooks_playbook_add": {403},
    "admin:playbooks_playbookrun_add": {403},
}
ADMIN_REDIRECT = re.compile(r"admin:.*<admin/.*/\(\?P<object_id>\.\+\)/\\Z>$")  # id/ -> change/
ADMIN_CATCH_ALL = "admin:<admin/(?P<url>.*)$>"


# -- routes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str
    regex: str
    callback: Callable[..., Any]
    methods: tuple[str, ...]

    @property
    def api(self) -> bool:
        return self.regex.startswith("api/")

    @property
    def admin(self) -> bool:
        return self.name.startswith("admin:")

    @property
    def params(self) -> list[str]:
        return re.findall(r"\(\?P<(\w+)>", self.regex)

    def __str__(self) -> str:
        return f"{self.name} {self.regex}"


def walk(resolver: URLResolver | None = None, prefix: str = "",
         namespace: str = "") -> Iterator[tuple[str, str, URLPattern]]:
    """(name, url regex, pattern) for every route, DRF routers and the admin included. An
    unnamed route is named after its namespace and regex so a rule can still match it."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}:{entry.namespace}".strip(":") if entry.namespace else namespace
            yield from walk(entry, prefix + str(entry.pattern.regex.pattern).lstrip("^"), ns)
        elif isinstance(entry, URLPattern):
            regex = prefix + str(entry.pattern.regex.pattern).lstrip("^")
            if entry.name:
                name = f"{namespace}:{entry.name}" if namespace else entry.name
            else:
                name = f"{namespace}:<{regex}>" if namespace else ""
            yield name, regex, entry


def declared_methods(callback: Callable[..., Any], name: str) -> tuple[str, ...] | None:
    """The methods a view says it answers, or None when it says nothing (it answers all)."""
    if name.startswith("admin:"):
        # Admin views are forms and lists behind admin_site.admin_view: GET shows, POST saves.
        return ("GET", "POST")
    actions = getattr(callback, "actions", None)
    if actions:  # a DRF viewset route: its action map
        return tuple(m.upper() for m in actions)
    cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if cls is not None:  # a class view answers the methods it has a handler for
        return tuple(m.upper() for m in cls.http_method_names
                     if m not in ("head", "options", "trace") and hasattr(cls, m))
    layer: Any = callback
    while layer is not None:  # decorators keep the view under __wrapped__
        if layer.__closure__:
            allowed = inspect.getclosurevars(layer).nonlocals.get("request_method_list")
            if allowed is not None:
                return tuple(m.upper() for m in allowed)
        layer = getattr(layer, "__wrapped__", None)
    return None


def collect() -> tuple[list[Route], list[str]]:
    found, undeclared = [], []
    for name, regex, pattern in walk():
        methods = declared_methods(pattern.callback, name)
        if methods is None:
            undeclared.append(f"{name or '(unnamed)'} {regex}")
            continue
        found.append(Route(name, regex, pattern.callback,
                           tuple(m for m in EXERCISED if m in methods)))
    return found, undeclared


ROUTES, UNDECLARED = collect()


@dataclass(frozen=True)
class Case:
    route: Route
    method: str
    persona: str
    htmx: bool = False

    def __str__(self) -> str:
        return (f"{self.persona}-{self.method}{'-htmx' if self.htmx else ''}-"
                f"{self.route.name}{'.fmt' if 'format' in self.route.params else ''}")


def cases() -> list[Case]:
    out = []
    for route in ROUTES:
        for method in route.methods:
            personas = ADMIN_PERSONAS if route.admin else PERSONAS
            if route.admin and method == "GET":
                personas = (*ADMIN_PERSONAS, "admin")
            for persona in personas:
                out.append(Case(route, method, persona))
                if method == "GET" and not route.admin:
                    out.append(Case(route, method, persona, htmx=True))
    return out


CASES = cases()


def test_the_route_list_is_real():
    names = {r.name for r in ROUTES}

    assert len(ROUTES) > 100 and len(CASES) > 500
    assert {"catalog:item_detail", "scrapeconfig-run", "connections:delete",
            "apitoken-detail", "admin:index"} <= names
    assert {"POST"} <= set(next(r for r in ROUTES if r.name == "catalog:scraper_run_now").methods)


def test_every_route_declares_its_methods():
    assert UNDECLARED == [], f"views that answer every method; declare theirs: {UNDECLARED}"


def test_every_route_and_method_declares_an_access_rule():
    missing = sorted({f"{r.name or r.regex} {m}" for r in ROUTES for m in r.methods
                      if rule_for(r.name, m) is None})

    assert missing == [], f"routes without an access rule in portal/access_rules.py: {missing}"


def test_every_unsafe_method_says_what_success_looks_like():
    missing = sorted({f"{r.name} {m}" for r in ROUTES for m in r.methods
                      if m in UNSAFE and not r.admin and (r.name, m) not in ALLOWED})

    assert missing == [], f"add the allowed status to ALLOWED: {missing}"


# -- the world: team A's objects and the personas ---------------------------------------------


@dataclass
class World:
    objects: dict[type[models.Model], models.Model]
    people: dict[str, Person]
    token: APIToken
    sessions: dict[str, str]
    clients: dict[str, Client]

    def object_for(self, model: type[models.Model]) -> models.Model:
        if model not in self.objects:
            found = model._default_manager.order_by("pk").first()
            assert found is not None, f"the matrix has no {model.__name__} to put in a URL"
            self.objects[model] = found
        return self.objects[model]


@pytest.fixture(scope="module")
def world(django_db_setup: None, django_db_blocker: Any,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Built once in a transaction that is rolled back after the module; every test runs in a
    savepoint inside it, so what one case changes the next does not see."""
    folder: Path = tmp_path_factory.mktemp("team-a")
    (folder / "cm.yaml").write_text(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {MARKER}, namespace: a}}\n")
    with django_db_blocker.unblock(), transaction.atomic():
        config = file_scraper(folder, name=MARKER)
        run = run_now(config)
        item = ConfigItem.objects.get(name=MARKER)
        change = ConfigChange.objects.create(config=item, change_type="Note", summary=MARKER,
                                              fingerprint="f" * 64)
        relationship = ConfigRelationship.objects.create(
            config=item, related=ConfigItem.objects.get(type="Kubernetes::Cluster"),
            relation=MARKER)
        insight = ConfigInsight.objects.create(id=natural_id(item.pk, "a", "t"), config=item,
                                               analyzer=MARKER, source="test")
        # Not internal and on a loopback address: a test of it is refused at once, offline.
        conn = Connection.objects.create(
            namespace="team-a", name=MARKER, type="http",
            spec={"http": {"url": "http://127.0.0.1:9/"}}, url="http://127.0.0.1:9/")
        people = {
            "no-grant": make_person("nogrant@example.com", "viewer"),
            "granted": make_person("granted@example.com", "editor"),
            "admin": make_person("admin@example.com", "admin", superuser=True),
        }
        granted = people["granted"]
        for perm in ("view", "change", "run", "delete"):
            assign_perm(f"{perm}_scrapeconfig", granted, config)
        for perm in ("view", "use", "change", "delete"):
            assign_perm(f"{perm}_connection", granted, conn)
        token, _ = create_token(granted, MARKER)
        group = Group.objects.get(name="viewer")
        team = Team.objects.create(name=MARKER, slug=MARKER, group=Group.objects.create(
            name=f"team-{MARKER}"))
        agent = Agent.objects.create(name=MARKER)
        rule = HealthRule.objects.create(scope="global", types=["*"], when="true",
                                         health="unknown")
        audit = AuditEvent.objects.create(action="matrix.seed")
        playbook = Playbook.objects.create(name=MARKER, namespace="team-a", title=MARKER,
                                           spec=validate_playbook(PLAYBOOK_SPEC))
        for perm in ("view", "run", "change", "delete"):
            assign_perm(f"{perm}_playbook", granted, playbook)
        Playbook.objects.create(name="matrix-hook", namespace="team-a", title="webhook",
                                spec=validate_playbook({**PLAYBOOK_SPEC, "title": "webhook", "on": {
                                    "webhook": {"path": "matrix-hook", "authentication": {
                                        "bearer": {"valueFrom": {"env": {
                                            "name": "MATRIX_HOOK_TOKEN"}}}}}}}))
        # Scheduled, so cancelling it (page and API) is a real state change.
        playbook_run = PlaybookRun.objects.create(playbook=playbook, spec=playbook.spec,
                                                  parameters={"note": MARKER})
        playbook_action = PlaybookRunAction.objects.create(
            run=playbook_run, name="hello", kind="exec", position=0, error=MARKER)
        playbook_line = PlaybookLogLine.objects.create(run=playbook_run, seq=1, line=MARKER,
                                                       action=playbook_action)
        cursor = EventCursor.objects.create(consumer=MARKER)
        objects: dict[type[models.Model], models.Model] = {
            ScrapeConfig: config, ScrapeRun: run, ConfigItem: item, ConfigChange: change,
            ConfigRelationship: relationship, ConfigInsight: insight, Connection: conn,
            APIToken: token, Person: granted, Group: group, Team: team, Agent: agent,
            HealthRule: rule, AuditEvent: audit, EventCursor: cursor, Playbook: playbook,
            PlaybookRun: playbook_run, PlaybookRunAction: playbook_action,
            PlaybookLogLine: playbook_line,
            ScrapeLogLine: ScrapeLogLine.objects.filter(run=run).first(),
        }
        clients, sessions = {"anonymous": Client()}, {}
        for persona, person in people.items():
            clients[persona] = Client()
            clients[persona].force_login(person)
            sessions[persona] = clients[persona].cookies[settings.SESSION_COOKIE_NAME].value
        yield World({k: v for k, v in objects.items() if v is not None}, people, token,
                    sessions, clients)
        transaction.set_rollback(True)


def model_for(route: Route, param: str) -> type[models.Model]:
    """The model whose object fills `param`: from the viewset, the admin, or PAGE_MODELS."""
    cls = getattr(route.callback, "cls", None)
    if cls is not None and getattr(route.callback, "actions", None):
        queryset = getattr(cls, "queryset", None)
        if queryset is not None:
            return queryset.model
        return cls.serializer_class.Meta.model
    if route.admin:
        if param == "user_id":
            return Person
        if param == "group_id":
            return Group
        model_admin = getattr(route.callback, "model_admin", None)
        if model_admin is not None:
            return model_admin.model
        match = re.match(r"admin:(\w+?)_(\w+?)_", route.name)
        assert match, f"cannot tell which model {route} serves"
        if param == "id":  # the password form of the user model
            return Person
        return apps.get_model(match[1], match[2])
    assert route.name in PAGE_MODELS, f"add {route.name} to PAGE_MODELS: which model is its id?"
    return PAGE_MODELS[route.name]


def url_for(route: Route, world: World) -> str:
    """The route's regex with every parameter filled; fails for a parameter it cannot fill."""
    def fill(match: re.Match[str]) -> str:
        param, body = match[1], match[2]
        if param == "format":
            return ".json" if body.startswith("\\.") else "json"
        if param in VALUE_PARAMS:
            return VALUE_PARAMS[param]
        if param == "content_type_id":
            from django.contrib.contenttypes.models import ContentType

            return str(ContentType.objects.get_for_model(ConfigItem).pk)
        if route.name == "admin:view_on_site" and param == "object_id":
            return str(world.object_for(ConfigItem).pk)
        return str(world.object_for(model_for(route, param)).pk)

    path = re.sub(r"\(\?P<(\w+)>((?:[^()]|\([^()]*\))*)\)", fill, route.regex)
    path = path.removesuffix("\\Z").removesuffix("$").replace("/?", "/")
    path = re.sub(r"\\(.)", r"\1", path)
    assert not re.search(r"[()\[\]^$*+?]", path), f"cannot fill {route}: {path}"
    path = "/" + path
    query = QUERY_OBJECTS.get(route.name)
    if query is not None:
        path += f"?{query[0]}={world.object_for(query[1]).pk}"
    assert resolve(path.split("?")[0]).func is route.callback, f"{path} is not {route}"
    return path


def body_for(route: Route, method: str, world: World) -> tuple[Any, str | None]:
    """A valid body for a state change, so a refusal cannot hide behind a validation error."""
    config, conn = world.objects[ScrapeConfig], world.objects[Connection]
    playbook = world.objects[Playbook]
    api = {
        ("scrapeconfig-list", "POST"): {"name": "made-by-matrix", "namespace": "team-a",
                                        "spec": config.spec},
        ("scrapeconfig-detail", "PUT"): {"name": config.name, "namespace": config.namespace,
                                         "spec": config.spec, "paused": True},
        ("scrapeconfig-detail", "PATCH"): {"paused": True},
        ("connection-list", "POST"): {"name": "made-by-matrix", "namespace": "team-a",
                                      "spec": {"http": {"url": "https://b.example.com/"}}},
        ("connection-detail", "PUT"): {"name": conn.name, "namespace": conn.namespace,
                                       "spec": {"http": {"url": "https://c.example.com/"}}},
        ("connection-detail", "PATCH"): {"spec": {"http": {"url": "https://d.example.com/"}}},
        ("connection-test-unsaved", "POST"): {"namespace": "team-a",
                                              "spec": {"http": {"url": "http://127.0.0.1:9/"}}},
        ("apitoken-list", "POST"): {"name": "made-by-matrix"},
        ("playbook-list", "POST"): {"name": "made-by-matrix", "namespace": "team-a",
                                    "spec": PLAYBOOK_SPEC},
        ("playbook-detail", "PUT"): {"name": playbook.name, "namespace": playbook.namespace,
                                     "spec": {**PLAYBOOK_SPEC, "description": "put"}},
        ("playbook-detail", "PATCH"): {"spec": {**PLAYBOOK_SPEC, "description": "patched"}},
        ("playbook-run", "POST"): {},
        ("playbookrun-approve", "POST"): {"comment": "looks right"},
        ("playbookrun-reject", "POST"): {"comment": "not now"},
    }
    pages = {
        ("accounts:token_create", "POST"): {"name": "made-by-matrix"},
        ("connections:create", "POST"): {"name": "made-by-matrix", "namespace": "team-a",
                                         "url": "https://b.example.com/"},
        ("connections:edit", "POST"): {"name": conn.name, "namespace": conn.namespace,
                                       "url": "https://c.example.com/"},
        ("playbooks:run_decide", "POST"): {"decision": "approve", "comment": "looks right"},
    }
    key = (route.name, method)
    if key in api:
        return api[key], "application/json"
    return pages.get(key, {}), None


# -- expectations ----------------------------------------------------------------------------


def expected(case: Case) -> str:
    """allow, login (sent to log in, or 401) or deny (403/404), from the route's rule."""
    rule = rule_for(case.route.name, case.method)
    if rule == PUBLIC:
        return "allow"
    if case.persona == "anonymous":
        return "login"
    if rule == ADMIN:
        return "allow" if case.persona == "admin" else "admin-login"
    if rule == LOGIN:
        return "allow"
    if rule in (EDITOR, OBJECT):
        return "allow" if case.persona in ("granted", "admin") else "deny"
    if rule == OWN:
        return "allow" if case.persona == "granted" else "deny"
    raise AssertionError(f"unknown rule {rule!r} for {case.route}")


def allowed_statuses(case: Case) -> set[int]:
    if (case.route.name, case.method) in ALLOWED:
        return ALLOWED[(case.route.name, case.method)]
    if case.route.admin:
        if re.match(ADMIN_REDIRECT, case.route.name):
            return {302}
        if case.route.name == ADMIN_CATCH_ALL:
            return {404}
        return ADMIN_GET.get(case.route.name, {200})
    return ALLOWED.get((case.route.name, case.method), {200})


def snapshot() -> dict[str, tuple[int, int]]:
    """Per table: its row count, and how many rows this transaction has inserted, updated or
    deleted so far (PostgreSQL's per-transaction statistics), so an UPDATE shows as well."""
    with connection.cursor() as cur:
        cur.execute("SELECT relname, n_tup_ins + n_tup_upd + n_tup_del "
                    "FROM pg_stat_xact_user_tables WHERE schemaname = 'public'")
        writes = dict(cur.fetchall())
        tables = sorted(t for t in writes if t not in VOLATILE_TABLES)
        cur.execute(" UNION ALL ".join(
            f"SELECT '{t}', count(*) FROM \"{t}\"" for t in tables))  # noqa: S608
        return {name: (count, writes[name]) for name, count in cur.fetchall()}


def client_for(persona: str, world: World) -> Client:
    """The persona's client with nothing but its session cookie. Clients and sessions are made
    once in the world: a new Client loads the middleware again, which costs more than a case."""
    client = world.clients[persona]
    client.cookies.clear()
    if persona != "anonymous":
        client.cookies[settings.SESSION_COOKIE_NAME] = world.sessions[persona]
    return client


def send(client: Client, case: Case, path: str, world: World) -> Any:
    data, content_type = body_for(case.route, case.method, world)
    headers = {"HTTP_HX_REQUEST": "true"} if case.htmx else {}
    call = getattr(client, case.method.lower())
    if content_type:
        return call(path, data, content_type=content_type, **headers)
    if case.method in ("POST", "GET"):
        return call(path, data, **headers)
    return call(path, **headers)


def audit_outcome(status: int, location: str) -> str:
    if status in (401, 403, 404) or location.split("?")[0] in (LOGIN_PAGE, ADMIN_LOGIN_PAGE):
        return "denied"
    return "error" if status >= 400 else "success"


@pytest.mark.django_db
@pytest.mark.parametrize("case", CASES, ids=str)
def test_route(case: Case, world: World) -> None:
    path = url_for(case.route, world)
    client = client_for(case.persona, world)
    before, last_audit = snapshot(), AuditEvent.objects.order_by("-id").values_list(
        "id", flat=True).first()

    response = send(client, case, path, world)

    status, location = response.status_code, response.get("Location", "")
    body = b"".join(response.streaming_content) if response.streaming else response.content
    text = body.decode(errors="ignore")
    outcome = expected(case)
    where = f"{case}: {case.method} {path} -> {status} {location} {text[:300]!r}"
    if outcome == "login" and case.route.api:
        assert status == 401, where
    elif outcome in ("login", "admin-login"):
        # Django's login-required middleware sends anonymous people to the site's login page,
        # except from the admin site's own views, which send them to the admin's.
        logins = (ADMIN_LOGIN_PAGE,) if outcome == "admin-login" else (
            (LOGIN_PAGE, ADMIN_LOGIN_PAGE) if case.route.admin else (LOGIN_PAGE,))
        assert status == 302 and location.startswith(logins), where
    elif outcome == "deny":
        assert status in (403, 404), where
    else:
        assert status in allowed_statuses(case), where
    if case.persona in ("anonymous", "no-grant"):
        assert MARKER not in text, f"team A's marker leaked: {where}"

    after = snapshot()
    audit = list(AuditEvent.objects.filter(id__gt=last_audit or 0).values_list(
        "action", "outcome"))
    if case.method not in UNSAFE:
        assert after == before, f"a GET changed the database: {where}"
        assert audit == [], f"a GET wrote audit rows {audit}: {where}"
    elif outcome != "allow":
        changed = sorted(t for t in before if before[t] != after.get(t))
        assert changed == [], f"a refused {case.method} changed {changed}: {where}"
        assert [o for _, o in audit] == ["denied"], f"audit rows {audit}: {where}"
    elif path not in (LOGIN_PAGE, ADMIN_LOGIN_PAGE):  # logins audit themselves
        view = f"{case.method.lower()} {resolve(path.split('?')[0]).view_name}"
        assert (view, audit_outcome(status, location)) in audit, f"audit {audit}: {where}"


# -- a few facts the matrix relies on ---------------------------------------------------------


@pytest.mark.django_db
def test_the_granted_persona_really_sees_team_a(world: World) -> None:
    """Without this the no-grant assertions could pass on an empty world."""
    client = client_for("granted", world)
    item, config = world.objects[ConfigItem], world.objects[ScrapeConfig]
    playbook, run = world.objects[Playbook], world.objects[PlaybookRun]

    for path in (f"/catalog/{item.pk}/", f"/scrapers/{config.pk}/",
                 f"/api/v1/catalog/items/{item.pk}/", "/catalog/", "/connections/",
                 "/playbooks/", f"/playbooks/{playbook.pk}/", f"/playbooks/runs/{run.pk}/",
                 "/playbooks/runs/"):
        response = client.get(path)
        assert response.status_code == 200 and MARKER in response.content.decode(), path


@pytest.mark.django_db
def test_state_changes_need_a_csrf_token(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.people["admin"])
    config = world.objects[ScrapeConfig]
    runs = ScrapeRun.objects.count()

    page = client.post(f"/scrapers/{config.pk}/run/")
    api = client.post(f"/api/v1/scrape-configs/{config.pk}/run/")

    assert page.status_code == 403 and api.status_code == 403
    assert ScrapeRun.objects.count() == runs
    assert list(AuditEvent.objects.filter(action__startswith="post ").values_list(
        "outcome", flat=True)) == ["denied", "denied"]
