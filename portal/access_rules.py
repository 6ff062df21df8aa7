"""Every URL declares who may use it. tests/portal/test_authz_matrix.py walks the resolver and
fails for any route whose name matches no rule here, so a new URL cannot escape review.

Rules:
- public: no login (probes, the login page);
- login: any authenticated person; the page shows only rows for_user() allows;
- object: login, and the object in the URL must be visible to the person (404 otherwise);
- own: login, and the object must belong to the person (their API tokens);
- admin: Django admin, staff only.
"""

from fnmatch import fnmatchcase

PUBLIC = "public"
LOGIN = "login"
OBJECT = "object"
OWN = "own"
ADMIN = "admin"

RULES: dict[str, str] = {
    "healthz": PUBLIC,
    "readyz": PUBLIC,
    "login": PUBLIC,
    "logout": LOGIN,
    "home": LOGIN,
    "admin:*": ADMIN,
    # Catalog pages.
    "catalog:item_list": LOGIN,
    "catalog:health": LOGIN,
    "catalog:change_list": LOGIN,
    "catalog:graph": LOGIN,
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
    "connections:create": LOGIN,
    "connections:detail": OBJECT,
    "connections:edit": OBJECT,
    "connections:test": OBJECT,
    "connections:delete": OBJECT,
    "connection-test": OBJECT,
    "connection-test-unsaved": LOGIN,
    # API (DRF names its routes <basename>-list / -detail / -<action>).
    "api-root": LOGIN,
    "api-schema": LOGIN,
    "api-docs": LOGIN,
    "*-list": LOGIN,
    "*-detail": OBJECT,
    "scrapeconfig-run": OBJECT,
    "apitoken-detail": OWN,
}


def rule_for(name: str) -> str | None:
    """The most specific rule: an exact name wins over a pattern."""
    if name in RULES:
        return RULES[name]
    for pattern, rule in RULES.items():
        if any(ch in pattern for ch in "*?[") and fnmatchcase(name, pattern):
            return rule
    return None
