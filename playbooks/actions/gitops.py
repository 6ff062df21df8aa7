"""The `gitops` action: clone, change files (YAML patches keep comments), commit, push, open a PR.

git runs as a subprocess with a scrubbed environment: no system or global config, no hooks, no
prompts, only the remote's protocol allowed, and credentials in environment variables (an
`http.extraHeader` or an SSH key file in a private folder), never in argv or the log. Every path
a spec names is checked at the moment it is written: relative, no `..` (also percent-encoded),
nothing under `.git`, and no symlink anywhere on the way, so a link committed to the repository
or left by an earlier step cannot lead outside the checkout.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import stat
import subprocess
import time
from collections.abc import Mapping, MutableMapping, MutableSequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from playbooks.actions.base import ActionContext, ActionError, Problem

MAX_FILE = 2 * 1024 * 1024  # bytes of one file the action reads to patch
MAX_DIFF = 256 * 1024  # characters of unified diff kept in a dry run's result
DEFAULT_AUTHOR = ("Flightdeck", "flightdeck@localhost")
PR_TYPES = ("github", "gitlab")
_TEMPLATE = re.compile(r"\{\{.*\}\}", re.S)
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")


# -- paths ------------------------------------------------------------------------------------


def path_problem(raw: Any) -> str:
    """Why a spec path may not be used, or "" when it is a plain relative path."""
    if not isinstance(raw, str) or not raw.strip():
        return "must be a non-empty relative path"
    if "\x00" in raw or "\\" in raw:
        return "may not contain NUL or backslashes"
    decoded = raw
    for _ in range(3):  # %252e%252e is still `..` to a tool that decodes twice
        decoded = unquote(decoded)
    for candidate in {raw, decoded}:
        if candidate.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", candidate):
            return "must be relative to the repository"
        parts = candidate.split("/")
        if any(part == ".." for part in parts):
            return "may not contain '..'"
        if any(part.lower() == ".git" for part in parts):
            return "may not point into .git"
    if decoded != raw and _PERCENT.search(raw):
        return "may not be percent-encoded"
    return ""


def confine(root: Path, raw: str, *, create_dirs: bool = False) -> Path:
    """The path under `root`, refusing symlinks on the way; checked now, not once up front."""
    problem = path_problem(raw)
    if problem:
        raise ActionError(f"path {raw[:200]!r}: {problem}")
    parts = [part for part in raw.split("/") if part not in ("", ".")]
    if not parts:
        raise ActionError(f"path {raw[:200]!r}: names the repository itself")
    current = root
    for index, part in enumerate(parts):
        current = current / part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            if index < len(parts) - 1:
                if not create_dirs:
                    return root.joinpath(*parts)
                os.mkdir(current, 0o755)
                continue
            break
        if stat.S_ISLNK(info.st_mode):
            raise ActionError(f"path {raw[:200]!r}: {'/'.join(parts[:index + 1])} is a symlink, "
                              "which this action does not follow")
        if index < len(parts) - 1 and not stat.S_ISDIR(info.st_mode):
            raise ActionError(f"path {raw[:200]!r}: {'/'.join(parts[:index + 1])} is not a "
                              "directory")
    resolved = os.path.realpath(current)
    if os.path.commonpath([resolved, os.path.realpath(root)]) != os.path.realpath(root):
        raise ActionError(f"path {raw[:200]!r}: leaves the repository")
    return current


def _read(path: Path, raw: str) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise ActionError(f"patches: {raw} does not exist in the repository") from None
    except OSError as exc:
        raise ActionError(f"patches: cannot read {raw} ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise ActionError(f"patches: {raw} is not a regular file")
        data = handle.read(MAX_FILE + 1)
    if len(data) > MAX_FILE:
        raise ActionError(f"patches: {raw} is larger than {MAX_FILE} bytes")
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise ActionError(f"patches: {raw} is not UTF-8 text") from None


def _write(path: Path, text: str) -> None:
    # O_NOFOLLOW: a symlink swapped in after the check is refused by the kernel, not followed.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)


# -- structured patches -----------------------------------------------------------------------


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long scalars the author wrote on one line
    return yaml


def guess_indent(text: str) -> tuple[int, int, int]:
    """(mapping, sequence, dash offset) as the file is written, so a patch re-indents nothing."""
    from ruamel.yaml.util import load_yaml_guess_indent

    mapping = 2
    lines = [line for line in text.splitlines()
             if line.strip() and not line.lstrip().startswith(("#", "- "))]
    for previous, line in itertools.pairwise(lines):
        step = (len(line) - len(line.lstrip())) - (len(previous) - len(previous.lstrip()))
        if previous.rstrip().endswith(":") and step > 0:
            mapping = step
            break
    try:
        _, sequence, offset = load_yaml_guess_indent(text)
    except Exception:  # only a guess: the real load right after reports what is wrong
        sequence, offset = None, None
    return mapping, sequence or mapping, offset or 0


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 in place, so the round-trip containers keep their comments and key order."""
    if not isinstance(patch, Mapping):
        return patch
    if not isinstance(target, MutableMapping):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(target.get(key), MutableMapping):
            merge_patch(target[key], value)
        else:
            target[key] = merge_patch(None, value) if isinstance(value, Mapping) else value
    return target


def set_paths(document: Any, values: Mapping[str, Any], raw: str) -> Any:
    """`{"spec.template.spec.containers.0.image": "x"}`: numbers index lists, maps are created."""
    for dotted, value in values.items():
        parts = str(dotted).split(".")
        if not all(parts):
            raise ActionError(f"patches: {raw}: set path {dotted!r} has an empty segment")
        node = document
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if isinstance(node, MutableSequence):
                if not part.isdigit() or int(part) >= len(node):
                    raise ActionError(f"patches: {raw}: set path {dotted!r}: no item {part}")
                if last:
                    node[int(part)] = value
                else:
                    node = node[int(part)]
            elif isinstance(node, MutableMapping):
                if last:
                    node[part] = value
                else:
                    if part not in node or node[part] is None:
                        node[part] = {}
                    node = node[part]
            else:
                raise ActionError(f"patches: {raw}: set path {dotted!r}: "
                                  f"{'.'.join(parts[:index]) or 'the document'} is a scalar")
    return document


def patch_text(text: str, patch: Mapping[str, Any], raw: str) -> str:
    """Apply one patch entry to a file's text; YAML round-trips, JSON is re-indented by 2."""
    import jsonpatch
    import jsonpointer

    from catalog.scrapers.documents import DocumentError, check_size

    is_json = raw.lower().endswith(".json")
    if is_json:
        try:
            document = json.loads(text) if text.strip() else {}
        except ValueError as exc:
            raise ActionError(f"patches: {raw} is not valid JSON ({exc})") from None
    else:
        from ruamel.yaml.error import YAMLError

        yaml = _yaml()
        mapping, sequence, offset = guess_indent(text)
        yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
        try:
            documents = list(yaml.load_all(text))
        except YAMLError as exc:
            reason = " ".join(str(exc).split())[:300]
            raise ActionError(f"patches: {raw} is not valid YAML ({reason})") from None
        if len(documents) > 1:
            raise ActionError(f"patches: {raw} holds {len(documents)} YAML documents; patch "
                              "files with one")
        document = documents[0] if documents else None
        if document is None:
            document = {}
    try:
        check_size(document)
    except DocumentError as exc:
        raise ActionError(f"patches: {raw}: {exc}") from None
    if "mergePatch" in patch:
        document = merge_patch(document, patch["mergePatch"])
    elif "jsonPatch" in patch:
        try:
            document = jsonpatch.apply_patch(document, list(patch["jsonPatch"]), in_place=True)
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
            raise ActionError(f"patches: {raw}: the JSON patch cannot be applied ({exc})") \
                from None
    else:
        document = set_paths(document, patch["set"], raw)
    if is_json:
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    out = io.StringIO()
    yaml.dump(document, out)
    return out.getvalue()


# -- validation -------------------------------------------------------------------------------


def _templated(value: Any) -> bool:
    return isinstance(value, str) and bool(_TEMPLATE.search(value))


def _check_path(problems: list[Problem], where: str, value: Any) -> None:
    if _templated(value):
        return  # checked again, rendered, when the action runs
    problem = path_problem(value)
    if problem:
        problems.append((where, problem))


def validate(spec: Mapping[str, Any]) -> list[Problem]:
    """Shapes and static paths; rendered values are checked again when the action runs."""
    if not isinstance(spec, Mapping):
        return [("", "must be an object")]
    problems: list[Problem] = []
    repo = spec.get("repo")
    if not isinstance(repo, Mapping):
        problems.append(("repo", "required: {connection, url, base, branch}"))
        repo = {}
    if not repo.get("connection") and not repo.get("url"):
        problems.append(("repo", "give a connection or a url"))
    for key in ("connection", "url", "base", "branch"):
        if key in repo and not isinstance(repo[key], str):
            problems.append((f"repo.{key}", "must be a string"))
    commit = spec.get("commit")
    if not isinstance(commit, Mapping) or not isinstance(commit.get("message"), str) \
            or not commit["message"].strip():
        problems.append(("commit.message", "required"))
    elif any(key in commit and not isinstance(commit[key], str) for key in ("author", "email")):
        problems.append(("commit", "author and email are strings"))
    pr = spec.get("pr")
    if pr is not None:
        if not isinstance(pr, Mapping) or not isinstance(pr.get("title"), str) \
                or not pr["title"].strip():
            problems.append(("pr.title", "required when pr is given"))
        elif not isinstance(pr.get("labels", []), list) or not all(
                isinstance(label, str) for label in pr.get("labels", [])):
            problems.append(("pr.labels", "must be a list of strings"))
    patches, files = spec.get("patches", []), spec.get("files", [])
    if not isinstance(patches, list):
        problems.append(("patches", "must be a list"))
        patches = []
    if not isinstance(files, list):
        problems.append(("files", "must be a list"))
        files = []
    if not patches and not files:
        problems.append(("patches", "give at least one patch or file"))
    for index, entry in enumerate(patches):
        where = f"patches[{index}]"
        if not isinstance(entry, Mapping):
            problems.append((where, "must be an object"))
            continue
        _check_path(problems, f"{where}.path", entry.get("path"))
        given = [key for key in ("mergePatch", "jsonPatch", "set") if key in entry]
        if len(given) != 1:
            problems.append((where, "give exactly one of mergePatch, jsonPatch, set"))
        elif given[0] == "jsonPatch" and not isinstance(entry["jsonPatch"], list):
            problems.append((f"{where}.jsonPatch", "must be a list of operations"))
        elif given[0] in ("mergePatch", "set") and not isinstance(entry[given[0]], Mapping):
            problems.append((f"{where}.{given[0]}", "must be an object"))
    for index, entry in enumerate(files):
        where = f"files[{index}]"
        if not isinstance(entry, Mapping):
            problems.append((where, "must be an object"))
            continue
        _check_path(problems, f"{where}.path", entry.get("path"))
        if entry.get("delete") is True:
            if "content" in entry:
                problems.append((where, "give content or delete: true, not both"))
        elif not isinstance(entry.get("content"), str):
            problems.append((f"{where}.content", "required (a string) unless delete: true"))
    return problems


# -- git --------------------------------------------------------------------------------------


@dataclass
class Remote:
    url: str  # what git is told (for ssh, the pinned address)
    display: str  # what the log may show
    env: dict[str, str]
    kind: str = "git"  # git | github | gitlab
    settings: Any = None
    connection: Any = None
    path: str = ""  # the repository's path on its host: org/repo


@dataclass
class Git:
    """git in a subprocess that stops at the attempt's deadline or when the run is cancelled."""

    env: dict[str, str]
    deadline: float
    cancelled: Any
    log: Any
    masked: list[str] = field(default_factory=list)

    def __call__(self, *args: str, cwd: Path, stdin: str | None = None) -> str:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise ActionError("gitops: timed out")
        proc = subprocess.Popen(["git", *args], cwd=cwd, env=self.env, text=True,
                                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            while True:
                try:
                    out, err = proc.communicate(stdin, timeout=0.2)
                    break
                except subprocess.TimeoutExpired:
                    stdin = None
                    if self.cancelled():
                        raise ActionError("gitops: cancelled") from None
                    if time.monotonic() > self.deadline:
                        raise ActionError(f"gitops: git {args[0]} timed out") from None
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if proc.returncode != 0:
            lines = [line for line in err.strip().splitlines() if line.strip()] or ["failed"]
            message = self.mask(lines[-1])[:300]
            raise ActionError(f"git {args[0]}: {message}", {"exitCode": proc.returncode})
        return out

    def mask(self, text: str) -> str:
        for secret in self.masked:
            if secret:
                text = text.replace(secret, "***")
        return text


def _add_config(env: dict[str, str], pairs: list[tuple[str, str]]) -> None:
    """Config through GIT_CONFIG_* variables: nothing on the command line, nothing on disk."""
    count = int(env.get("GIT_CONFIG_COUNT", "0"))
    for key, value in pairs:
        env[f"GIT_CONFIG_KEY_{count}"] = key
        env[f"GIT_CONFIG_VALUE_{count}"] = value
        count += 1
    env["GIT_CONFIG_COUNT"] = str(count)


def _local_path(url: str) -> str | None:
    if url.startswith("file://"):
        return unquote(urlsplit(url).path)
    if url.startswith("/"):
        return url
    return None


def local_remotes_allowed() -> bool:
    """Paths on the worker's disk are remotes only where an operator says so (tests, demos)."""
    from django.conf import settings

    return bool(getattr(settings, "FLIGHTDECK_GITOPS_LOCAL_REMOTES", False))


def remote_for(ctx: ActionContext, repo: Mapping[str, Any], authdir: Path) -> Remote:
    """The URL and environment for clone and push, from the connection and/or the spec's url."""
    from connections import resolve as resolving
    from connections import ssrf
    from connections.errors import ConnectionFailure
    from connections.kinds import git as git_kind

    connection, settings, kind = None, None, "git"
    if repo.get("connection"):
        try:
            connection = resolving.lookup(str(repo["connection"]), namespace=ctx.namespace)
        except ConnectionFailure as exc:
            raise ActionError(str(exc)) from None
        if connection.type not in ("git", *PR_TYPES):
            raise ActionError(f"Connection {connection.reference} is a {connection.type} "
                              "connection; gitops needs git, github or gitlab.")
        try:
            settings = resolving.resolve(connection, purpose=f"playbook gitops {ctx.action_name}",
                                         actor=ctx.actor)
        except ConnectionFailure as exc:
            raise ActionError(str(exc)) from None
        kind = connection.type
    url = str(repo.get("url") or getattr(settings, "url", "") or "")
    if not url:
        raise ActionError("repo: no url, and the connection has none")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(authdir),
           "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_ASKPASS": "/bin/false",
           "SSH_ASKPASS": "/bin/false", "LC_ALL": "C"}
    local = _local_path(url)
    if local is not None:
        if not local_remotes_allowed():
            raise ActionError("repo.url: local paths are not allowed as remotes on this worker")
        _add_config(env, [("protocol.allow", "never"), ("protocol.file.allow", "always")])
        effective, display, host_path = local, url, local
    else:
        token = getattr(settings, "token", "")
        username = getattr(settings, "username", "") or {
            "github": "x-access-token", "gitlab": "oauth2"}.get(kind, "")
        conf = git_kind.GitSettings(url, username=username, token=token,
                                    ssh_key=getattr(settings, "ssh_key", ""))
        timeout = max(1.0, min(ctx.timeout, 60.0))
        policy = ssrf.Policy(allow_internal=bool(connection and connection.internal),
                             timeout=timeout)
        try:
            argv, auth_env = git_kind.command(conf, policy, authdir)
        except ConnectionFailure as exc:
            raise ActionError(f"repo.url: {exc}") from None
        env = {**auth_env, "LC_ALL": "C"}
        effective, display = argv[-1], git_kind.normalise(url)
        host_path = urlsplit(git_kind.normalise(url)).path
    # Hooks and filters of the cloned repository never run: it is data, not code we trust.
    _add_config(env, [("core.hooksPath", os.devnull), ("core.fsmonitor", "false"),
                      ("advice.detachedHead", "false"), ("init.defaultBranch", "main"),
                      ("commit.gpgSign", "false")])
    path = host_path.strip("/").removesuffix(".git")
    return Remote(effective, display, env, kind, settings, connection, path)


def _ref_name(git: Git, name: str, what: str, cwd: Path) -> str:
    if not name or name.startswith("-"):
        raise ActionError(f"repo.{what}: {name!r} is not a valid branch name")
    try:
        git("check-ref-format", "--branch", name, cwd=cwd)
    except ActionError:
        raise ActionError(f"repo.{what}: {name!r} is not a valid branch name") from None
    return name


# -- pull requests ----------------------------------------------------------------------------


def open_pull_request(remote: Remote, pr: Mapping[str, Any], head: str, base: str,
                      timeout: float) -> tuple[str, int | None]:
    """Through the provider's API, over the SSRF-guarded client; returns (url, number)."""
    from connections import ssrf

    settings, connection = remote.settings, remote.connection
    policy = ssrf.Policy(allow_internal=bool(connection.internal), timeout=max(1.0, timeout))
    tls = ssrf.TLSOptions(insecure=bool(connection.insecure_tls))
    labels = [str(label) for label in pr.get("labels") or []]
    if remote.kind == "github":
        owner_repo = "/".join(remote.path.split("/")[-2:])
        response = ssrf.request(
            "POST", f"{settings.api_url}/repos/{owner_repo}/pulls", policy=policy, tls=tls,
            headers={**settings.headers(), "Content-Type": "application/json"},
            body=json.dumps({"title": pr["title"], "body": pr.get("body") or "",
                             "head": head, "base": base}).encode())
        answer = _answer(response, "GitHub: opening the pull request")
        number = int(answer.get("number") or 0) or None
        if labels and number:
            labelled = ssrf.request(
                "POST", f"{settings.api_url}/repos/{owner_repo}/issues/{number}/labels",
                policy=policy, tls=tls,
                headers={**settings.headers(), "Content-Type": "application/json"},
                body=json.dumps({"labels": labels}).encode())
            _answer(labelled, f"GitHub: labelling pull request #{number}")
        return str(answer.get("html_url") or ""), number
    project = quote(remote.path, safe="")
    response = ssrf.request(
        "POST", f"{settings.api_url}/projects/{project}/merge_requests", policy=policy, tls=tls,
        headers={**settings.headers(), "Content-Type": "application/json"},
        body=json.dumps({"title": pr["title"], "description": pr.get("body") or "",
                         "source_branch": head, "target_branch": base,
                         "labels": ",".join(labels)}).encode())
    answer = _answer(response, "GitLab: opening the merge request")
    return str(answer.get("web_url") or ""), int(answer.get("iid") or 0) or None


def _answer(response: Any, what: str) -> Mapping[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not response.ok:
        detail = ""
        if isinstance(body, Mapping):
            detail = str(body.get("message") or body.get("error") or "")
            errors = body.get("errors")
            if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
                detail += f" ({errors[0].get('message') or errors[0].get('code') or ''})"
        raise ActionError(f"{what}: HTTP {response.status} {detail}".strip()[:500],
                          {"status": response.status})
    return body if isinstance(body, Mapping) else {}


# -- the kind ---------------------------------------------------------------------------------


class GitOpsKind:
    name = "gitops"

    def validate(self, spec: Mapping[str, Any]) -> list[Problem]:
        return validate(spec)

    def run(self, ctx: ActionContext) -> dict[str, Any]:
        spec = ctx.spec
        problems = validate(spec)
        if problems:
            raise ActionError("; ".join(f"{path}: {message}" for path, message in problems))
        repo, commit, pr = spec["repo"], spec["commit"], spec.get("pr")
        workdir = Path(ctx.workdir)
        authdir, checkout = workdir / ".git-auth", workdir / "checkout"
        authdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(authdir, 0o700)
        remote = remote_for(ctx, repo, authdir)
        git = Git(remote.env, time.monotonic() + ctx.timeout, ctx.cancelled, ctx.log,
                  [getattr(remote.settings, "token", "")])
        base = _ref_name(git, str(repo.get("base") or "main"), "base", workdir)
        branch = str(repo.get("branch") or "")
        if pr and not branch:
            branch = f"flightdeck/{ctx.run_id}-{ctx.action_name}"
        branch = _ref_name(git, branch, "branch", workdir) if branch else base

        ctx.log(f"cloning {remote.display} at {base}", "system")
        git("clone", "--quiet", "--no-tags", "--single-branch", "--branch", base, "--",
            remote.url, str(checkout), cwd=workdir)
        if branch != base:
            exists = git("ls-remote", "--heads", "origin", f"refs/heads/{branch}", cwd=checkout)
            if exists.strip():
                git("fetch", "--quiet", "--no-tags", "origin",
                    f"+refs/heads/{branch}:refs/remotes/origin/{branch}", cwd=checkout)
                git("checkout", "--quiet", "-B", branch, f"origin/{branch}", cwd=checkout)
            else:
                git("checkout", "--quiet", "-b", branch, cwd=checkout)

        self._change(ctx, checkout, spec)
        git("add", "--all", "--", ".", cwd=checkout)
        status = git("status", "--porcelain=v1", "-z", "--no-renames", cwd=checkout)
        files = [{"path": entry[3:], "status": {"A": "added", "D": "deleted"}.get(
            entry[0], "modified")} for entry in status.split("\x00") if entry]
        result: dict[str, Any] = {"commit": "", "branch": branch, "pr_url": "", "pr_number": None,
                                  "files": files}
        if not files:
            ctx.log("nothing changed; no commit", "system")
            result["note"] = "the changes left the repository as it was; nothing was committed"
            return result
        if ctx.dry_run:
            diff = git("diff", "--cached", "--no-ext-diff", "--no-textconv", "--no-color",
                       cwd=checkout)
            result["dryRun"] = True
            result["diff"] = diff[:MAX_DIFF]
            if len(diff) > MAX_DIFF:
                result["diffTruncated"] = True
            ctx.log(f"dry run: {len(files)} files would change; nothing pushed", "system")
            return result

        author = str(commit.get("author") or DEFAULT_AUTHOR[0])
        email = str(commit.get("email") or DEFAULT_AUTHOR[1])
        git.env = {**git.env, "GIT_AUTHOR_NAME": author, "GIT_AUTHOR_EMAIL": email,
                   "GIT_COMMITTER_NAME": author, "GIT_COMMITTER_EMAIL": email}
        git("commit", "--quiet", "--no-verify", "--file=-", cwd=checkout,
            stdin=str(commit["message"]))
        sha = git("rev-parse", "HEAD", cwd=checkout).strip()
        result["commit"] = sha
        ctx.log(f"pushing {sha[:12]} to {branch}", "system")
        git("push", "--quiet", "origin", f"HEAD:refs/heads/{branch}", cwd=checkout)
        if pr:
            if remote.kind in PR_TYPES and remote.connection is not None:
                url, number = open_pull_request(remote, pr, branch, base,
                                                min(ctx.timeout, 60.0))
                result["pr_url"], result["pr_number"] = url, number
                ctx.log(f"opened {url or 'a pull request'}", "system")
            else:
                result["note"] = ("pushed the branch; a plain git remote has no pull request API, "
                                  "so none was opened")
        return result

    def _change(self, ctx: ActionContext, checkout: Path, spec: Mapping[str, Any]) -> list[str]:
        changed: list[str] = []
        for entry in spec.get("patches") or []:
            raw = str(entry["path"])
            target = confine(checkout, raw)
            text = patch_text(_read(target, raw), entry, raw)
            # Checked again right before writing: the path may have changed since the read.
            _write(confine(checkout, raw), text)
            changed.append(raw)
            ctx.log(f"patched {raw}", "system")
        for entry in spec.get("files") or []:
            raw = str(entry["path"])
            if entry.get("delete") is True:
                target = confine(checkout, raw)
                try:
                    info = os.lstat(target)
                except FileNotFoundError:
                    raise ActionError(f"files: {raw} does not exist in the repository") from None
                if stat.S_ISDIR(info.st_mode):
                    raise ActionError(f"files: {raw} is a directory; delete files one by one")
                os.unlink(target)
                ctx.log(f"deleted {raw}", "system")
            else:
                target = confine(checkout, raw, create_dirs=True)
                _write(target, str(entry["content"]))
                ctx.log(f"wrote {raw}", "system")
            changed.append(raw)
        return changed


KIND = GitOpsKind()
