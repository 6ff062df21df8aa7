"""Action kinds, one module each; the engine looks them up here by the key used in the spec."""

from __future__ import annotations

import importlib

from playbooks.actions.base import ActionContext, ActionError, ActionKind, Problem

__all__ = ["KIND_NAMES", "ActionContext", "ActionError", "ActionKind", "Problem", "kind"]

# spec key -> module under playbooks/actions/ exposing KIND (an ActionKind)
KIND_NAMES: dict[str, str] = {
    "exec": "exec",
    "http": "http",
    "sql": "sql",
    "kubernetes": "kubernetes",
    "gitops": "gitops",
    "notification": "notification",
    "playbook": "child",
}


def kind(name: str) -> ActionKind:
    """The kind for a spec key; modules load on first use so a worker imports what it runs."""
    module = importlib.import_module(f"playbooks.actions.{KIND_NAMES[name]}")
    return module.KIND
