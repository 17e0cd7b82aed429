"""``edgewise hub``: run the hub's API; people and devices; queue commands for agents; the
MQTT bridge and the JetStream workers for devices that publish MQTT."""

from __future__ import annotations

import getpass
import ipaddress
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

import typer

from ._common import InputError, say, show_help_if_bare

__all__ = ["app"]

app = typer.Typer(
    help="The hub: receives the agents' batches, stores each record once, sends commands back.",
    invoke_without_command=True,
)
device_app = typer.Typer(help="Devices and their tokens.", invoke_without_command=True)
app.add_typer(device_app, name="device")
admin_app = typer.Typer(help="The first admin.", invoke_without_command=True)
app.add_typer(admin_app, name="admin")
user_app = typer.Typer(help="People who sign in, and their roles.", invoke_without_command=True)
app.add_typer(user_app, name="user")

DbOption = Annotated[
    str,
    typer.Option(
        "--db",
        envvar="EDGEWISE_HUB_DB",
        help="Database URL: sqlite:///FILE or postgresql://USER@HOST/DB.",
        show_default=True,
    ),
]
DEFAULT_DB = "sqlite:///edgewise-hub.db"


@app.callback()
def _group(ctx: typer.Context) -> None:
    show_help_if_bare(ctx)


@device_app.callback()
def _device_group(ctx: typer.Context) -> None:
    show_help_if_bare(ctx)


@admin_app.callback()
def _admin_group(ctx: typer.Context) -> None:
    show_help_if_bare(ctx)


@user_app.callback()
def _user_group(ctx: typer.Context) -> None:
    show_help_if_bare(ctx)


T = TypeVar("T")


def _actor() -> str:
    """Who a change made here is audited as: the command line and the system user running it."""
    return f"cli:{getpass.getuser()}"


def _hub(db: str, action: Callable[[], T]) -> T:
    """``action()`` once the database is upgraded; a hub error is one line on stderr, exit 2."""
    from edgewise.hub import HubError, upgrade

    try:
        upgrade(db)
        return action()
    except HubError as error:
        raise InputError(str(error)) from None


def _table(rows: Iterable[Mapping[str, Any]], columns: list[str]) -> None:
    """``rows`` as aligned columns on stdout, a header first."""
    cells = [columns, *([str(row[c]) for c in columns] for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    for line in cells:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


def _loopback(host: str) -> bool:
    """Whether ``host`` is reachable only from this machine.

    >>> _loopback("127.0.0.1"), _loopback("::1"), _loopback("localhost"), _loopback("0.0.0.0")
    (True, True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def _check_bind(host: str, tls_cert: Path | None, tls_key: Path | None) -> None:
    """Refuse plain HTTP beyond loopback, and half a TLS configuration."""
    if (tls_cert is None) != (tls_key is None):
        raise InputError("give both --tls-cert and --tls-key, or neither")
    if tls_cert is None and not _loopback(host):
        raise InputError(
            f"refusing to serve plain HTTP on {host}: give --tls-cert and --tls-key "
            "(or listen on 127.0.0.1 behind a TLS proxy)"
        )
    for path in (tls_cert, tls_key):
        if path is not None and not path.is_file():
            raise InputError(f"{path}: no such file")


@app.command()
def run(
    db: DbOption = DEFAULT_DB,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    tls_cert: Annotated[
        Path | None, typer.Option(help="TLS certificate (PEM); needed beyond loopback.")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="TLS private key (PEM).")] = None,
    max_batch_bytes: Annotated[
        int, typer.Option(min=1024, help="Largest batch accepted, decompressed (bytes).")
    ] = 4 << 20,
    max_concurrent: Annotated[
        int, typer.Option(min=1, help="Ingests handled at once; more are answered 503.")
    ] = 8,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    webhook: Annotated[
        list[str] | None,
        typer.Option(
            "--webhook",
            help="URL escalated alerts are POSTed to, signed with EDGEWISE_WEBHOOK_SECRET "
            "(repeatable; https, or http to this machine).",
        ),
    ] = None,
    releases: Annotated[
        Path | None,
        typer.Option(help="Model repository to serve to agents (edgewise model keys init)."),
    ] = None,
) -> None:
    """Upgrade the database, then serve the API until interrupted."""
    import os

    import uvicorn

    from edgewise.hub import HubError, create_app, upgrade, webhooks

    _check_bind(host, tls_cert, tls_key)
    try:
        # The secret comes from the environment: a command line shows in `ps`.
        hooks = webhooks(webhook or [], secret=os.environ.get("EDGEWISE_WEBHOOK_SECRET"))
        upgrade(db)
        api = create_app(
            db_url=db,
            max_batch_bytes=max_batch_bytes,
            max_concurrent=max_concurrent,
            webhooks=hooks,
            releases=releases,
        )
    except HubError as error:
        raise InputError(str(error)) from None
    uvicorn.run(
        api,
        host=host,
        port=port,
        ssl_certfile=None if tls_cert is None else str(tls_cert),
        ssl_keyfile=None if tls_key is None else str(tls_key),
        log_level=log_level.lower(),
        # An open dashboard page holds a Server-Sent Events stream for as long as it is open;
        # without a bound, a shutdown would wait for every browser tab to close.
        timeout_graceful_shutdown=5,
    )


@device_app.command("add")
def device_add(
    name: Annotated[str, typer.Argument(help="The agent's device id.")],
    covers: Annotated[
        list[str] | None,
        typer.Option("--covers", help="Another device the agent fronts (repeatable)."),
    ] = None,
    signing_key: Annotated[
        Path | None,
        typer.Option(
            help="File holding the device's Ed25519 public key (32 bytes, base64), "
            "kept for attestation."
        ),
    ] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Add a device; print its token on stdout, once (the hub keeps only its hash)."""
    from edgewise.hub import add_device

    key = None
    if signing_key is not None:
        try:
            key = signing_key.read_text().strip()
        except OSError as error:
            raise InputError(f"{signing_key}: {error.strerror}") from None

    token = _hub(
        db, lambda: add_device(db, name, covers=covers or (), signing_key=key, actor=_actor())
    )
    covered = ", ".join(dict.fromkeys([name, *(covers or ())]))
    say(f"device {name} added; its token covers {covered}. It is shown once: store it now.")
    typer.echo(token)


@device_app.command("rotate")
def device_rotate(
    name: Annotated[str, typer.Argument(help="The device whose token to replace.")],
    db: DbOption = DEFAULT_DB,
) -> None:
    """Give a device a new token (printed once on stdout); its old one is refused from now on."""
    from edgewise.hub import rotate_device

    token = _hub(db, lambda: rotate_device(db, name, actor=_actor()))
    say(f"device {name} has a new token; the old one is revoked. It is shown once: store it now.")
    typer.echo(token)


@device_app.command("revoke")
def device_revoke(
    name: Annotated[str, typer.Argument(help="The device to revoke.")],
    db: DbOption = DEFAULT_DB,
) -> None:
    """Revoke a device and its tokens: its agent is refused from the next request on."""
    from edgewise.hub import revoke_device

    _hub(db, lambda: revoke_device(db, name, actor=_actor()))
    say(f"device {name} revoked")


@device_app.command("decommission")
def device_decommission(
    name: Annotated[str, typer.Argument(help="The device to retire.")],
    db: DbOption = DEFAULT_DB,
) -> None:
    """Retire a device for good: its tokens revoked, its stored records kept."""
    from edgewise.hub import decommission_device

    _hub(db, lambda: decommission_device(db, name, actor=_actor()))
    say(f"device {name} decommissioned; its records are kept")


@device_app.command("list")
def device_list(db: DbOption = DEFAULT_DB) -> None:
    """Every device, its status and the devices its token covers."""
    from edgewise.hub import list_devices

    rows = [
        {**d, "covers": ",".join(d["covers"]) or "-", "signing_key": d["signing_key"] or "-"}
        for d in _hub(db, lambda: list_devices(db))
    ]
    _table(rows, ["name", "status", "covers", "signing_key"])


def _password(from_stdin: bool) -> str:
    """A new password: one line of stdin, or typed twice at a hidden prompt."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    typed: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    return typed


PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from stdin's first line.")
]


def _add_person(db: str, name: str, role: str, from_stdin: bool) -> None:
    from edgewise.hub import MIN_PASSWORD, add_user

    password = _password(from_stdin)
    # Checked here too so a short password is refused before the database is touched.
    if len(password) < MIN_PASSWORD:
        raise InputError(f"a password has at least {MIN_PASSWORD} characters")

    _hub(db, lambda: add_user(db, name, role=role, password=password, actor=_actor()))
    say(f"{role} {name} added")


@admin_app.command("create")
def admin_create(
    name: Annotated[str, typer.Argument(help="The admin's name.")],
    password_stdin: PasswordStdin = False,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Create an admin (the first one, or another): there are no default credentials."""
    _add_person(db, name, "admin", password_stdin)


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="The person's name.")],
    role: Annotated[str, typer.Option(help="viewer, operator or admin.")] = "viewer",
    password_stdin: PasswordStdin = False,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Add a person who signs in with a password (asked twice, or from stdin)."""
    from edgewise.hub import ROLES

    if role not in ROLES:
        raise InputError(f"unknown role {role!r}: {', '.join(ROLES)}")
    _add_person(db, name, role, password_stdin)


@user_app.command("list")
def user_list(db: DbOption = DEFAULT_DB) -> None:
    """Every person, their role and status."""
    from edgewise.hub import list_users

    _table(_hub(db, lambda: list_users(db)), ["name", "role", "status"])


@user_app.command("disable")
def user_disable(
    name: Annotated[str, typer.Argument(help="The person to disable.")],
    db: DbOption = DEFAULT_DB,
) -> None:
    """Disable a person: they cannot sign in, and their sessions end now."""
    from edgewise.hub import disable_user

    _hub(db, lambda: disable_user(db, name, actor=_actor()))
    say(f"{name} disabled")


@app.command()
def relearn(
    device: Annotated[str, typer.Argument(help="The device the stream belongs to.")],
    stream: Annotated[str, typer.Argument(help="The stream whose change is the new normal.")],
    db: DbOption = DEFAULT_DB,
) -> None:
    """Queue a relearn command: the stream's lasting change is accepted as its new normal."""
    from edgewise.hub import queue_command

    command = _hub(db, lambda: queue_command(db, device, "relearn", stream=stream, actor=_actor()))
    say(f"command {command} queued: {device} relearns {stream} when its agent next calls")


@app.command()
def assign(
    device: Annotated[str, typer.Argument(help="The device (agent) whose streams change.")],
    streams: Annotated[
        str, typer.Argument(help="Which streams: a name or a glob such as 'pump-*'.")
    ],
    spec: Annotated[
        Path,
        typer.Option(
            "--spec", help="The pipeline spec, YAML or JSON (docs/architecture.md, Pipeline specs)."
        ),
    ],
    db: DbOption = DEFAULT_DB,
) -> None:
    """Queue a pipeline command: the device's matching streams run this spec from now on.

    The spec is checked here first; the agent checks it again and reports a refusal back.
    """
    from edgewise.hub import queue_command
    from edgewise.stream import Pipeline, SpecError, load_spec

    try:
        document = load_spec(spec)
        Pipeline.from_spec(document)
    except SpecError as error:
        raise InputError(f"{spec}: the pipeline spec does not build: {error}") from None
    body = {"spec": document, "streams": streams}
    command = _hub(db, lambda: queue_command(db, device, "pipeline", body=body, actor=_actor()))
    say(f"command {command} queued: {device} runs {spec.name} on {streams} from its next call")


NatsOption = Annotated[
    str, typer.Option("--nats", help="NATS server with JetStream: nats://HOST:PORT or tls://...")
]
NatsCredsOption = Annotated[
    Path | None, typer.Option("--nats-creds", help="NATS credentials file (.creds), if needed.")
]
LogLevelOption = Annotated[str, typer.Option(help="debug, info, warning or error.")]


def _logging(level: str) -> None:
    if level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise InputError(f"--log-level {level!r}: debug, info, warning or error")
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _mqtt_address(url: str) -> tuple[str, int, bool]:
    """``mqtt://HOST[:PORT]`` or ``mqtts://...`` as (host, port, TLS); credentials refused.

    >>> _mqtt_address("mqtt://127.0.0.1:1884")
    ('127.0.0.1', 1884, False)
    >>> _mqtt_address("mqtts://broker.local")
    ('broker.local', 8883, True)
    """
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname or parts.path not in ("", "/"):
        raise InputError(f"--mqtt {url!r}: give mqtt://HOST[:PORT] or mqtts://HOST[:PORT]")
    if parts.username or parts.password:
        raise InputError(
            "--mqtt holds credentials, which the process list shows: give --mqtt-username "
            "and the password in $EDGEWISE_BRIDGE_MQTT_PASSWORD"
        )
    tls = parts.scheme == "mqtts"
    try:
        return parts.hostname, parts.port or (8883 if tls else 1883), tls
    except ValueError:
        raise InputError(f"--mqtt {url!r}: the port is not a number from 1 to 65535") from None


@app.command()
def bridge(
    mqtt: Annotated[
        str,
        typer.Option(
            "--mqtt", help="The devices' MQTT broker: mqtt://HOST[:PORT], or mqtts:// for TLS."
        ),
    ] = "mqtt://127.0.0.1:1883",
    mqtt_ca: Annotated[
        Path | None, typer.Option(help="CA of the broker's certificate, for mqtts://.")
    ] = None,
    nats: NatsOption = "nats://127.0.0.1:4222",
    nats_creds: NatsCredsOption = None,
    mqtt_username: Annotated[
        str | None,
        typer.Option(
            help="MQTT user name; the password is read from $EDGEWISE_BRIDGE_MQTT_PASSWORD."
        ),
    ] = None,
    client_id: Annotated[
        str, typer.Option(help="MQTT client id: the broker keeps this session's messages.")
    ] = "edgewise-bridge",
    in_flight: Annotated[
        int, typer.Option(min=1, max=65535, help="MQTT messages held before their PUBACKs.")
    ] = 1000,
    log_level: LogLevelOption = "info",
) -> None:
    """Bridge devices' MQTT readings into NATS JetStream until SIGINT/SIGTERM.

    Subscribes to edgewise/devices/+/readings/+ with QoS 1 and a persistent session; each
    message is acknowledged to the broker only once JetStream has stored it.
    """
    from edgewise.hub import HubError
    from edgewise.hub.scaleout import BridgeSettings, run_bridge

    _logging(log_level)
    host, port, tls = _mqtt_address(mqtt)
    password_env = "EDGEWISE_BRIDGE_MQTT_PASSWORD"
    if tls != (mqtt_ca is not None):
        raise InputError("mqtts:// needs --mqtt-ca FILE, and --mqtt-ca needs mqtts://")
    if mqtt_ca is not None and not mqtt_ca.is_file():
        raise InputError(f"{mqtt_ca}: no such file")
    if not tls and os.environ.get(password_env) and not _loopback(host):
        raise InputError(
            f"refusing to send the MQTT password in clear to {host}: use mqtts:// and --mqtt-ca"
        )
    settings = BridgeSettings(
        mqtt_host=host,
        mqtt_port=port,
        mqtt_username=mqtt_username,
        mqtt_password_env=password_env if os.environ.get(password_env) else None,
        mqtt_ca=None if mqtt_ca is None else str(mqtt_ca),
        client_id=client_id,
        in_flight=in_flight,
        nats_url=nats,
        nats_creds=None if nats_creds is None else str(nats_creds),
    )
    try:
        run_bridge(settings)
    except HubError as error:
        raise InputError(str(error)) from None


@app.command()
def consume(
    db: DbOption = DEFAULT_DB,
    nats: NatsOption = "nats://127.0.0.1:4222",
    nats_creds: NatsCredsOption = None,
    batch: Annotated[
        int, typer.Option(min=1, help="Messages stored in one transaction, then acknowledged.")
    ] = 500,
    ack_wait: Annotated[
        float, typer.Option(min=1.0, help="Seconds unacknowledged before another worker gets it.")
    ] = 30.0,
    max_ack_pending: Annotated[
        int, typer.Option(min=1, help="Messages out unacknowledged across all workers.")
    ] = 10_000,
    log_level: LogLevelOption = "info",
) -> None:
    """A hub worker: store records from JetStream's durable consumer until SIGINT/SIGTERM.

    Run as many as the load needs, on any machine reaching NATS and the database; each record
    is stored once, and only for devices registered with `edgewise hub device add`.
    """
    from edgewise.hub import HubError
    from edgewise.hub.scaleout import WorkerSettings, check_nats_url, run_worker

    _logging(log_level)
    settings = WorkerSettings(
        db_url=db,
        nats_url=nats,
        nats_creds=None if nats_creds is None else str(nats_creds),
        batch=batch,
        ack_wait_s=ack_wait,
        max_ack_pending=max_ack_pending,
    )
    try:
        # No upgrade here: N workers starting together would race to migrate. A database not
        # at the newest schema is refused; `hub run` or `hub device add` upgrades it.
        check_nats_url(nats)
        run_worker(settings)
    except HubError as error:
        raise InputError(str(error)) from None


@app.command("dead-letters")
def dead_letters(
    nats: NatsOption = "nats://127.0.0.1:4222",
    nats_creds: NatsCredsOption = None,
    last: Annotated[int, typer.Option(min=1, help="How many of the newest to print.")] = 100,
) -> None:
    """Print MQTT messages refused for good, one JSON object a line: what, reason, at."""
    from edgewise.hub import HubError
    from edgewise.hub.scaleout import dead_letters as read

    try:
        letters = read(nats, creds=None if nats_creds is None else str(nats_creds), last=last)
    except HubError as error:
        raise InputError(str(error)) from None
    for letter in letters:
        typer.echo(json.dumps(letter, separators=(",", ":")))
    say(f"{len(letters)} dead letter(s)")
