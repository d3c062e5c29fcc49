from __future__ import annotations

import pytest

from streams.config import Settings


def test_secrets_never_show_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    canary = "canary-" + "9f" * 20
    monkeypatch.setenv("QLOOP_KAFKA_SASL_PASSWORD", canary)
    monkeypatch.setenv("QLOOP_IBM_TOKEN", canary)
    settings = Settings()
    assert canary not in repr(settings)
    assert canary not in str(settings.model_dump())
    assert settings.librdkafka_config()["sasl.password"] == canary


def test_defaults_point_at_the_embedded_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("QLOOP_KAFKA_BOOTSTRAP", "QLOOP_CLICKHOUSE_DSN", "QLOOP_DATA_DIR"):
        monkeypatch.delenv(var, raising=False)
    settings = Settings()
    assert settings.bootstrap == "127.0.0.1:9092"
    assert settings.dsn.startswith("chdb:///") and settings.dsn.endswith(".qloop/clickhouse")
    from pydantic import ValidationError

    with pytest.raises(ValidationError):  # frozen
        settings.max_batch = 3  # type: ignore[misc]


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QLOOP_KAFKA_BOOTSTRAP", "kafka:29092")
    monkeypatch.setenv("QLOOP_CLICKHOUSE_DSN", "http://ch:8123")
    settings = Settings()
    assert settings.bootstrap == "kafka:29092"
    assert settings.dsn == "http://ch:8123"
