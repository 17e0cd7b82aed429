"""Text the hub stores: no control characters (PostgreSQL refuses NUL in text and JSONB)."""

from __future__ import annotations

import re

__all__ = ["has_control", "printable"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def has_control(text: str) -> bool:
    r"""Whether ``text`` holds a control character (NUL, newline, escape, ...).

    >>> has_control("press-7"), has_control("a\x00b")
    (False, True)
    """
    return _CONTROL.search(text) is not None


def printable(text: str) -> str:
    r"""``text`` with each control character replaced by U+FFFD, for the audit log.

    >>> printable("a\x00b\n")
    'a\ufffdb\ufffd'
    """
    return _CONTROL.sub("\ufffd", text)
