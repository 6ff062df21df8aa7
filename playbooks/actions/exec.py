"""`exec`: a bash or python script in a subprocess with a scrubbed environment, streamed to the log.

The script runs in its own process group with cwd = the attempt's working directory and an
environment holding only PATH, HOME (a private folder inside the working directory), LANG, the
block's `env[]` and one PARAM_<NAME> per parameter. Output is streamed line by line, kept up to a
cap, and the pipes are drained to the end so a chatty script can neither block nor exhaust the
worker. Timeout and cancel stop the whole group: SIGTERM, then SIGKILL after KILL_GRACE seconds.
"""

from __future__ import annotations

import base64
import glob
import hashlib
import json
import os
import queue
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from connections.errors import ConnectionFailure
from connections.kinds import git
from playbooks.actions import connection as connections
from playbooks.actions.base import ActionContext, ActionError, Problem

SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
LANG = "C.UTF-8"
OUTPUT_CAP = 256 * 1024  # bytes of stdout, and of stderr, kept in the result
LOG_LINES = 10_000  # lines per action sent to the log, both streams together
LINE_BYTES = 8 * 1024  # a longer line is logged in pieces
READ_BYTES = 64 * 1024
KILL_GRACE = 10.0
POLL = 0.2
PRIVATE = ".flightdeck"  # HOME and the script file; never collected as an artifact
MAX_ARTIFACTS = 100
ARTIFACT_INLINE = 256 * 1024  # files up to this size carry their content
ARTIFACT_INLINE_TOTAL = 1024 * 1024

FIELDS = frozenset({"script", "env", "checkout", "artifacts"})
CHECKOUT_FIELDS = frozenset({"connection", "url", "ref", "path"})
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PYTHON = re.compile(r"^python(3(\.\d+)?)?$")
TRUNCATED = "output truncated: later lines are not logged"


# --- validation -------------------------------------------------------------------------------

def _templated(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def interpreter_of(script: str) -> str:
    """`bash` or `python` from the shebang; no shebang means bash. ValueError otherwise."""
    first = script.lstrip("\ufeff").split("\n", 1)[0].strip()
    if not first.startswith("#!"):
        return "bash"
    words = first[2:].split()
    if not words:
        raise ValueError("the shebang names no interpreter")
    program = PurePosixPath(words[0]).name
    if program == "env":
        rest = [w for w in words[1:] if not w.startswith("-")]
        program = PurePosixPath(rest[0]).name if rest else ""
    if program in ("bash", "sh"):
        return "bash"
    if PYTHON.match(program):
        return "python"
    raise ValueError(f"the shebang must name bash or python, not '{program[:40]}'")


def path_problem(value: Any) -> str | None:
    """Relative, no `..`: checked before rendering and again, resolved, at run time."""
    if not isinstance(value, str) or not value.strip():
        return "must be a relative path inside the working directory"
    text = value.replace("\\", "/")
    if text.startswith("/") or re.match(r"^[A-Za-z]:", text) or "\0" in text:
        return "must be a relative path inside the working directory"
    if ".." in text.split("/"):
        return "may not contain '..'"
    return None


def validate(spec: Mapping[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    for key in sorted(set(spec) - FIELDS):
        problems.append((key, "Unknown field."))
    script = spec.get("script")
    if not isinstance(script, str) or not script.strip():
        problems.append(("script", "This field is required."))
    elif not _templated(script.split("\n", 1)[0]):
        try:
            interpreter_of(script)
        except ValueError as exc:
            problems.append(("script", str(exc)))
    problems += _validate_env(spec.get("env"))
    if "checkout" in spec:
        problems += _validate_checkout(spec["checkout"])
    artifacts = spec.get("artifacts")
    if artifacts is not None and not isinstance(artifacts, list):
        problems.append(("artifacts", "must be a list of {path}"))
    for index, item in enumerate(artifacts if isinstance(artifacts, list) else []):
        where = f"artifacts[{index}]"
        if not isinstance(item, Mapping):
            problems.append((where, "must be a mapping with a path"))
        elif (problem := path_problem(item.get("path"))) is not None:
            problems.append((f"{where}.path", problem))
    return problems


def _validate_env(env: Any) -> list[Problem]:
    if env is None:
        return []
    if not isinstance(env, list):
        return [("env", "must be a list of {name, value}")]
    problems: list[Problem] = []
    seen: set[str] = set()
    for index, item in enumerate(env):
        where = f"env[{index}]"
        if not isinstance(item, Mapping):
            problems.append((where, "must be a mapping with name and value"))
            continue
        name = item.get("name")
        if not isinstance(name, str) or not ENV_NAME.match(name):
            problems.append((f"{where}.name", "must be a variable name ([A-Za-z_][A-Za-z0-9_]*)"))
        elif name in seen:
            problems.append((f"{where}.name", f"'{name}' is set twice"))
        else:
            seen.add(name)
        value = item.get("value", "")
        if isinstance(value, Mapping | list):
            problems.append((f"{where}.value", "must be a string"))
    return problems


def _validate_checkout(block: Any) -> list[Problem]:
    if not isinstance(block, Mapping):
        return [("checkout", "must be a mapping with connection or url")]
    problems: list[Problem] = [(f"checkout.{key}", "Unknown field.")
                               for key in sorted(set(block) - CHECKOUT_FIELDS)]
    if not block.get("connection") and not block.get("url"):
        problems.append(("checkout.url", "Give a git connection or a url."))
    elif block.get("connection") and block.get("url"):
        problems.append(("checkout.url", "Give a git connection or a url, not both."))
    ref = block.get("ref")
    if ref is not None and (not isinstance(ref, str) or ref.startswith("-")):
        problems.append(("checkout.ref", "must be a branch, tag or commit (not an option)"))
    if block.get("path") is not None and (problem := path_problem(block["path"])) is not None:
        problems.append(("checkout.path", problem))
    return problems


# --- running a process ------------------------------------------------------------------------

@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str
    truncated: bool
    stopped: str  # "", "timeout" or "cancelled"


class _Capture:
    """Both readers feed one queue, so ctx.log is only ever called from the action's thread."""

    def __init__(self, streams: tuple[str, str]) -> None:
        self.streams = streams
        self.lock = threading.Lock()
        self.lines = 0
        self.log_full = False
        self.truncated = False
        self.queue: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
        self.kept = {"stdout": bytearray(), "stderr": bytearray()}

    def emit(self, line: bytes, stream: str) -> None:
        with self.lock:
            if self.log_full:
                return
            if self.lines >= LOG_LINES:
                self.log_full = True
                self.queue.put((TRUNCATED, "system"))
                return
            self.lines += 1
            self.queue.put((line.decode("utf-8", "replace"), stream))

    def emit_lines(self, data: bytes, stream: str) -> None:
        for line in data.split(b"\n"):
            line = line.removesuffix(b"\r")
            while len(line) > LINE_BYTES:
                self.emit(line[:LINE_BYTES], stream)
                line = line[LINE_BYTES:]
            self.emit(line, stream)

    def read(self, pipe: Any, name: str) -> None:
        """Drain one pipe to EOF: keep the first OUTPUT_CAP bytes, log up to LOG_LINES lines."""
        stream = self.streams[0 if name == "stdout" else 1]
        kept, partial = self.kept[name], b""
        fd = pipe.fileno()
        try:
            while chunk := os.read(fd, READ_BYTES):
                room = OUTPUT_CAP - len(kept)
                if room > 0:
                    kept += chunk[:room]
                if len(chunk) > room:
                    self.truncated = True
                if self.log_full:
                    partial = b""
                    continue
                partial += chunk
                complete, newline, partial = partial.rpartition(b"\n")
                if newline:
                    self.emit_lines(complete, stream)
                while len(partial) > LINE_BYTES:
                    self.emit(partial[:LINE_BYTES], stream)
                    partial = partial[LINE_BYTES:]
            if partial:
                self.emit_lines(partial, stream)
        except OSError:
            pass
        finally:
            pipe.close()

    def flush(self, log: Any, wait: float) -> None:
        """Send queued lines to the log, waiting up to `wait` seconds for the first one."""
        try:
            line, stream = self.queue.get(timeout=wait) if wait > 0 else self.queue.get_nowait()
        except queue.Empty:
            return
        log(line, stream)
        for _ in range(5000):  # bounded, so timeout and cancel are still polled
            try:
                line, stream = self.queue.get_nowait()
            except queue.Empty:
                return
            log(line, stream)


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def supervise(argv: list[str], *, env: Mapping[str, str], cwd: Path, ctx: ActionContext,
              deadline: float, streams: tuple[str, str] = ("stdout", "stderr")) -> Outcome:
    """Run argv in a new process group, stream its output, stop it on timeout or cancel."""
    capture = _Capture(streams)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=cwd, env=dict(env),
                            start_new_session=True)
    readers = [threading.Thread(target=capture.read, args=(proc.stdout, "stdout"), daemon=True),
               threading.Thread(target=capture.read, args=(proc.stderr, "stderr"), daemon=True)]
    for reader in readers:
        reader.start()
    stopped = ""
    try:
        while proc.poll() is None:
            capture.flush(ctx.log, POLL)
            if ctx.cancelled():
                stopped = "cancelled"
            elif time.monotonic() >= deadline:
                stopped = "timeout"
            if stopped:
                _stop(proc, capture, ctx)
                break
    finally:
        if proc.poll() is None:  # an exception in log() or cancelled(): leave nothing behind
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
        # Background children still holding the pipes would keep the readers (and us) waiting.
        _signal_group(proc.pid, signal.SIGKILL)
    give_up = time.monotonic() + 5
    for reader in readers:
        while reader.is_alive() and time.monotonic() < give_up:
            capture.flush(ctx.log, 0.05)
            reader.join(0.01)
    if any(reader.is_alive() for reader in readers):
        ctx.log("a process outside the script's group still holds its output open; "
                "stopped reading", "system")
    while not capture.queue.empty():
        capture.flush(ctx.log, 0)
    code = proc.returncode
    return Outcome(128 - code if code < 0 else code,
                   bytes(capture.kept["stdout"]).decode("utf-8", "replace"),
                   bytes(capture.kept["stderr"]).decode("utf-8", "replace"),
                   capture.truncated or capture.log_full, stopped)


def _stop(proc: subprocess.Popen, capture: _Capture, ctx: ActionContext) -> None:
    """SIGTERM the group, SIGKILL it after KILL_GRACE; keep draining output meanwhile."""
    _signal_group(proc.pid, signal.SIGTERM)
    until = time.monotonic() + KILL_GRACE
    while proc.poll() is None and time.monotonic() < until:
        capture.flush(ctx.log, 0.05)
    if proc.poll() is None:
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()


# --- the action ------------------------------------------------------------------------------

def env_value(value: Any) -> str | None:
    """A parameter as the shell sees it; None for values that are not plain data (secrets)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, list | dict):
        try:
            return json.dumps(value, default=str)
        except (TypeError, ValueError):
            return None
    return None  # opaque handles (secret parameters) are exported only through env[]


def param_name(name: str) -> str:
    return "PARAM_" + re.sub(r"[^A-Z0-9]", "_", str(name).upper())


def environment(ctx: ActionContext, home: Path) -> dict[str, str]:
    """Only what the script is meant to see: nothing leaks in from the worker's environment."""
    env = {"PATH": SAFE_PATH, "HOME": str(home), "LANG": LANG}
    for name, value in (ctx.params or {}).items():
        text = env_value(value)
        if text is not None:
            env[param_name(name)] = text
    for item in ctx.spec.get("env") or []:
        env[str(item["name"])] = "" if item.get("value") is None else str(item.get("value"))
    for name, value in env.items():
        if "\0" in value or "\0" in name or "=" in name:
            raise ActionError(f"env: {name[:60]} contains a NUL byte or '='")
    return env


def _env_names(ctx: ActionContext) -> list[str]:
    names = [param_name(n) for n, v in (ctx.params or {}).items() if env_value(v) is not None]
    return names + [str(item.get("name")) for item in ctx.spec.get("env") or []]


def inside(root: Path, relative: str, field: str) -> Path:
    """`root/relative` resolved; refused when it leaves root, through `..` or a symlink."""
    problem = path_problem(relative)
    if problem is not None:
        raise ActionError(f"{field}: {problem}")
    target = (root / relative).resolve()
    if not target.is_relative_to(root):
        raise ActionError(f"{field}: leaves the working directory")
    return target


def _program(interpreter: str) -> list[str]:
    if interpreter == "python":
        python = shutil.which("python3", path=SAFE_PATH) or sys.executable
        return [python, "-u"]  # unbuffered, so lines reach the log as they are printed
    return [shutil.which("bash", path=SAFE_PATH) or "/bin/bash"]


def run(ctx: ActionContext) -> dict[str, Any]:
    spec = ctx.spec
    script = str(spec.get("script") or "")
    if not script.strip():
        raise ActionError("script: This field is required.")
    try:
        interpreter = interpreter_of(script)
    except ValueError as exc:
        raise ActionError(f"script: {exc}") from None
    if ctx.dry_run:
        plan: dict[str, Any] = {"interpreter": interpreter, "script": script,
                                "env": _env_names(ctx)}
        if spec.get("checkout"):
            plan["checkout"] = {k: v for k, v in spec["checkout"].items() if k in CHECKOUT_FIELDS}
        if spec.get("artifacts"):
            plan["artifacts"] = [str(a.get("path")) for a in spec["artifacts"]]
        return {"plan": plan}
    if ctx.cancelled():
        raise ActionError("Cancelled before the script started.", {"cancelled": True})
    deadline = time.monotonic() + max(0.0, float(ctx.timeout))
    workdir = Path(ctx.workdir).resolve()
    if spec.get("checkout"):
        checkout(ctx, workdir, deadline)
    private = workdir / PRIVATE
    home = private / "home"
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    script_file = private / ("script.py" if interpreter == "python" else "script.sh")
    script_file.write_text(script, encoding="utf-8")
    outcome = supervise([*_program(interpreter), str(script_file)], env=environment(ctx, home),
                        cwd=workdir, ctx=ctx, deadline=deadline)
    result: dict[str, Any] = {"exitCode": outcome.exit_code, "stdout": outcome.stdout,
                              "stderr": outcome.stderr, "truncated": outcome.truncated}
    if outcome.stopped == "timeout":
        raise ActionError(f"Timed out after {ctx.timeout:g} s; the script was stopped.",
                          {**result, "timedOut": True})
    if outcome.stopped == "cancelled":
        raise ActionError("Cancelled; the script was stopped.", {**result, "cancelled": True})
    result["artifacts"] = collect(workdir, spec.get("artifacts") or [], ctx)
    if outcome.exit_code != 0:
        raise ActionError(f"The script exited with code {outcome.exit_code}.", result)
    return result


# --- checkout --------------------------------------------------------------------------------

def checkout(ctx: ActionContext, workdir: Path, deadline: float) -> Path:
    """git clone into workdir/<path> through the git connection's pinned, checked address."""
    block = ctx.spec["checkout"]
    target = inside(workdir, str(block.get("path") or "."), "checkout.path")
    ref = str(block.get("ref") or "")
    if ref.startswith("-"):
        raise ActionError("checkout.ref: must be a branch, tag or commit (not an option)")
    remaining = max(0.1, deadline - time.monotonic())
    if block.get("connection"):
        resolved = connections.resolve(ctx, str(block["connection"]), ("git",), "checkout",
                                       remaining)
        conf, policy = resolved.settings, resolved.policy
    elif block.get("url"):
        conf = git.GitSettings(str(block["url"]))
        policy = connections.policy(internal=False, timeout=remaining)
    else:
        raise ActionError("checkout: give a git connection or a url")
    ref = ref or conf.ref
    # Keys, known_hosts and git's HOME live outside the workdir, out of the script's reach.
    with tempfile.TemporaryDirectory(prefix="fd-checkout-") as secrets:
        os.chmod(secrets, 0o700)
        try:
            argv, env = git.command(conf, policy, Path(secrets))
        except ConnectionFailure as exc:
            raise ActionError(f"checkout: {exc}") from None
        url = argv[-1]  # command() rewrites ssh URLs to the pinned address
        env = {**env, "LANG": LANG}
        clone = ["git", "clone", "--quiet", *(["--no-checkout"] if ref else []), "--", url,
                 str(target)]
        _git(clone, env, workdir, ctx, deadline, "git clone")
        if ref:
            _git(["git", "-C", str(target), "checkout", "--quiet", ref, "--"], env, workdir, ctx,
                 deadline, f"git checkout {ref}")
    ctx.log(f"checked out {ref or 'the default branch'} into {target.relative_to(workdir)}",
            "system")
    return target


def _git(argv: list[str], env: Mapping[str, str], cwd: Path, ctx: ActionContext,
         deadline: float, what: str) -> None:
    outcome = supervise(argv, env=env, cwd=cwd, ctx=ctx, deadline=deadline,
                        streams=("system", "system"))
    if outcome.stopped == "timeout":
        raise ActionError(f"checkout: {what} timed out", {"timedOut": True})
    if outcome.stopped == "cancelled":
        raise ActionError(f"checkout: {what} cancelled", {"cancelled": True})
    if outcome.exit_code != 0:
        last = (outcome.stderr.strip().splitlines() or ["failed"])[-1][:300]
        raise ActionError(f"checkout: {what} exited with code {outcome.exit_code}: {last}",
                          {"exitCode": outcome.exit_code, "stderr": outcome.stderr})


# --- artifacts -------------------------------------------------------------------------------

def collect(workdir: Path, patterns: list[Any], ctx: ActionContext) -> list[dict[str, Any]]:
    """Files matching the patterns, hashed; small ones inline. Links and escapes are refused."""
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    inline_left = ARTIFACT_INLINE_TOTAL
    for item in patterns:
        pattern = str(item.get("path") if isinstance(item, Mapping) else item)
        problem = path_problem(pattern)
        if problem is not None:
            found.append({"path": pattern, "error": problem})
            continue
        for match in sorted(glob.glob(pattern, root_dir=workdir, recursive=True)):
            relative = PurePosixPath(Path(match).as_posix())
            if relative.parts[:1] == (PRIVATE,) or str(relative) in seen:
                continue
            seen.add(str(relative))
            if len(found) >= MAX_ARTIFACTS:
                ctx.log(f"more than {MAX_ARTIFACTS} artifacts; the rest are not collected",
                        "system")
                return found
            entry = _artifact(workdir, relative, inline_left)
            if entry is None:
                continue
            if "error" in entry:
                ctx.log(f"artifact {relative}: {entry['error']}", "system")
            inline_left -= len(entry.get("content_b64", "")) * 3 // 4
            found.append(entry)
    return found


def _artifact(workdir: Path, relative: PurePosixPath, inline_left: int) -> dict[str, Any] | None:
    path = workdir
    for part in relative.parts:
        path = path / part
        if path.is_symlink():
            return {"path": str(relative), "error": "is or passes through a symbolic link; "
                                                    "refused"}
    if path.is_dir():
        return None
    if not path.resolve().is_relative_to(workdir):
        return {"path": str(relative), "error": "leaves the working directory; refused"}
    try:
        # O_NOFOLLOW: a link swapped in after the check above is refused by the kernel.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        return {"path": str(relative), "error": f"cannot be read ({exc.strerror})"}
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            return {"path": str(relative), "error": "is not a regular file; refused"}
        if info.st_nlink > 1:
            return {"path": str(relative), "error": "is a hard link; refused"}
        digest, head, size = hashlib.sha256(), bytearray(), 0
        while block := handle.read(READ_BYTES):
            digest.update(block)
            size += len(block)
            if size <= min(ARTIFACT_INLINE, inline_left):
                head += block
    entry: dict[str, Any] = {"path": str(relative), "size": size, "sha256": digest.hexdigest()}
    if size <= min(ARTIFACT_INLINE, inline_left):
        entry["content_b64"] = base64.b64encode(bytes(head)).decode()
    return entry


class Exec:
    name = "exec"

    def validate(self, spec: Mapping[str, Any]) -> list[Problem]:
        return validate(spec)

    def run(self, ctx: ActionContext) -> dict[str, Any]:
        return run(ctx)


KIND = Exec()
