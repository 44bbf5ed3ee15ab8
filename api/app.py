"""The ASGI app: create_app(settings, pool) wires it; get_app() builds it from the environment
(api/serving/ serves it under gunicorn and on Vercel; any ASGI server can too). It runs on
the event loop: waiting for the database or for a password-hashing slot costs a coroutine.

Where a request goes: RequestLogMiddleware, MetricsMiddleware and RequestIdMiddleware
(api/observability/) -> TransactionMiddleware (api/context.py: token, one transaction,
tenant context) -> a resource in api/resources (`@requires` permission check, named
queries) -> commit or rollback in TransactionMiddleware. Errors become problem+json in
api/http/problems.py.
"""

from __future__ import annotations

import logging
from importlib.metadata import version
from typing import Any

import falcon
import falcon.asgi
from falcon.asgi import Request, Response

from api.auth.access_tokens import AccessTokens
from api.auth.api_key_throttle import ApiKeyThrottle
from api.auth.client_address import ClientAddresses
from api.auth.client_quota import ClientQuota
from api.auth.login_throttle import LoginThrottle
from api.auth.passwords import Passwords
from api.auth.sessions import SessionIssuer
from api.auth.totp import TotpSecrets
from api.context import TransactionMiddleware, abandon, declared_security
from api.database import Database, Pool, create_pool
from api.http.cors import Cors
from api.http.cursors import Cursors
from api.http.openapi import openapi_document
from api.http.problems import register_error_handlers
from api.http.responses import MsgspecJSON
from api.http.routing import Routes
from api.mail.outbox import Outbox
from api.mail.transport import transport_for
from api.observability import logs
from api.observability.metrics import MetricsMiddleware
from api.observability.request_id import RequestIdMiddleware
from api.observability.request_log import RequestLogMiddleware
from api.resources.api_keys import ApiKeysResource
from api.resources.audit import AuditEventsResource
from api.resources.auth import ChangePasswordResource, LoginResource, MeResource, RegisterResource
from api.resources.catalog import PermissionsResource, RolesResource
from api.resources.cron import OutboxCronResource
from api.resources.docs import DocsResource, OpenApiResource
from api.resources.email_verification import ResendVerificationResource, VerifyEmailResource
from api.resources.health import LiveResource, ReadyResource
from api.resources.invitations import InvitationsResource, MyInvitationsResource
from api.resources.jwks import JwksResource
from api.resources.members import MembersResource
from api.resources.metrics import MetricsResource
from api.resources.mfa import MfaChallengeResource, RecoveryCodesResource, TotpFactorResource
from api.resources.organizations import OrganizationsResource
from api.resources.password_reset import PasswordResetResource
from api.resources.projects import ProjectsResource
from api.resources.sessions import LogoutResource, RefreshResource, SessionsResource, SwitchOrganizationResource
from api.settings import Settings
from db.revisions import head_revision


class App(falcon.asgi.App[Request, Response]):
    """Falcon's ASGI app, which also ends a request's transaction when the call is cancelled
    mid-request (the client went away): Falcon runs no middleware for a cancelled call. Its
    mail outbox is started and stopped by the server's lifespan (api/serving/asgi.py)."""

    outbox: Outbox

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:  # type: ignore[override]
        try:
            await super().__call__(scope, receive, send)
        finally:
            await abandon(scope)


def create_app(settings: Settings, pool: Pool, passwords: Passwords | None = None) -> App:
    database = Database(
        pool, statement_timeout_ms=settings.db_statement_timeout_ms, lock_timeout_ms=settings.db_lock_timeout_ms
    )
    tokens = AccessTokens.from_settings(settings)
    addresses = ClientAddresses.from_settings(settings)
    sessions = SessionIssuer(tokens, settings.jwt_refresh_ttl_seconds, addresses)
    passwords = passwords or Passwords(
        concurrency=settings.password_hash_concurrency,
        queue=settings.password_hash_queue,
        wait_seconds=settings.password_hash_wait_ms / 1000,
        per_client=settings.password_hash_per_client,
    )
    throttle = LoginThrottle(settings)
    outbox = Outbox(database, transport_for(settings), settings)
    cursors = Cursors(settings.jwt_access_secret)

    middleware: list[RequestLogMiddleware | MetricsMiddleware | RequestIdMiddleware | Cors | TransactionMiddleware] = [
        RequestLogMiddleware(addresses, settings.log_format),
        MetricsMiddleware(pool),
        RequestIdMiddleware(),
    ]
    if settings.cors_allowed_origins:
        middleware.append(Cors(settings.cors_allowed_origins))
    middleware.append(TransactionMiddleware(database, tokens, ApiKeyThrottle(settings)))
    app = App(middleware=middleware)
    app.outbox = outbox
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = MsgspecJSON()
    register_error_handlers(app)

    routes = Routes(app)
    routes.add("/health/live", LiveResource())
    routes.add("/health/ready", ReadyResource(database, head_revision()))

    routes.add("/.well-known/jwks.json", JwksResource(tokens))

    registrations = ClientQuota(
        addresses,
        "registration",
        settings.registrations_per_address,
        settings.registration_window_seconds,
        ("Too many registrations", "Too many new accounts were registered from this address; try again later."),
    )
    routes.add("/auth/register", RegisterResource(database, sessions, passwords, registrations, outbox, settings))
    routes.add("/auth/verify-email", VerifyEmailResource(database, sessions))
    routes.add("/auth/verify-email/resend", ResendVerificationResource(outbox, settings))
    routes.add("/auth/login", LoginResource(database, sessions, passwords, throttle))
    routes.add("/auth/refresh", RefreshResource(database, sessions, settings.refresh_reuse_grace_seconds))
    routes.add("/auth/logout", LogoutResource())
    routes.add("/auth/me", MeResource())
    routes.add("/auth/change-password", ChangePasswordResource(database, passwords, throttle, outbox))
    resets = ClientQuota(
        addresses,
        "password-reset",
        settings.password_resets_per_address,
        3600,
        ("Too many reset requests", "Too many password resets were asked for from this address."),
    )
    password_reset = PasswordResetResource(database, passwords, outbox, resets, settings)
    routes.add("/auth/password-reset", password_reset)
    routes.add("/auth/password-reset/confirm", password_reset, suffix="confirm")
    routes.add("/auth/switch-organization", SwitchOrganizationResource(sessions))
    totp_secrets = TotpSecrets(settings.mfa_encryption_key)
    totp = TotpFactorResource(totp_secrets, settings.mfa_issuer)
    routes.add("/auth/mfa/totp", totp)
    routes.add("/auth/mfa/totp/verify", totp, suffix="verify")
    routes.add("/auth/mfa/recovery-codes", RecoveryCodesResource())
    routes.add("/auth/mfa/challenge", MfaChallengeResource(database, sessions, throttle, totp_secrets))
    own_sessions = SessionsResource(cursors)
    routes.add("/auth/sessions", own_sessions)
    routes.add("/auth/sessions/{session_id:uuid}", own_sessions, suffix="item")
    routes.add("/auth/invitations", MyInvitationsResource())

    organizations = OrganizationsResource()
    routes.add("/organizations", organizations)
    routes.add("/organizations/{organization_id:uuid}", organizations, suffix="item")

    members = MembersResource()
    routes.add("/members", members)
    routes.add("/members/{user_id:uuid}", members, suffix="item")

    invitations = InvitationsResource(settings.invitation_ttl_seconds, outbox, settings.app_base_url)
    routes.add("/invitations", invitations)
    routes.add("/invitations/accept", invitations, suffix="accept")
    routes.add("/invitations/{invitation_id:uuid}", invitations, suffix="item")
    routes.add("/invitations/{invitation_id:uuid}/resend", invitations, suffix="resend")

    routes.add("/roles", RolesResource())
    routes.add("/permissions", PermissionsResource())

    projects = ProjectsResource(cursors)
    routes.add("/projects", projects)
    routes.add("/projects/{project_id:uuid}", projects, suffix="item")

    api_keys = ApiKeysResource(cursors)
    routes.add("/api-keys", api_keys)
    routes.add("/api-keys/{api_key_id:uuid}", api_keys, suffix="item")

    routes.add("/audit-events", AuditEventsResource(cursors))

    routes.add("/metrics", MetricsResource(settings.metrics_token, settings.trusted_proxies))
    routes.add("/cron/outbox", OutboxCronResource(outbox, settings.cron_secret))

    openapi = OpenApiResource()
    routes.add("/openapi.json", openapi)
    docs = DocsResource()
    routes.add("/docs", docs)
    routes.add("/docs/{asset}", docs, suffix="asset")
    openapi.publish(openapi_document(routes.table, version("tenant-iam"), declared_security))
    return app


def app_for(settings: Settings, pool: Pool | None = None) -> App:
    """The app with its own pool (or `pool`) and logging: one per worker process."""
    logs.configure(settings.log_format, settings.log_level)
    logging.getLogger("api").info("starting with %r", settings)
    return create_app(settings, pool or create_pool(settings))


def get_app() -> App:
    """The app from the environment."""
    return app_for(Settings.from_env())
