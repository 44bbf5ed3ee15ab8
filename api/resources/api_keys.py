"""The current organization's API keys (machine identities: api/auth/api_keys.py)."""

from __future__ import annotations

import datetime
import uuid

import falcon
import msgspec
from falcon.asgi import Request, Response

from api.auth.api_keys import new_api_key
from api.auth.sessions import answer_with_secret
from api.context import for_people, requires, step_up, transaction
from api.http.body import FieldChecks, read_json
from api.http.cursors import Cursors
from api.http.openapi import CURSOR, LIMIT, operation
from api.http.pagination import KeysetPager
from api.http.problems import not_found
from api.http.responses import ApiKey, ApiKeyPage, NewApiKey, from_row
from api.http.schemas import ApiKeyBody, ApiKeyPatchBody


class ApiKeysResource:
    def __init__(self, cursors: Cursors) -> None:
        self._pager = KeysetPager(cursors, "api-keys", "created_at")

    @operation(
        "Create an API key that acts in this organization with a role (the key is shown once)",
        body=ApiKeyBody,
        ok={201: NewApiKey},
    )
    @requires("api_keys:manage")
    # Only a person makes keys (the insert policy wants the signed-in user as the creator):
    # a leaked key cannot mint others that would outlive its own revocation.
    @for_people
    @step_up
    async def on_post(self, req: Request, resp: Response) -> None:
        body = await read_json(req, ApiKeyBody)
        checks = FieldChecks()
        name = checks.name("name", body.name)
        if body.expires_at is not None and body.expires_at <= datetime.datetime.now(datetime.UTC):
            checks.fail("expires_at", "must be in the future")
        checks.done()
        made = new_api_key()
        created = await transaction(req).one(
            "create_api_key",
            {
                "lookup_id": made.lookup_id,
                "key_hash": made.key_hash,
                "name": name,
                "role": body.role,
                "expires_at": body.expires_at,
            },
        )
        assert created is not None
        resp.status = falcon.HTTP_201
        answer_with_secret(resp, from_row({**created, "key": made.key}, NewApiKey))

    @operation(
        "List the organization's API keys (never their secrets), newest first",
        query=(LIMIT, CURSOR),
        ok={200: ApiKeyPage},
    )
    @requires("api_keys:manage")
    async def on_get(self, req: Request, resp: Response) -> None:
        params = self._pager.params(req)
        rows = await transaction(req).all("list_api_keys", params)
        resp.media = ApiKeyPage(**self._pager.page(rows, params, ApiKey))

    @operation("Read an API key (never its secret)", ok={200: ApiKey})
    @requires("api_keys:manage")
    async def on_get_item(self, req: Request, resp: Response, api_key_id: uuid.UUID) -> None:
        found = await transaction(req).one("get_api_key", {"id": api_key_id})
        if found is None:
            raise not_found("API key")
        resp.media = from_row(found, ApiKey)

    @operation(
        "Rename an API key or change its role (from its next request on)", body=ApiKeyPatchBody, ok={200: ApiKey}
    )
    @requires("api_keys:manage")
    async def on_patch_item(self, req: Request, resp: Response, api_key_id: uuid.UUID) -> None:
        body = await read_json(req, ApiKeyPatchBody)
        checks = FieldChecks()
        name = None if body.name is msgspec.UNSET else checks.name("name", body.name)
        checks.done()
        role = None if body.role is msgspec.UNSET else body.role
        updated = await transaction(req).one("update_api_key", {"id": api_key_id, "name": name, "role": role})
        if updated is None:
            raise not_found("API key")
        resp.media = from_row(updated, ApiKey)

    @operation("Revoke an API key: its next request is refused", ok={204: None})
    @requires("api_keys:manage")
    async def on_delete_item(self, req: Request, resp: Response, api_key_id: uuid.UUID) -> None:
        if await transaction(req).one("revoke_api_key", {"id": api_key_id}) is None:
            raise not_found("API key")
        resp.status = falcon.HTTP_204
