"""The item page's tabs: a small registry other apps add to from their AppConfig.ready().

The catalog registers its own tabs; an app that has something to show about an item (playbooks,
checks) registers a Tab here instead of the catalog importing it, so the catalog never depends
on the apps built on top of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

ContextFn = Callable[[HttpRequest, Any], dict[str, Any]]
VisibleFn = Callable[[HttpRequest, Any], bool]


@dataclass(frozen=True)
class Tab:
    """One tab: `template` renders inside the tab panel with the item page's context plus
    whatever `context_fn(request, item)` returns (it runs only for the selected tab)."""

    key: str
    label: str
    template: str
    context_fn: ContextFn | None = None
    order: int = 100
    visible_fn: VisibleFn | None = None

    def context(self, request: HttpRequest, item: Any) -> dict[str, Any]:
        return self.context_fn(request, item) if self.context_fn else {}

    def visible(self, request: HttpRequest, item: Any) -> bool:
        return self.visible_fn(request, item) if self.visible_fn else True


_TABS: dict[str, Tab] = {}


def register(tab: Tab) -> Tab:
    """Add or replace a tab by key; ready() may run more than once in tests and reloads."""
    _TABS[tab.key] = tab
    return tab


def unregister(key: str) -> None:
    _TABS.pop(key, None)


def registered() -> list[Tab]:
    return sorted(_TABS.values(), key=lambda t: (t.order, t.key))


def tabs_for(request: HttpRequest, item: Any) -> list[Tab]:
    """The tabs this person sees on this item, in display order."""
    return [tab for tab in registered() if tab.visible(request, item)]


def pick(tabs: list[Tab], key: str | None) -> Tab | None:
    """The tab named by `?tab=`, else the first one, so an unknown key never errors."""
    for tab in tabs:
        if tab.key == key:
            return tab
    return tabs[0] if tabs else None
