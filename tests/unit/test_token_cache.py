"""The cache of verified access tokens: it never accepts what verification would refuse,
never serves a token at or past its exp, and stays bounded."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest

from api.auth import access_tokens as tokens
from api.auth.access_tokens import AccessTokens, InvalidToken, secret_key

SECRET = "unit-" + "s" * 40


def make_tokens(ttl: int = 900) -> AccessTokens:
    return AccessTokens(keys=[secret_key(SECRET, signing=True)], issuer="i", audience="a", ttl_seconds=ttl)


def issue(tokens_: AccessTokens) -> str:
    return tokens_.issue(uuid.uuid4(), uuid.uuid4(), "ORG_USER", uuid.uuid4())


def test_a_cached_token_answers_like_a_verified_one_until_exp(monkeypatch: pytest.MonkeyPatch) -> None:
    verifier = make_tokens()
    token = issue(verifier)
    first = verifier.verify(token)
    # A second verification would fail now (another secret): the cache answers instead...
    monkeypatch.setattr(verifier, "_keys", {})
    assert verifier.verify(token) == first
    # ...but never at or past exp.
    claims = jwt.decode(token, options={"verify_signature": False})
    monkeypatch.setattr("api.auth.access_tokens.time.time", lambda: float(claims["exp"]))
    with pytest.raises(InvalidToken):
        verifier.verify(token)


def test_refused_tokens_are_never_cached() -> None:
    verifier = make_tokens()
    forged = issue(make_tokens()) + "x"
    for _ in range(2):
        with pytest.raises(InvalidToken):
            verifier.verify(forged)


def test_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "VERIFIED_CACHE_SIZE", 8)
    verifier = make_tokens()
    issued = [issue(verifier) for _ in range(20)]
    for token in issued:
        verifier.verify(token)
    assert len(verifier._verified) == 8
    assert list(verifier._verified) == issued[-8:]
    assert time.time() < min(expires for _, expires in verifier._verified.values())
