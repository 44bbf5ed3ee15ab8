"""Conditional requests on versioned rows (projects, memberships): the row's version, kept by
the database (migration 0006), is its ETag. GET answers 304 to a matching If-None-Match;
PATCH and DELETE with If-Match change the row only while it is still at a version the
client names (the check is part of the UPDATE/DELETE statement, so no race lies between
checking and writing), and answer 412 otherwise."""

from __future__ import annotations

from typing import Any

import falcon
from falcon.asgi import Request, Response

from api.database import Transaction
from api.http.problems import not_found, problem


def etag(version: int) -> str:
    return falcon.ETag(str(version)).dumps()


def if_match_versions(req: Request) -> list[int] | None:
    """The versions If-Match names, for the statement's if_versions: None when there is no
    condition (no header, or `*`, which any existing row meets). Weak tags never match
    (RFC 9110: If-Match compares strongly), and neither do tags that are not our versions."""
    tags = req.if_match
    if not tags or "*" in tags:
        return None
    return [
        int(tag)
        for tag in tags
        if isinstance(tag, falcon.ETag) and not tag.is_weak and tag.isascii() and tag.isdigit() and len(tag) < 19
    ]


def not_modified(req: Request, resp: Response, version: int) -> bool:
    """Sets the ETag; True (and a 304) when If-None-Match already names this version."""
    resp.etag = etag(version)
    tags = req.if_none_match
    if tags and ("*" in tags or any(str(tag) == str(version) for tag in tags)):
        resp.status = falcon.HTTP_304
        return True
    return False


async def missing_or_changed(tx: Transaction, query: str, params: dict[str, Any], what: str) -> falcon.HTTPError:
    """Why a conditional write touched no row: the row is gone (404), or it has moved on (412)."""
    current = await tx.one(query, params)
    if current is None:
        return not_found(what)
    return problem(
        412,
        "Precondition failed",
        f"The {what} changed since you read it: its ETag is now {etag(current['version'])}. Read it again.",
        headers={"ETag": etag(current["version"])},
    )
