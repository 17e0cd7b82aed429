"""Secrets in configuration: named by where they live (a file, an environment variable)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, model_validator

__all__ = ["Secret", "SecretError"]


class SecretError(ValueError):
    """A secret that cannot be read; the message names where it was looked for, never a value."""


class Secret(BaseModel):
    """Where a secret is: ``{env: NAME}`` or ``{file: PATH}``; exactly one.

    The value is read only by :meth:`reveal`, and never shown by ``repr`` or ``str``.

    >>> import os
    >>> os.environ["EDGEWISE_DOC_TOKEN"] = "s3cret"
    >>> token = Secret(env="EDGEWISE_DOC_TOKEN")
    >>> token.reveal(), str(token)
    ('s3cret', "Secret(env='EDGEWISE_DOC_TOKEN')")
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str | None = None
    file: Path | None = None

    @model_validator(mode="after")
    def _one_place(self) -> Secret:
        if (self.env is None) == (self.file is None):
            raise ValueError("a secret names exactly one place: {env: NAME} or {file: PATH}")
        return self

    def reveal(self) -> str:
        """The secret's value (a file's content without its trailing newline)."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise SecretError(f"environment variable {self.env} is not set")
            return value
        assert self.file is not None
        try:
            return self.file.read_text().rstrip("\r\n")
        except OSError as error:
            raise SecretError(f"{self.file}: {error.strerror or error}") from None

    def __repr__(self) -> str:
        where = f"env={self.env!r}" if self.env is not None else f"file={str(self.file)!r}"
        return f"Secret({where})"

    __str__ = __repr__
