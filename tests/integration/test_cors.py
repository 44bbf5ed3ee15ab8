"""Browser clients: CORS only for the origins in CORS_ALLOWED_ORIGINS (none by default),
preflight included, Authorization allowed, credentials never; OPTIONS answers with Allow."""

from __future__ import annotations

import pytest

from api.settings import SettingsError
from tests.integration.conftest import AppFactory, Tenant, settings_for

APP = "https://app.example.com"


def test_by_default_no_origin_gets_access(make_api: AppFactory) -> None:
    api = make_api()
    result = api.get("/health/live", headers={"Origin": APP})
    assert result.status_code == 200
    assert "access-control-allow-origin" not in result.headers
    preflight = api.call("OPTIONS", "/projects", headers={"Origin": APP, "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-methods" not in preflight.headers


def test_a_listed_origin_gets_a_preflight_and_readable_answers(make_api: AppFactory, tenant: Tenant) -> None:
    api = make_api(CORS_ALLOWED_ORIGINS=f"{APP}, http://localhost:5173")
    preflight = api.call(
        "OPTIONS",
        "/projects",
        headers={
            "Origin": APP,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == APP
    assert set(preflight.headers["access-control-allow-methods"].replace(" ", "").split(",")) >= {"GET", "POST"}
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in preflight.headers

    project = api.post("/projects", {"name": "From the browser"}, as_=tenant.admin, headers={"Origin": APP})
    assert project.status_code == 201
    assert project.headers["access-control-allow-origin"] == APP
    assert "Origin" in project.headers["vary"]
    exposed = project.headers["access-control-expose-headers"]
    assert "ETag" in exposed
    assert "X-Request-ID" in exposed
    # Errors are readable by the page too (the problem explains itself).
    refused = api.get("/projects", headers={"Origin": APP})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == APP


def test_an_unlisted_origin_gets_nothing(make_api: AppFactory, tenant: Tenant) -> None:
    api = make_api(CORS_ALLOWED_ORIGINS=APP)
    for origin in ("https://evil.example.com", "https://app.example.com.evil.com", "null", APP.upper()):
        result = api.get("/auth/me", as_=tenant.admin, headers={"Origin": origin})
        assert result.status_code == 200
        assert "access-control-allow-origin" not in result.headers, origin


@pytest.mark.parametrize("value", ["*", "https://app.example.com/", "app.example.com", "https://*.example.com"])
def test_origins_must_be_exact(database_url: str, value: str) -> None:
    with pytest.raises(SettingsError, match="CORS_ALLOWED_ORIGINS"):
        settings_for(database_url, CORS_ALLOWED_ORIGINS=value)


def test_options_answers_with_allow_without_a_token(make_api: AppFactory) -> None:
    api = make_api()
    result = api.call("OPTIONS", "/projects/00000000-0000-4000-8000-000000000000")
    assert result.status_code == 200
    allowed = {method.strip() for method in result.headers["allow"].split(",")}
    assert {"GET", "HEAD", "PATCH", "DELETE"} <= allowed
    assert "POST" not in allowed
