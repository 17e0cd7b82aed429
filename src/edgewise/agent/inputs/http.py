"""HTTP push: devices POST payloads; each is answered once it is durably stored.

Standard library only (``http.server``), so the agent stays small. ``POST /ingest`` or
``POST /ingest/<stream>`` with ``Authorization: Bearer <token>``; the ``Content-Type`` selects
the format. Answers: 202 once the agent acknowledged the message (it is in the outbox), 400
for a payload that cannot be read (or holds no good reading), 401 without the token, 404 for
another path, 411 without a length, 413 over ``max_bytes``, 415 for another content type, 503
with ``Retry-After`` when the agent did not acknowledge within ``ack_timeout``.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal, cast
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field

from .._decode import DEFAULT_MAX_BYTES, PayloadError, decode
from .._gate import Rejections
from .._inbound import Deliver, Inbound
from .._secret import Secret

__all__ = ["CONTENT_TYPES", "HttpInput", "HttpInputConfig", "stream_from_path"]

_log = logging.getLogger("edgewise.agent.inputs.http")

CONTENT_TYPES = {
    "application/json": "json",
    "application/cbor": "cbor",
    "application/senml+json": "senml+json",
    "application/senml+cbor": "senml+cbor",
}
"""The content types taken, and the format each selects."""

_PREFIX = "/ingest"
# Bodies of refused requests up to this size are read and dropped, so the client sees the
# answer instead of a reset connection.
_DRAIN_LIMIT = 1 << 20


def stream_from_path(path: str) -> str | None:
    """The stream a request path names: ``/ingest/<stream>`` names one, ``/ingest`` none.

    >>> stream_from_path("/ingest/pump%2D1"), stream_from_path("/ingest")
    ('pump-1', None)
    """
    path = urlsplit(path).path
    if path in (_PREFIX, _PREFIX + "/"):
        return None
    if not path.startswith(_PREFIX + "/") or "/" in path[len(_PREFIX) + 1 :]:
        raise ValueError(f"not an ingest path: {path!r}")
    return unquote(path[len(_PREFIX) + 1 :])


class HttpInputConfig(BaseModel):
    """The configuration of an HTTP push input; the token is a :class:`Secret` reference.

    >>> cfg = HttpInputConfig.model_validate(
    ...     {"type": "http", "name": "push", "port": 8080, "token": {"env": "PUSH_TOKEN"}})
    >>> cfg.host, cfg.max_bytes, cfg.token
    ('127.0.0.1', 1048576, Secret(env='PUSH_TOKEN'))
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["http"] = "http"
    name: str = Field(min_length=1)
    host: str = "127.0.0.1"
    port: int = Field(ge=0, le=65535)
    token: Secret
    max_bytes: int = Field(default=DEFAULT_MAX_BYTES, gt=0)
    ack_timeout: float = Field(default=10.0, gt=0)

    def build(self) -> HttpInput:
        """The input this configures, its token read now."""
        return HttpInput(
            self.name,
            token=self.token.reveal(),
            host=self.host,
            port=self.port,
            max_bytes=self.max_bytes,
            ack_timeout=self.ack_timeout,
        )


class HttpInput:
    """An :class:`~edgewise.agent.Input` that takes payloads pushed over HTTP.

    Parameters
    ----------
    name
        The input's configured name (``Inbound.source``).
    token
        The bearer token clients send; load it from a file or the environment
        (:class:`~edgewise.agent._secret.Secret`), never from the configuration file.
    host, port
        Where to listen: loopback by default; port 0 picks a free port (see ``address``).
    max_bytes
        The largest payload taken.
    ack_timeout
        How long a request waits for the agent to store its message before a 503.
    retry_after
        The seconds a 503 asks the client to wait.

    Each message is decoded once here, so a payload that cannot be read is answered 400 and
    never delivered; a readable one is delivered as bytes (``topic`` is the request path;
    :func:`stream_from_path` gives its stream) with ``upstream_copy=True``. What it refuses is
    counted by kind in ``rejections.counts``: the payload kinds, and ``unauthorized``,
    ``unsupported_type``, ``no_length``, ``not_found`` and ``not_stored``.
    """

    def __init__(
        self,
        name: str,
        *,
        token: str,
        host: str = "127.0.0.1",
        port: int = 8080,
        max_bytes: int = DEFAULT_MAX_BYTES,
        ack_timeout: float = 10.0,
        retry_after: int = 5,
    ) -> None:
        if not token:
            raise ValueError("the HTTP input needs a non-empty token")
        self.name = name
        self.host = host
        self.port = port
        self.max_bytes = max_bytes
        self.ack_timeout = ack_timeout
        self.retry_after = retry_after
        self.rejections = Rejections(_log)
        self._token = token.encode()
        self._deliver: Deliver | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"HttpInput({self.name!r}, host={self.host!r}, port={self.port})"

    @property
    def address(self) -> tuple[str, int]:
        """The host and port listened on (the chosen port when ``port`` was 0)."""
        if self._server is None:
            raise RuntimeError(f"HTTP input {self.name!r} is not started")
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self, deliver: Deliver) -> None:
        """Listen and deliver from the server's threads."""
        if self._server is not None:
            raise RuntimeError(f"HTTP input {self.name!r} is already started")
        self._deliver = deliver
        self._server = _Server((self.host, self.port), _Handler, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"http-input-{self.name}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop listening; requests in flight finish (their messages may still be stored)."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        assert self._thread is not None
        self._thread.join()
        self._server = self._thread = None

    def put(self, inbound: Inbound) -> bool:
        """Deliver ``inbound``; whether the agent acknowledged it within ``ack_timeout``."""
        stored = threading.Event()
        inbound.ack = stored.set
        inbound.upstream_copy = True
        if self._deliver is None:
            return False
        try:
            self._deliver(inbound)
        except Exception:  # the agent's failure must not cost the client its answer
            _log.exception("HTTP input %s: delivering failed", self.name)
            return False
        return stored.wait(self.ack_timeout)

    def authorized(self, header: str | None) -> bool:
        """Whether an ``Authorization`` header carries the token (compared in constant time)."""
        scheme, _, token = (header or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), self._token
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], owner: HttpInput
    ) -> None:
        self.owner = owner
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    # A client that stalls mid-request loses its connection instead of holding a thread.
    timeout = 30
    server_version = "edgewise-agent"

    def do_POST(self) -> None:
        owner = cast(_Server, self.server).owner
        try:
            stream = stream_from_path(self.path)
        except ValueError:
            return self._refuse(owner, HTTPStatus.NOT_FOUND, "not_found", f"no {self.path}")
        if not owner.authorized(self.headers.get("Authorization")):
            return self._refuse(owner, HTTPStatus.UNAUTHORIZED, "unauthorized", "wrong token")
        content_type = (self.headers.get("Content-Type") or "").partition(";")[0].strip().lower()
        fmt = CONTENT_TYPES.get(content_type)
        if fmt is None:
            reason = f"content type {content_type!r} is not one of {', '.join(CONTENT_TYPES)}"
            return self._refuse(
                owner, HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_type", reason
            )
        try:
            length = int(self.headers["Content-Length"])
        except (KeyError, TypeError, ValueError):
            length = -1
        if length < 0:
            return self._refuse(owner, HTTPStatus.LENGTH_REQUIRED, "no_length", "no length")
        if length > owner.max_bytes:
            reason = f"{length} bytes, over the limit of {owner.max_bytes}"
            return self._refuse(owner, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "oversize", reason)
        body = self.rfile.read(length)
        if len(body) < length:
            return self._refuse(owner, HTTPStatus.BAD_REQUEST, "truncated", "body cut short")
        self._store(owner, Inbound(owner.name, self.path, body, fmt, time.time()), stream)

    def _store(self, owner: HttpInput, inbound: Inbound, stream: str | None) -> None:
        try:
            decoded = decode(inbound, stream=stream, max_bytes=owner.max_bytes)
        except PayloadError as e:
            return self._refuse(owner, HTTPStatus.BAD_REQUEST, e.kind, e.reason, read=True)
        rejected = [{"kind": e.kind, "reason": e.reason} for e in decoded.errors]
        if not decoded.readings and decoded.errors:
            for error in decoded.errors:
                owner.rejections.add_error(error)
            return self._answer(HTTPStatus.BAD_REQUEST, {"accepted": 0, "rejected": rejected})
        if not owner.put(inbound):
            owner.rejections.add("not_stored", f"not stored within {owner.ack_timeout} s")
            headers = {"Retry-After": str(owner.retry_after)}
            body = {"error": "not_stored", "reason": "the agent cannot store data now"}
            return self._answer(HTTPStatus.SERVICE_UNAVAILABLE, body, headers)
        self._answer(HTTPStatus.ACCEPTED, {"accepted": len(decoded.readings), "rejected": rejected})

    def _refuse(
        self, owner: HttpInput, status: HTTPStatus, kind: str, reason: str, *, read: bool = False
    ) -> None:
        owner.rejections.add(kind, reason)
        if not read:
            self._drain()
        headers = {"WWW-Authenticate": "Bearer"} if status == HTTPStatus.UNAUTHORIZED else {}
        self._answer(status, {"error": kind, "reason": reason}, headers)

    def _drain(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return
        if 0 < length <= _DRAIN_LIMIT:
            self.rfile.read(length)

    def _answer(
        self, status: HTTPStatus, body: object, headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        # Requests go to logging at debug level, not to stderr.
        _log.debug("%s " + format, self.address_string(), *args)
