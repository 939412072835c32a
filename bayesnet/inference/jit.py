"""Compile with numba, caching the machine code where a cache can be written, in memory otherwise.

``numba.njit(cache=True)`` looks for a writable cache folder when a function is *decorated*, that
is when :mod:`bayesnet.inference.kernel` is imported. It tries, in this order, ``NUMBA_CACHE_DIR`` when set,
a ``__pycache__`` folder beside the module, and the user's cache folder by the platform's
convention (``$XDG_CACHE_HOME/numba`` or ``~/.cache/numba`` on Linux). Where none is writable, for
example a package installed by root and run by an account with no writable home, numba raises
``RuntimeError: cannot cache function ...: no locator available``, and the import fails.

:func:`njit` is ``numba.njit(cache=True)`` with that case handled: the function is compiled without
a cache instead, so it compiles in memory on its first call in each process (a few seconds for the
kernel), and one line on standard error says so, once per process however many functions are
affected. The line is written with ``sys.stderr.write`` rather than :mod:`warnings`: the warnings
module adds the file, line and source of the call (three lines where the command line promises
one), and ``-W error`` would turn it back into the very failure this module exists to avoid. Nothing
else in the library prints.
"""
from __future__ import annotations

import sys
from collections.abc import Callable

import numba

__all__ = ["njit", "NO_CACHE_MESSAGE"]

NO_CACHE_MESSAGE = ("bayesnet: no writable folder for numba's cache (NUMBA_CACHE_DIR, beside the package, or the "
                    "user's cache folder); the kernel compiles in memory in this process. Set NUMBA_CACHE_DIR "
                    "to a writable folder to keep the compiled code.\n")

_warned = False


def njit(**options) -> Callable:
    """``numba.njit(cache=True, **options)`` where a cache folder is writable; otherwise
    ``numba.njit(**options)`` and one line on standard error (once per process)."""

    def decorate(function: Callable) -> Callable:
        try:
            return numba.njit(cache=True, **options)(function)
        except RuntimeError:  # numba found no writable cache folder for this function's file
            _warn_once()
            return numba.njit(**options)(function)

    return decorate


def _warn_once() -> None:
    global _warned
    if not _warned:
        _warned = True
        if sys.stderr is not None:
            sys.stderr.write(NO_CACHE_MESSAGE)
