"""Request bodies. Unknown fields are refused, so a client can never set server-owned
fields such as organization_id or created_by_user_id. Limits are published here in
/openapi.json and enforced by api/http/body.py's FieldChecks from the same constants, which
report every bad field at once (a decoder stops at the first) and also apply the rules
JSON Schema cannot state: trimming, NFC, no invisible characters, an email's syntax."""

from __future__ import annotations

import datetime
import uuid
from typing import Annotated, Any, Literal

import msgspec

RoleKey = Literal["ORG_ADMIN", "ORG_USER", "READ_ONLY"]

MAX_NAME = 200
MAX_EMAIL = 254
MIN_PASSWORD, MAX_PASSWORD = 12, 256
MAX_TOKEN = 200
MAX_DESCRIPTION = 2000


def documented(description: str | None = None, **schema: Any) -> msgspec.Meta:
    """JSON Schema keywords for the document only (FieldChecks enforces them)."""
    return msgspec.Meta(description=description, extra_json_schema=schema)


Name = Annotated[str, documented("1 to 200 visible characters after trimming.", maxLength=MAX_NAME)]
Email = Annotated[str, documented("Trimmed and compared lower-cased.", maxLength=MAX_EMAIL, format="email")]
NewPassword = Annotated[str, documented(minLength=MIN_PASSWORD, maxLength=MAX_PASSWORD)]
Password = Annotated[str, documented(maxLength=MAX_PASSWORD)]
Token = Annotated[str, documented(minLength=1, maxLength=MAX_TOKEN)]
Expiry = Annotated[
    datetime.datetime,
    msgspec.Meta(
        tz=True, description="When it stops working: RFC 3339 with a time zone, in the future; never if absent."
    ),
]
Description = Annotated[str, documented("Visible characters, tabs and line breaks.", maxLength=MAX_DESCRIPTION)]


class Body(msgspec.Struct, forbid_unknown_fields=True):
    pass


class RegisterBody(Body):
    """Send exactly one of organization_name (a new organization) and invitation_token."""

    email: Email
    password: NewPassword
    organization_name: Name | None = None
    invitation_token: Token | None = None


class LoginBody(Body):
    email: Email
    password: Password
    organization_id: uuid.UUID | None = None


class RefreshBody(Body):
    refresh_token: Token


class SwitchOrganizationBody(Body):
    organization_id: uuid.UUID


class ChangePasswordBody(Body):
    current_password: Password
    new_password: NewPassword


class VerifyEmailBody(Body):
    token: Token


class PasswordResetBody(Body):
    email: Email


class PasswordResetConfirmBody(Body):
    token: Token
    new_password: NewPassword


class OrganizationBody(Body):
    name: Name


class MemberRoleBody(Body):
    role: RoleKey


class InvitationBody(Body):
    email: Email
    role: RoleKey


class AcceptInvitationBody(Body):
    token: Token


TotpCode = Annotated[str, documented("The authenticator's 6 digits.", maxLength=10)]
RecoveryCode = Annotated[str, documented("One of the recovery codes, with or without dashes.", maxLength=40)]


class TotpCodeBody(Body):
    code: TotpCode


class MfaChallengeBody(Body):
    """The mfa_token of POST /auth/login, and exactly one of code and recovery_code."""

    mfa_token: Token
    code: TotpCode | None = None
    recovery_code: RecoveryCode | None = None


class OrganizationPatchBody(Body):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    # Setting it needs a session at aal 2.
    require_mfa: bool | msgspec.UnsetType = msgspec.UNSET


class ApiKeyBody(Body):
    name: Name
    role: RoleKey
    expires_at: Expiry | None = None


class ApiKeyPatchBody(Body):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    role: RoleKey | msgspec.UnsetType = msgspec.UNSET


class ProjectBody(Body):
    name: Name
    description: Description | None = None


class ProjectPatchBody(Body):
    # UNSET tells "not sent" from an explicit null, which clears the description.
    name: Name | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType | None = msgspec.UNSET
