"""The kill test's child: imports once, then forks one installer per ``go`` line on stdin.

Run as ``python kill_child.py BASE`` on a folder made by ``releasetest.make_release``. For each
``go`` it forks a process that assigns the repository's images in turn and installs each, until
killed, and prints its pid; ``reap`` waits for that process and prints ``reaped``. Forking after
the imports makes every iteration start installing at once instead of importing for seconds.
"""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

from releasetest import DEVICE, HUB, serving

from edgewise.agent import HubFetcher, ModelUpdater
from edgewise.releases import Repository


def install_forever(base: Path) -> None:
    repo = Repository(base / "repo")
    images = repo.images()
    root = (repo.metadata / "1.root.json").read_bytes()
    fetcher = HubFetcher(token="t", transport=serving(repo.folder))
    for turn in itertools.count():
        repo.assign(DEVICE, images[turn % len(images)])
        ModelUpdater(
            folder=base / "agent", device=DEVICE, hub_url=HUB, root=root, fetcher=fetcher
        ).check()


def main(base: Path) -> None:
    installer = 0
    for line in sys.stdin:
        if line.strip() == "go":
            installer = os.fork()
            if installer == 0:
                install_forever(base)
            print(installer, flush=True)
        elif line.strip() == "reap":
            os.waitpid(installer, 0)
            print("reaped", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
