"""The exec action: real subprocesses in tmp_path, a list-collecting log, no engine."""

import base64
import hashlib
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from playbooks.actions import ActionContext, ActionError, kind
from playbooks.actions import exec as exec_kind

EXEC = kind("exec")


class Log(list):
    def __call__(self, line: str, stream: str = "system") -> None:
        self.append((line, stream))

    def lines(self, stream: str) -> list[str]:
        return [line for line, s in self if s == stream]


def context(tmp_path: Path, spec: dict[str, Any], **kwargs: Any) -> ActionContext:
    kwargs.setdefault("log", Log())
    return ActionContext(run_id="run-1", action_name="step", namespace="default", spec=spec,
                         workdir=tmp_path, **kwargs)


def test_stdout_and_stderr_stream_in_order_while_the_script_runs(tmp_path):
    log = Log()
    go = tmp_path / "go"

    def on_line(line: str, stream: str) -> None:
        log(line, stream)
        if line == "waiting":
            go.touch()  # the script only goes on once its first line was logged

    script = ("echo waiting\n"
              "for i in $(seq 100); do [ -e go ] && break; sleep 0.1; done\n"
              "[ -e go ] || { echo 'not streamed' >&2; exit 3; }\n"
              "echo out-1; sleep 0.1; echo err-1 >&2; sleep 0.1; echo out-2\n")

    result = EXEC.run(context(tmp_path, {"script": script}, log=on_line))

    assert result["exitCode"] == 0
    assert log == [("waiting", "stdout"), ("out-1", "stdout"), ("err-1", "stderr"),
                   ("out-2", "stdout")]
    assert result["stdout"] == "waiting\nout-1\nout-2\n" and result["stderr"] == "err-1\n"


def test_python_shebang_runs_python(tmp_path):
    script = "#!/usr/bin/env python3\nimport sys\nprint('py', sys.version_info[0])\n"

    result = EXEC.run(context(tmp_path, {"script": script}))

    assert result["stdout"] == "py 3\n"


def test_a_script_printing_100_mb_is_capped_and_drained(tmp_path):
    ctx = context(tmp_path, {"script": "head -c 100000000 /dev/zero | tr '\\0' 'y' | fold -w 99\n"
                                       "echo done >&2"})

    started = time.monotonic()
    result = EXEC.run(ctx)

    assert result["exitCode"] == 0 and result["truncated"] is True
    assert len(result["stdout"]) == exec_kind.OUTPUT_CAP
    assert result["stderr"] == "done\n"
    assert len(ctx.log) == exec_kind.LOG_LINES + 1
    assert ctx.log[-1] == (exec_kind.TRUNCATED, "system")
    assert time.monotonic() - started < 60


def test_a_script_that_never_exits_is_killed_at_the_timeout(tmp_path):
    ctx = context(tmp_path, {"script": "echo $$ > pid\nsleep 1000 & wait\n"}, timeout=1.0)

    started = time.monotonic()
    with pytest.raises(ActionError) as caught:
        EXEC.run(ctx)

    assert time.monotonic() - started < 8
    assert caught.value.result["timedOut"] is True
    assert "Timed out after 1 s" in str(caught.value)
    assert_group_gone(int((tmp_path / "pid").read_text()))


def test_a_script_ignoring_sigterm_gets_sigkill_after_the_grace(tmp_path, monkeypatch):
    monkeypatch.setattr(exec_kind, "KILL_GRACE", 0.5)
    script = "trap '' TERM\necho trapped\nwhile true; do sleep 0.1; done\n"

    with pytest.raises(ActionError) as caught:
        EXEC.run(context(tmp_path, {"script": script}, timeout=0.5))

    assert caught.value.result["exitCode"] == 128 + 9  # SIGKILL


def test_cancel_stops_the_script(tmp_path):
    flag = tmp_path / "cancel"
    script = "echo $$ > pid\ntouch cancel\nsleep 1000\n"

    started = time.monotonic()
    with pytest.raises(ActionError) as caught:
        EXEC.run(context(tmp_path, {"script": script}, cancelled=flag.exists, timeout=60))

    assert time.monotonic() - started < 5
    assert caught.value.result["cancelled"] is True
    assert_group_gone(int((tmp_path / "pid").read_text()))


def assert_group_gone(pgid: int) -> None:
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"process group {pgid} still has members")


def test_environment_is_clean(tmp_path, monkeypatch):
    monkeypatch.setenv("FD_WORKER_SECRET", "leaked-from-the-worker")
    spec = {"script": "env | sort", "env": [{"name": "GREETING", "value": "hello world"}]}

    result = EXEC.run(context(tmp_path, spec))

    env = dict(line.split("=", 1) for line in result["stdout"].splitlines())
    assert "FD_WORKER_SECRET" not in env and "leaked-from-the-worker" not in result["stdout"]
    assert env["GREETING"] == "hello world"
    assert env["HOME"] == str(tmp_path.resolve() / ".flightdeck" / "home")
    assert Path(env["HOME"]).is_dir()
    assert set(env) - {"PWD", "SHLVL", "_", "OLDPWD"} == {"PATH", "HOME", "LANG", "GREETING"}


def test_params_are_exported_as_param_variables(tmp_path):
    params = {"replicas": 3, "dry-run": True, "reason": "$(rm -rf /); `id`", "tags": ["a"],
              "secret": object()}
    spec = {"script": 'printf "%s|%s|%s|%s\\n" "$PARAM_REPLICAS" "$PARAM_DRY_RUN" '
                      '"$PARAM_REASON" "$PARAM_TAGS"\nenv | grep -c ^PARAM_SECRET= || true'}

    result = EXEC.run(context(tmp_path, spec, params=params))

    assert result["stdout"] == '3|true|$(rm -rf /); `id`|["a"]\n0\n'


def test_non_zero_exit_fails_with_the_result(tmp_path):
    with pytest.raises(ActionError) as caught:
        EXEC.run(context(tmp_path, {"script": "echo partial; echo oops >&2; exit 7"}))

    assert caught.value.result["exitCode"] == 7
    assert caught.value.result["stdout"] == "partial\n"
    assert caught.value.result["stderr"] == "oops\n"
    assert "code 7" in str(caught.value)


def test_artifacts_are_collected_with_size_and_hash(tmp_path):
    spec = {"script": "mkdir -p out/sub; printf 'report' > out/a.txt; printf 'x' > out/sub/b.txt;"
                      " head -c 300000 /dev/zero > out/big.bin",
            "artifacts": [{"path": "out/**/*.txt"}, {"path": "out/*.bin"}]}

    result = EXEC.run(context(tmp_path, spec))

    by_path = {a["path"]: a for a in result["artifacts"]}
    assert set(by_path) == {"out/a.txt", "out/sub/b.txt", "out/big.bin"}
    assert base64.b64decode(by_path["out/a.txt"]["content_b64"]) == b"report"
    assert by_path["out/a.txt"]["sha256"] == hashlib.sha256(b"report").hexdigest()
    assert by_path["out/big.bin"]["size"] == 300000
    assert "content_b64" not in by_path["out/big.bin"]  # over the inline cap


def test_artifact_symlink_escaping_the_workdir_is_refused(tmp_path):
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("outside-secret-content")
    work = tmp_path / "work"
    work.mkdir()
    spec = {"script": f"ln -s {outside}/secret.txt link.txt; ln -s {outside} dir;"
                      " echo fine > ok.txt",
            "artifacts": [{"path": "*.txt"}, {"path": "dir/*"}]}
    ctx = context(work, spec)

    result = EXEC.run(ctx)

    by_path = {a["path"]: a for a in result["artifacts"]}
    assert "refused" in by_path["link.txt"]["error"] and "size" not in by_path["link.txt"]
    assert "refused" in by_path["dir/secret.txt"]["error"]
    assert by_path["ok.txt"]["size"] == 5
    assert "outside-secret-content" not in str(result)
    assert any("link.txt" in line for line in ctx.log.lines("system"))


def test_checkout_path_traversal_is_refused(tmp_path):
    spec = {"script": "touch ran", "checkout": {"url": "https://git.example.com/r.git",
                                                "path": "../escape"}}

    with pytest.raises(ActionError, match=r"checkout\.path"):
        EXEC.run(context(tmp_path, spec))

    assert not (tmp_path / "ran").exists()
    assert not (tmp_path.parent / "escape").exists()


def test_checkout_through_a_symlinked_folder_is_refused(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "repo").symlink_to(tmp_path)
    spec = {"script": "true", "checkout": {"url": "https://git.example.com/r.git",
                                           "path": "repo/inner"}}

    with pytest.raises(ActionError, match="leaves the working directory"):
        EXEC.run(context(work, spec))


def test_checkout_url_to_a_private_address_is_refused_by_the_ssrf_guard(tmp_path):
    spec = {"script": "touch ran", "checkout": {"url": "http://127.0.0.1:9/r.git"}}

    with pytest.raises(ActionError, match="private address"):
        EXEC.run(context(tmp_path, spec))

    assert not (tmp_path / "ran").exists()


@pytest.mark.django_db
def test_checkout_clones_through_an_internal_git_connection(tmp_path, settings):
    from tests.connections.conftest import KEY_A, make_connection
    from tests.connections.servers import Listener

    settings.FLIGHTDECK_SECRET_KEYS = [KEY_A]
    origin = tmp_path / "origin"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(origin)], check=True)
    (origin / "README").write_text("from the repo\n")
    subprocess.run([*git, "-C", str(origin), "add", "README"], check=True)
    subprocess.run([*git, "-C", str(origin), "commit", "-qm", "one"], check=True)
    subprocess.run([*git, "-C", str(origin), "tag", "v1"], check=True)
    (origin / "README").write_text("changed later\n")
    subprocess.run([*git, "-C", str(origin), "commit", "-qam", "two"], check=True)
    bare = tmp_path / "served" / "repo.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(origin), str(bare)], check=True)
    subprocess.run(["git", "-C", str(bare), "update-server-info"], check=True)
    routes = {}
    for path in bare.rglob("*"):
        if path.is_file():
            routes[f"/repo.git/{path.relative_to(bare).as_posix()}"] = (200, {}, path.read_bytes())
    work = tmp_path / "work"
    work.mkdir()
    with Listener(routes=routes) as server:
        make_connection("repo", {"git": {"url": f"{server.url}/repo.git"}, "internal": True})
        spec = {"script": "cat src/README", "checkout": {"connection": "repo", "ref": "v1",
                                                         "path": "src"}}
        result = EXEC.run(context(work, spec))

    assert result["stdout"] == "from the repo\n"


def test_dry_run_plans_without_running(tmp_path):
    spec = {"script": "#!/usr/bin/python3\nopen('ran', 'w')",
            "env": [{"name": "TOKEN", "value": "s3cr3t"}]}

    result = EXEC.run(context(tmp_path, spec, dry_run=True, params={"team": "sre"}))

    assert result == {"plan": {"interpreter": "python", "script": spec["script"],
                               "env": ["PARAM_TEAM", "TOKEN"]}}
    assert not (tmp_path / "ran").exists()


def test_validate_reports_field_paths():
    problems = EXEC.validate({
        "script": "#!/usr/bin/env node\n", "env": [{"name": "1BAD", "value": "x"}],
        "checkout": {"url": "https://x/r.git", "path": "/etc", "ref": "--upload-pack=x"},
        "artifacts": [{"path": "ok/*.txt"}, {"path": "../up"}], "extra": 1})

    assert ("extra", "Unknown field.") in problems
    assert ("script", "the shebang must name bash or python, not 'node'") in problems
    assert any(path == "env[0].name" for path, _ in problems)
    assert any(path == "checkout.path" for path, _ in problems)
    assert any(path == "checkout.ref" for path, _ in problems)
    assert ("artifacts[1].path", "may not contain '..'") in problems
    assert not any(path == "artifacts[0].path" for path, _ in problems)
    assert EXEC.validate({}) == [("script", "This field is required.")]
    assert EXEC.validate({"script": "echo {{ params.x }}", "env": [
        {"name": "A", "value": "{{ env.a }}"}]}) == []
