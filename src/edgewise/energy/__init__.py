"""Energy at the edge: a sensor-network simulator with datasheet energy models, and its uses.

Each part lives in its own private module; this package names the public objects.
"""

from __future__ import annotations

__all__: list[str] = []
