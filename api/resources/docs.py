"""The contract: GET /openapi.json, and GET /docs rendering it with Swagger UI. Swagger UI's
files come from the installed swagger-ui-py package and the page from api/docs, all served
by the app: no CDN, so the page works offline and under a strict Content-Security-Policy.

The files are read and gzip-compressed once, at start-up, and served from memory: read
from disk on every request, uncompressed and uncached, 20 connections on the 1.45 MB bundle
cut GET /auth/me from 1,200 to 125-169 requests/s. The page links each file by a name that
carries a hash of its content (`swagger-ui-bundle.3f2a....js`), so browsers may keep it
for a year (`immutable`); the plain names still answer, revalidated by ETag.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import falcon
import msgspec
from falcon.asgi import Request, Response

from api.context import Access
from api.http.openapi import operation
from api.http.problems import problem

PAGES = Path(__file__).parent.parent / "docs"
IMMUTABLE = ["public", "max-age=31536000", "immutable"]
REVALIDATE = ["public", "no-cache"]


def package_folder(name: str) -> Path:
    """Where an installed package lives, without importing it (swagger_ui's own code, and
    the template engine it imports, are not needed to serve its files)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{name} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


SWAGGER_UI = package_folder("swagger_ui") / "static"

# Every file the page loads, by the name it is linked under in index.html.
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


@dataclass(frozen=True)
class Asset:
    content_type: str
    data: bytes
    gzipped: bytes
    etag: str

    @classmethod
    def of(cls, data: bytes, content_type: str) -> Asset:
        digest = hashlib.sha256(data).hexdigest()[:16]
        # mtime=0: the same file compresses to the same bytes on every start.
        return cls(content_type, data, gzip.compress(data, compresslevel=9, mtime=0), digest)

    def serve(self, req: Request, resp: Response, cache_control: list[str]) -> None:
        resp.etag = self.etag
        resp.cache_control = cache_control
        resp.vary = ["Accept-Encoding"]
        if req.if_none_match and any(str(tag) == self.etag for tag in req.if_none_match):
            resp.status = falcon.HTTP_304
            return
        resp.content_type = self.content_type
        if "gzip" in (req.get_header("Accept-Encoding") or "").lower():
            resp.set_header("Content-Encoding", "gzip")
            resp.data = self.gzipped
        else:
            resp.data = self.data


def fingerprinted(name: str, etag: str) -> str:
    """`swagger-ui-bundle.js` -> `swagger-ui-bundle.<etag>.js`."""
    stem, _, suffix = name.rpartition(".")
    return f"{stem}.{etag}.{suffix}"


class OpenApiResource:
    access = Access.PUBLIC

    def __init__(self) -> None:
        self._body = b""

    def publish(self, document: dict[str, Any]) -> None:
        """Set once at start-up, when every route (this one included) is in the table."""
        self._body = msgspec.json.encode(document)

    @operation("This document: the API's contract (OpenAPI 3.1)", ok={200: dict[str, Any]})
    async def on_get(self, req: Request, resp: Response) -> None:
        resp.data = self._body
        resp.content_type = falcon.MEDIA_JSON
        resp.cache_control = ["public", "max-age=300"]


class DocsResource:
    access = Access.PUBLIC

    def __init__(self) -> None:
        files = {name: Asset.of(path.read_bytes(), content_type) for name, (path, content_type) in ASSETS.items()}
        page = (PAGES / "index.html").read_text()
        self._immutable: dict[str, Asset] = {}
        for name, asset in files.items():
            versioned = fingerprinted(name, asset.etag)
            page = page.replace(f'"/docs/{name}"', f'"/docs/{versioned}"')
            self._immutable[versioned] = asset
        self._plain = files
        self._page = Asset.of(page.encode(), falcon.MEDIA_HTML)

    @operation("The API's documentation (Swagger UI)", ok={200: str, 304: None}, media_type="text/html")
    async def on_get(self, req: Request, resp: Response) -> None:
        self._page.serve(req, resp, REVALIDATE)
        resp.set_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)

    @operation("A file of the documentation page", ok={200: str, 304: None}, media_type="text/plain", errors=(404,))
    async def on_get_asset(self, req: Request, resp: Response, asset: str) -> None:
        if (found := self._immutable.get(asset)) is not None:
            found.serve(req, resp, IMMUTABLE)
        elif (found := self._plain.get(asset)) is not None:
            found.serve(req, resp, REVALIDATE)
        else:
            raise problem(404, "Not found", "No such file in the documentation page.")
