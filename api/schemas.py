"""Request bodies. Unknown fields are refused, so a client can never set server-owned
fields such as organization_id or created_by_user_id."""

from __future__ import annotations

import uuid
from typing import Literal

import msgspec

RoleKey = Literal["ORG_ADMIN", "ORG_USER", "READ_ONLY"]


class Body(msgspec.Struct, forbid_unknown_fields=True):
    pass


class RegisterBody(Body):
    email: str
    password: str
    organization_name: str | None = None
    invitation_token: str | None = None


class LoginBody(Body):
    email: str
    password: str
    organization_id: uuid.UUID | None = None


class RefreshBody(Body):
    refresh_token: str


class SwitchOrganizationBody(Body):
    organization_id: uuid.UUID


class ChangePasswordBody(Body):
    current_password: str
    new_password: str


class OrganizationBody(Body):
    name: str


class MemberRoleBody(Body):
    role: RoleKey


class InvitationBody(Body):
    email: str
    role: RoleKey


class AcceptInvitationBody(Body):
    token: str


class ProjectBody(Body):
    name: str
    description: str | None = None


class ProjectPatchBody(Body):
    # UNSET tells "not sent" from an explicit null, which clears the description.
    name: str | msgspec.UnsetType = msgspec.UNSET
    description: str | msgspec.UnsetType | None = msgspec.UNSET
