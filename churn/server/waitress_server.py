"""Waitress as this service runs it (serve.py; the server on Windows): the bounds gunicorn.conf.py
gives gunicorn, as far as waitress can be made to keep them. Waitress's defaults, measured: 100 idle
connections left the service dark, an idle one was held 147 s, a 300 MB body was spooled to disk
before the app could refuse it, and a request with both Content-Length and Transfer-Encoding was read
by Transfer-Encoding, so that one smuggled behind it was answered.

- up to CONNECTION_LIMIT connections at once (select() on Windows allows fewer: WINDOWS_CONNECTION_LIMIT);
- a request whose headers are not all in within KEEPALIVE_SECONDS of its first byte is closed, as
  gunicorn does (waitress waits for them as long as bytes trickle in: 1,000 connections sending a
  byte a second left no room for a probe until the request bound, 120 s);
- a connection without a byte for IDLE_SECONDS is closed, checked every second; sockets send from a
  buffer of SEND_BUFFER_BYTES (churn/http/config.py says why);
- a request not received and answered within REQUEST_SECONDS is closed (waitress has no such limit);
- a body over MAX_BODY_BYTES gets 413 from its headers, before any of it is read;
- Content-Length with Transfer-Encoding, or Transfer-Encoding in HTTP/1.0, gets 400 and is closed, and
  so does a Transfer-Encoding other than chunked (waitress's 501 would count as the server's failure);
- threads: one per large request that may run or wait (churn/http/admission.py), and LIGHT_THREADS more, so
  that a probe or a single customer never waits behind large requests;
- on Linux, the threads share two malloc arenas: glibc gives each thread its own, and memory one
  thread freed was not reused by another (16 slow readers of large answers: a peak 62 MiB over idle,
  28 MiB with two arenas).
"""

import contextlib
import ctypes
import logging
import socket
import sys
import time

from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser, ParsingError, TransferEncodingNotImplemented
from waitress.server import BaseWSGIServer, TcpWSGIServer, create_server

from churn.http.config import IDLE_SECONDS, KEEPALIVE_SECONDS, REQUEST_SECONDS, SEND_BUFFER_BYTES

# Room for 1,000 clients that trickle their headers (closed after KEEPALIVE_SECONDS, and back again)
# and for everyone else; an idle connection costs a few KiB.
CONNECTION_LIMIT = 2000
WINDOWS_CONNECTION_LIMIT = 500  # Python's select() takes at most 512 sockets on Windows
LIGHT_THREADS = 4
MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # glibc's malloc.h
_log = logging.getLogger("churn.server.waitress_server")


def adjustments(settings, listen, platform=sys.platform):
    """waitress's settings (its "adjustments") for the service's Settings, listening on `listen`
    ("*:9696": every IPv4 and IPv6 address)."""
    windows = platform == "win32"
    return {
        "listen": listen,
        "threads": settings.large_requests + settings.large_requests_waiting + LIGHT_THREADS,
        "connection_limit": WINDOWS_CONNECTION_LIMIT if windows else CONNECTION_LIMIT,
        "asyncore_use_poll": not windows,  # select() takes no file descriptor over 1023
        "channel_timeout": IDLE_SECONDS,
        "cleanup_interval": 1,
        "max_request_body_size": settings.max_body_bytes + 1,  # waitress refuses a body of this size or more
        "ident": "churn",
    }


def bounded_server(app, settings, listen):
    """A waitress server of `app`, with adjustments() and the bounds waitress lacks; .run() serves."""
    _share_malloc_arenas()
    if (metrics := getattr(app, "metrics", None)) is not None:
        metrics.threads_share_a_process = True  # churn/http/metrics.py says why
    server = create_server(app, **adjustments(settings, listen))
    for listener in _listeners(server):
        # waitress takes no server class: each listening server becomes the one that keeps the bounds.
        listener.__class__ = _BoundedServer
    return server


def _share_malloc_arenas():
    """Limit glibc's malloc to MALLOC_ARENAS arenas, before waitress starts its threads (as the
    variable MALLOC_ARENA_MAX would); elsewhere (macOS, Windows, musl) nothing."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):  # AttributeError: not glibc
        ctypes.CDLL(None).mallopt(_M_ARENA_MAX, MALLOC_ARENAS)


def _listeners(server):
    if isinstance(server, BaseWSGIServer):
        return [server]
    return [dispatcher for dispatcher in server.map.values() if isinstance(dispatcher, BaseWSGIServer)]


class _StrictParser(HTTPRequestParser):
    """waitress's request parser, refusing a request whose length its headers give two ways."""

    def __init__(self, adj):
        super().__init__(adj)
        self.started = time.monotonic()

    def parse_header(self, header_plus):
        """Parse the request's headers; ParsingError (400, connection closed) for ambiguous framing."""
        try:
            super().parse_header(header_plus)
        except TransferEncodingNotImplemented:
            raise ParsingError("a Transfer-Encoding other than chunked (send chunked, or Content-Length)") from None
        if self.chunked and "CONTENT_LENGTH" in self.headers:
            raise ParsingError("a request may not have both Content-Length and Transfer-Encoding")
        if "TRANSFER_ENCODING" in self.headers:  # left for HTTP/1.0, which waitress reads by Content-Length
            raise ParsingError("Transfer-Encoding is not allowed in HTTP/1.0")


class _StrictChannel(HTTPChannel):
    parser_class = _StrictParser


class _BoundedServer(TcpWSGIServer):
    channel_class = _StrictChannel

    def set_socket_options(self, conn):
        """waitress's options for a new connection, and the send buffer churn/http/config.py sizes."""
        super().set_socket_options(conn)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)

    def maintenance(self, now):
        """Close idle connections, saying so of a request that stopped arriving, those whose headers
        took longer than KEEPALIVE_SECONDS, and those whose request has lasted REQUEST_SECONDS."""
        channels = [channel for channel in self.active_channels.values() if not channel.will_close]
        for channel in channels:
            if not channel.requests and channel.request is not None and now - channel.last_activity > IDLE_SECONDS:
                _log.info("churn service: the request from %s stopped arriving; connection closed", channel.addr)
        super().maintenance(now)
        headers_due = time.monotonic() - KEEPALIVE_SECONDS
        for channel in channels:
            request = channel.request  # the one being received
            if request is not None and not request.headers_finished and request.started < headers_due:
                _log.info("churn service: the headers from %s took over %s s; connection closed", channel.addr,
                          KEEPALIVE_SECONDS)  # fmt: skip
                channel.will_close = True
        too_old = time.monotonic() - REQUEST_SECONDS
        for channel in channels:
            request = channel.requests[0] if channel.requests else channel.request
            if request is not None and request.started < too_old:
                _log.info(
                    "churn service: a request from %s took over %s s; connection closed", channel.addr, REQUEST_SECONDS
                )
                channel.will_close = True
