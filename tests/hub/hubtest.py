"""Helpers for the hub's tests: a real server in a thread, a client for one agent, records,
and clients signed in as people."""

from __future__ import annotations

import gzip
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from edgewise.hub import CSRF_HEADER, add_device, add_user, create_app


class Server:
    """A FastAPI app served by uvicorn on a loopback port, in a thread; HTTPS given ``tls``."""

    def __init__(self, app: FastAPI, *, tls: tuple[Path, Path] | None = None) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        scheme = "http" if tls is None else "https"
        self.url = f"{scheme}://127.0.0.1:{self.socket.getsockname()[1]}"
        cert, key = (None, None) if tls is None else (str(tls[0]), str(tls[1]))
        config = uvicorn.Config(
            app, log_level="warning", lifespan="on", ssl_certfile=cert, ssl_keyfile=key
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, args=([self.socket],))

    def __enter__(self) -> Server:
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the test hub did not start")
            threading.Event().wait(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.socket.close()


@dataclass
class Hub:
    """A running hub and one agent's token: ``press-7``, fronting ``plc-1`` and ``plc-2``."""

    db_url: str
    url: str
    token: str

    def post(
        self,
        records: list[dict[str, Any]],
        *,
        acked: list[int] | None = None,
        token: str | None = None,
        agent: str = "press-7",
        compress: bool = True,
    ) -> httpx.Response:
        body = json.dumps(
            {"version": 1, "agent": agent, "records": records, "acked_commands": acked or []}
        ).encode()
        return self.send(body if not compress else gzip.compress(body), token=token, gz=compress)

    def send(self, body: bytes, *, token: str | None = None, gz: bool = True) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        headers["Content-Type"] = "application/json"
        if gz:
            headers["Content-Encoding"] = "gzip"
        return httpx.post(f"{self.url}/api/v1/ingest", content=body, headers=headers, timeout=30)


def serve(
    db_url: str, *, tls: tuple[Path, Path] | None = None, **options: Any
) -> tuple[Server, str]:
    """A server on ``db_url`` (not started) and the token of agent ``press-7``."""
    token = add_device(db_url, "press-7", covers=["plc-1", "plc-2"])
    return Server(create_app(db_url=db_url, **options), tls=tls), token


def reading(seq: int, device: str = "press-7", stream: str = "pump-1") -> dict[str, Any]:
    """A reading record as the agent sends it."""
    return {
        "device": device,
        "stream": stream,
        "kind": "reading",
        "seq": seq,
        "name": "",
        "timestamp": 1.7e9 + seq,
        "received": 1.7e9 + seq + 0.01,
        "body": {"values": {"temp": 20.0 + seq, "rpm": None}, "flags": {}, "detections": []},
    }


PASSWORD = "correct horse battery staple"
"""Every test person's password."""

PEOPLE = {"ada": "admin", "otto": "operator", "vera": "viewer"}
"""The test people by name, one of each role."""


def add_people(db_url: str) -> None:
    """Add :data:`PEOPLE`, each with :data:`PASSWORD`."""
    for name, role in PEOPLE.items():
        add_user(db_url, name, role=role, password=PASSWORD)


def sign_in(client: httpx.Client, name: str, password: str = PASSWORD) -> httpx.Client:
    """``client`` signed in as ``name``, sending the session's CSRF token on every request."""
    answer = client.post(
        "/login", data={"name": name, "password": password}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    client.headers[CSRF_HEADER] = client.get("/api/v1/me").json()["csrf_token"]
    return client


@contextmanager
def person(url: str, name: str | None, **options: Any) -> Iterator[httpx.Client]:
    """A client of the hub at ``url``, signed in as ``name`` unless it is None."""
    with httpx.Client(base_url=url, timeout=30, **options) as client:
        yield client if name is None else sign_in(client, name)
