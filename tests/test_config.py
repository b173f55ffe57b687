"""config/execution_mode.yml: defaults in code, the plan's format, errors naming file and key."""
from __future__ import annotations

import pytest

from adp.config import ExecutionConfig, load_execution_config
from adp.errors import ConfigError


def write(tmp_path, text):
    (tmp_path / "execution_mode.yml").write_text(text)
    return tmp_path


def test_missing_config_dir_means_defaults(tmp_path):
    assert load_execution_config(tmp_path / "absent") == ExecutionConfig()


def test_the_plans_format_loads(tmp_path):
    cfg = load_execution_config(write(tmp_path, """
execution:
  mode: autonomous
retry:
  max_retries: 2
  base_delay_seconds: 1
  backoff_multiplier: 3
autonomous:
  min_confidence: 0.9
  create_backups: false
"""))
    assert cfg.execution.mode == "autonomous"
    assert cfg.retry.max_retries == 2 and cfg.retry.base_delay_seconds == 1.0 and cfg.retry.backoff_multiplier == 3.0
    assert cfg.autonomous.min_confidence == 0.9 and cfg.autonomous.create_backups is False
    assert cfg.agent.enabled is False and cfg.engine == "subprocess"


def test_repo_config_is_valid():
    from pathlib import Path

    cfg = load_execution_config(Path(__file__).resolve().parents[1] / "config")
    assert cfg.execution.mode in ("autonomous", "human-in-loop")


@pytest.mark.parametrize(
    "text, key",
    [
        ("retry:\n  max_retriez: 3\n", "retry.max_retriez"),
        ("retry:\n  max_retries: three\n", "retry.max_retries"),
        ("execution:\n  mode: yolo\n", "execution.mode"),
        ("engine: threads\n", "engine"),
        ("autonomous:\n  min_confidence: 1.5\n", "autonomous.min_confidence"),
        ("agent:\n  enabled: 'yes'\n", "agent.enabled"),
        ("retry: [1, 2]\n", "retry"),
        ("retry:\n  max_retries: 3\n bad indent: x\n", "line"),
    ],
)
def test_bad_config_names_file_and_key(tmp_path, text, key):
    with pytest.raises(ConfigError) as err:
        load_execution_config(write(tmp_path, text))
    assert "execution_mode.yml" in str(err.value) and key in str(err.value)
    assert err.value.exit_code == 2
