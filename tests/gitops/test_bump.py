"""``bump`` against real git: a bare remote, clones, pushes, races and refusals."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ragfleet.gitops.bump import (
    PUSH_ATTEMPTS,
    BumpError,
    Git,
    bump,
    current_tag,
    set_tags,
)

if TYPE_CHECKING:
    from tests.utils.gitops_repo import Remote

STAGING = "deploy/helm/ragfleet/values-staging.yaml"
PROD = "deploy/helm/ragfleet/values-prod.yaml"
SHA = "0123456789abcdef0123456789abcdef01234567"


def test_bump_changes_only_the_tag_lines_and_keeps_every_comment(remote: Remote) -> None:
    clone = remote.clone("work")

    result = bump(str(clone), "staging", f"sha-{SHA}", push=True, source_sha=SHA)

    assert result.changed
    assert result.commit == remote.head()
    diff = remote.git(remote.bare, "show", "--format=", "--unified=0", "main")
    changed = [line for line in diff.splitlines() if re.match(r"[-+](?![-+]{2} )", line)]
    assert changed == [
        '-    tag: "0.1.0"  # bumped by CI',
        f'+    tag: "sha-{SHA}"  # bumped by CI',
        '-    tag: "0.1.0"',
        f'+    tag: "sha-{SHA}"',
    ]
    assert remote.show(STAGING) == remote.values.replace('"0.1.0"', f'"sha-{SHA}"')
    assert remote.show(PROD) == remote.values
    comments = [line.split("#", 1)[1] for line in remote.values.splitlines() if "#" in line]
    assert all(comment in remote.show(STAGING) for comment in comments)


def test_commit_names_tag_and_source_commit_and_uses_the_bot_identity(remote: Remote) -> None:
    bump(str(remote.clone("work")), "staging", "v1.2.3", push=True, source_sha=SHA)

    message = remote.git(remote.bare, "log", "-1", "--format=%B", "main")
    assert "v1.2.3" in message.splitlines()[0]
    assert f"Image-Tag: v1.2.3\nSource-Commit: {SHA}" in message
    assert remote.git(remote.bare, "log", "-1", "--format=%an <%ae>", "main").startswith(
        "ragfleet-bot <"
    )


def test_custom_message_and_single_component(remote: Remote) -> None:
    bump(
        str(remote.clone("work")),
        "prod",
        "1.0.0-rc.1",
        components=["worker"],
        push=True,
        message="promote worker",
    )

    assert remote.git(remote.bare, "log", "-1", "--format=%s", "main") == "promote worker"
    values = remote.show(PROD)
    assert 'tag: "0.1.0"  # bumped by CI' in values
    assert 'tag: "1.0.0-rc.1"' in values


def test_same_tag_again_makes_no_commit(remote: Remote) -> None:
    clone = remote.clone("work")
    bump(str(clone), "staging", "sha-abc1234", push=True)
    head = remote.head()

    again = bump(str(clone), "staging", "sha-abc1234", push=True)

    assert not again.changed
    assert "already runs sha-abc1234" in again.message
    assert remote.head() == head == remote.git(clone, "rev-parse", "HEAD")


def test_without_push_the_commit_stays_local(remote: Remote) -> None:
    before = remote.head()
    clone = remote.clone("work")

    result = bump(str(clone), "staging", "sha-abc1234")

    assert remote.head() == before
    assert remote.git(clone, "rev-parse", "HEAD") == result.commit != before


def test_racing_bumps_from_two_clones_both_land(remote: Remote) -> None:
    first, second = remote.clone("first"), remote.clone("second")

    landed = bump(str(first), "staging", "sha-1111111", push=True)
    # `second` still stands on the seed commit: its push is rejected, it rebases and retries.
    rebased = bump(str(second), "prod", "sha-2222222", push=True)

    assert remote.head() == rebased.commit
    assert remote.git(remote.bare, "rev-parse", "main~1") == landed.commit
    assert 'tag: "sha-1111111"' in remote.show(STAGING)
    assert 'tag: "sha-2222222"' in remote.show(PROD)


def test_a_conflicting_race_is_refused_and_leaves_no_rebase_behind(remote: Remote) -> None:
    first, second = remote.clone("first"), remote.clone("second")
    bump(str(first), "staging", "sha-1111111", push=True)

    with pytest.raises(BumpError, match="conflicts"):
        bump(str(second), "staging", "sha-2222222", push=True)

    assert 'tag: "sha-1111111"' in remote.show(STAGING)
    assert not (second / ".git" / "rebase-merge").exists()
    assert not (second / ".git" / "rebase-apply").exists()


def test_push_retries_are_bounded(remote: Remote) -> None:
    hook = remote.bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'frozen' >&2\nexit 1\n")
    hook.chmod(0o755)

    with pytest.raises(BumpError, match=f"still rejected after {PUSH_ATTEMPTS} attempts"):
        bump(str(remote.clone("work")), "staging", "sha-abc1234", push=True)


def test_a_url_is_cloned_bumped_and_pushed(remote: Remote) -> None:
    result = bump(remote.bare.as_uri(), "staging", "sha-abc1234", push=True)

    assert result.changed
    assert remote.head() == result.commit
    assert current_tag(remote.bare.as_uri(), "staging", ["api", "worker"], STAGING) == "sha-abc1234"


@pytest.mark.parametrize(
    "tag", ["sha-abc1234", f"sha-{SHA}", "abc1234", SHA, "v1.2.3", "1.2.3", "10.20.30-rc.1"]
)
def test_accepted_tags(remote: Remote, tag: str) -> None:
    assert bump(str(remote.clone("work")), "staging", tag).changed


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"env": "production"}, "unknown environment 'production'"),
        ({"tag": "latest"}, "malformed tag 'latest'"),
        ({"tag": "sha-abc12"}, "malformed tag"),
        ({"tag": "sha-ABC1234"}, "malformed tag"),
        ({"tag": f"{SHA}0"}, "malformed tag"),
        ({"tag": "1.2"}, "malformed tag"),
        ({"tag": "1.2.3 "}, "malformed tag"),
        ({"tag": '1.2.3"\nevil: "x'}, "malformed tag"),
        ({"components": ["api", "gateway"]}, r"unknown component\(s\) \['gateway'\]"),
        ({"components": []}, "unknown component"),
        ({"values_path": "helm/values-{env}.yaml"}, "values-staging.yaml does not exist"),
    ],
)
def test_refusals(remote: Remote, arguments: dict[str, object], message: str) -> None:
    clone = remote.clone("work")
    call: dict[str, object] = {"env": "staging", "tag": "sha-abc1234", **arguments}
    env, tag = str(call.pop("env")), str(call.pop("tag"))

    with pytest.raises(BumpError, match=message):
        bump(str(clone), env, tag, push=True, **call)  # type: ignore[arg-type]

    assert remote.git(clone, "status", "--porcelain") == ""
    assert remote.head() == remote.git(clone, "rev-parse", "HEAD")


def test_refuses_a_values_file_without_the_image_key(remote: Remote) -> None:
    clone = remote.clone("work")
    (clone / STAGING).write_text(remote.values.replace('    tag: "0.1.0"\n', ""))
    remote.git(clone, "commit", "--quiet", "-am", "drop the worker tag")

    with pytest.raises(BumpError, match="has no worker.image.tag"):
        bump(str(clone), "staging", "sha-abc1234")
    assert remote.git(clone, "status", "--porcelain") == ""


def test_refuses_a_dirty_working_tree(remote: Remote) -> None:
    clone = remote.clone("work")
    (clone / "README.md").write_text("edited by hand\n")

    with pytest.raises(BumpError, match="not clean"):
        bump(str(clone), "staging", "sha-abc1234")
    assert (clone / STAGING).read_text() == remote.values


def test_refuses_a_path_that_is_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(BumpError, match="not a git working tree"):
        bump(str(tmp_path), "staging", "sha-abc1234")


def test_current_tag_refuses_components_on_different_tags(remote: Remote) -> None:
    clone = remote.clone("work")
    bump(str(clone), "staging", "sha-abc1234", components=["api"])

    with pytest.raises(BumpError, match="different tags: 0.1.0, sha-abc1234"):
        current_tag(str(clone), "staging", ["api", "worker"], STAGING)
    assert current_tag(str(clone), "staging", ["api"], STAGING) == "sha-abc1234"


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (
            "a:\n  image: {repository: r, tag: 1.0.0}\n",
            'a:\n  image: {repository: r, tag: "2.0.0"}\n',
        ),
        ("a:\n  image:\n    tag: '1.0.0' # x\n", 'a:\n  image:\n    tag: "2.0.0" # x\n'),
        ("a:\n  image:\n    tag: 1.0.0\n", 'a:\n  image:\n    tag: "2.0.0"\n'),
    ],
)
def test_set_tags_keeps_the_rest_of_the_line(before: str, after: str) -> None:
    assert set_tags(before, ["a"], "2.0.0", "values.yaml") == after


def test_credentials_in_git_output_never_reach_the_message(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "--quiet", str(tmp_path)], check=True)
    # git echoes an unknown ref verbatim, credentials included.
    with pytest.raises(BumpError) as refused:
        Git(tmp_path).run(
            "show-ref", "--verify", "refs/heads/https://bot:s3cr3t-token@example.invalid/c"
        )
    assert "s3cr3t-token" not in refused.value.message
    assert "https://***@example.invalid" in refused.value.message
