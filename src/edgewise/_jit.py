"""numba kernels compiled on first call, so importing a step does not import numba.

numba costs about 70 MB of resident memory and 0.3 s as soon as it is imported (it loads LLVM and
scipy's BLAS bindings), which a process that only validates a pipeline spec, or an agent waiting
for its first stream, should not pay. :func:`njit` takes numba's arguments but only records them;
the first call of any kernel imports numba and turns it, and every kernel it can reach through
module globals, into a real numba dispatcher, written back into those globals, so kernels that
call each other see dispatchers and Python callers that look the kernel up on its module
(``kernel.step(...)``) call numba directly from then on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar, overload

__all__ = ["njit"]

F = TypeVar("F", bound=Callable[..., Any])

_lock = threading.RLock()


class _Kernel:
    """A Python function and numba's options for it, until its first call."""

    def __init__(self, func: Callable[..., Any], args: tuple[Any, ...], options: dict[str, Any]):
        self.func = func
        self.args = args
        self.options = options
        self.compiled: Any = None
        self.__doc__ = func.__doc__
        self.__name__ = func.__name__
        self.__wrapped__ = func

    def dispatcher(self) -> Any:
        if self.compiled is None:
            with _lock:
                _realise(self, set())
        return self.compiled

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.dispatcher()(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:  # py_func, signatures, ...
        # copy and pickle probe an instance whose __init__ has not run: compiling then would
        # look up its own missing fields here, for ever.
        if name.startswith("__") or name in ("func", "args", "options", "compiled"):
            raise AttributeError(name)
        return getattr(self.dispatcher(), name)


def _realise(kernel: _Kernel, visiting: set[int]) -> None:
    """Compile ``kernel`` after the kernels it may call (those in its module's globals)."""
    if kernel.compiled is not None or id(kernel) in visiting:
        return
    import numba

    visiting.add(id(kernel))
    names = kernel.func.__globals__
    for value in list(names.values()):
        if isinstance(value, _Kernel):
            _realise(value, visiting)
    # A signature makes numba compile now, so the kernels called must be dispatchers already.
    for name, value in list(names.items()):
        if isinstance(value, _Kernel) and value.compiled is not None:
            names[name] = value.compiled
    kernel.compiled = numba.njit(*kernel.args, **kernel.options)(kernel.func)
    for name, value in list(names.items()):
        if value is kernel:
            names[name] = kernel.compiled


@overload
def njit(func: F, /) -> F: ...
@overload
def njit(*args: Any, **options: Any) -> Callable[[F], F]: ...
def njit(*args: Any, **options: Any) -> Any:
    """``numba.njit``, deferred to the first call; the same forms (bare, signature, options)."""
    if len(args) == 1 and callable(args[0]) and not options:
        return _Kernel(args[0], (), {})

    def decorate(func: F) -> F:
        return _Kernel(func, args, options)  # type: ignore[return-value]

    return decorate
