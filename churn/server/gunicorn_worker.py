"""gunicorn's worker as this service runs it (gunicorn.conf.py; the server on Linux and macOS): gevent,
each connection a greenlet, with the bounds that waitress keeps too (churn/server/waitress_server.py):

- a connection without a byte either way for IDLE_SECONDS is closed; sockets send from a buffer of
  SEND_BUFFER_BYTES (churn/http/config.py says why);
- a request not received and answered within REQUEST_SECONDS is closed;
- an answer that left a large part of its body unread closes its connection, after reading a little
  of what the client still sends, instead of reading the rest;
- after each request, the worker's other connections have their turn;
- a Transfer-Encoding other than chunked gets 400, the client's error, not gunicorn's 501, which
  would count as the server's failure in every 5xx metric and alert.

gunicorn.conf.py's keepalive bounds the headers and the wait for a kept-alive connection's next request.
"""

import socket

import gevent
from gunicorn.http.body import ChunkedReader
from gunicorn.http.errors import InvalidHeader, UnsupportedTransferCoding
from gunicorn.workers.base_async import AsyncWorker
from gunicorn.workers.ggevent import GeventWorker

from churn.http.config import IDLE_SECONDS, REQUEST_SECONDS, SEND_BUFFER_BYTES
from churn.http.web import SMALL_BODY_BYTES

LINGER_SECONDS = 1  # reading what a client still sends after an answer that did not need it


class BoundedGeventWorker(GeventWorker):
    """gunicorn's gevent worker, with time limits on a client's silence and on each request.

    gevent, not sync workers: each connection is a greenlet, so a client that sends slowly, reads
    slowly or sits idle holds a greenlet, not a worker; sync workers went dark for as long as 4
    such clients lasted (measured with bench/slow_clients.py)."""

    idle_seconds, request_seconds = IDLE_SECONDS, REQUEST_SECONDS  # a subclass may shorten them (the tests)

    def handle(self, listener, client, addr):
        """Serve one connection, which idle_seconds of silence closes."""
        client.settimeout(self.idle_seconds)  # GeventWorker.handle would make it wait forever
        client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)  # churn/http/config.py says why
        AsyncWorker.handle(self, listener, client, addr)

    def handle_request(self, listener_name, req, sock, addr):
        """Answer one request within request_seconds, else close the connection; close it too when
        the answer left a large part of the body unread."""
        with gevent.Timeout(self.request_seconds, False):
            try:
                kept_open = super().handle_request(listener_name, req, sock, addr)
            finally:
                # Let the worker's other connections have their turn: a kept-alive client whose next
                # request is already there would otherwise be served on and on (p99 0.4 s measured).
                gevent.sleep(0)
            if kept_open and _unread_body_bytes(req) > SMALL_BODY_BYTES:
                _close_gently(sock)
                raise StopIteration  # gunicorn closes the connection
            return kept_open
        self.log.info("churn service: a request from %s took over %s s; connection closed", addr, self.request_seconds)
        raise StopIteration  # gunicorn closes the connection

    def handle_error(self, req, client, addr, exc):
        """gunicorn's answer to a request it could not read: 400 for a transfer coding it does not take."""
        if isinstance(exc, UnsupportedTransferCoding):
            exc = InvalidHeader(f"Transfer-Encoding: {exc.hdr} (send chunked, or Content-Length)")
        super().handle_error(req, client, addr, exc)


def _unread_body_bytes(req):
    """How much of the request's body the app did not read (an unfinished chunked body: all of it).
    gunicorn would read and drop all that before the next request, for as long as the client sends:
    a 10 GB body refused with 413 from its headers held a worker's CPU for as long."""
    reader = req.body.reader if req.body is not None else None
    if isinstance(reader, ChunkedReader):
        return 0 if reader.parser is None else float("inf")
    return getattr(reader, "length", 0)


def _close_gently(sock):
    """Say the answer is all sent, and read a little of what the client still sends before gunicorn
    closes: closing with bytes unread resets the connection, and the client may lose the answer."""
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(LINGER_SECONDS)
        drained = 0
        while drained < SMALL_BODY_BYTES and (data := sock.recv(SMALL_BODY_BYTES)):
            drained += len(data)
    except OSError:
        pass
