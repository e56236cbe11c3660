"""Move the image tags an environment runs: edit its values file, commit, push.

The values file is read with ruamel.yaml to find each ``<component>.image.tag`` and its line,
then only those lines are rewritten in place. A round-trip dump would also re-indent lists and
drop quotes elsewhere in the file; editing the located lines keeps every other byte as it was.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from ragfleet.errors import RagfleetError

logger = logging.getLogger(__name__)

ENVIRONMENTS = ("staging", "prod")
COMPONENTS = ("api", "worker")
DEFAULT_VALUES_PATH = "deploy/helm/ragfleet/values-{env}.yaml"
PUSH_ATTEMPTS = 5
REMOTE = "origin"
BOT_IDENTITY = ("user.name=ragfleet-bot", "user.email=ragfleet-bot@users.noreply.github.com")

_TAG = re.compile(r"sha-[0-9a-f]{7,40}|[0-9a-f]{7,40}|v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?")
# user:token@ inside a URL, hidden from error messages (CI clones with a token in the URL).
_CREDENTIALS = re.compile(r"(://)[^/@\s]+@")
_URL = re.compile(r"^([a-z][a-z0-9+.-]*://|[\w.-]+@[\w.-]+:)", re.IGNORECASE)
# The scalar that starts where ruamel says the value is: quoted, or plain up to a comment.
_SCALAR = re.compile(r"\"[^\"]*\"|'[^']*'|[^\s#,}\]]+")


class BumpError(RagfleetError):
    """The bump was refused or could not be completed; the message says why."""

    code = "gitops_bump_failed"


@dataclass(frozen=True)
class BumpResult:
    changed: bool
    message: str
    commit: str | None = None


def check_target(env: str, components: Sequence[str]) -> None:
    """Refuse an unknown environment, or no or unknown components."""
    if env not in ENVIRONMENTS:
        raise BumpError(f"unknown environment {env!r}; expected one of {', '.join(ENVIRONMENTS)}")
    unknown = sorted(set(components) - set(COMPONENTS))
    if unknown or not components:
        raise BumpError(f"unknown component(s) {unknown}; expected some of {', '.join(COMPONENTS)}")


def check_tag(tag: str) -> None:
    """Refuse a tag that is neither a commit sha nor semver."""
    if not _TAG.fullmatch(tag):
        raise BumpError(
            f"malformed tag {tag!r}; expected sha-<7-40 hex>, a 7-40 hex sha, "
            "or semver such as v1.2.3 or 1.2.3-rc.1"
        )


def read_tags(text: str, components: Sequence[str], source: str) -> dict[str, tuple[str, int, int]]:
    """Map each component to its current tag and the (line, column) where the value starts."""
    try:
        document = YAML().load(text)
    except YAMLError as exc:
        raise BumpError(f"{source} is not valid YAML: {exc}") from exc
    found: dict[str, tuple[str, int, int]] = {}
    for component in components:
        block = document.get(component) if isinstance(document, CommentedMap) else None
        image = block.get("image") if isinstance(block, CommentedMap) else None
        if not isinstance(image, CommentedMap) or "tag" not in image:
            raise BumpError(f"{source} has no {component}.image.tag")
        line, column = image.lc.value("tag")
        found[component] = (str(image["tag"]), line, column)
    return found


def set_tags(text: str, components: Sequence[str], tag: str, source: str) -> str:
    """Return ``text`` with the components' image tags set to ``tag``; other lines untouched."""
    lines = text.splitlines(keepends=True)
    for _, line, column in read_tags(text, components, source).values():
        old = lines[line]
        scalar = _SCALAR.match(old, column)
        if scalar is None:
            raise BumpError(f"{source}:{line + 1}: cannot find the tag value to replace")
        lines[line] = f'{old[:column]}"{tag}"{old[scalar.end() :]}'
    return "".join(lines)


@dataclass(frozen=True)
class Git:
    """The ``git`` binary run in one working tree, never prompting for credentials."""

    root: Path
    config: tuple[str, ...] = ()

    def run(self, *args: str) -> str:
        done = self.attempt(*args)
        if done.returncode != 0:
            output = _CREDENTIALS.sub(r"\1***@", done.stderr.strip() or done.stdout.strip())
            raise BumpError(f"git {args[0]} failed: {output}")
        return done.stdout.strip()

    def attempt(self, *args: str) -> subprocess.CompletedProcess[str]:
        options = [arg for pair in self.config for arg in ("-c", pair)]
        return subprocess.run(
            ["git", "-C", str(self.root), *options, *args],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
        )


@contextmanager
def open_repo(repo: str) -> Iterator[Git]:
    """Yield the working tree at ``repo``; a URL is cloned into a temporary directory first."""
    if not _URL.match(repo):
        git = Git(Path(repo))
        if not git.root.is_dir() or git.attempt("rev-parse", "--is-inside-work-tree").returncode:
            raise BumpError(f"{repo} is not a git working tree")
        yield _with_identity(git)
        return
    with tempfile.TemporaryDirectory(prefix="ragfleet-gitops-") as tmp:
        Git(Path(tmp)).run("clone", "--quiet", repo, tmp)
        yield _with_identity(Git(Path(tmp)))


def _with_identity(git: Git) -> Git:
    """Commit as ragfleet-bot unless the repository or user already has an identity."""
    if git.attempt("config", "user.email").returncode == 0:
        return git
    return Git(git.root, BOT_IDENTITY)


def current_tag(repo: str, env: str, components: Sequence[str], values_path: str) -> str:
    """The one tag the components run in ``env``; refused when they run different tags."""
    check_target(env, components)
    with open_repo(repo) as git:
        path = _values_file(git, env, values_path)
        tags = {tag for tag, _, _ in read_tags(path.read_text(), components, str(path)).values()}
    if len(tags) != 1:
        raise BumpError(f"{env} runs different tags: {', '.join(sorted(tags))}")
    return tags.pop()


def bump(
    repo: str,
    env: str,
    tag: str,
    *,
    components: Sequence[str] = COMPONENTS,
    push: bool = False,
    message: str | None = None,
    values_path: str = DEFAULT_VALUES_PATH,
    source_sha: str | None = None,
) -> BumpResult:
    """Set ``env``'s image tags to ``tag`` in one commit, and push it when asked."""
    check_target(env, components)
    check_tag(tag)
    with open_repo(repo) as git:
        path = _values_file(git, env, values_path)
        dirty = git.run("status", "--porcelain", "--untracked-files=no")
        if dirty:
            raise BumpError(f"working tree of {git.root} is not clean:\n{dirty}")
        text = path.read_text()
        updated = set_tags(text, components, tag, str(path))
        if updated == text:
            return BumpResult(False, f"{env} already runs {tag}; nothing to commit")
        path.write_text(updated)
        git.run("add", "--", str(path))
        git.run(
            "commit", "--quiet", "-m", _commit_message(env, tag, components, message, source_sha)
        )
        if push:
            _push(git)
        commit = git.run("rev-parse", "HEAD")
    pushed = "pushed" if push else "not pushed"
    return BumpResult(
        True, f"{env}: {', '.join(components)} -> {tag} ({commit[:12]}, {pushed})", commit
    )


def _values_file(git: Git, env: str, values_path: str) -> Path:
    path = git.root / values_path.replace("{env}", env)
    if not path.is_file():
        raise BumpError(f"values file {path} does not exist")
    return path


def _commit_message(
    env: str, tag: str, components: Sequence[str], subject: str | None, source_sha: str | None
) -> str:
    lines = [
        subject or f"gitops({env}): run {tag} for {', '.join(components)}",
        "",
        f"Image-Tag: {tag}",
    ]
    if source_sha:
        lines.append(f"Source-Commit: {source_sha}")
    return "\n".join(lines) + "\n"


def _push(git: Git) -> None:
    """Push HEAD to its branch on origin; on a rejected push, fetch, rebase and try again."""
    branch = git.run("symbolic-ref", "--short", "HEAD")
    for attempt in range(1, PUSH_ATTEMPTS + 1):
        pushed = git.attempt("push", "--quiet", REMOTE, f"HEAD:{branch}")
        if pushed.returncode == 0:
            return
        logger.warning("push %d/%d rejected, rebasing: %s", attempt, PUSH_ATTEMPTS, pushed.stderr)
        if git.attempt("pull", "--quiet", "--rebase", REMOTE, branch).returncode != 0:
            git.attempt("rebase", "--abort")
            raise BumpError(f"cannot rebase onto {REMOTE}/{branch}; a concurrent change conflicts")
    raise BumpError(f"push to {REMOTE}/{branch} still rejected after {PUSH_ATTEMPTS} attempts")
