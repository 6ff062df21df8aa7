"""Git: a repository URL and ref, with an SSH key or a token; probe is `git ls-remote`."""

import base64
import os
import re
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from connections import ssrf
from connections.errors import BlockedDestination
from connections.kinds.base import TEXT, Field, Kind, ProbeContext, ProbeResult, timed
from connections.redact import REDACTOR

FIELDS = (
    Field("url", "Repository URL", required=True, endpoint=True,
          help="https://host/org/repo.git or ssh://git@host/org/repo.git"),
    Field("ref", "Ref", help="Branch or tag to check for."),
    Field("username", "Username", envvar=True, help="For tokens; defaults to x-access-token."),
    Field("token", "Token", secret=True),
    Field("sshKey", "SSH private key", TEXT, secret=True),
)
_SCP_LIKE = re.compile(r"^(?P<user>[\w.-]+)@(?P<host>[\w.-]+):(?P<path>[^/].*)$")
GIT_SCHEMES = frozenset({"https", "http", "ssh"})


@dataclass(frozen=True)
class GitSettings:
    url: str
    ref: str = ""
    username: str = ""
    token: str = field(default="", repr=False)
    ssh_key: str = field(default="", repr=False)


def settings(block: Mapping[str, Any]) -> GitSettings:
    return GitSettings(block["url"], block.get("ref") or "", block.get("username") or "",
                       block.get("token") or "", block.get("sshKey") or "")


def validate(block: Mapping[str, Any]) -> dict[str, str]:
    errors = {}
    if block.get("token") and block.get("sshKey"):
        errors["token"] = "Give an SSH key or a token, not both."  # noqa: S105 - a message
    url = block.get("url")
    if isinstance(url, str) and url and not _SCP_LIKE.match(url):
        scheme = urlsplit(url).scheme.lower()
        if scheme not in GIT_SCHEMES:
            errors["url"] = "Use an https://, http:// or ssh:// URL (or git@host:path)."
    return errors


def normalise(url: str) -> str:
    """git@host:org/repo becomes ssh://git@host/org/repo, so one parser checks every form."""
    match = _SCP_LIKE.match(url)
    if match:
        return f"ssh://{match['user']}@{match['host']}/{match['path']}"
    return url


def command(conf: GitSettings, policy: ssrf.Policy, workdir: Path) -> tuple[list[str], dict]:
    """argv and environment for ls-remote: pinned address, protocols limited, secrets in env."""
    url = normalise(conf.url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in GIT_SCHEMES:
        raise BlockedDestination(f"scheme '{scheme or '(none)'}' is not allowed for git")
    if scheme != "ssh" and "@" in parts.netloc:
        raise BlockedDestination("URLs may not carry user information; use the token field")
    host = parts.hostname or ""
    port = parts.port or {"https": 443, "http": 80, "ssh": 22}[scheme]
    ip = ssrf.pin(host, port, policy)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir),
           "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
           "GIT_ASKPASS": "/bin/false", "SSH_ASKPASS": "/bin/false"}
    config = [("protocol.allow", "never"), (f"protocol.{scheme}.allow", "always"),
              ("http.followRedirects", "false")]
    if scheme == "ssh":
        key = workdir / "key"
        if conf.ssh_key:
            key.touch(mode=0o600)
            key.write_text(conf.ssh_key.strip() + "\n")
        netloc = f"{parts.username + '@' if parts.username else ''}{ip}:{port}"
        url = urlunsplit(("ssh", netloc if ":" not in ip else f"[{ip}]:{port}",
                          parts.path, "", ""))
        env["GIT_SSH_COMMAND"] = (
            f"ssh -F /dev/null -o BatchMode=yes -o ConnectTimeout={int(policy.timeout)} "
            f"-o StrictHostKeyChecking=accept-new -o UserKnownHostsFile={workdir}/known_hosts "
            f"-o HostKeyAlias={host} -o IdentitiesOnly=yes"
            + (f" -i {key}" if conf.ssh_key else ""))
    else:
        config.append(("http.curloptResolve", f"{host}:{port}:{ip}"))
        if conf.token:
            user = conf.username or "x-access-token"
            pair = base64.b64encode(f"{user}:{conf.token}".encode()).decode()
            # In the environment, not argv: other users can read argv in /proc.
            config.append(("http.extraHeader", f"Authorization: Basic {pair}"))
    env["GIT_CONFIG_COUNT"] = str(len(config))
    for index, (key_name, value) in enumerate(config):
        env[f"GIT_CONFIG_KEY_{index}"] = key_name
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return ["git", "ls-remote", "--", url], env


def probe(conf: GitSettings, ctx: ProbeContext) -> ProbeResult:
    def run() -> ProbeResult:
        with tempfile.TemporaryDirectory(prefix="fd-git-") as folder:
            os.chmod(folder, 0o700)
            argv, env = command(conf, ctx.policy, Path(folder))
            try:
                done = subprocess.run(argv, env=env, capture_output=True, text=True,
                                      timeout=ctx.policy.timeout, cwd=folder, check=False)
            except subprocess.TimeoutExpired:
                return ProbeResult(False, f"git ls-remote timed out after {ctx.policy.timeout}s")
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["failed"])[-1]
            return ProbeResult(False, REDACTOR.mask(f"git ls-remote: {last[:300]}"))
        refs = [line.split("\t", 1)[1] for line in done.stdout.splitlines() if "\t" in line]
        if conf.ref and not any(r in (conf.ref, f"refs/heads/{conf.ref}", f"refs/tags/{conf.ref}")
                                for r in refs):
            return ProbeResult(False, f"{len(refs)} refs, but not '{conf.ref}'")
        return ProbeResult(True, f"git ls-remote: {len(refs)} refs")

    return timed(run)


KIND = Kind("git", "Git", FIELDS, settings, probe, validate, summary="git ls-remote")
