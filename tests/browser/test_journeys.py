"""The main journey in Chromium: log in, search, open an item, read a diff, grow the graph,
create an API token and use it; and the pages of an item full of XSS payloads, which must run
no script and fetch nothing from another origin. Every page is checked by axe-core, for
horizontal overflow at 390 px, and for console errors (CSP violations included)."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from catalog import demo_loader
from catalog.models import ConfigItem
from tests.catalog.scrape_helpers import run_now
from tests.catalog.test_xss import NAME, NAMESPACE, scrape_hostile_item
from tests.conftest import ROOT, make_person

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = ROOT / "test-results" / "journeys"
AXE_URL = "/static/vendor/axe-core-4.14.1/axe.min.js"
BLOCKING_IMPACTS = {"serious", "critical"}
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}));
}"""


class Journey:
    """One browser page walked step by step; every step is audited and photographed."""

    def __init__(self, page: Any, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.errors: list[str] = []
        page.on("console", lambda msg: msg.type == "error" and self.errors.append(msg.text))
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        SHOTS.mkdir(parents=True, exist_ok=True)

    def goto(self, path: str) -> None:
        self.page.goto(self.base_url + path)

    def check(self, step: str) -> None:
        """axe at desktop width, overflow at phone width, screenshots of both, no errors."""
        page = self.page
        page.wait_for_load_state("load")
        page.screenshot(path=str(SHOTS / f"{step}.png"), full_page=True)
        if page.evaluate("typeof window.axe") == "undefined":
            # A same-origin script URL, so the page's CSP (script-src 'self') allows it.
            page.add_script_tag(url=self.base_url + AXE_URL)
        violations = [v for v in page.evaluate(RUN_AXE) if v["impact"] in BLOCKING_IMPACTS]
        assert violations == [], f"{step}: accessibility violations {violations}"
        page.set_viewport_size(PHONE)
        try:
            overflow = page.evaluate(
                "() => [document.documentElement.scrollWidth, "
                "document.documentElement.clientWidth]")
            page.screenshot(path=str(SHOTS / f"{step}-390.png"), full_page=True)
        finally:
            page.set_viewport_size(DESKTOP)
        assert overflow[0] <= overflow[1], f"{step}: horizontal overflow at 390 px {overflow}"
        assert self.errors == [], f"{step}: console errors {self.errors}"


def _load_demo(state_dir: Path) -> None:
    """Twice, a minute apart: the second scrape turns every placeholder into a diff."""
    now = timezone.now()
    for moment in (now - timedelta(minutes=1), now):
        for config in demo_loader.install(now=moment):
            run_now(config)


def test_main_journey(page: Any, live_server: Any, playwright: Any, settings: Any,
                      tmp_path: Path) -> None:
    settings.FLIGHTDECK_STATE_DIR = tmp_path
    _load_demo(tmp_path)
    make_person("journey@example.com", "admin")
    page.set_viewport_size(DESKTOP)
    journey = Journey(page, live_server.url)

    journey.goto("/accounts/login/")
    journey.check("01-login")
    page.get_by_label("Email").fill("journey@example.com")
    page.get_by_label("Password").fill("pw-journey@example.com")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/catalog/")
    journey.check("02-catalog")

    page.get_by_label("Search", exact=True).fill("health=unhealthy type=Kubernetes::Pod")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/catalog/?q=health*")
    rows = page.locator("#item-rows tbody tr")
    rows.first.wait_for()
    types = rows.locator("td:nth-child(2)").all_inner_texts()
    healths = rows.locator("td:nth-child(4) .health").all_inner_texts()
    assert types and set(types) == {"Kubernetes::Pod"}
    assert {h.strip() for h in healths} == {"unhealthy"}
    journey.check("03-search")

    name = rows.first.locator("td:first-child a").inner_text()
    rows.first.locator("td:first-child a").click()
    page.wait_for_url("**/catalog/*/")
    assert page.locator("h1").inner_text().endswith(name)
    journey.check("04-item")

    tabs = page.get_by_role("navigation", name="Item sections")
    tabs.get_by_role("link", name="Changes", exact=True).click()
    page.wait_for_url("**tab=changes*")
    diff_row = page.locator("#item-changes li", has_text="diff").first
    diff_row.locator("summary").click()
    diff_row.locator(".drawer .diff .d-add").first.wait_for()
    journey.check("05-changes-diff")

    tabs.get_by_role("link", name="Relationships", exact=True).click()
    page.wait_for_selector("#tabs #graph-canvas[data-ready='yes']")
    journey.check("05b-relationships")

    item = ConfigItem.objects.get(name=name, type="Kubernetes::Pod")
    journey.goto(f"/graph/?root={item.pk}&depth=1")
    page.wait_for_selector("#graph-canvas[data-ready='yes']")
    before = page.evaluate("document.getElementById('graph-canvas').graph.nodes().length")
    parent = page.locator(f"#graph-nodes tr[data-node='{item.parent_id}'] button.expand")
    parent.click()
    page.wait_for_selector("#graph-canvas[data-expanded='1']")
    after = page.evaluate("document.getElementById('graph-canvas').graph.nodes().length")
    assert after > before, (before, after)
    journey.check("06-graph-expanded")
    parent.click()  # the same button now collapses what the expansion added
    page.wait_for_selector("#graph-canvas[data-collapsed='1']")
    collapsed = page.evaluate("document.getElementById('graph-canvas').graph.nodes().length")
    assert collapsed == before, (before, collapsed)
    journey.check("06b-graph-collapsed")

    journey.goto("/changes/?range=24h&change_type=diff")
    page.locator("#change-results .timeline li.change").first.wait_for()
    journey.check("06b-changes")
    journey.goto("/catalog/health/")
    assert page.locator("#h-bad + table tbody tr").count() > 1
    journey.check("06c-health")

    journey.goto("/settings/tokens/")
    page.get_by_label("Name").fill("journey-ci")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#plaintext").input_value()
    assert token.startswith("fd_")
    journey.check("07-token-created")
    api = playwright.request.new_context(base_url=live_server.url)
    try:
        response = api.get("/api/v1/catalog/items/?page_size=5",
                           headers={"Authorization": f"Bearer {token}"})
        assert response.status == 200 and len(response.json()["results"]) == 5
        refused = api.get("/api/v1/catalog/items/?page_size=5",
                          headers={"Authorization": "Bearer fd_nope_nope"})
        assert refused.status == 401
    finally:
        api.dispose()
    journey.goto("/settings/tokens/")
    assert page.locator("#tokens", has_text="journey-ci").is_visible()
    assert token not in page.content()
    journey.check("08-tokens")


def test_hostile_item_pages_run_no_payload(page: Any, live_server: Any, settings: Any,
                                           tmp_path: Path) -> None:
    """The item list and item page of an item carrying XSS payloads in every field: no dialog,
    no console error, no request outside the app's origin (the payloads point elsewhere)."""
    settings.FLIGHTDECK_STATE_DIR = tmp_path
    _config, item = scrape_hostile_item(tmp_path / "hostile")
    make_person("hostile@example.com", "admin")
    dialogs: list[str] = []
    foreign: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    # Registered before the first page loads, so nothing fired during load escapes them.
    page.on("dialog", on_dialog)
    page.on("request", lambda request: None if request.url.startswith(live_server.url + "/")
            else foreign.append(request.url))
    page.set_viewport_size(DESKTOP)
    journey = Journey(page, live_server.url)

    journey.goto("/accounts/login/")
    page.get_by_label("Email").fill("hostile@example.com")
    page.get_by_label("Password").fill("pw-hostile@example.com")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/catalog/")

    for step, path in (("h1-hostile-list", "/catalog/?q=type=Kubernetes::ConfigMap"),
                       ("h2-hostile-item", f"/catalog/{item.pk}/"),
                       ("h3-hostile-config", f"/catalog/{item.pk}/?tab=config")):
        journey.goto(path)
        # Payloads with hx-trigger='load' or onerror would fire their requests by now.
        page.wait_for_load_state("networkidle")
        assert dialogs == [], f"{step}: dialogs {dialogs}"
        assert foreign == [], f"{step}: requests to other origins {foreign}"
        assert journey.errors == [], f"{step}: console errors {journey.errors}"
        journey.check(step)
        # The payloads are on the page as text: the check above did not pass on an empty page.
        text = page.locator("main").inner_text()
        assert NAME in text and NAMESPACE in text, step


def test_run_a_playbook_from_an_unhealthy_item(page: Any, live_server: Any, settings: Any,
                                               tmp_path: Path, celery_worker_process: Any) -> None:
    """Open an unhealthy Deployment, run "Restart a workload" with a reason, watch the live log
    until it completes, and find the run on the item: the restart really reaches the cluster."""
    from connections import crypto
    from playbooks import files
    from tests.connections.conftest import make_connection
    from tests.kube_emulator import running_emulator

    settings.FLIGHTDECK_STATE_DIR = tmp_path
    # The worker (DEBUG=1) derives the development key; this process must encrypt with it.
    settings.FLIGHTDECK_SECRET_KEYS = [crypto.development_key()]
    _load_demo(tmp_path)
    files.apply([ROOT / "playbooks" / "library"])
    make_person("operator@example.com", "admin")
    deployments = ConfigItem.objects.filter(type="Kubernetes::Deployment",
                                            deleted_at__isnull=True)
    item = deployments.filter(health="unhealthy").first() or deployments.first()
    assert item is not None
    cluster = item.tags["cluster"]
    with running_emulator() as emu:
        live = {k: v for k, v in item.config.items() if k != "status"}
        live["metadata"] = {key: item.config["metadata"][key] for key in ("name", "namespace")}
        emu.create(live)
        kubeconfig = emu.write_kubeconfig(tmp_path / "kubeconfig", "emulator").read_text()
        make_connection(cluster, {"kubernetes": {"kubeconfig": kubeconfig}, "internal": True,
                                  "allowedNamespaces": ["*"]}, namespace="flightdeck")
        page.set_viewport_size(DESKTOP)
        journey = Journey(page, live_server.url)
        journey.goto("/accounts/login/")
        page.get_by_label("Email").fill("operator@example.com")
        page.get_by_label("Password").fill("pw-operator@example.com")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/catalog/")

        journey.goto(f"/catalog/{item.pk}/?tab=playbooks")
        card = page.locator(".item-playbooks li", has_text="Restart a workload")
        journey.check("20-item-playbooks")
        card.get_by_role("link", name="Run").click()
        page.wait_for_url("**/run/?config=*")
        page.get_by_label("Why").fill("pods stuck after the config change")
        journey.check("21-run-form")
        page.get_by_role("button", name="Run", exact=True).click()
        page.wait_for_url("**/playbooks/runs/*/")
        # The live log polls the same URL and appends lines until the run is finished.
        page.locator("#log-lines", has_text="restart: completed").wait_for(timeout=30_000)
        page.locator("#run-state .verdict .run-status-completed").wait_for(timeout=10_000)
        journey.check("22-run-completed")

        restarted = emu.get("apps/v1", "Deployment", item.namespace, item.name)
        annotations = restarted["spec"]["template"]["metadata"].get("annotations") or {}
        assert "kubectl.kubernetes.io/restartedAt" in annotations

    journey.goto(f"/catalog/{item.pk}/?tab=playbooks")
    runs_table = page.locator("table", has_text="Restart a workload")
    assert runs_table.locator(".run-status-completed").count() == 1
    journey.check("23-item-run-listed")
