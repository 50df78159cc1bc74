"""Configuration from the environment, with safe defaults."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from safepassage import config


def test_defaults_generate_a_private_master_key_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config.load({"SAFEPASSAGE_DATA_DIR": str(tmp_path)})
    key_file = tmp_path / config.MASTER_KEY_FILE
    assert cfg.master_key_generated and len(cfg.master_key) == 32
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert "WARNING" in capsys.readouterr().err
    again = config.load({"SAFEPASSAGE_DATA_DIR": str(tmp_path)})
    assert again.master_key == cfg.master_key and not again.master_key_generated
    assert cfg.database_url == f"sqlite:///{tmp_path / 'safepassage.sqlite3'}"
    assert not cfg.is_postgres


def test_master_key_and_database_from_the_environment(tmp_path: Path) -> None:
    key = base64.urlsafe_b64encode(bytes(range(32))).decode()
    cfg = config.load(
        {
            "SAFEPASSAGE_DATA_DIR": str(tmp_path),
            "SAFEPASSAGE_MASTER_KEY": key,
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/x",
        }
    )
    assert cfg.master_key == bytes(range(32)) and cfg.is_postgres
    assert not (tmp_path / config.MASTER_KEY_FILE).exists()
    assert "master_key" not in repr(cfg) or bytes(range(32)).hex() not in repr(cfg)


def test_a_short_master_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="32 bytes"):
        config.load({"SAFEPASSAGE_DATA_DIR": str(tmp_path), "SAFEPASSAGE_MASTER_KEY": "c2hvcnQ"})


@pytest.mark.parametrize("value", ["0", "1", "59", "-5", "soon"])
def test_an_erase_delay_the_storage_cannot_honour_is_refused(tmp_path: Path, value: str) -> None:
    env = {"SAFEPASSAGE_DATA_DIR": str(tmp_path), "TELEGRAM_ERASE_AFTER_SECONDS": value}
    with pytest.raises(SystemExit, match="TELEGRAM_ERASE_AFTER_SECONDS"):
        config.load(env)
    env["TELEGRAM_ERASE_AFTER_SECONDS"] = "60"
    assert config.load(env).telegram_erase_after_seconds == 60


def test_the_purge_period_of_serve(tmp_path: Path) -> None:
    def period(value: str) -> float:
        env = {"SAFEPASSAGE_DATA_DIR": str(tmp_path), "SAFEPASSAGE_PURGE_EVERY_SECONDS": value}
        return config.load(env).purge_every_seconds

    assert period("") == 3600 and period("1") == 1 and period("0") == 0
    for bad in ("soon", "-5", "nan", "inf"):
        with pytest.raises(SystemExit, match="SAFEPASSAGE_PURGE_EVERY_SECONDS"):
            period(bad)


def test_metrics_token_and_log_format(tmp_path: Path) -> None:
    base = {"SAFEPASSAGE_DATA_DIR": str(tmp_path)}
    cfg = config.load(base)
    assert cfg.metrics_token == "" and cfg.log_format == "json"
    token = "demo-metrics-token-0123456789abcdef"
    cfg = config.load(
        {**base, "SAFEPASSAGE_METRICS_TOKEN": token, "SAFEPASSAGE_LOG_FORMAT": "console"}
    )
    assert cfg.metrics_token == token and cfg.log_format == "console"
    assert token not in repr(cfg)
    with pytest.raises(SystemExit, match="24 characters"):
        config.load({**base, "SAFEPASSAGE_METRICS_TOKEN": "short"})
    with pytest.raises(SystemExit, match="json or console"):
        config.load({**base, "SAFEPASSAGE_LOG_FORMAT": "xml"})
