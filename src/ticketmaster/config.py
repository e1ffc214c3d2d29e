"""Typed settings read once from ``TICKETMASTER_*`` environment variables."""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

PREFIX = "TICKETMASTER_"
T = TypeVar("T")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def _parse_int(raw: str) -> int:
    return int(raw)


def _parse_url(schemes: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if not raw.startswith(tuple(f"{s}://" for s in schemes)):
            raise ValueError(f"must start with one of {', '.join(s + '://' for s in schemes)}")
        return raw

    return parse


def _parse_namespace(raw: str) -> str:
    if not raw.replace("-", "").replace("_", "").isalnum() or len(raw) > 40:
        raise ValueError("must be 1-40 characters of letters, digits, '-' and '_'")
    return raw


def _parse_provider(raw: str) -> str:
    if raw not in {"sandbox", "stripe"}:
        raise ValueError("must be 'sandbox' or 'stripe'")
    return raw


def _parse_bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("must be true or false")


def _parse_non_negative(raw: str) -> float:
    value = float(raw)
    if not 0 <= value <= 60:
        raise ValueError("must be a number of seconds in [0, 60]")
    return value


def _parse_seconds(raw: str) -> float:
    value = float(raw)
    if not 0 < value <= 300:
        raise ValueError("must be a number of seconds in (0, 300]")
    return value


def _parse_tick(raw: str) -> float:
    value = float(raw)
    if not 0.01 <= value <= 5:
        raise ValueError("must be a number of seconds in [0.01, 5]")
    return value


def _parse_rate(raw: str) -> float:
    value = float(raw)
    if not 0 < value <= 1_000_000:
        raise ValueError("must be a number of requests per second in (0, 1000000]")
    return value


def _parse_replica_urls(raw: str) -> tuple[str, ...]:
    parse = _parse_url(("postgresql", "postgres"))
    urls = tuple(parse(part.strip()) for part in raw.split(",") if part.strip())
    if not urls:
        raise ValueError("must list at least one postgresql:// URL, comma-separated")
    return urls


def _parse_warmup(raw: str) -> float:
    value = float(raw)
    if not 0 <= value <= 86_400:
        raise ValueError("must be a number of seconds in [0, 86400] (0 = no warm-up)")
    return value


def _parse_optional_port(raw: str) -> int:
    value = int(raw)
    if not 0 < value < 65536:
        raise ValueError("must be a port between 1 and 65535")
    return value


def _parse_client_rate(raw: str) -> float:
    value = float(raw)
    if not 0 <= value <= 1_000_000:
        raise ValueError("must be a number of requests per second in [0, 1000000] (0 = off)")
    return value


def _parse_count(raw: str) -> int:
    value = int(raw)
    if not 0 <= value <= 1_000_000:
        raise ValueError("must be a whole number in [0, 1000000]")
    return value


def _parse_networks(raw: str) -> tuple[Network, ...]:
    """Comma-separated addresses or CIDRs (``none``: an empty list)."""
    if raw.lower() == "none":
        return ()
    try:
        return tuple(
            ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip()
        )
    except ValueError as exc:
        raise ValueError(f"must be comma-separated addresses or CIDRs, or none ({exc})") from None


def _read(env: Mapping[str, str], name: str, parse: Callable[[str], T], default: T) -> T:
    raw = env.get(PREFIX + name)
    if raw is None or raw == "":
        return default
    try:
        return parse(raw.strip())
    except ValueError as exc:
        raise ConfigError(f"{PREFIX}{name}={raw!r} is invalid: {exc}") from None


def _positive(name: str, value: int, *, minimum: int = 1) -> int:
    if value < minimum:
        raise ConfigError(f"{PREFIX}{name}={value} is invalid: must be >= {minimum}")
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    """Every knob of the service; build it with :meth:`from_env`."""

    database_url: str | None
    redis_url: str | None
    data_dir: Path
    host: str
    port: int
    hold_ttl_seconds: int
    secret_key: str
    sandbox_url: str
    db_pool_size: int
    token_ttl_seconds: int
    log_level: str
    redis_namespace: str
    redis_cluster: bool = False
    """TICKETMASTER_REDIS_URL is a seed node of a Redis Cluster (the client finds the rest)."""
    payment_provider: str = "sandbox"
    stripe_api_key: str | None = None
    stripe_api_base: str | None = None
    payment_timeout_seconds: float = 5.0
    worker_lease_seconds: float = 30.0
    queue_heartbeat_timeout_seconds: float = 30.0
    queue_tick_seconds: float = 0.25
    max_in_flight: int = 256
    rate_limit_per_second: float = 10.0
    rate_limit_burst: int = 20
    expiry_notifications: bool = True
    redis_sweep_interval_seconds: float = 0.1
    postgres_sweep_interval_seconds: float = 2.0
    reconcile_interval_seconds: float = 30.0
    browse_cache_seconds: float = 5.0
    web_concurrency: int = 1
    database_replica_urls: tuple[str, ...] = ()
    warmup_seconds: float = 60.0
    streams_per_process: int = 4096
    streams_per_client: int = 32
    internal_host: str = "127.0.0.1"
    internal_port: int | None = None
    client_rate_limit_per_second: float = 1.0
    client_rate_limit_burst: int = 20
    trusted_proxies: tuple[Network, ...] = ()
    client_limit_exempt: tuple[Network, ...] = LOOPBACK

    @property
    def embedded(self) -> bool:
        """True when either engine must be started by this program."""
        return self.database_url is None or self.redis_url is None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate settings; raise ConfigError naming the bad variable."""
        env = os.environ if env is None else env
        data_dir = Path(_read(env, "DATA_DIR", str, "./.ticketmaster")).expanduser().resolve()
        port = _read(env, "PORT", _parse_int, 8000)
        if not 0 < port < 65536:
            raise ConfigError(f"{PREFIX}PORT={port} is invalid: must be between 1 and 65535")
        log_level = _read(env, "LOG_LEVEL", str.upper, "INFO")
        if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ConfigError(f"{PREFIX}LOG_LEVEL={log_level} is invalid: use DEBUG/INFO/WARNING/ERROR")
        internal_port = _read(env, "INTERNAL_PORT", _parse_optional_port, None)
        if internal_port == port:
            raise ConfigError(
                f"{PREFIX}INTERNAL_PORT={internal_port} is invalid: must differ from {PREFIX}PORT"
            )
        secret = _read(env, "SECRET_KEY", str, "")
        if secret and len(secret) < 32:
            raise ConfigError(f"{PREFIX}SECRET_KEY is invalid: must be at least 32 characters")
        redis_url = _read(env, "REDIS_URL", _parse_url(("redis", "rediss", "unix")), None)
        redis_cluster = _read(env, "REDIS_CLUSTER", _parse_bool, False)
        if redis_cluster and (redis_url is None or redis_url.startswith("unix")):
            raise ConfigError(
                f"{PREFIX}REDIS_CLUSTER=true needs {PREFIX}REDIS_URL: a redis:// or rediss:// seed node "
                "of the cluster (the embedded Redis is a single node; `ticketmaster run --local-cluster` "
                "starts a local cluster)"
            )
        return cls(
            database_url=_read(env, "DATABASE_URL", _parse_url(("postgresql", "postgres")), None),
            redis_url=redis_url,
            data_dir=data_dir,
            host=_read(env, "HOST", str, "127.0.0.1"),
            port=port,
            hold_ttl_seconds=_positive("HOLD_TTL_SECONDS", _read(env, "HOLD_TTL_SECONDS", _parse_int, 600)),
            secret_key=secret or load_or_create_secret(data_dir),
            sandbox_url=_read(env, "SANDBOX_URL", _parse_url(("http", "https")), "http://127.0.0.1:8099"),
            db_pool_size=_positive("DB_POOL_SIZE", _read(env, "DB_POOL_SIZE", _parse_int, 20)),
            token_ttl_seconds=_positive(
                "TOKEN_TTL_SECONDS", _read(env, "TOKEN_TTL_SECONDS", _parse_int, 86400)
            ),
            log_level=log_level,
            redis_namespace=_read(env, "REDIS_NAMESPACE", _parse_namespace, "tm"),
            redis_cluster=redis_cluster,
            payment_provider=_read(env, "PAYMENT_PROVIDER", _parse_provider, "sandbox"),
            stripe_api_key=_read(env, "STRIPE_API_KEY", str, None),
            stripe_api_base=_read(env, "STRIPE_API_BASE", _parse_url(("http", "https")), None),
            payment_timeout_seconds=_read(env, "PAYMENT_TIMEOUT_SECONDS", _parse_seconds, 5.0),
            worker_lease_seconds=_read(env, "WORKER_LEASE_SECONDS", _parse_seconds, 30.0),
            queue_heartbeat_timeout_seconds=_read(
                env, "QUEUE_HEARTBEAT_TIMEOUT_SECONDS", _parse_seconds, 30.0
            ),
            queue_tick_seconds=_read(env, "QUEUE_TICK_SECONDS", _parse_tick, 0.25),
            max_in_flight=_positive("MAX_IN_FLIGHT", _read(env, "MAX_IN_FLIGHT", _parse_int, 256)),
            rate_limit_per_second=_read(env, "RATE_LIMIT_PER_SECOND", _parse_rate, 10.0),
            rate_limit_burst=_positive("RATE_LIMIT_BURST", _read(env, "RATE_LIMIT_BURST", _parse_int, 20)),
            expiry_notifications=_read(env, "EXPIRY_NOTIFICATIONS", _parse_bool, True),
            redis_sweep_interval_seconds=_read(env, "REDIS_SWEEP_INTERVAL_SECONDS", _parse_seconds, 0.1),
            postgres_sweep_interval_seconds=_read(
                env, "POSTGRES_SWEEP_INTERVAL_SECONDS", _parse_seconds, 2.0
            ),
            reconcile_interval_seconds=_read(env, "RECONCILE_INTERVAL_SECONDS", _parse_seconds, 30.0),
            browse_cache_seconds=_read(env, "BROWSE_CACHE_SECONDS", _parse_non_negative, 5.0),
            web_concurrency=_positive("WEB_CONCURRENCY", _read(env, "WEB_CONCURRENCY", _parse_int, 1)),
            database_replica_urls=_read(env, "DATABASE_REPLICA_URLS", _parse_replica_urls, ()),
            warmup_seconds=_read(env, "WARMUP_SECONDS", _parse_warmup, 60.0),
            streams_per_process=_positive(
                "STREAMS_PER_PROCESS", _read(env, "STREAMS_PER_PROCESS", _parse_int, 4096)
            ),
            streams_per_client=_read(env, "STREAMS_PER_CLIENT", _parse_count, 32),
            internal_host=_read(env, "INTERNAL_HOST", str, "127.0.0.1"),
            internal_port=internal_port,
            client_rate_limit_per_second=_read(env, "CLIENT_RATE_LIMIT_PER_SECOND", _parse_client_rate, 1.0),
            client_rate_limit_burst=_read(env, "CLIENT_RATE_LIMIT_BURST", _parse_count, 20),
            trusted_proxies=_read(env, "TRUSTED_PROXIES", _parse_networks, ()),
            client_limit_exempt=_read(env, "CLIENT_LIMIT_EXEMPT", _parse_networks, LOOPBACK),
        )


def load_or_create_secret(data_dir: Path) -> str:
    """Return the secret stored in the data dir, creating it (mode 0600) on first use."""
    path = data_dir / "secret_key"
    try:
        return _stored_secret(path)
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    # Written aside, then linked into place: a process racing on first start sees either
    # no file or the whole secret (never an empty one), and exactly one secret wins.
    aside = data_dir / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secret)
        try:
            os.link(aside, path)
        except FileExistsError:
            return _stored_secret(path)
    finally:
        aside.unlink(missing_ok=True)
    return secret


def _stored_secret(path: Path) -> str:
    secret = path.read_text().strip()
    if len(secret) < 32:
        raise ConfigError(
            f"{path} holds no usable secret (fewer than 32 characters); delete it or set {PREFIX}SECRET_KEY"
        )
    return secret
