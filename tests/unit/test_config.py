"""Settings.from_env: defaults, parsing, errors that name the variable, the stored secret."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ticketmaster.config import ConfigError, Settings

SECRET = "s" * 40


def test_defaults(tmp_path: Path) -> None:
    s = Settings.from_env({"TICKETMASTER_DATA_DIR": str(tmp_path)})

    assert s.database_url is None
    assert s.redis_url is None
    assert s.embedded is True
    assert s.data_dir == tmp_path.resolve()
    assert s.host == "127.0.0.1"
    assert s.port == 8000
    assert s.hold_ttl_seconds == 600
    assert s.sandbox_url == "http://127.0.0.1:8099"
    assert s.db_pool_size == 20
    assert s.token_ttl_seconds == 86400
    assert s.log_level == "INFO"
    assert s.redis_namespace == "tm"
    assert s.redis_cluster is False
    assert s.web_concurrency == 1
    assert s.database_replica_urls == ()
    assert s.warmup_seconds == 60
    assert len(s.secret_key) >= 32


def test_the_default_data_dir_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    s = Settings.from_env({"TICKETMASTER_SECRET_KEY": SECRET})

    assert s.data_dir == (tmp_path / ".ticketmaster").resolve()
    assert s.secret_key == SECRET
    assert not (tmp_path / ".ticketmaster").exists()  # a given secret is never written down


def test_every_setting_is_read_and_parsed(tmp_path: Path) -> None:
    s = Settings.from_env(
        {
            "TICKETMASTER_DATABASE_URL": "postgresql://u@db:5432/tm",
            "TICKETMASTER_REDIS_URL": "rediss://cache:6380/1",
            "TICKETMASTER_DATA_DIR": str(tmp_path / "d"),
            "TICKETMASTER_HOST": "0.0.0.0",
            "TICKETMASTER_PORT": " 9001 ",
            "TICKETMASTER_HOLD_TTL_SECONDS": "120",
            "TICKETMASTER_SECRET_KEY": SECRET,
            "TICKETMASTER_SANDBOX_URL": "https://sandbox.example",
            "TICKETMASTER_DB_POOL_SIZE": "5",
            "TICKETMASTER_TOKEN_TTL_SECONDS": "60",
            "TICKETMASTER_LOG_LEVEL": "debug",
            "TICKETMASTER_REDIS_NAMESPACE": "run-1_a",
            "TICKETMASTER_REDIS_CLUSTER": "true",
            "TICKETMASTER_WEB_CONCURRENCY": "4",
            "TICKETMASTER_DATABASE_REPLICA_URLS": "postgresql://r1:5432/tm, postgres://r2/tm,",
            "TICKETMASTER_WARMUP_SECONDS": "0",
            "UNRELATED": "ignored",
        }
    )

    assert s.database_url == "postgresql://u@db:5432/tm"
    assert s.redis_url == "rediss://cache:6380/1"
    assert s.embedded is False
    assert s.data_dir == (tmp_path / "d").resolve()
    assert s.host == "0.0.0.0"
    assert s.port == 9001
    assert s.hold_ttl_seconds == 120
    assert s.secret_key == SECRET
    assert s.sandbox_url == "https://sandbox.example"
    assert s.db_pool_size == 5
    assert s.token_ttl_seconds == 60
    assert s.log_level == "DEBUG"
    assert s.redis_namespace == "run-1_a"
    assert s.redis_cluster is True
    assert s.warmup_seconds == 0
    assert s.web_concurrency == 4
    assert s.database_replica_urls == ("postgresql://r1:5432/tm", "postgres://r2/tm")


def test_one_engine_url_alone_still_means_embedded(tmp_path: Path) -> None:
    s = Settings.from_env(
        {"TICKETMASTER_DATA_DIR": str(tmp_path), "TICKETMASTER_DATABASE_URL": "postgres://db/tm"}
    )
    assert s.database_url == "postgres://db/tm"
    assert s.embedded is True


def test_an_empty_variable_means_the_default(tmp_path: Path) -> None:
    s = Settings.from_env(
        {"TICKETMASTER_DATA_DIR": str(tmp_path), "TICKETMASTER_PORT": "", "TICKETMASTER_DATABASE_URL": ""}
    )
    assert s.port == 8000
    assert s.database_url is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "http"),
        ("PORT", "0"),
        ("PORT", "65536"),
        ("PORT", "-1"),
        ("PORT", "80.5"),
        ("HOLD_TTL_SECONDS", "0"),
        ("HOLD_TTL_SECONDS", "ten"),
        ("DB_POOL_SIZE", "0"),
        ("DB_POOL_SIZE", "many"),
        ("TOKEN_TTL_SECONDS", "-5"),
        ("LOG_LEVEL", "LOUD"),
        ("SECRET_KEY", "too-short"),
        ("DATABASE_URL", "mysql://db/tm"),
        ("DATABASE_URL", "localhost:5432"),
        ("REDIS_URL", "http://cache:6379"),
        ("SANDBOX_URL", "ftp://sandbox"),
        ("REDIS_NAMESPACE", "a:b"),
        ("REDIS_NAMESPACE", "has space"),
        ("REDIS_NAMESPACE", "n" * 41),
        ("REDIS_NAMESPACE", "---"),
        ("PAYMENT_PROVIDER", "paypal"),
        ("STRIPE_API_BASE", "api.stripe.com"),
        ("PAYMENT_TIMEOUT_SECONDS", "0"),
        ("PAYMENT_TIMEOUT_SECONDS", "soon"),
        ("WARMUP_SECONDS", "-1"),
        ("WARMUP_SECONDS", "a minute"),
        ("WEB_CONCURRENCY", "0"),
        ("INTERNAL_PORT", "8000"),  # the public port's default
        ("INTERNAL_PORT", "70000"),
        ("WEB_CONCURRENCY", "two"),
        ("DATABASE_REPLICA_URLS", "postgresql://r1/tm,mysql://r2/tm"),
        ("DATABASE_REPLICA_URLS", " , "),
    ],
)
def test_a_bad_value_names_its_variable(tmp_path: Path, name: str, value: str) -> None:
    env = {"TICKETMASTER_DATA_DIR": str(tmp_path), "TICKETMASTER_SECRET_KEY": SECRET}
    env[f"TICKETMASTER_{name}"] = value

    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)

    assert f"TICKETMASTER_{name}" in str(caught.value)


@pytest.mark.parametrize("url", [None, "unix:///tmp/redis.sock"])
def test_a_cluster_needs_a_seed_node_url(tmp_path: Path, url: str | None) -> None:
    env = {"TICKETMASTER_DATA_DIR": str(tmp_path), "TICKETMASTER_REDIS_CLUSTER": "yes"}
    if url is not None:
        env["TICKETMASTER_REDIS_URL"] = url

    with pytest.raises(ConfigError, match="TICKETMASTER_REDIS_CLUSTER=true needs TICKETMASTER_REDIS_URL"):
        Settings.from_env(env)


def test_a_short_secret_is_not_echoed_in_the_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"TICKETMASTER_DATA_DIR": str(tmp_path), "TICKETMASTER_SECRET_KEY": "hunter2-xyz"})
    assert "hunter2-xyz" not in str(caught.value)


def test_the_secret_is_generated_once_private_and_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "not-yet-created"
    env = {"TICKETMASTER_DATA_DIR": str(data_dir)}

    first = Settings.from_env(env)
    stored = data_dir / "secret_key"

    assert len(first.secret_key) >= 32
    assert stored.read_text() == first.secret_key
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert sorted(p.name for p in data_dir.iterdir()) == ["secret_key"]

    second = Settings.from_env(env)
    assert second.secret_key == first.secret_key
    assert stored.read_text() == first.secret_key


def test_each_data_dir_gets_its_own_secret(tmp_path: Path) -> None:
    a = Settings.from_env({"TICKETMASTER_DATA_DIR": str(tmp_path / "a")})
    b = Settings.from_env({"TICKETMASTER_DATA_DIR": str(tmp_path / "b")})
    assert a.secret_key != b.secret_key


def test_an_explicit_secret_wins_over_the_stored_one(tmp_path: Path) -> None:
    stored = Settings.from_env({"TICKETMASTER_DATA_DIR": str(tmp_path)}).secret_key

    s = Settings.from_env({"TICKETMASTER_DATA_DIR": str(tmp_path), "TICKETMASTER_SECRET_KEY": SECRET})

    assert s.secret_key == SECRET
    assert (tmp_path / "secret_key").read_text() == stored


@pytest.mark.parametrize("content", ["", "\n", "short"])
def test_an_unusable_stored_secret_is_refused_not_used(tmp_path: Path, content: str) -> None:
    (tmp_path / "secret_key").write_text(content)

    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"TICKETMASTER_DATA_DIR": str(tmp_path)})

    assert "secret_key" in str(caught.value)
    assert "TICKETMASTER_SECRET_KEY" in str(caught.value)
