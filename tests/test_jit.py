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
        from edgewise.detect import _default_kernel as kernel, _episodes
        from edgewise.detect.default import DefaultDetector
        state = kernel.new_state(DefaultDetector()._params())
        before = type(kernel.step).__name__, "numba" in sys.modules
        scores = [kernel.step(state, float(i), kernel.DETECT) for i in range(50)]
        from numba.core.registry import CPUDispatcher
        print(*before, isinstance(kernel.step, CPUDispatcher), type(_episodes.advance).__name__)
        """
    )
    # The kernels of the module called are compiled; another module's wait for their first call.
    assert out == "_Kernel False True _Kernel"


def test_a_copied_kernel_compiles_and_runs_like_the_original() -> None:
    out = run(
        """
        import copy
        from edgewise._jit import njit

        @njit
        def add_one(x):
            return x + 1

        print(copy.copy(add_one)(1), copy.deepcopy(add_one)(2))
        """
    )
    assert out == "2 3"
