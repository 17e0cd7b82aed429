"""Application packs: end-to-end recipes (inputs, training, edge model, outputs) per use case.

Each pack lives in its own subpackage (``edgewise.packs.rul``, ...); this package names them.
"""

from __future__ import annotations

__all__: list[str] = []
