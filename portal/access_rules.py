"""Every URL declares who may use it, per HTTP method when the methods differ.
tests/portal/test_authz_matrix.py walks the resolver, sends each route its declared methods as
every persona and compares the answer with the rule here; a route or method without a rule fails
that test, so a new URL cannot escape review.

Rules:
- public: no login (probes, the login page);
- login: any authenticated person; the page shows only rows for_user() allows;
- editor: login with the editor or admin role (creating scrapers and connections);
- object: login, and the object the URL names (in its path or its `?root=`) must be granted to the
  person, directly or through its ScrapeConfig; 404 or 403 otherwise;
- own: login, and the object must belong to the person (their API tokens), admins included;
- admin: Django admin, staff only.
"""

from fnmatch import fnmatchcase

PUBLIC = "public"
LOGIN = "login"
EDITOR = "editor"
OBJECT = "object"
OWN = "own"
ADMIN = "admin"

Rule = str | dict[str, str]

RULES: dict[str, Rule] = {
    "healthz": PUBLIC,
    "readyz": PUBLIC,
    "login": PUBLIC,
    "logout": LOGIN,
    "home": LOGIN,
    "admin:*": ADMIN,
    "admin:login": PUBLIC,  # the admin's own login form, which sends staff on to the index
    "admin:logout": LOGIN,  # anyone may end their own session
    # Catalog pages.
    "catalog:item_list": LOGIN,
    "catalog:health": LOGIN,
    "catalog:change_list": LOGIN,
    "catalog:graph": OBJECT,  # the root item comes from ?root=
    "catalog:scraper_list": LOGIN,
    "catalog:item_detail": OBJECT,
    "catalog:change_detail": OBJECT,
    "catalog:scraper_detail": OBJECT,
    "catalog:scraper_run_now": OBJECT,
    "catalog:run_detail": OBJECT,
    # Personal settings.
    "accounts:token_list": LOGIN,
    "accounts:token_create": LOGIN,
    "accounts:token_revoke": OWN,
    # Connections.
    "connections:list": LOGIN,
    "connections:choose": LOGIN,
    "connections:create": EDITOR,
    "connections:detail": OBJECT,
    "connections:edit": OBJECT,
    "connections:test": OBJECT,
    "connections:delete": OBJECT,
    # Playbooks: the list pages show only what for_user() allows; the rest name one object
    # (running needs the `run` grant, cancelling that or having started the run).
    "playbooks:list": LOGIN,
    "playbooks:run_list": LOGIN,
    "playbooks:detail": OBJECT,
    "playbooks:run": OBJECT,
    "playbooks:run_detail": OBJECT,
    "playbooks:run_cancel": OBJECT,
    # The inbox lists only runs waiting for the viewer; deciding names one run, which must be
    # visible to the person or list them as an approver (404 otherwise, 403 if not an approver).
    "playbooks:approvals": LOGIN,
    "playbooks:run_decide": OBJECT,
    "connection-test": OBJECT,
    "connection-test-unsaved": EDITOR,
    # API (DRF names its routes <basename>-list / -detail / -<action>).
    "api-root": LOGIN,
    "api-schema": LOGIN,
    "api-docs": LOGIN,
    "*-list": LOGIN,
    "scrapeconfig-list": {"GET": LOGIN, "POST": EDITOR},
    "connection-list": {"GET": LOGIN, "POST": EDITOR},
    "apitoken-list": LOGIN,
    "*-detail": OBJECT,
    "scrapeconfig-run": OBJECT,
    "playbook-list": {"GET": LOGIN, "POST": EDITOR},
    "playbook-run": OBJECT,  # the playbook must be granted for `run`
    "playbookrun-cancel": OBJECT,
    # No session or token: the request proves itself with the playbook's webhook signature or
    # credentials (playbooks/webhooks.py), checked before anything is written.
    "playbook-webhook": PUBLIC,
    "playbookrun-approve": OBJECT,
    "playbookrun-reject": OBJECT,
    "apitoken-detail": OWN,
}


def rule_for(name: str, method: str = "GET") -> str | None:
    """The most specific rule for one method: an exact name wins over a pattern, and a route
    whose rule is split by method has no rule for a method it does not name."""
    rule = RULES.get(name)
    if rule is None:
        for pattern, candidate in RULES.items():
            if any(ch in pattern for ch in "*?[") and fnmatchcase(name, pattern):
                rule = candidate
                break
    if isinstance(rule, dict):
        return rule.get(method.upper())
    return rule
