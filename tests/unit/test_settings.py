"""Settings are validated at start-up with messages that name the variable."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from api.settings import Settings, SettingsError

SECRET = "s" * 32
URL = "postgresql://app@127.0.0.1/iam"
# What production needs besides the database and the JWT secret: mail, and the MFA key.
MAIL = {
    "SMTP_URL": "smtp://mailer:mail-password@mail.example.com:587",
    "APP_BASE_URL": "https://app.example.com",
    "MFA_ENCRYPTION_KEY": base64.b64encode(bytes(range(32))).decode(),
}
PRODUCTION = {"APP_ENV": "production", "DATABASE_URL": URL, "JWT_ACCESS_SECRET": SECRET, **MAIL}


def test_defaults() -> None:
    settings = Settings.from_env(PRODUCTION)
    assert settings.port == 3000
    assert settings.jwt_access_ttl_seconds == 900
    assert settings.invitation_ttl_seconds == 7 * 24 * 3600
    assert settings.db_prepared_statements is True
    assert settings.log_format == "json"


@pytest.mark.parametrize(("value", "expected"), [("false", False), ("0", False), ("OFF", False), ("true", True)])
def test_prepared_statements_switch(value: str, expected: bool) -> None:
    env = {**PRODUCTION, "DB_PREPARED_STATEMENTS": value}
    assert Settings.from_env(env).db_prepared_statements is expected


def test_development_logs_text_and_production_json_unless_told() -> None:
    development = {"APP_ENV": "development", "DATABASE_URL": URL, "JWT_ACCESS_SECRET": SECRET}
    assert Settings.from_env(development).log_format == "text"
    assert Settings.from_env({**development, "LOG_FORMAT": "json"}).log_format == "json"
    assert Settings.from_env({**development, "APP_ENV": "test"}).log_format == "json"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DATABASE_URL": URL}, "JWT_ACCESS_SECRET"),
        ({"DATABASE_URL": URL, "JWT_ACCESS_SECRET": "s" * 31}, "JWT_ACCESS_SECRET"),
        ({"JWT_ACCESS_SECRET": SECRET}, "DATABASE_URL"),
        ({"DATABASE_URL": URL, "JWT_ACCESS_SECRET": SECRET, "PORT": "http"}, "PORT"),
        ({"DATABASE_URL": URL, "JWT_ACCESS_SECRET": SECRET, "PORT": "70000"}, "PORT"),
        ({"DATABASE_URL": URL, "JWT_ACCESS_SECRET": SECRET, "JWT_ACCESS_TTL_SECONDS": "0"}, "JWT_ACCESS_TTL_SECONDS"),
        ({"DATABASE_URL": URL, "JWT_ACCESS_SECRET": SECRET, "LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"DATABASE_URL": URL, "JWT_ACCESS_SECRET": SECRET, "LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ({"DATABASE_URL": URL, "JWT_ACCESS_SECRET": SECRET, "DB_PREPARED_STATEMENTS": "no?"}, "DB_PREPARED_STATEMENTS"),
        (
            {"DATABASE_URL": URL, "JWT_ACCESS_SECRET": SECRET, "DB_POOL_MIN_SIZE": "5", "DB_POOL_MAX_SIZE": "2"},
            "DB_POOL_MAX_SIZE",
        ),
    ],
)
def test_production_refuses_bad_configuration_naming_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env({"APP_ENV": "production", **MAIL, **env})


def test_unknown_app_env() -> None:
    with pytest.raises(SettingsError, match="APP_ENV"):
        Settings.from_env({"APP_ENV": "staging", "DATABASE_URL": URL, "JWT_ACCESS_SECRET": SECRET})


def test_development_makes_and_keeps_a_local_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENANT_IAM_DATA_DIR", str(tmp_path))
    first = Settings.from_env({"APP_ENV": "development", "DATABASE_URL": URL})
    second = Settings.from_env({"APP_ENV": "development", "DATABASE_URL": URL})
    assert first.jwt_access_secret == second.jwt_access_secret
    assert len(first.jwt_access_secret) >= 32
    secret_file = tmp_path / "jwt-access-secret"
    assert secret_file.read_text() == first.jwt_access_secret
    assert secret_file.stat().st_mode & 0o077 == 0
    assert list(tmp_path.iterdir()) == [secret_file]


def test_test_env_does_not_invent_a_secret() -> None:
    with pytest.raises(SettingsError, match="JWT_ACCESS_SECRET"):
        Settings.from_env({"APP_ENV": "test", "DATABASE_URL": URL})


def test_repr_masks_secrets() -> None:
    settings = Settings.from_env(PRODUCTION)
    assert SECRET not in repr(settings)
    assert "127.0.0.1" not in repr(settings)
    assert "mail-password" not in repr(settings)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"SMTP_URL": ""}, "SMTP_URL"),
        ({"SMTP_URL": "http://mail.example.com"}, "SMTP_URL"),
        ({"SMTP_URL": "smtp://mail.example.com:port"}, "SMTP_URL"),
        ({"APP_BASE_URL": ""}, "APP_BASE_URL"),
        ({"APP_BASE_URL": "app.example.com"}, "APP_BASE_URL"),
        ({"APP_BASE_URL": "https://app.example.com/?next=x"}, "APP_BASE_URL"),
        ({"CRON_SECRET": "short"}, "CRON_SECRET"),
    ],
)
def test_production_mail_needs_a_server_and_the_applications_url(change: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env({**PRODUCTION, **change})


def test_without_smtp_outside_production_mail_goes_to_files() -> None:
    settings = Settings.from_env({"APP_ENV": "test", "DATABASE_URL": URL, "JWT_ACCESS_SECRET": SECRET})
    assert settings.smtp_url is None
    assert settings.app_base_url == "http://localhost:3000"
    assert Settings.from_env(PRODUCTION).mail_from == "tenant-iam <no-reply@app.example.com>"


@pytest.mark.parametrize("value", ["\u0662", "\uff13\uff10\uff10\uff10", "3_000", " 3000", "+3000"])
def test_numbers_in_the_environment_are_ascii_digits_only(value: str) -> None:
    with pytest.raises(SettingsError, match="PORT"):
        Settings.from_env({**PRODUCTION, "PORT": value})


def test_the_connection_cap_stays_below_the_open_file_limit() -> None:
    import resource

    from api.serving.protocol import RESERVED_DESCRIPTORS, Limits

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert Limits(10, 10**7).max_connections <= max(1, soft - RESERVED_DESCRIPTORS)
    assert Limits(10, 5).max_connections == 5


def test_the_client_address_header_is_a_header_name() -> None:
    base = {"APP_ENV": "test", "DATABASE_URL": "postgresql://x@127.0.0.1/x", "JWT_ACCESS_SECRET": "s" * 40}
    assert Settings.from_env({**base, "CLIENT_ADDRESS_HEADER": "X-Real-IP"}).client_address_header == "x-real-ip"
    assert Settings.from_env(base).client_address_header is None
    with pytest.raises(SettingsError, match="CLIENT_ADDRESS_HEADER"):
        Settings.from_env({**base, "CLIENT_ADDRESS_HEADER": "x real ip"})


@pytest.mark.parametrize(
    ("value", "problem"),
    [("", "required in production"), ("not base64!", "base64"), (base64.b64encode(b"short").decode(), "32 bytes")],
)
def test_the_mfa_key_is_32_bytes_and_required_in_production(value: str, problem: str) -> None:
    with pytest.raises(SettingsError, match=problem):
        Settings.from_env({**PRODUCTION, "MFA_ENCRYPTION_KEY": value})


def test_outside_production_the_mfa_key_derives_from_the_jwt_secret() -> None:
    development = {"APP_ENV": "development", "DATABASE_URL": URL, "JWT_ACCESS_SECRET": SECRET}
    first, second = Settings.from_env(development), Settings.from_env(development)
    assert len(first.mfa_encryption_key) == 32
    assert first.mfa_encryption_key == second.mfa_encryption_key
    assert Settings.from_env({**development, "JWT_ACCESS_SECRET": SECRET + "x"}).mfa_encryption_key != (
        first.mfa_encryption_key
    )
    urlsafe = base64.urlsafe_b64encode(b"\xfb" * 32).decode().rstrip("=")
    assert Settings.from_env({**development, "MFA_ENCRYPTION_KEY": urlsafe}).mfa_encryption_key == b"\xfb" * 32
