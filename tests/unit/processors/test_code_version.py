"""The reproducibility bundle names the code that ran: git describe in a checkout."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from processors import results

ROOT = Path(__file__).resolve().parents[3]


def test_code_version_is_git_describe_in_a_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout (an installed copy): the distribution path applies")
    monkeypatch.delenv(results.CODE_VERSION_ENV, raising=False)
    results.code_version.cache_clear()
    try:
        expected = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty", "--tags"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        assert results.code_version() == expected
        assert expected and not expected.startswith("qloop-")
    finally:
        results.code_version.cache_clear()


def test_a_deployment_can_name_its_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(results.CODE_VERSION_ENV, "release-2026.12")
    results.code_version.cache_clear()
    try:
        assert results.code_version() == "release-2026.12"
    finally:
        results.code_version.cache_clear()
