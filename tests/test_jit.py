"""numba loads on a kernel's first call: importing steps and checking specs stay light."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_importing_every_step_and_checking_a_spec_leaves_numba_unloaded() -> None:
    out = run(
        """
        import sys
        from edgewise.stream import registry
        from edgewise.stream._spec import build
        registry()
        build({"version": 1, "steps": [{"step": "last_value"}, {"step": "default"}]},
              try_reading=False)
        print("numba" in sys.modules, "scipy" in sys.modules)
        """
    )
    assert out == "False False"


def test_the_first_call_compiles_and_puts_numba_dispatchers_in_the_module() -> None:
    out = run(
        """
        import sys
        from edgewise.detect import _episodes
        from edgewise.stream import Reading
        from edgewise.detect import default_pipeline
        pipeline = default_pipeline()
        before = type(_episodes.advance).__name__
        outs = [o for i in range(50) for o in pipeline.update(Reading("s", i, {"x": 1.0}))]
        import numba
        from numba.core.registry import CPUDispatcher
        kernel = sys.modules["edgewise.detect._default_kernel"]
        print(before, "numba" in sys.modules, isinstance(kernel.step, CPUDispatcher), len(outs))
        """
    )
    assert out == "_Kernel True True 50"
