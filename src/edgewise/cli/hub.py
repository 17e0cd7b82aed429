"""``edgewise hub``: run the hub's API, add and revoke devices, queue commands for agents; the
MQTT bridge and the JetStream workers for devices that publish MQTT."""

from __future__ import annotations

import ipaddress
import json
import logging
import os
from pathlib import Path
from typing import Annotated
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
) -> None:
    """Upgrade the database, then serve the API until interrupted."""
    import uvicorn

    from edgewise.hub import HubError, create_app, upgrade

    _check_bind(host, tls_cert, tls_key)
    try:
        upgrade(db)
        api = create_app(db_url=db, max_batch_bytes=max_batch_bytes, max_concurrent=max_concurrent)
    except HubError as error:
        raise InputError(str(error)) from None
    uvicorn.run(
        api,
        host=host,
        port=port,
        ssl_certfile=None if tls_cert is None else str(tls_cert),
        ssl_keyfile=None if tls_key is None else str(tls_key),
        log_level=log_level.lower(),
    )


@device_app.command("add")
def device_add(
    name: Annotated[str, typer.Argument(help="The agent's device id.")],
    covers: Annotated[
        list[str] | None,
        typer.Option("--covers", help="Another device the agent fronts (repeatable)."),
    ] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Add a device; print its token on stdout, once (the hub keeps only its hash)."""
    from edgewise.hub import HubError, add_device, upgrade

    try:
        upgrade(db)
        token = add_device(db, name, covers=covers or ())
    except HubError as error:
        raise InputError(str(error)) from None
    covered = ", ".join(dict.fromkeys([name, *(covers or ())]))
    say(f"device {name} added; its token covers {covered}. It is shown once: store it now.")
    typer.echo(token)


@device_app.command("revoke")
def device_revoke(
    name: Annotated[str, typer.Argument(help="The device to revoke.")],
    db: DbOption = DEFAULT_DB,
) -> None:
    """Revoke a device and its tokens: its agent is refused from the next request on."""
    from edgewise.hub import HubError, revoke_device

    try:
        revoke_device(db, name)
    except HubError as error:
        raise InputError(str(error)) from None
    say(f"device {name} revoked")


@app.command()
def relearn(
    device: Annotated[str, typer.Argument(help="The device the stream belongs to.")],
    stream: Annotated[str, typer.Argument(help="The stream whose change is the new normal.")],
    db: DbOption = DEFAULT_DB,
) -> None:
    """Queue a relearn command: the stream's lasting change is accepted as its new normal."""
    from edgewise.hub import HubError, queue_command

    try:
        command = queue_command(db, device, "relearn", stream=stream)
    except HubError as error:
        raise InputError(str(error)) from None
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
    from edgewise.hub import HubError, queue_command
    from edgewise.stream import Pipeline, SpecError, load_spec

    try:
        document = load_spec(spec)
        Pipeline.from_spec(document)
    except SpecError as error:
        raise InputError(f"{spec}: the pipeline spec does not build: {error}") from None
    try:
        command = queue_command(db, device, "pipeline", body={"spec": document, "streams": streams})
    except HubError as error:
        raise InputError(str(error)) from None
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
