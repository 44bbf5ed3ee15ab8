"""Response bodies: every route answers with one of these types (or a problem). They shape
the JSON and are the response schemas of /openapi.json (api/http/openapi.py), so the document
cannot drift from what is sent. Rows from db/queries become these with `from_row`."""

from __future__ import annotations

import datetime
import uuid
from typing import Any, Literal, TypeVar

import falcon.media
import msgspec

from api.http.schemas import RoleKey

T = TypeVar("T", bound=msgspec.Struct)


class Response(msgspec.Struct, kw_only=True):
    pass


def from_row(row: dict[str, Any], shape: type[T]) -> T:
    """A database row as a response type (the row's columns are the type's fields)."""
    return msgspec.convert(row, shape)


def from_rows(rows: list[dict[str, Any]], shape: type[T]) -> list[T]:
    return msgspec.convert(rows, list[shape])  # type: ignore[valid-type]


class UserRef(Response):
    id: uuid.UUID
    email: str


class OrganizationRef(Response):
    id: uuid.UUID
    name: str


def organization_ref(organization_id: uuid.UUID | None, name: str | None) -> OrganizationRef | None:
    """The organization of a session, or None for a session with no organization."""
    return None if organization_id is None or name is None else OrganizationRef(id=organization_id, name=name)


class ApiKeyRef(Response):
    id: uuid.UUID
    name: str
    prefix: str
    created_by_user_id: uuid.UUID | None
    expires_at: datetime.datetime | None


class Me(Response):
    # null for a request made with an API key (see api_key).
    user: UserRef | None
    # Whether the address was proved (a mailed link, an invitation token, or a reset); false
    # for an API key, which has no address.
    email_verified: bool
    # null, with role, for a session with no organization (a user who belongs to none).
    organization: OrganizationRef | None
    role: RoleKey | None
    # null for an API key, which has no session.
    session_id: uuid.UUID | None
    permissions: list[str]
    # The key a request was made with; null for a person's access token.
    api_key: ApiKeyRef | None = None
    # The session's assurance (null for an API key), whether the user has an active second
    # factor, and whether the organization's MFA rule refuses this session its tenant routes.
    aal: int | None = None
    amr: list[str] | None = None
    mfa_enrolled: bool = False
    mfa_required: bool = False


class SignedIn(Response):
    """A new or renewed session: sent once, never cached (Cache-Control: no-store)."""

    user: UserRef
    # null, with role, when the user belongs to no organization (see GET /auth/invitations).
    organization: OrganizationRef | None
    role: RoleKey | None
    session_id: uuid.UUID
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    refresh_token: str
    # Sessions end at a fixed time after sign-in; refreshing does not extend them.
    refresh_token_expires_at: datetime.datetime
    # The session's assurance level: 1 after a password, 2 after a second factor; and the
    # methods (pwd, otp, recovery_code). Refreshing keeps them.
    aal: int
    amr: list[str]


class MfaChallenge(Response):
    """A right password of a user with a second factor: no session yet. Answer with POST
    /auth/mfa/challenge within expires_in seconds."""

    mfa_required: Literal[True]
    mfa_token: str
    expires_in: int


class TotpEnrolment(Response):
    factor_id: uuid.UUID
    # Base32, for typing into an authenticator; otpauth_uri carries it for a QR code.
    secret: str
    otpauth_uri: str


class RecoveryCodes(Response):
    # Single use, shown once: each signs in once in place of a code.
    recovery_codes: list[str]


class OrganizationSettings(Response):
    id: uuid.UUID
    name: str
    # Members whose session is at aal 1 are refused on every tenant route.
    require_mfa: bool


class Session(Response):
    id: uuid.UUID
    organization_id: uuid.UUID | None
    organization_name: str | None
    created_at: datetime.datetime
    last_used_at: datetime.datetime
    expires_at: datetime.datetime
    # How its user proved who they are: 1 (a password) or 2 (and a second factor), and the methods.
    aal: int
    amr: list[str]
    user_agent: str | None
    client_address: str | None
    current: bool


class SessionList(Response):
    items: list[Session]
    next_cursor: str | None


class Organization(Response):
    id: uuid.UUID
    name: str
    role: RoleKey


class OrganizationList(Response):
    items: list[Organization]
    next_cursor: None = None


class Member(Response):
    user_id: uuid.UUID
    email: str
    # Whether the member proved they own the address (a mailed link, invitation or reset).
    email_verified: bool
    role: RoleKey
    joined_at: datetime.datetime
    # Raised by the database on every change; the ETag of GET /members/{user_id}.
    version: int


class MemberList(Response):
    items: list[Member]
    next_cursor: None = None


class Invitation(Response):
    id: uuid.UUID
    email: str
    role: RoleKey
    invited_by_user_id: uuid.UUID | None
    created_at: datetime.datetime
    expires_at: datetime.datetime


class InvitationList(Response):
    items: list[Invitation]
    next_cursor: None = None


class NewInvitation(Response):
    """The acceptance link goes by mail to the invited address; only the token's hash is stored."""

    id: uuid.UUID
    email: str
    role: RoleKey
    expires_at: datetime.datetime


class MyInvitation(Response):
    """An invitation to the caller's email; accepting it needs its token, as before."""

    id: uuid.UUID
    organization: OrganizationRef
    role: RoleKey
    created_at: datetime.datetime
    expires_at: datetime.datetime


class MyInvitationList(Response):
    items: list[MyInvitation]
    next_cursor: None = None


class VerificationSent(Response):
    """The same answer whether or not the address has an account."""

    status: Literal["verification_sent"]


class EmailVerified(Response):
    status: Literal["verified"]


class ResetRequested(Response):
    """The same answer whether or not the address has an account."""

    status: Literal["reset_sent"]


class MailDelivered(Response):
    """One run of GET /cron/outbox."""

    sent: int
    retried: int
    given_up: int


class AcceptedInvitation(Response):
    organization: OrganizationRef
    role: RoleKey


class Role(Response):
    key: RoleKey
    name: str
    description: str
    permissions: list[str]


class RoleList(Response):
    items: list[Role]
    next_cursor: None = None


class Permission(Response):
    key: str
    description: str


class PermissionList(Response):
    items: list[Permission]
    next_cursor: None = None


class Project(Response):
    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    description: str | None
    created_by_user_id: uuid.UUID | None
    created_at: datetime.datetime
    updated_at: datetime.datetime
    # Raised by the database on every change; the ETag of GET /projects/{project_id}.
    version: int


class ApiKey(Response):
    id: uuid.UUID
    name: str
    role: RoleKey
    # `tiam_` and the key's lookup id: enough to recognise a key, never to use it.
    prefix: str
    created_by_user_id: uuid.UUID | None
    created_at: datetime.datetime
    expires_at: datetime.datetime | None
    # To the minute.
    last_used_at: datetime.datetime | None


class NewApiKey(ApiKey):
    # The key itself: shown in this answer only, and stored only as a hash.
    key: str


class ApiKeyPage(Response):
    items: list[ApiKey]
    next_cursor: str | None


class ProjectPage(Response):
    items: list[Project]
    next_cursor: str | None


class AuditEvent(Response):
    id: uuid.UUID
    organization_id: uuid.UUID
    occurred_at: datetime.datetime
    actor_user_id: uuid.UUID | None
    # A change made with an API key: the key, and the user who created it.
    actor_api_key_id: uuid.UUID | None
    actor_api_key_created_by_user_id: uuid.UUID | None
    actor_db_role: str
    action: str
    resource_type: str
    resource_id: uuid.UUID | None
    old_values: dict[str, Any] | None
    new_values: dict[str, Any] | None
    request_id: str | None
    anonymous: bool


class AuditEventPage(Response):
    items: list[AuditEvent]
    next_cursor: str | None


class Live(Response):
    status: Literal["ok"]


class Ready(Response):
    status: Literal["ready"]
    schema_revision: str


class Jwk(Response):
    kty: Literal["OKP"]
    crv: Literal["Ed25519"]
    x: str
    kid: str
    alg: Literal["EdDSA"]
    use: Literal["sig"]


class Jwks(Response):
    keys: list[Jwk]


class FieldProblem(Response):
    field: str
    message: str


class Problem(Response):
    """RFC 9457 problem details, sent as application/problem+json for every error."""

    type: str
    title: str
    status: int
    detail: str
    request_id: str | None
    errors: list[FieldProblem] | msgspec.UnsetType = msgspec.UNSET


class MsgspecJSON(falcon.media.BaseHandler):
    """Responses as JSON through msgspec: UUIDs and datetimes (RFC 3339) without hand-written
    hooks. Request bodies never go through req.media: api/http/body.py reads them."""

    def serialize(self, media: object, content_type: str | None = None) -> bytes:
        return msgspec.json.encode(media)
