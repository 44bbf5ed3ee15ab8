"""Signing keys: every token names its key (kid); a previous secret or public key keeps
verifying while configured, so keys rotate without signing anyone out; with an Ed25519 key,
other services verify tokens from the published JWKS alone."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.auth.access_tokens import AccessTokens
from api.settings import SettingsError
from tests.integration.conftest import Api, AppFactory, settings_for

OLD_SECRET = "old-secret-" + "o" * 40
NEW_SECRET = "new-secret-" + "n" * 40


def status_with(api: Api, token: str) -> int:
    return api.get("/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code


def write_ed25519(folder: Path, name: str) -> tuple[Path, Path]:
    """A private key file and its public key file, as an operator would make them."""
    key = Ed25519PrivateKey.generate()
    private, public = folder / f"{name}.pem", folder / f"{name}.pub.pem"
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private, public


def test_secret_rotation_keeps_tokens_valid_until_the_previous_secret_is_removed(make_api: AppFactory) -> None:
    before = make_api(JWT_ACCESS_SECRET=OLD_SECRET)
    old_token = before.register().token
    old_kid = jwt.get_unverified_header(old_token)["kid"]

    during = make_api(JWT_ACCESS_SECRET=NEW_SECRET, JWT_ACCESS_SECRET_PREVIOUS=OLD_SECRET)
    assert status_with(during, old_token) == 200
    new_token = during.register().token
    assert jwt.get_unverified_header(new_token)["kid"] != old_kid

    after = make_api(JWT_ACCESS_SECRET=NEW_SECRET)
    assert status_with(after, old_token) == 401
    assert status_with(after, new_token) == 200


def test_ed25519_tokens_verify_from_the_jwks_document_alone(make_api: AppFactory, tmp_path: Path) -> None:
    private_file, _ = write_ed25519(tmp_path, "current")
    api = make_api(JWT_PRIVATE_KEY_FILE=str(private_file))
    session = api.register()
    header = jwt.get_unverified_header(session.token)
    assert header["alg"] == "EdDSA"

    published = api.get("/.well-known/jwks.json")
    assert published.status_code == 200
    assert published.headers["cache-control"] == "public, max-age=300"
    assert "d" not in published.json["keys"][0]  # never the private part
    # Another service: PyJWT and the document, no shared secret.
    key_set = jwt.PyJWKSet.from_dict(published.json)
    claims = jwt.decode(
        session.token, key_set[header["kid"]].key, algorithms=["EdDSA"], audience="tenant-iam-api", issuer="tenant-iam"
    )
    assert claims["sub"] == session.user_id
    assert status_with(api, session.token) == 200
    # An HS256 token made with the shared secret is not accepted by an EdDSA server.
    assert status_with(api, make_api().register().token) == 401


def test_ed25519_rotation_publishes_and_accepts_the_previous_key(make_api: AppFactory, tmp_path: Path) -> None:
    old_private, old_public = write_ed25519(tmp_path, "old")
    new_private, _ = write_ed25519(tmp_path, "new")
    old_token = make_api(JWT_PRIVATE_KEY_FILE=str(old_private)).register().token

    rotating = make_api(JWT_PRIVATE_KEY_FILE=str(new_private), JWT_PREVIOUS_PUBLIC_KEY_FILE=str(old_public))
    assert len(rotating.get("/.well-known/jwks.json").json["keys"]) == 2
    assert status_with(rotating, old_token) == 200

    rotated = make_api(JWT_PRIVATE_KEY_FILE=str(new_private))
    assert len(rotated.get("/.well-known/jwks.json").json["keys"]) == 1
    assert status_with(rotated, old_token) == 401


def test_no_jwks_with_a_shared_secret(api: Api) -> None:
    result = api.get("/.well-known/jwks.json")
    assert result.status_code == 404
    assert result.headers["content-type"] == "application/problem+json"


def test_bad_key_files_stop_start_up_naming_the_variable(database_url: str, tmp_path: Path) -> None:
    not_ed25519 = tmp_path / "ec.pem"
    not_ed25519.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    for variable, path in [
        ("JWT_PRIVATE_KEY_FILE", not_ed25519),
        ("JWT_PRIVATE_KEY_FILE", garbage),
        ("JWT_PRIVATE_KEY_FILE", tmp_path / "missing.pem"),
    ]:
        with pytest.raises(SettingsError, match=variable):
            AccessTokens.from_settings(settings_for(database_url, **{variable: str(path)}))
    private_file, _ = write_ed25519(tmp_path, "ok")
    with pytest.raises(SettingsError, match="JWT_PREVIOUS_PUBLIC_KEY_FILE"):
        AccessTokens.from_settings(
            settings_for(
                database_url, JWT_PRIVATE_KEY_FILE=str(private_file), JWT_PREVIOUS_PUBLIC_KEY_FILE=str(garbage)
            )
        )
    with pytest.raises(SettingsError, match="JWT_ACCESS_SECRET_PREVIOUS"):
        settings_for(database_url, JWT_ACCESS_SECRET_PREVIOUS="short")
