"""The gitops action against local bare repositories made with the git CLI."""

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from connections import resolve as resolve_module
from playbooks.actions import kind
from playbooks.actions.base import ActionContext, ActionError
from tests.connections.conftest import make_connection
from tests.connections.servers import Listener

pytestmark = pytest.mark.django_db

KIND = kind("gitops")
ENV = {"GIT_AUTHOR_NAME": "Dana Dev", "GIT_AUTHOR_EMAIL": "dana@example.com",
       "GIT_COMMITTER_NAME": "Dana Dev", "GIT_COMMITTER_EMAIL": "dana@example.com",
       "PATH": "/usr/bin:/bin", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
       "HOME": "/nonexistent"}

VALUES = """\
# Values for the web app: keep this header.
replicas: 2  # scaled by the on-call
image:
  repository: "registry.example.com/web"   # quoted on purpose
  tag: '1.4.0'
env:
  - name: MODE
    value: blue
"""


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True,
                          text=True, env=ENV)
    return done.stdout


@pytest.fixture(autouse=True)
def local_remotes(settings: Any) -> None:
    settings.FLIGHTDECK_GITOPS_LOCAL_REMOTES = True
    settings.FLIGHTDECK_SECRET_KEYS = [Fernet.generate_key().decode()]
    resolve_module.CACHE.clear()


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """A bare repository whose main holds apps/web/values.yaml, a JSON file and a README."""
    bare = tmp_path / "remote" / "org" / "infra.git"
    bare.mkdir(parents=True)
    git(bare, "init", "-q", "--bare", "-b", "main")
    seed = tmp_path / "seed"
    git(tmp_path, "clone", "-q", str(bare), str(seed))
    (seed / "apps" / "web").mkdir(parents=True)
    (seed / "apps" / "web" / "values.yaml").write_text(VALUES)
    (seed / "apps" / "web" / "config.json").write_text('{"a": 1, "b": {"c": 2}}\n')
    (seed / "README.md").write_text("infra\n")
    git(seed, "add", ".")
    git(seed, "commit", "-q", "-m", "first")
    git(seed, "push", "-q", "origin", "main")
    return bare


@pytest.fixture
def sentinel(tmp_path: Path) -> Path:
    """A file outside every checkout; no payload may change or create anything next to it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    path = outside / "sentinel.yaml"
    path.write_text("untouched: true\n")
    return path


def context(tmp_path: Path, spec: dict[str, Any], *, dry_run: bool = False,
            log: Any = None, work: str = "work") -> tuple[ActionContext, list[str]]:
    lines: list[str] = []
    work = tmp_path / work
    work.mkdir(exist_ok=True)
    ctx = ActionContext(run_id=7, action_name="bump", namespace="platform", spec=spec,
                        dry_run=dry_run, workdir=work, timeout=60,
                        log=log or (lambda line, stream="system": lines.append(line)))
    return ctx, lines


def spec_for(remote: Path, **extra: Any) -> dict[str, Any]:
    return {"repo": {"url": str(remote)},
            "commit": {"message": "Bump web", "author": "Flightdeck Bot",
                       "email": "bot@example.com"}, **extra}


def read_branch(tmp_path: Path, remote: Path, branch: str, path: str) -> str:
    fresh = tmp_path / f"fresh-{branch.replace('/', '-')}"
    if fresh.exists():
        git(fresh, "pull", "-q")
        return (fresh / path).read_text()
    git(tmp_path, "clone", "-q", "--branch", branch, str(remote), str(fresh))
    return (fresh / path).read_text()


def branches(remote: Path) -> list[str]:
    return git(remote, "for-each-ref", "--format=%(refname:short)", "refs/heads").split()


def test_a_set_patch_is_pushed_to_base_keeping_comments_order_and_quotes(tmp_path, remote):
    ctx, _ = context(tmp_path, spec_for(remote, patches=[
        {"path": "apps/web/values.yaml", "set": {"replicas": 5, "image.tag": "1.5.0"}}]))

    result = KIND.run(ctx)

    text = read_branch(tmp_path, remote, "main", "apps/web/values.yaml")
    assert text == VALUES.replace("replicas: 2", "replicas: 5").replace("'1.4.0'", "'1.5.0'")
    assert result["branch"] == "main" and len(result["commit"]) == 40
    assert result["files"] == [{"path": "apps/web/values.yaml", "status": "modified"}]
    assert git(remote, "log", "-1", "--format=%an <%ae> %s", "main").strip() == \
        "Flightdeck Bot <bot@example.com> Bump web"


def test_merge_and_json_patches_and_files_go_to_a_new_branch(tmp_path, remote):
    ctx, _ = context(tmp_path, spec_for(remote, repo={"url": str(remote), "branch": "bump/web"},
                                        patches=[
        {"path": "apps/web/values.yaml", "mergePatch": {"image": {"tag": "2.0.0"}, "env": None}},
        {"path": "apps/web/config.json",
         "jsonPatch": [{"op": "replace", "path": "/b/c", "value": 3}]},
    ], files=[{"path": "apps/api/kustomization.yaml", "content": "resources: []\n"},
              {"path": "README.md", "delete": True}]))

    result = KIND.run(ctx)

    values = read_branch(tmp_path, remote, "bump/web", "apps/web/values.yaml")
    assert "tag: '2.0.0'" in values and "env:" not in values
    assert "# Values for the web app: keep this header." in values
    assert json.loads(read_branch(tmp_path, remote, "bump/web", "apps/web/config.json")) == {
        "a": 1, "b": {"c": 3}}
    assert read_branch(tmp_path, remote, "bump/web", "apps/api/kustomization.yaml") == \
        "resources: []\n"
    assert not (tmp_path / "fresh-bump-web" / "README.md").exists()
    assert read_branch(tmp_path, remote, "main", "apps/web/values.yaml") == VALUES
    assert {f["path"]: f["status"] for f in result["files"]} == {
        "apps/web/values.yaml": "modified", "apps/web/config.json": "modified",
        "apps/api/kustomization.yaml": "added", "README.md": "deleted"}


def test_an_existing_branch_gets_a_new_commit_on_top(tmp_path, remote):
    first, _ = context(tmp_path, spec_for(remote, repo={"url": str(remote), "branch": "b1"},
                                          files=[{"path": "one.txt", "content": "1\n"}]))
    KIND.run(first)
    second, _ = context(tmp_path, spec_for(remote, repo={"url": str(remote), "branch": "b1"},
                                           files=[{"path": "two.txt", "content": "2\n"}]),
                        work="work2")

    KIND.run(second)

    assert read_branch(tmp_path, remote, "b1", "one.txt") == "1\n"
    assert (tmp_path / "fresh-b1" / "two.txt").read_text() == "2\n"


def test_dry_run_returns_the_diff_and_pushes_nothing(tmp_path, remote):
    before = git(remote, "rev-parse", "main")
    ctx, _ = context(tmp_path, spec_for(remote, repo={"url": str(remote), "branch": "bump"},
                                        patches=[{"path": "apps/web/values.yaml",
                                                  "set": {"replicas": 9}}]), dry_run=True)

    result = KIND.run(ctx)

    assert "-replicas: 2  # scaled by the on-call" in result["diff"]
    assert "+replicas: 9  # scaled by the on-call" in result["diff"]
    assert result["commit"] == "" and result["dryRun"] is True
    assert git(remote, "rev-parse", "main") == before
    assert branches(remote) == ["main"]


def test_a_pr_on_a_plain_git_remote_pushes_the_branch_and_says_why_there_is_no_pr(
        tmp_path, remote):
    ctx, _ = context(tmp_path, spec_for(remote, pr={"title": "Bump web"},
                                        files=[{"path": "x.txt", "content": "x\n"}]))

    result = KIND.run(ctx)

    assert result["branch"] == "flightdeck/7-bump" and "flightdeck/7-bump" in branches(remote)
    assert result["pr_url"] == "" and result["pr_number"] is None
    assert "no pull request API" in result["note"]


def test_a_github_connection_opens_a_labelled_pull_request(tmp_path, remote):
    api = Listener()
    api.routes["/repos/org/infra/pulls"] = (201, {"Content-Type": "application/json"}, json.dumps(
        {"number": 42, "html_url": "https://github.example/org/infra/pull/42"}).encode())
    api.routes["/repos/org/infra/issues/42/labels"] = (200, {}, b"[]")
    with api:
        make_connection("gh", {"github": {"apiURL": api.url, "token": "ghp_sekret_token"},
                               "internal": True}, namespace="platform")
        ctx, lines = context(tmp_path, {
            **spec_for(remote), "repo": {"connection": "connection://platform/gh",
                                         "url": str(remote), "branch": "bump"},
            "pr": {"title": "Bump web", "body": "by a playbook", "labels": ["auto"]},
            "files": [{"path": "x.txt", "content": "x\n"}]})

        result = KIND.run(ctx)

    assert (result["pr_url"], result["pr_number"]) == (
        "https://github.example/org/infra/pull/42", 42)
    pull, labels = api.hits
    assert json.loads(pull.body) == {"title": "Bump web", "body": "by a playbook",
                                     "head": "bump", "base": "main"}
    assert pull.headers["Authorization"] == "Bearer ghp_sekret_token"
    assert json.loads(labels.body) == {"labels": ["auto"]}
    assert "bump" in branches(remote)
    assert not any("ghp_sekret_token" in line for line in lines)


def test_a_refused_pull_request_is_an_action_error_with_the_apis_message(tmp_path, remote):
    api = Listener()
    api.routes["/repos/org/infra/pulls"] = (422, {}, json.dumps({
        "message": "Validation Failed",
        "errors": [{"message": "A pull request already exists for org:bump."}]}).encode())
    with api:
        make_connection("gh", {"github": {"apiURL": api.url, "token": "t0ken"},
                               "internal": True}, namespace="platform")
        ctx, _ = context(tmp_path, {
            **spec_for(remote), "repo": {"connection": "connection://platform/gh",
                                         "url": str(remote), "branch": "bump"},
            "pr": {"title": "Bump"}, "files": [{"path": "x.txt", "content": "x\n"}]})

        with pytest.raises(ActionError, match="A pull request already exists") as caught:
            KIND.run(ctx)

    assert caught.value.result["status"] == 422


def test_a_gitlab_connection_opens_a_merge_request(tmp_path, remote):
    from urllib.parse import quote

    project = quote(str(remote).strip("/").removesuffix(".git"), safe="")
    api = Listener()
    api.routes[f"/projects/{project}/merge_requests"] = (201, {}, json.dumps(
        {"iid": 5, "web_url": "https://gitlab.example/org/infra/-/merge_requests/5"}).encode())
    with api:
        make_connection("gl", {"gitlab": {"apiURL": api.url, "token": "glpat-sekret"},
                               "internal": True}, namespace="platform")
        ctx, _ = context(tmp_path, {
            **spec_for(remote), "repo": {"connection": "connection://platform/gl",
                                         "url": str(remote), "branch": "bump"},
            "pr": {"title": "Bump", "body": "b", "labels": ["a", "b"]},
            "files": [{"path": "x.txt", "content": "x\n"}]})

        result = KIND.run(ctx)

    assert (result["pr_url"], result["pr_number"]) == (
        "https://gitlab.example/org/infra/-/merge_requests/5", 5)
    (hit,) = api.hits
    assert hit.headers["PRIVATE-TOKEN"] == "glpat-sekret"
    assert json.loads(hit.body) == {"title": "Bump", "description": "b",
                                    "source_branch": "bump", "target_branch": "main",
                                    "labels": "a,b"}


def test_local_remotes_are_refused_unless_allowed(tmp_path, remote, settings):
    settings.FLIGHTDECK_GITOPS_LOCAL_REMOTES = False
    ctx, _ = context(tmp_path, spec_for(remote, files=[{"path": "x", "content": "x"}]))

    with pytest.raises(ActionError, match="local paths are not allowed"):
        KIND.run(ctx)


def test_other_git_transports_are_refused(tmp_path):
    ctx, _ = context(tmp_path, {**spec_for(Path("/x")), "repo": {"url": "ext::sh -c id"},
                                "files": [{"path": "x", "content": "x"}]})

    with pytest.raises(ActionError, match="scheme"):
        KIND.run(ctx)


def test_a_bad_patch_names_the_file(tmp_path, remote):
    ctx, _ = context(tmp_path, spec_for(remote, patches=[{"path": "apps/web/values.yaml",
                                                          "set": {"replicas.deeper": 1}}]))

    with pytest.raises(ActionError, match=r"apps/web/values.yaml.*replicas.*scalar"):
        KIND.run(ctx)


TRAVERSALS = [
    "../outside/sentinel.yaml",
    "apps/../../outside/sentinel.yaml",
    "..%2Foutside%2Fsentinel.yaml",
    "%2e%2e/outside/sentinel.yaml",
    "%252e%252e/outside/sentinel.yaml",
    "{abs}",
    ".git/hooks/pre-commit",
    ".GIT/config",
]


def _payload(path: str, sentinel: Path) -> str:
    return path.replace("{abs}", str(sentinel))


@pytest.mark.parametrize("path", TRAVERSALS)
@pytest.mark.parametrize("entry", ["files", "patches"])
def test_path_traversal_is_refused_and_nothing_outside_changes(tmp_path, remote, sentinel,
                                                                path, entry):
    payload = _payload(path, sentinel)
    item = ({"path": payload, "content": "owned: true\n"} if entry == "files"
            else {"path": payload, "set": {"owned": True}})
    ctx, _ = context(tmp_path, spec_for(remote, **{entry: [item]}))
    before = git(remote, "rev-parse", "main")

    with pytest.raises(ActionError, match=rf"{entry}\[0\]\.path: "):
        KIND.run(ctx)

    assert sentinel.read_text() == "untouched: true\n"
    assert sorted(os.listdir(sentinel.parent)) == ["sentinel.yaml"]
    assert git(remote, "rev-parse", "main") == before


@pytest.mark.parametrize("path", TRAVERSALS)
def test_confine_refuses_traversal_at_write_time_too(tmp_path, sentinel, path):
    """The run validates rendered paths first; the writer checks again on its own."""
    from playbooks.actions.gitops import confine

    checkout = tmp_path / "checkout"
    checkout.mkdir()

    with pytest.raises(ActionError, match=r"^path '"):
        confine(checkout, _payload(path, sentinel), create_dirs=True)

    assert sorted(os.listdir(sentinel.parent)) == ["sentinel.yaml"]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_validate_refuses_traversal_paths_when_the_playbook_is_saved(path, sentinel):
    problems = KIND.validate(spec_for(Path("/r"), files=[
        {"path": _payload(path, sentinel), "content": "x"}]))

    assert "files[0].path" in [p for p, _ in problems]


def _commit_symlinks(tmp_path: Path, remote: Path, links: dict[str, str]) -> None:
    seed = tmp_path / "seed"
    git(seed, "pull", "-q", "origin", "main")
    for name, target in links.items():
        (seed / name).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, seed / name)
    git(seed, "add", ".")
    git(seed, "commit", "-q", "-m", "links")
    git(seed, "push", "-q", "origin", "main")


@pytest.mark.parametrize(("entry", "path"), [
    ({"content": "owned: true\n"}, "linked-dir/sentinel.yaml"),
    ({"set": {"owned": True}}, "linked-file.yaml"),
    ({"content": "owned: true\n"}, "linked-file.yaml"),
    ({"content": "owned: true\n"}, "up/outside/new.yaml"),
    ({"delete": True}, "linked-dir/sentinel.yaml"),
])
def test_symlinks_in_the_repository_are_not_followed(tmp_path, remote, sentinel, entry, path):
    _commit_symlinks(tmp_path, remote, {"linked-dir": str(sentinel.parent),
                                        "linked-file.yaml": str(sentinel), "up": "../.."})
    key = "patches" if "set" in entry else "files"
    ctx, _ = context(tmp_path, spec_for(remote, **{key: [{"path": path, **entry}]}))

    with pytest.raises(ActionError, match="symlink"):
        KIND.run(ctx)

    assert sentinel.read_text() == "untouched: true\n"
    assert sorted(os.listdir(sentinel.parent)) == ["sentinel.yaml"]


def test_a_symlink_planted_after_an_earlier_step_is_not_written_through(tmp_path, remote,
                                                                        sentinel):
    """Checks happen at each write: a link appearing between steps is caught then."""
    checkout = tmp_path / "work" / "checkout"

    def log(line: str, stream: str = "system") -> None:
        if line == "wrote apps/first.txt":  # what a compromised earlier step could leave
            os.symlink(sentinel.parent, checkout / "apps" / "planted")

    ctx, _ = context(tmp_path, spec_for(remote, files=[
        {"path": "apps/first.txt", "content": "1\n"},
        {"path": "apps/planted/sentinel.yaml", "content": "owned: true\n"}]), log=log)

    with pytest.raises(ActionError, match="symlink"):
        KIND.run(ctx)

    assert sentinel.read_text() == "untouched: true\n"


@pytest.mark.parametrize(("spec", "path"), [
    ({"commit": {"message": "m"}, "files": [{"path": "x", "content": "x"}]}, "repo"),
    ({"repo": {"url": "/r"}, "files": [{"path": "x", "content": "x"}]}, "commit.message"),
    ({"repo": {"url": "/r"}, "commit": {"message": "m"}}, "patches"),
    ({"repo": {"url": "/r"}, "commit": {"message": "m"},
      "patches": [{"path": "x.yaml", "set": {}, "mergePatch": {}}]}, "patches[0]"),
    ({"repo": {"url": "/r"}, "commit": {"message": "m"},
      "files": [{"path": "x"}]}, "files[0].content"),
    ({"repo": {"url": "/r"}, "commit": {"message": "m"}, "pr": {"labels": ["a"]},
      "files": [{"path": "x", "content": ""}]}, "pr.title"),
])
def test_validate_names_the_bad_field(spec, path):
    assert path in [p for p, _ in KIND.validate(spec)]
