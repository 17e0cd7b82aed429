"""Secrets in configuration: a reference to where the value lives, never the value itself."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

__all__ = ["Secret", "SecretError"]


class SecretError(ValueError):
    """A secret that cannot be read; the message names where it was looked for, never a value."""


class Secret(BaseModel):
    """A secret named by an environment variable (``{env: NAME}``) or a file (``{file: PATH}``).

    The configuration holds only the reference, so printing or logging it shows no secret;
    :meth:`reveal` reads the value when it is needed. A value written into the configuration
    itself is refused.

    >>> import os
    >>> os.environ["EDGEWISE_DEMO_TOKEN"] = "s3cret"
    >>> token = Secret.model_validate({"env": "EDGEWISE_DEMO_TOKEN"})
    >>> token
    Secret(env='EDGEWISE_DEMO_TOKEN')
    >>> token.reveal()
    's3cret'
    >>> Secret.model_validate("s3cret")
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for Secret
      Value error, a secret is never written in the configuration: give {env: NAME} or ...
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str | None = None
    file: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_values(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError(
                "a secret is never written in the configuration: give {env: NAME} or {file: PATH}"
            )
        return data

    @model_validator(mode="after")
    def _one_source(self) -> Secret:
        if (self.env is None) == (self.file is None):
            raise ValueError("a secret names exactly one of env or file")
        return self

    def reveal(self) -> str:
        """The secret's value: the variable's, or the file's text without its final newline."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise SecretError(f"environment variable {self.env} is not set")
            where = f"environment variable {self.env}"
        else:
            assert self.file is not None
            try:
                value = self.file.read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as e:
                raise SecretError(f"cannot read secret file {self.file}: {e.strerror}") from None
            where = f"secret file {self.file}"
        if not value:
            raise SecretError(f"{where} is empty")
        return value

    def __repr__(self) -> str:
        where = f"env={self.env!r}" if self.env is not None else f"file={str(self.file)!r}"
        return f"Secret({where})"

    __str__ = __repr__
