"""Read ahead: the next chunks of a file are read in a background thread while the current one is scored.

Reading a chunk (Parquet decoding, CSV parsing) and answering it (the engine's compiled loops) both
release the interpreter lock for most of their work, so on a machine with spare cores the reading
costs little wall time once it overlaps the scoring. At most ``depth`` chunks wait in the queue, so
memory stays bounded by the chunk size.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

__all__ = ["read_ahead"]

T = TypeVar("T")

#: seconds between checks, by a reader waiting on a full queue, that the consumer is still there
_POLL = 0.1


class _End:
    """The reader's last item: the source is exhausted, or raised ``error``."""

    def __init__(self, error: BaseException | None = None):
        self.error = error


def read_ahead(chunks: Iterator[T], depth: int = 1) -> Iterator[T]:
    """The items of ``chunks``, in order, produced up to ``depth`` ahead in a background thread.

    An exception raised by ``chunks`` is raised here, at the point where its item would have been
    consumed. When the consumer stops early (the generator is closed, or an exception passes through
    it), the reader stops at its next item and ``chunks`` is closed in the reader's thread.
    """
    waiting: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def offer(item) -> bool:
        while not stop.is_set():
            try:
                waiting.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for chunk in chunks:
                if not offer(chunk):
                    return
            offer(_End())
        except BaseException as error:  # handed to the consumer, which raises it in its own thread
            offer(_End(error))
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    reader = threading.Thread(target=read, name="bayesnet-read-ahead", daemon=True)
    reader.start()
    try:
        while True:
            item = waiting.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        stop.set()
