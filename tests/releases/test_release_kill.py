"""SIGKILL during installs: an agent killed at any moment restarts with a working model.

A process (forked from a child that imported everything once) assigns and installs models in
a loop: repository writes, TUF downloads, the slot copy, the self-test, the switch. The test
kills it at seeded moments and checks after each kill that the active slot loads and passes
its self-test without falling back. The repository's own writes are killed too, and must leave
it consistent: a last, uninterrupted check succeeds. ``EDGEWISE_KILL_ITERATIONS`` sets how many
kills (20 by default).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from releasetest import make_release

import edgewise
from edgewise.agent import Slots

HERE = Path(__file__).parent
ITERATIONS = int(os.environ.get("EDGEWISE_KILL_ITERATIONS", "20"))


def test_kill_during_install_leaves_a_working_model(tmp_path: Path) -> None:
    release = make_release(tmp_path)
    assert release.updater().check().status == "installed"
    slots = Slots(release.agent_dir / "slots")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(edgewise.__file__).parents[1]), str(HERE)]),
    }
    rng = random.Random(20)
    serials = []
    with subprocess.Popen(
        [sys.executable, str(HERE / "kill_child.py"), str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    ) as forker:
        assert forker.stdin is not None and forker.stdout is not None
        for _ in range(ITERATIONS):
            forker.stdin.write("go\n")
            forker.stdin.flush()
            installer = int(forker.stdout.readline())
            time.sleep(rng.uniform(0.0, 0.5))
            os.kill(installer, signal.SIGKILL)
            forker.stdin.write("reap\n")
            forker.stdin.flush()
            assert forker.stdout.readline() == "reaped\n"
            loaded = slots.load()
            assert loaded is not None, "no working model after a kill"
            assert loaded[1] == slots.active(), "the active model failed: a fallback was needed"
            serials.append(loaded[1].serial)
        forker.stdin.close()
    assert len(set(serials)) > 1, f"no install finished between the kills: {serials}"
    assert release.updater().check().status in ("installed", "current")
