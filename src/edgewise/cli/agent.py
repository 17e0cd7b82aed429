"""``edgewise agent``: run the edge agent, or check its configuration."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from ._common import show_help_if_bare

__all__ = ["app"]

app = typer.Typer(
    help="The edge agent: inputs, pipelines, actions, a durable outbox, the uplink.",
    invoke_without_command=True,
)


class _JsonLines(logging.Formatter):
    """One JSON object a line: time, level, logger, message (and the traceback, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry)


ConfigArgument = Annotated[Path, typer.Argument(help="The agent's YAML configuration.")]


@app.callback()
def _group(ctx: typer.Context) -> None:
    show_help_if_bare(ctx)


@app.command()
def check(config: ConfigArgument) -> None:
    """Validate a configuration: every error as file:line:column: message; exit code 2 if any."""
    from edgewise.agent import ConfigError, load_config

    try:
        load_config(config)
    except ConfigError as error:
        for line in error.errors:
            typer.echo(line, err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{config}: ok")


@app.command()
def run(
    config: Annotated[Path, typer.Option("--config", help="The agent's YAML configuration.")],
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run until SIGINT/SIGTERM (graceful: flush, checkpoint, exit 0); SIGHUP reloads the config."""
    from edgewise.agent import ConfigError, run_agent

    handler = logging.StreamHandler()
    handler.setFormatter(_JsonLines())
    logging.basicConfig(level=log_level.upper(), handlers=[handler])
    try:
        code = run_agent(config)
    except ConfigError as error:
        for line in error.errors:
            typer.echo(line, err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(code)
