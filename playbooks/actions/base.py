"""The contract between the playbook engine and one kind of action.

The engine (playbooks/execution.py) owns control flow: `if`, delay, retry, timeout, cancel, the
action rows and the log. An action kind only does its one job with values already rendered:

    class Http:
        name = "http"
        def validate(self, spec): ...   # static checks when a playbook is saved
        def run(self, ctx): ...         # do it (or, with ctx.dry_run, say what it would do)

`run` returns the action's result (JSON-serialisable, capped by the kind) or raises ActionError,
whose `result` is stored too (an exit code, a response status). Any other exception is a bug of
the kind: the engine records it as a failure of the action and the worker stays up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

# (field path relative to the kind's block, e.g. "headers[0].name", and the message)
Problem = tuple[str, str]


class ActionError(Exception):
    """The action failed in a way a user should read; `result` is kept on the action row."""

    def __init__(self, message: str, result: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.result = dict(result or {})


@dataclass
class ActionContext:
    run_id: Any
    action_name: str
    # The playbook's namespace: connection references (`connection://ns/name` or `name`) resolve
    # relative to it, with the run's actor for the use audit.
    namespace: str
    # This action's kind block (`spec.actions[i].<kind>`), every string already rendered.
    spec: Mapping[str, Any]
    params: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    # The target item as templates see it (id, type, name, namespace, labels, tags, config...).
    config: Mapping[str, Any] | None = None
    # Seconds this attempt may take; the kind must stop by then (kill, socket timeout).
    timeout: float = 300.0
    dry_run: bool = False
    # A fresh private folder for this attempt, removed by the engine afterwards.
    workdir: Path = field(default_factory=Path)
    # log(line, stream) with stream in stdout | stderr | system; masked and fenced by the engine.
    log: Callable[[str, str], None] = lambda line, stream="system": None
    # Poll while waiting on something slow; when it returns True, stop as soon as possible.
    cancelled: Callable[[], bool] = lambda: False
    actor: Any = None


class ActionKind(Protocol):
    name: str

    def validate(self, spec: Mapping[str, Any]) -> list[Problem]: ...

    def run(self, ctx: ActionContext) -> dict[str, Any]: ...
