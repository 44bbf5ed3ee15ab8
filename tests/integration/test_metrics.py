"""/metrics in one process: who may read it, and what the counters count. (Across gunicorn
workers: tests/acceptance/test_metrics_across_workers.py.)"""

from __future__ import annotations

from prometheus_client import REGISTRY

from tests.integration.conftest import PASSWORD, Api, AppFactory, Tenant, sign


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_without_a_token_only_loopback_clients_read_it(make_api: AppFactory) -> None:
    api = make_api()
    local = api.client.simulate_get("/metrics", remote_addr="127.0.0.1")
    assert local.status_code == 200
    assert local.headers["content-type"].startswith("text/plain")
    assert "http_requests_total" in local.text
    for outsider in ("203.0.113.7", "10.1.2.3", "::ffff:198.51.100.1"):
        refused = api.client.simulate_get("/metrics", remote_addr=outsider)
        assert refused.status_code == 403, outsider
        assert "http_requests_total" not in refused.text
    # Forwarded headers do not make a remote client local.
    forged = api.client.simulate_get("/metrics", remote_addr="203.0.113.7", headers={"X-Forwarded-For": "127.0.0.1"})
    assert forged.status_code == 403
    # A local reverse proxy is trusted: its clients could be anyone.
    proxied = make_api(TRUSTED_PROXIES="127.0.0.1/32").client.simulate_get("/metrics", remote_addr="127.0.0.1")
    assert proxied.status_code == 403


def test_with_a_token_it_is_required_from_everywhere(make_api: AppFactory) -> None:
    token = "m" * 32
    api = make_api(METRICS_TOKEN=token)
    assert api.client.simulate_get("/metrics", remote_addr="127.0.0.1").status_code == 401
    wrong = {"Authorization": "Bearer " + "n" * 32}
    assert api.client.simulate_get("/metrics", remote_addr="203.0.113.7", headers=wrong).status_code == 401
    right = {"Authorization": f"Bearer {token}"}
    assert api.client.simulate_get("/metrics", remote_addr="203.0.113.7", headers=right).status_code == 200


def test_requests_are_counted_by_route_template_method_and_status(api: Api, tenant: Tenant) -> None:
    project = api.create_project(tenant.admin)
    labels = {"route": "/projects/{project_id}", "method": "GET", "status": "200"}
    before = value("http_requests_total", **labels)
    timed = value("http_request_duration_seconds_count", **labels)
    for _ in range(3):
        assert api.get(f"/projects/{project['id']}", as_=tenant.admin).status_code == 200
    assert value("http_requests_total", **labels) == before + 3
    assert value("http_request_duration_seconds_count", **labels) == timed + 3
    assert api.get("/no/such/route").status_code == 404
    assert value("http_requests_total", route="(no route)", method="GET", status="404") >= 1
    assert value("db_pool_connections") >= 1


def test_security_events_are_counted(api: Api, tenant: Tenant) -> None:
    failures = value("login_failures_total")
    assert api.post("/auth/login", {"email": tenant.admin.email, "password": "wrong password!"}).status_code == 401
    assert value("login_failures_total") == failures + 1

    missing = value("token_rejections_total", reason="missing")
    assert api.get("/auth/me").status_code == 401
    assert value("token_rejections_total", reason="missing") == missing + 1
    unknown = value("token_rejections_total", reason="unknown_key")
    forged = sign({"sub": "x"}, secret="y" * 64)  # signed with a key the server does not have
    assert api.get("/auth/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    assert value("token_rejections_total", reason="unknown_key") == unknown + 1
    malformed = value("token_rejections_total", reason="malformed")
    assert api.get("/auth/me", headers={"Authorization": "Bearer not-a-jwt"}).status_code == 401
    assert value("token_rejections_total", reason="malformed") == malformed + 1

    reused = value("refresh_token_reuse_detections_total")
    first = api.post("/auth/refresh", {"refresh_token": tenant.user.refresh_token})
    assert first.status_code == 200
    # Its successor used, the first token again is reuse (before, it would be a retry).
    assert api.post("/auth/refresh", {"refresh_token": first.json["refresh_token"]}).status_code == 200
    assert api.post("/auth/refresh", {"refresh_token": tenant.user.refresh_token}).status_code == 401
    assert value("refresh_token_reuse_detections_total") == reused + 1


def test_throttled_logins_are_counted(api: Api, tenant: Tenant) -> None:
    throttled = value("logins_throttled_total")
    # The default limit is 10 failures per account and window: the next two are throttled.
    statuses = [
        api.post("/auth/login", {"email": tenant.reader.email, "password": "not " + PASSWORD}).status_code
        for _ in range(12)
    ]
    assert statuses == [401] * 10 + [429] * 2
    assert value("logins_throttled_total") == throttled + 2
