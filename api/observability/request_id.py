"""Every request's id: sent back as X-Request-ID, written on its log line and on the audit
events it causes, so that one can be matched with the other."""

from __future__ import annotations

import re
import uuid

from falcon.asgi import Request, Response

_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")


class RequestIdMiddleware:
    """Every request gets an id the server made. The client's own X-Request-ID, when sane,
    replaces it only once the client proved who it is (api/context.py), so that an
    anonymous caller cannot choose what the audit trail records."""

    async def process_request(self, req: Request, resp: Response) -> None:
        req.context.request_id = uuid.uuid4().hex
        given = req.get_header("X-Request-ID")
        req.context.client_request_id = given if given and _SANE_REQUEST_ID.match(given) else None

    async def process_response(self, req: Request, resp: Response, resource: object, req_succeeded: bool) -> None:
        resp.set_header("X-Request-ID", req.context.request_id)
