"""Where the command line writes: a file that is replaced only when complete, and clean stops.

:class:`OutputFile` writes a regular file through a temporary file beside it, which takes the
file's name only on :meth:`~OutputFile.commit`: a run that fails or is stopped leaves the previous
file as it was and no temporary file behind. Anything that is not a regular file (a device such as
``/dev/full`` or ``/dev/null``, a FIFO), and anything under ``/dev`` or ``/proc`` (``/dev/stdout``
may lead to a shell's redirection file), is appended to directly and never renamed over; another
symbolic link is followed, so the link stays and its target is replaced. ``-`` is standard output. A failed write (a full disk, say) is an :class:`~bayesnet.errors.OutputError`.

:func:`stop_on_signals` turns SIGINT and SIGTERM into :class:`Stopped`, which unwinds through the
``finally`` blocks that remove temporary files; :func:`signals_held` holds both signals back while
files are renamed or removed.
"""
from __future__ import annotations

import os
import secrets
import signal
import stat
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from bayesnet.errors import OutputError

__all__ = ["OutputFile", "Stopped", "stop_on_signals", "check_stopped", "signals_held", "check_output_name"]

_HELD = {signal.SIGINT, signal.SIGTERM}


class Stopped(KeyboardInterrupt):
    """The process was asked to stop by SIGINT (Ctrl-C) or SIGTERM.

    A subclass of KeyboardInterrupt, so that what cleans up after Ctrl-C cleans up after both, but
    not KeyboardInterrupt itself: CPython ends a process by re-raising SIGINT (rather than with its
    exit status) when KeyboardInterrupt has passed through certain frames (an ``eval`` of source
    text during an import, for one), even if the program then handled it.
    """

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGINT raise :class:`Stopped` in the main thread.

    SIGINT is left alone where it is not Python's default (ignored, in a background job, say);
    outside the main thread nothing changes.
    """
    if not _main_thread():
        yield
        return

    def stop(signum, frame):
        _requested.append(signum)  # remembered: an exception raised in a callback (numba's, say) is swallowed
        raise Stopped(signum)

    hook = sys.unraisablehook

    def quiet(unraisable):  # a swallowed stop is not worth a traceback: check_stopped() raises it again
        if not isinstance(unraisable.exc_value, Stopped):
            hook(unraisable)

    _requested.clear()
    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, stop)}
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, stop)
    sys.unraisablehook = quiet
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sys.unraisablehook = hook
        _requested.clear()


#: signals received under :func:`stop_on_signals`, so that a stop is not lost when its exception is
_requested: list[int] = []


def check_stopped() -> None:
    """Raise :class:`Stopped` if a stop was requested whose exception went astray."""
    if _requested:
        raise Stopped(_requested[0])


@contextmanager
def signals_held() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM wait (they are delivered when it ends)."""
    if not _main_thread() or not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not POSIX
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def check_output_name(name: str, what: str = "output") -> None:
    """Refuse an empty name and an existing directory before any work is done."""
    if not name:
        raise OutputError(f"the {what} file name is empty; give a file name, or '-' for standard output")
    if name != "-" and os.path.isdir(name):
        raise OutputError(f"the {what} {name} is a directory; give the name of a file to write")


class OutputFile:
    """A text file written in parts and published whole: see the module's description.

    Parameters
    ----------
    name
        A file name, or ``-`` for standard output.
    what
        How messages name this output (``output``, ``errors file``).
    """

    def __init__(self, name: str, what: str = "output"):
        check_output_name(name, what)
        self.name = name
        self.temporary: Path | None = None
        self.target: Path | None = None
        self._done = False
        if name == "-":
            self.handle: IO[str] = sys.stdout
            return
        target = Path(os.path.realpath(name))  # through symbolic links: the link stays, its target is replaced
        try:
            mode = os.stat(target).st_mode
        except FileNotFoundError:
            mode = None
        except OSError as error:
            raise self._error(error) from None
        try:
            if (mode is not None and not stat.S_ISREG(mode)) or _special(name):
                # a device, a FIFO, /dev/stdout: written directly (appended to, as a shell's >> would)
                self.handle = open(name, "a", encoding="utf-8", newline="")
                return
            self.target = target
            self.temporary = target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.partial")
            descriptor = os.open(self.temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            if mode is not None:
                os.chmod(descriptor, stat.S_IMODE(mode))  # a replaced file keeps its permissions
            self.handle = open(descriptor, "w", encoding="utf-8", newline="")
        except OSError as error:
            self._remove()
            raise self._error(error) from None

    def write(self, text: str) -> None:
        """Write ``text``; a failure (a full disk, say) is an :class:`OutputError`."""
        check_stopped()
        try:
            self.handle.write(text)
        except BrokenPipeError:  # a reader that stopped reading (head): not an error of the output
            raise
        except OSError as error:
            raise self._error(error) from None

    def commit(self) -> None:
        """Finish: flush, and give a temporary file the output's name."""
        if self._done:
            return
        with signals_held():
            check_stopped()
            try:
                self.handle.flush()
                if self.temporary is not None:
                    os.fsync(self.handle.fileno())
                    self.handle.close()
                    os.replace(self.temporary, self.target)
                    self.temporary = None
                elif self.handle is not sys.stdout:
                    self.handle.close()
            except BrokenPipeError:
                raise
            except OSError as error:
                self._remove()
                raise self._error(error) from None
            finally:
                self._done = True

    def discard(self) -> None:
        """Abandon the output: a temporary file is removed (what was written directly stays)."""
        if self._done:
            return
        with signals_held():
            self._done = True
            self._remove()

    def _remove(self) -> None:
        handle = getattr(self, "handle", None)
        if handle is not None and handle is not sys.stdout:
            try:
                handle.close()
            except OSError:
                pass
        if self.temporary is not None:
            self.temporary.unlink(missing_ok=True)
            self.temporary = None

    def _error(self, error: OSError) -> OutputError:
        return OutputError(f"cannot write {self.name}: {error.strerror or error}")


_SPECIAL_FOLDERS = ("/dev/", "/proc/")


def _special(name: str) -> bool:
    """Whether ``name`` is, or leads through symbolic links to, something under /dev or /proc.

    ``/dev/stdout`` may lead to a regular file (the file a shell redirected standard output to);
    replacing that file would take the output away from whoever reads it.
    """
    path = os.path.abspath(name)
    for _ in range(40):  # the system's own limit on a chain of links
        if path.startswith(_SPECIAL_FOLDERS):
            return True
        if not os.path.islink(path):
            return os.path.realpath(path).startswith(_SPECIAL_FOLDERS)
        path = os.path.normpath(os.path.join(os.path.dirname(path), os.readlink(path)))
    return True
