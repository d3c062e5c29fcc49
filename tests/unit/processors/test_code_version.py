"""The reproducibility bundle names the code that ran: git describe in a checkout."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from processors import results

ROOT = Path(__file__).resolve().parents[3]


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_git_describe_names_the_commit_and_a_dirty_tree(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("one")
    _git(tmp_path, "add", "a.txt")
    _git(tmp_path, "-c", "user.email=q@l", "-c", "user.name=q", "commit", "-qm", "one")
    _git(tmp_path, "tag", "v1.2.3")
    assert results._git_describe(tmp_path) == "v1.2.3"
    (tmp_path / "a.txt").write_text("two")
    assert results._git_describe(tmp_path) == "v1.2.3-dirty"
    assert results._git_describe(tmp_path / "not-a-checkout") is None


def test_code_version_is_the_checkouts_describe_or_the_distribution(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(results.CODE_VERSION_ENV, raising=False)
    results.code_version.cache_clear()
    try:
        described = results._git_describe(ROOT)
        if described is not None:  # a checkout (CI, development)
            assert results.code_version() == described
        else:  # an installed copy
            assert results.code_version().startswith("qloop-")
    finally:
        results.code_version.cache_clear()


def test_a_deployment_can_name_its_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(results.CODE_VERSION_ENV, "release-2026.12")
    results.code_version.cache_clear()
    try:
        assert results.code_version() == "release-2026.12"
    finally:
        results.code_version.cache_clear()
