"""A device's assignment: which image it should run, as a small JSON target signed online.

The serial grows with every assignment of a device, a rollback included (the previous image
under a higher serial), so an agent never goes back to an assignment it has moved past.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ._errors import ReleaseError

__all__ = ["ASSIGNMENTS", "IMAGES", "Assignment"]

IMAGES = "models/"
"""Target paths of images: listed only in the top-level targets, signed offline."""
ASSIGNMENTS = "assignments/"
"""Target paths of assignments: the only paths the online assignment role may sign for."""


@dataclass(frozen=True)
class Assignment:
    """Device ``device`` runs image ``image`` (a target path under ``models/``) from ``serial`` on.

    >>> a = Assignment(device="pump-1", image="models/bearing.ewm", serial=3)
    >>> Assignment.parse(a.to_bytes()) == a
    True
    >>> a.target
    'assignments/pump-1.json'
    """

    device: str
    image: str
    serial: int

    @property
    def target(self) -> str:
        """The assignment's own target path."""
        return target_of(self.device)

    def to_bytes(self) -> bytes:
        return json.dumps(
            {"device": self.device, "image": self.image, "serial": self.serial}, sort_keys=True
        ).encode()

    @classmethod
    def parse(cls, data: bytes) -> Assignment:
        """Read an assignment; anything but the three expected fields is a :class:`ReleaseError`."""
        try:
            fields = json.loads(data)
            made = cls(device=fields["device"], image=fields["image"], serial=fields["serial"])
        except (ValueError, KeyError, TypeError) as error:
            raise ReleaseError(f"not an assignment ({error})") from None
        if not (
            isinstance(made.device, str)
            and isinstance(made.image, str)
            and made.image.startswith(IMAGES)
            and isinstance(made.serial, int)
            and made.serial >= 1
        ):
            raise ReleaseError(f"not an assignment: {fields!r}")
        return made


def target_of(device: str) -> str:
    """The target path of ``device``'s assignment."""
    return f"{ASSIGNMENTS}{device}.json"
