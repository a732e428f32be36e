"""Files the app serves as they are: the page for people (static/) and the model card beside the model.

Each answer carries its Content-Type, an ETag and `Cache-Control: no-cache`: a browser asks again
each time and gets 304 Not Modified, without the body, until the file changes. The page's own HTML
carries a Content-Security-Policy that lets it load only this service's files: no inline script or
style, nothing from elsewhere. Standard library only.
"""

import functools
import hashlib
from pathlib import Path
from typing import NamedTuple

from churn.http.web import Response

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"
PAGE = "index.html"
# URL path -> file in STATIC_DIR: the page's script, style and icon. The page itself is GET / for a browser.
STATIC_FILES = {"/static/app.js": "app.js", "/static/style.css": "style.css", "/static/favicon.svg": "favicon.svg"}
PAGE_POLICY = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".md": "text/markdown; charset=utf-8",
}
# Every file: its type is the one we say, and a browser asks again (a 304 when unchanged) before using it.
_FILE_HEADERS = (("X-Content-Type-Options", "nosniff"), ("Cache-Control", "no-cache"))


class Asset(NamedTuple):
    """A file as it is served: its bytes, their Content-Type and ETag."""

    body: bytes
    content_type: str
    etag: str


@functools.lru_cache(maxsize=16)  # bytes cache their own hash: a hit costs no rehashing of the body
def asset(name, body):
    """The Asset of a file called `name` (its suffix gives the type) holding `body`."""
    return Asset(body, _CONTENT_TYPES[Path(name).suffix], f'"{hashlib.sha256(body).hexdigest()[:32]}"')


@functools.cache
def static_assets():
    """The page (PAGE) and STATIC_FILES, read once, on first use: name -> Asset."""
    return {name: asset(name, (STATIC_DIR / name).read_bytes()) for name in (PAGE, *STATIC_FILES.values())}


def file_response(environ, served, headers=()):
    """200 with the Asset `served`, or 304 without a body when the client already holds it."""
    headers = (("ETag", served.etag), *_FILE_HEADERS, *headers)
    if_none_match = environ.get("HTTP_IF_NONE_MATCH", "")
    if if_none_match == "*" or served.etag in if_none_match:  # weak comparison, as RFC 9110 asks here
        return Response(304, served.content_type, b"", headers)
    return Response(200, served.content_type, served.body, headers)


def page_response(environ, headers=()):
    """The page, under its Content-Security-Policy."""
    return html_response(environ, static_assets()[PAGE], headers)


def html_response(environ, served, headers=()):
    """An HTML page of ours (the page, the model card's), as file_response answers it, under the page's
    Content-Security-Policy."""
    return file_response(environ, served, (("Content-Security-Policy", PAGE_POLICY), *headers))
