"""The contract: GET /openapi.json, and GET /docs rendering it with Swagger UI. Swagger UI's
files come from the installed swagger-ui-py package and the page from api/docs, all served
by the app: no CDN, so the page works offline and under a strict Content-Security-Policy."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import falcon
import msgspec

from api.context import Access
from api.http.openapi import operation
from api.http.problems import problem

PAGES = Path(__file__).parent.parent / "docs"


def package_folder(name: str) -> Path:
    """Where an installed package lives, without importing it (swagger_ui's own code, and
    the template engine it imports, are not needed to serve its files)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{name} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


SWAGGER_UI = package_folder("swagger_ui") / "static"

# Every file the page loads, by the name it is served under.
ASSETS = {
    "swagger-ui-bundle.js": (SWAGGER_UI / "swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    "swagger-ui.css": (SWAGGER_UI / "swagger-ui.css", "text/css; charset=utf-8"),
    "docs.js": (PAGES / "docs.js", "text/javascript; charset=utf-8"),
}

# Scripts, styles and the document from this origin only; Swagger UI's icons are data: URLs.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class OpenApiResource:
    access = Access.PUBLIC

    def __init__(self) -> None:
        self._body = b""

    def publish(self, document: dict[str, Any]) -> None:
        """Set once at start-up, when every route (this one included) is in the table."""
        self._body = msgspec.json.encode(document)

    @operation("This document: the API's contract (OpenAPI 3.1)", ok={200: dict[str, Any]})
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.data = self._body
        resp.content_type = falcon.MEDIA_JSON
        resp.cache_control = ["public", "max-age=300"]


class DocsResource:
    access = Access.PUBLIC

    @operation("The API's documentation (Swagger UI)", ok={200: str}, media_type="text/html")
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.data = (PAGES / "index.html").read_bytes()
        resp.content_type = falcon.MEDIA_HTML
        resp.set_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)

    @operation("A file of the documentation page", ok={200: str}, media_type="text/plain", errors=(404,))
    def on_get_asset(self, req: falcon.Request, resp: falcon.Response, asset: str) -> None:
        found = ASSETS.get(asset)
        if found is None:
            raise problem(404, "Not found", "No such file in the documentation page.")
        path, content_type = found
        resp.data = path.read_bytes()
        resp.content_type = content_type
        resp.cache_control = ["public", "max-age=3600"]
