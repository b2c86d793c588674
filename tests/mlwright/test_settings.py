from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from mlwright.queues import QueueSet, Resource
from mlwright.settings import Settings


def test_environment_overrides_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("MLWRIGHT_TEMPORAL_ADDRESS", "temporal.internal:7233")
    monkeypatch.setenv("MLWRIGHT_TRAINING_CONCURRENCY", "3")
    s = Settings(home=tmp_path)
    assert (s.temporal_address, s.training_concurrency) == ("temporal.internal:7233", 3)
    assert s.resolved_database_url == f"sqlite:///{tmp_path.resolve()}/mlwright.db"


def test_config_file_is_read_and_environment_wins(monkeypatch, tmp_path):
    config = tmp_path / "mlwright.toml"
    config.write_text('temporal_namespace = "ml"\ncpu_concurrency = 6\n')
    monkeypatch.setenv("MLWRIGHT_CONFIG_FILE", str(config))
    monkeypatch.setenv("MLWRIGHT_CPU_CONCURRENCY", "4")
    s = Settings()
    assert (s.temporal_namespace, s.cpu_concurrency) == ("ml", 4)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"temporal_address": "localhost"}, "must be host:port"),
        ({"io_concurrency": 0}, "io_concurrency"),
        ({"environment": "production"}, "production needs a server database"),
        ({"environment": "production", "database_url": "postgresql+psycopg://db/x", "temporal_api_key": "changeme"},
         "placeholder"),
        ({"log_level": "LOUD"}, "unknown log level"),
        ({"environment": "production", "database_url": "postgresql+psycopg://db/x",
          "fault_injection": "model_deterioration:3"}, "refused in production"),
        ({"fault_injection": "step:x"}, "expected 'step' or 'step:N'"),
        ({"alert_routes": {"page": ["http://x"]}}, "unknown severities"),
        ({"dev_start_timeout_s": 0}, "dev_start_timeout_s"),
        ({"worker_release_memory_growth_mb": -1}, "worker_release_memory_growth_mb"),
        ({"dev_fhir_parse_processes": -1}, "dev_fhir_parse_processes"),
        ({"dev_fhir_parse_processes": "many"}, "dev_fhir_parse_processes"),
    ],
)
def test_bad_settings_are_refused_with_a_reason(values, message):
    with pytest.raises(ValidationError, match=message):
        Settings(**values)


def test_run_links_point_at_the_ui():
    s = Settings(dev_ui_port=9000)
    assert s.run_url("wf", "r1") == "http://localhost:9000/namespaces/default/workflows/wf/r1/history"


def test_queue_prefix_is_recovered_from_the_workflow_queue():
    queues = QueueSet.from_workflow_queue("staging-pipelines")
    assert (queues[Resource.IO], queues[Resource.TRAINING]) == ("staging-io", "staging-training")
    with pytest.raises(ValueError, match="ending in 'pipelines'"):
        QueueSet.from_workflow_queue("default")


def test_own_sqlite_files_are_found_without_sqlalchemy_as_sqlalchemy_finds_them(tmp_path):
    """Issue 10: the fast path for mlwright's own URL shape agrees with SQLAlchemy's parser."""
    from sqlalchemy import make_url

    from mlwright.settings import _sqlite_file

    for url in [f"sqlite:///{tmp_path}/a.db", f"sqlite:///{tmp_path}/a%20b.db", f"sqlite:///{tmp_path}/x.db?mode=ro",
                "sqlite:///relative.db", "sqlite://", "sqlite:///:memory:", f"sqlite+pysqlite:///{tmp_path}/p.db"]:
        database = make_url(url).database
        expected = None if database in (None, "", ":memory:") else Path(database).resolve()
        assert _sqlite_file(url) == expected, url
    assert _sqlite_file("postgresql+psycopg://u@h/db") is None
