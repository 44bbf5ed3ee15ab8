"""The WSGI app: create_app(settings, pool) wires it; get_app() is gunicorn's entry point.

Where a request goes: RequestIdMiddleware -> TransactionMiddleware (token, one transaction,
tenant context) -> a resource in api/resources (permission hook, named queries) -> commit
or rollback in TransactionMiddleware. Errors become problem+json in api/problems.py.
"""

from __future__ import annotations

import logging

import falcon
import falcon.media
import msgspec
from psycopg_pool import ConnectionPool

from api.cursors import Cursors
from api.database import Connection, Database, create_pool
from api.middleware import RequestIdMiddleware, TransactionMiddleware
from api.passwords import Passwords
from api.problems import register_error_handlers
from api.resources.audit import AuditEventsResource
from api.resources.auth import LoginResource, MeResource, RegisterResource
from api.resources.catalog import PermissionsResource, RolesResource
from api.resources.health import LiveResource, ReadyResource
from api.resources.invitations import InvitationsResource
from api.resources.members import MembersResource
from api.resources.organizations import OrganizationsResource
from api.resources.projects import ProjectsResource
from api.settings import Settings
from api.tokens import AccessTokens
from db.migrate import head_revision


class MsgspecJSON(falcon.media.BaseHandler):
    """Responses as JSON through msgspec: UUIDs and datetimes (RFC 3339) without hand-written
    hooks. Request bodies never go through req.media: api/body.py reads them."""

    def serialize(self, media: object, content_type: str | None = None) -> bytes:
        return msgspec.json.encode(media)


def create_app(
    settings: Settings, pool: ConnectionPool[Connection], passwords: Passwords | None = None
) -> falcon.App[falcon.Request, falcon.Response]:
    database = Database(pool)
    tokens = AccessTokens(
        secret=settings.jwt_access_secret,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_seconds=settings.jwt_access_ttl_seconds,
    )
    passwords = passwords or Passwords()

    middleware: list[RequestIdMiddleware | TransactionMiddleware] = [
        RequestIdMiddleware(),
        TransactionMiddleware(database, tokens),
    ]
    app = falcon.App(middleware=middleware)
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = MsgspecJSON()
    register_error_handlers(app)

    app.add_route("/health/live", LiveResource())
    app.add_route("/health/ready", ReadyResource(database, head_revision()))

    app.add_route("/auth/register", RegisterResource(tokens, passwords))
    app.add_route("/auth/login", LoginResource(tokens, passwords))
    app.add_route("/auth/me", MeResource())

    app.add_route("/organizations", OrganizationsResource())

    members = MembersResource()
    app.add_route("/members", members)
    app.add_route("/members/{user_id:uuid}", members, suffix="item")

    invitations = InvitationsResource(settings.invitation_ttl_seconds)
    app.add_route("/invitations", invitations)
    app.add_route("/invitations/accept", invitations, suffix="accept")
    app.add_route("/invitations/{invitation_id:uuid}", invitations, suffix="item")

    app.add_route("/roles", RolesResource())
    app.add_route("/permissions", PermissionsResource())

    cursors = Cursors(settings.jwt_access_secret)
    projects = ProjectsResource(cursors)
    app.add_route("/projects", projects)
    app.add_route("/projects/{project_id:uuid}", projects, suffix="item")

    app.add_route("/audit-events", AuditEventsResource(cursors))
    return app


def get_app() -> falcon.App[falcon.Request, falcon.Response]:
    """Gunicorn's entry point (`api.app:get_app()`): one pool per worker process."""
    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("api").info("starting with %r", settings)
    return create_app(settings, create_pool(settings))
