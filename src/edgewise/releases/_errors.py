"""The one error class of releases: a refusal or bad input, told in one line."""

from __future__ import annotations

__all__ = ["ReleaseError"]


class ReleaseError(ValueError):
    """A release that cannot be published, assigned or installed, and why (one line)."""
