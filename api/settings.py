"""Settings: one frozen object read from the environment at start-up.

Every variable is listed in .env.example. A bad value stops start-up with a message naming
the variable; production refuses a missing DATABASE_URL or a missing or short secret.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast
from urllib.parse import urlsplit

from api.text import ascii_int

AppEnv = Literal["development", "test", "production"]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MIN_SECRET_BYTES = 32
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LogFormat = Literal["json", "text"]


class SettingsError(ValueError):
    """A variable of the environment is missing or invalid; the message names it."""


@dataclass(frozen=True)
class Settings:
    app_env: AppEnv
    database_url: str = field(repr=False)
    jwt_access_secret: str = field(repr=False)
    port: int = 3000
    jwt_access_ttl_seconds: int = 900
    jwt_issuer: str = "tenant-iam"
    jwt_audience: str = "tenant-iam-api"
    invitation_ttl_seconds: int = 7 * 24 * 3600
    db_pool_min_size: int = 1
    db_pool_max_size: int = 10
    db_pool_timeout_seconds: float = 5.0
    db_pool_max_idle_seconds: float = 600.0
    db_pool_max_lifetime_seconds: float = 3600.0
    db_pool_check: bool = False
    db_statement_timeout_ms: int = 5000
    db_lock_timeout_ms: int = 1000
    db_prepared_statements: bool = True
    cors_allowed_origins: tuple[str, ...] = ()
    metrics_token: str | None = field(default=None, repr=False)
    log_level: str = "INFO"
    log_format: LogFormat = "json"
    jwt_access_secret_previous: str | None = field(default=None, repr=False)
    jwt_private_key_file: Path | None = None
    jwt_previous_public_key_file: Path | None = None
    jwt_refresh_ttl_seconds: int = 30 * 24 * 3600
    login_max_failures: int = 10
    login_max_failures_per_ip: int = 100
    login_window_seconds: int = 900
    login_email_free_failures: int = 10
    login_email_max_spacing_seconds: int = 30
    registrations_per_address: int = 10
    registration_window_seconds: int = 3600
    refresh_reuse_grace_seconds: int = 10
    trusted_proxies: tuple[Network, ...] = ()
    client_address_header: str | None = None
    password_hash_concurrency: int = 1
    password_hash_queue: int = 64
    password_hash_wait_ms: int = 5000
    password_hash_per_client: int = 2
    header_timeout_seconds: int = 10
    max_connections_per_worker: int = 1000
    body_buffer_bytes_per_worker: int = 32 * 1024 * 1024
    # Mail (api/mail/): without smtp_url, messages are written under mail_dir (not in production).
    smtp_url: str | None = field(default=None, repr=False)
    mail_from: str = "tenant-iam <no-reply@localhost>"
    app_base_url: str = "http://localhost:3000"
    mail_dir: Path = Path(".data/mail")
    cron_secret: str | None = field(default=None, repr=False)
    mail_max_attempts: int = 8
    mail_retry_base_seconds: int = 10
    mail_min_interval_seconds: int = 60
    password_reset_ttl_seconds: int = 1800
    password_resets_per_address: int = 10
    # required: registering creates the account only once a mailed link proves the address.
    email_verification: Literal["required", "optional"] = "required"
    email_verification_ttl_seconds: int = 24 * 3600
    # MFA (api/auth/totp.py): the AES-256 key of TOTP secrets at rest, and the issuer name
    # authenticator apps show. Outside production the key derives from JWT_ACCESS_SECRET.
    mfa_encryption_key: bytes = field(default=b"", repr=False)
    mfa_issuer: str = "tenant-iam"

    def __repr__(self) -> str:
        # Secrets never reach a log line, even through repr().
        return (
            f"Settings(app_env={self.app_env!r}, port={self.port}, database_url='***', "
            f"jwt_access_secret='***', "
            f"jwt_access_secret_previous={'***' if self.jwt_access_secret_previous else None}, "
            f"jwt_private_key_file={self.jwt_private_key_file}, "
            f"jwt_access_ttl_seconds={self.jwt_access_ttl_seconds}, "
            f"jwt_refresh_ttl_seconds={self.jwt_refresh_ttl_seconds}, "
            f"jwt_issuer={self.jwt_issuer!r}, jwt_audience={self.jwt_audience!r}, "
            f"login_max_failures={self.login_max_failures}/{self.login_max_failures_per_ip} per "
            f"{self.login_window_seconds}s, email slowed after {self.login_email_free_failures} to one check per "
            f"{self.login_email_max_spacing_seconds}s, registrations={self.registrations_per_address} per "
            f"{self.registration_window_seconds}s, refresh_reuse_grace_seconds={self.refresh_reuse_grace_seconds}, "
            f"trusted_proxies={[str(n) for n in self.trusted_proxies]}, "
            f"client_address_header={self.client_address_header!r}, "
            f"password_hashing={self.password_hash_concurrency} at once, {self.password_hash_queue} waiting "
            f"at most {self.password_hash_wait_ms}ms, {self.password_hash_per_client} per client, "
            f"db_pool={self.db_pool_min_size}..{self.db_pool_max_size}, "
            f"db_prepared_statements={self.db_prepared_statements}, "
            f"serving=header timeout {self.header_timeout_seconds}s, {self.max_connections_per_worker} connections "
            f"and {self.body_buffer_bytes_per_worker} body bytes per worker, "
            f"mail={'smtp' if self.smtp_url else f'files in {self.mail_dir}'} from {self.mail_from!r}, "
            f"app_base_url={self.app_base_url!r}, email_verification={self.email_verification}, "
            f"log_level={self.log_level!r}, log_format={self.log_format!r})"
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        app_env = env.get("APP_ENV", "development")
        if app_env not in ("development", "test", "production"):
            raise SettingsError(f"APP_ENV must be development, test or production, not {app_env!r}")
        app_env = cast(AppEnv, app_env)

        database_url = env.get("DATABASE_URL", "")
        if not database_url:
            raise SettingsError("DATABASE_URL is required: a postgresql:// URL of the database")

        secret = env.get("JWT_ACCESS_SECRET", "")
        if not secret and app_env == "development":
            secret = development_secret()
        check_secret("JWT_ACCESS_SECRET", secret)
        previous_secret = env.get("JWT_ACCESS_SECRET_PREVIOUS", "") or None
        if previous_secret is not None:
            check_secret("JWT_ACCESS_SECRET_PREVIOUS", previous_secret)

        try:
            chosen_log_format = log_format_from_env(env)
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        log_level = env.get("LOG_LEVEL", "INFO").upper()
        if log_level not in LOG_LEVELS:
            raise SettingsError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")

        pool_min = env_int(env, "DB_POOL_MIN_SIZE", 1, minimum=0)
        pool_max = env_int(env, "DB_POOL_MAX_SIZE", 10, minimum=1)
        if pool_max < pool_min:
            raise SettingsError("DB_POOL_MAX_SIZE must not be smaller than DB_POOL_MIN_SIZE")

        smtp_url = env_smtp_url(env, "SMTP_URL")
        if smtp_url is None and app_env == "production":
            raise SettingsError(
                "SMTP_URL is required in production (smtp://user:password@host:587, or smtps:// for implicit "
                "TLS): the service sends invitations and password-reset links by mail"
            )
        app_base_url = env_base_url(env, "APP_BASE_URL", app_env)
        cron_secret = env.get("CRON_SECRET", "").strip() or None
        if cron_secret is not None and len(cron_secret) < 16:
            raise SettingsError("CRON_SECRET must be at least 16 characters (Vercel sends it to GET /cron/outbox)")

        return cls(
            app_env=app_env,
            database_url=database_url,
            jwt_access_secret=secret,
            port=env_int(env, "PORT", 3000, minimum=1, maximum=65535),
            jwt_access_ttl_seconds=env_int(env, "JWT_ACCESS_TTL_SECONDS", 900, minimum=30, maximum=86400),
            jwt_issuer=_text(env, "JWT_ISSUER", "tenant-iam"),
            jwt_audience=_text(env, "JWT_AUDIENCE", "tenant-iam-api"),
            invitation_ttl_seconds=env_int(
                env, "INVITATION_TTL_SECONDS", 7 * 24 * 3600, minimum=60, maximum=90 * 24 * 3600
            ),
            db_pool_min_size=pool_min,
            db_pool_max_size=pool_max,
            db_pool_timeout_seconds=float(env_int(env, "DB_POOL_TIMEOUT_SECONDS", 5, minimum=1, maximum=120)),
            db_pool_max_idle_seconds=float(env_int(env, "DB_POOL_MAX_IDLE_SECONDS", 600, minimum=1, maximum=86400)),
            db_pool_max_lifetime_seconds=float(
                env_int(env, "DB_POOL_MAX_LIFETIME_SECONDS", 3600, minimum=10, maximum=86400)
            ),
            db_pool_check=env_bool(env, "DB_POOL_CHECK", False),
            db_statement_timeout_ms=env_int(env, "DB_STATEMENT_TIMEOUT_MS", 5000, minimum=10, maximum=600_000),
            db_lock_timeout_ms=env_int(env, "DB_LOCK_TIMEOUT_MS", 1000, minimum=10, maximum=600_000),
            db_prepared_statements=env_bool(env, "DB_PREPARED_STATEMENTS", True),
            cors_allowed_origins=env_origins(env, "CORS_ALLOWED_ORIGINS"),
            metrics_token=_metrics_token(env),
            log_level=log_level,
            log_format=chosen_log_format,
            jwt_access_secret_previous=previous_secret,
            jwt_private_key_file=env_file(env, "JWT_PRIVATE_KEY_FILE"),
            jwt_previous_public_key_file=env_file(env, "JWT_PREVIOUS_PUBLIC_KEY_FILE"),
            jwt_refresh_ttl_seconds=env_int(
                env, "JWT_REFRESH_TTL_SECONDS", 30 * 24 * 3600, minimum=300, maximum=365 * 24 * 3600
            ),
            login_max_failures=env_int(env, "LOGIN_MAX_FAILURES", 10, minimum=1, maximum=10_000),
            login_max_failures_per_ip=env_int(env, "LOGIN_MAX_FAILURES_PER_IP", 100, minimum=1, maximum=1_000_000),
            login_window_seconds=env_int(env, "LOGIN_WINDOW_SECONDS", 900, minimum=1, maximum=86400),
            login_email_free_failures=env_int(env, "LOGIN_EMAIL_FREE_FAILURES", 10, minimum=1, maximum=10_000),
            login_email_max_spacing_seconds=env_int(
                env, "LOGIN_EMAIL_MAX_SPACING_SECONDS", 30, minimum=1, maximum=3600
            ),
            registrations_per_address=env_int(env, "REGISTRATIONS_PER_ADDRESS", 10, minimum=1, maximum=1_000_000),
            registration_window_seconds=env_int(env, "REGISTRATION_WINDOW_SECONDS", 3600, minimum=1, maximum=86400),
            refresh_reuse_grace_seconds=env_int(env, "REFRESH_REUSE_GRACE_SECONDS", 10, minimum=0, maximum=300),
            trusted_proxies=env_networks(env, "TRUSTED_PROXIES"),
            client_address_header=env_header_name(env, "CLIENT_ADDRESS_HEADER"),
            password_hash_concurrency=env_int(env, "PASSWORD_HASH_CONCURRENCY", 1, minimum=1, maximum=64),
            password_hash_queue=env_int(env, "PASSWORD_HASH_QUEUE", 64, minimum=0, maximum=10_000),
            password_hash_wait_ms=env_int(env, "PASSWORD_HASH_WAIT_MS", 5000, minimum=0, maximum=30_000),
            password_hash_per_client=env_int(env, "PASSWORD_HASH_PER_CLIENT", 2, minimum=1, maximum=1000),
            header_timeout_seconds=header_timeout_seconds(env),
            max_connections_per_worker=max_connections_per_worker(env),
            body_buffer_bytes_per_worker=env_int(
                env, "BODY_BUFFER_BYTES_PER_WORKER", 32 * 1024 * 1024, minimum=1024 * 1024 + 1, maximum=2**31
            ),
            smtp_url=smtp_url,
            mail_from=_text(env, "MAIL_FROM", f"tenant-iam <no-reply@{urlsplit(app_base_url).hostname}>"),
            app_base_url=app_base_url,
            mail_dir=Path(env.get("MAIL_DIR", "") or ".data/mail"),
            cron_secret=cron_secret,
            mail_max_attempts=env_int(env, "MAIL_MAX_ATTEMPTS", 8, minimum=1, maximum=100),
            mail_retry_base_seconds=env_int(env, "MAIL_RETRY_BASE_SECONDS", 10, minimum=1, maximum=3600),
            mail_min_interval_seconds=env_int(env, "MAIL_MIN_INTERVAL_SECONDS", 60, minimum=0, maximum=86400),
            password_reset_ttl_seconds=env_int(env, "PASSWORD_RESET_TTL_SECONDS", 1800, minimum=60, maximum=86400),
            password_resets_per_address=env_int(env, "PASSWORD_RESETS_PER_ADDRESS", 10, minimum=1, maximum=1_000_000),
            email_verification=env_email_verification(env),
            email_verification_ttl_seconds=env_int(
                env, "EMAIL_VERIFICATION_TTL_SECONDS", 24 * 3600, minimum=300, maximum=30 * 86400
            ),
            mfa_encryption_key=mfa_encryption_key(env, app_env, secret),
            mfa_issuer=_text(env, "MFA_ISSUER", "tenant-iam"),
        )


def log_format_from_env(env: Mapping[str, str]) -> LogFormat:
    """LOG_FORMAT when set; else text in development (APP_ENV unset or development), JSON
    everywhere else."""
    chosen = env.get("LOG_FORMAT") or ("text" if env.get("APP_ENV", "development") == "development" else "json")
    if chosen not in ("json", "text"):
        raise ValueError(f"LOG_FORMAT must be json or text, not {chosen!r}")
    return "json" if chosen == "json" else "text"


def header_timeout_seconds(env: Mapping[str, str]) -> int:
    """HEADER_TIMEOUT_SECONDS: how long a connection may take to send a request's headers.
    Read by the server configuration too, which runs without the rest of the settings."""
    return env_int(env, "HEADER_TIMEOUT_SECONDS", 10, minimum=1, maximum=300)


def max_connections_per_worker(env: Mapping[str, str]) -> int:
    """MAX_CONNECTIONS_PER_WORKER: open connections a worker keeps (never more than its
    open-file limit allows, api/serving/protocol.py)."""
    return env_int(env, "MAX_CONNECTIONS_PER_WORKER", 1000, minimum=1, maximum=1_000_000)


def check_secret(name: str, secret: str) -> None:
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise SettingsError(
            f"{name} must be at least {MIN_SECRET_BYTES} bytes "
            "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )


def env_file(env: Mapping[str, str], name: str) -> Path | None:
    """A readable file named by the variable, or None when it is unset."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    path = Path(raw)
    if not path.is_file() or not os.access(path, os.R_OK):
        raise SettingsError(f"{name} must name a readable file, not {raw!r}")
    return path


def env_networks(env: Mapping[str, str], name: str) -> tuple[Network, ...]:
    """A comma-separated list of addresses or CIDR blocks."""
    networks = []
    for item in env.get(name, "").split(","):
        if item.strip():
            try:
                networks.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError:
                raise SettingsError(
                    f"{name} must be a comma-separated list of CIDR blocks, not {item.strip()!r}"
                ) from None
    return tuple(networks)


_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,100}$")


def env_header_name(env: Mapping[str, str], name: str) -> str | None:
    """An HTTP header name (lower-cased), or None when the variable is unset."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if not _HEADER_NAME.match(raw):
        raise SettingsError(f"{name} must be an HTTP header name such as x-real-ip, not {raw!r}")
    return raw.lower()


def env_int(env: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int = 2**31) -> int:
    """A whole-number variable in ASCII digits within bounds, else a SettingsError naming it."""
    raw = env.get(name, "")
    if not raw:
        return default
    value = ascii_int(raw)
    if value is None:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}")
    if not minimum <= value <= maximum:
        raise SettingsError(f"{name} must be between {minimum} and {maximum}, not {value}")
    return value


_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")


def env_origins(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Comma-separated origins such as https://app.example.com (scheme, host, optional port;
    no path, no wildcard)."""
    origins = tuple(item.strip() for item in env.get(name, "").split(",") if item.strip())
    for origin in origins:
        if not _ORIGIN.match(origin):
            raise SettingsError(f"{name} must list origins such as https://app.example.com, not {origin!r}")
    return origins


def _metrics_token(env: Mapping[str, str]) -> str | None:
    token = env.get("METRICS_TOKEN", "").strip()
    if token and len(token) < 16:
        raise SettingsError("METRICS_TOKEN must be at least 16 characters (or unset: loopback clients only)")
    return token or None


def env_email_verification(env: Mapping[str, str]) -> Literal["required", "optional"]:
    raw = env.get("EMAIL_VERIFICATION", "").strip().lower() or "required"
    if raw == "required":
        return "required"
    if raw == "optional":
        return "optional"
    raise SettingsError(f"EMAIL_VERIFICATION must be required or optional, not {raw!r}")


def env_smtp_url(env: Mapping[str, str], name: str) -> str | None:
    """smtp://[user:password@]host[:port] (STARTTLS when offered) or smtps:// (implicit TLS)."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        raise SettingsError(f"{name} must be smtp://user:password@host:port or smtps://...") from None
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise SettingsError(f"{name} must be smtp://user:password@host:port or smtps://...")
    return raw


def env_base_url(env: Mapping[str, str], name: str, app_env: str) -> str:
    """The client application's URL that mailed links point to; required in production."""
    raw = env.get(name, "").strip().rstrip("/")
    if not raw:
        if app_env == "production":
            raise SettingsError(f"{name} is required in production: the client application's URL for mailed links")
        return "http://localhost:3000"
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise SettingsError(f"{name} must be an http(s) URL without query or fragment, such as https://app.example.com")
    return raw


def env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    """true/false (also 1/0, yes/no, on/off), else a SettingsError naming the variable."""
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("true", "1", "yes", "on"):
        return True
    if raw in ("false", "0", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false, not {raw!r}")


def _text(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    if len(value) > 200:
        raise SettingsError(f"{name} must be at most 200 characters")
    return value


def mfa_encryption_key(env: Mapping[str, str], app_env: AppEnv, jwt_secret: str) -> bytes:
    """MFA_ENCRYPTION_KEY: 32 bytes in base64 (standard or URL-safe), required in production.
    Elsewhere a key derived from JWT_ACCESS_SECRET serves, so that `make run` needs nothing;
    in production the two stay apart, since rotating the JWT secret must not orphan factors."""
    raw = env.get("MFA_ENCRYPTION_KEY", "").strip()
    if not raw:
        if app_env == "production":
            raise SettingsError(
                "MFA_ENCRYPTION_KEY is required in production: 32 random bytes in base64, such as the output of "
                "python -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())'"
            )
        return hashlib.sha256(b"tenant-iam MFA_ENCRYPTION_KEY\0" + jwt_secret.encode()).digest()
    try:
        key = base64.b64decode(raw.replace("-", "+").replace("_", "/") + "=" * (-len(raw) % 4), validate=True)
    except ValueError:
        raise SettingsError("MFA_ENCRYPTION_KEY must be base64") from None
    if len(key) != 32:
        raise SettingsError(f"MFA_ENCRYPTION_KEY must decode to 32 bytes (AES-256), not {len(key)}")
    return key


def development_secret() -> str:
    """A random secret kept under the local data folder, made on first use: development
    works without a .env, and no secret is ever hard-coded."""
    from db.embedded import data_dir

    path: Path = data_dir() / "jwt-access-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        # link() publishes the whole file or fails if another starter won: all read one secret.
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return path.read_text().strip()
