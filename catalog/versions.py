"""Earlier versions of a config, rebuilt by undoing the stored unified diffs newest first."""

import difflib
import re
import uuid
from dataclasses import dataclass
from typing import Any

from catalog.diff import to_yaml
from catalog.models import ConfigChange, ConfigItem

MAX_STEPS = 200
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
TRUNCATED_MARK = "... diff truncated at"


@dataclass
class Comparison:
    change: ConfigChange
    diff: str  # unified diff from the version before `change` to the current config
    steps: int  # stored diffs undone to get there


class VersionUnavailable(Exception):
    """The stored diffs do not reach that far back (truncated, folded or missing)."""


def diff_lines(text: str | None) -> list[tuple[str, str]]:
    """Lines of a unified diff tagged for colouring: add, del, hunk, head or ctx."""
    tagged = []
    for line in (text or "").splitlines():
        if line.startswith(("+++", "---")):
            tagged.append(("head", line))
        elif line.startswith("@@"):
            tagged.append(("hunk", line))
        elif line.startswith("+"):
            tagged.append(("add", line))
        elif line.startswith("-"):
            tagged.append(("del", line))
        else:
            tagged.append(("ctx", line))
    return tagged


def unapply(current: list[str], diff: str) -> list[str]:
    """Reverse one unified diff: the text it was computed from, or VersionUnavailable."""
    if TRUNCATED_MARK in diff:
        raise VersionUnavailable("a diff on the way was truncated at the size limit")
    out: list[str] = []
    pos = 0
    lines = diff.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        match = _HUNK.match(lines[i])
        i += 1
        if not match:
            continue
        new_start, new_len = int(match.group(3)), int(match.group(4) or 1)
        start = new_start - 1 if new_len else new_start
        if start < pos or start > len(current):
            raise VersionUnavailable("the stored diffs do not line up with the current config")
        out += current[pos:start]
        idx = start
        while i < len(lines) and not lines[i].startswith("@@"):
            line = lines[i]
            i += 1
            tag, body = line[:1], line[1:]
            if tag in (" ", "+"):
                if idx >= len(current) or current[idx].rstrip("\n") != body.rstrip("\n"):
                    raise VersionUnavailable(
                        "the stored diffs do not line up with the current config")
                if tag == " ":
                    out.append(current[idx])
                idx += 1
            elif tag == "-":
                out.append(body if body.endswith("\n") else body + "\n")
        pos = idx
    return out + current[pos:]


def diff_choices(item: ConfigItem, limit: int = 50) -> list[ConfigChange]:
    return list(
        ConfigChange.objects.filter(config=item, change_type="diff")
        .only("id", "created_at", "summary", "count").order_by("-created_at", "-id")[:limit]
    )


def compare_with_before(item: ConfigItem, change_id: Any) -> Comparison:
    """Undo every diff from the newest back to `change_id`, then diff that against now.

    A malformed id, an unknown one and another item's change (hidden or not) all get the
    same answer, so the form cannot be used to probe for changes elsewhere.
    """
    try:
        change_id = uuid.UUID(str(change_id))
    except ValueError:
        change_id = None
    target = ConfigChange.objects.filter(config=item, change_type="diff", pk=change_id).first()
    if target is None:
        raise VersionUnavailable("that change is not a config diff of this item")
    newer = list(
        ConfigChange.objects.filter(config=item, change_type="diff",
                                    created_at__gte=target.created_at)
        .only("id", "diff", "created_at").order_by("-created_at", "-id")[: MAX_STEPS + 1]
    )
    if len(newer) > MAX_STEPS:
        raise VersionUnavailable(f"more than {MAX_STEPS} changes back")
    current = to_yaml(item.config).splitlines(keepends=True)
    text = current
    steps = 0
    for change in newer:
        if not change.diff:
            raise VersionUnavailable("a change on the way has no stored diff")
        text = unapply(text, change.diff)
        steps += 1
        if change.pk == target.pk:
            break
    diff = "".join(difflib.unified_diff(text, current, fromfile="before this change",
                                        tofile="current", n=3))
    return Comparison(change=target, diff=diff, steps=steps)
