"""A bounded, broker-wide cache of the file descriptors segments append through.

One descriptor per partition does not scale: at 20,000 partitions the process hits the default
RLIMIT_NOFILE. Like Kafka's lazily opened files, a segment's ``.log`` is opened for append only when
a write needs it, and the least recently used descriptors are closed once more than ``max_open``
are open; the next append reopens the file. Positions never come from the descriptor (the segment
keeps its size and the file is O_APPEND), so reopening is always right.

A descriptor is closed without an fsync when it is evicted. That loses nothing and hides no error:
the data stays in the page cache, and a writeback error nobody has seen yet is reported to the next
fsync through a newly opened descriptor (Linux errseq, since 4.17), which is what the flusher uses.

Only the event loop's thread may use the shared cache (``SHARED``): appends, rolls, closes and
flushes run there. A thread that writes segments of its own (the cleaner) uses its own cache, so
an eviction never closes a descriptor another thread is about to write through.
"""

from __future__ import annotations

import os
import resource
import threading
from collections import OrderedDict
from collections.abc import Hashable
from pathlib import Path
from typing import Any


def default_max_open() -> int:
    """A small share of the process's descriptor limit, so sockets keep the rest."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    return max(8, min(128, soft // 8))


class OpenFiles:
    """LRU of append descriptors, keyed by the segment object that owns each."""

    def __init__(self, max_open: int | None = None) -> None:
        self.max_open = max(2, max_open or default_max_open())
        self._fds: OrderedDict[Hashable, int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._fds)

    def get(self, owner: Hashable) -> int | None:
        """The open descriptor of ``owner``, without opening one."""
        return self._fds.get(owner)

    def acquire(self, owner: Hashable, path: Path) -> int:
        """``owner``'s descriptor for ``path`` (O_RDWR | O_APPEND), opened if need be; it stays valid
        until the next ``acquire`` of another owner may evict it."""
        fd = self._fds.get(owner)
        if fd is not None:
            self._fds.move_to_end(owner)
            return fd
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        self._fds[owner] = fd
        while len(self._fds) > self.max_open:
            _, old = self._fds.popitem(last=False)
            os.close(old)
        return fd

    def release(self, owner: Hashable) -> int | None:
        """Forget ``owner``'s descriptor and return it, still open (the caller closes it)."""
        return self._fds.pop(owner, None)


SHARED = OpenFiles()


class IndexMaps:
    """LRU of the memory maps of index files. vm.max_map_count (65530 by default) bounds the maps
    of a process, and two indexes per partition would pass it near 30,000 partitions, so at most
    ``max_maps`` stay mapped; an evicted index maps its file again on its next lookup. Dropping a
    map only drops the index's reference: a lookup running in another thread keeps its own until
    it returns (CPython unmaps when the last reference goes), so eviction is safe from any thread."""

    def __init__(self, max_maps: int = 4096) -> None:
        self.max_maps = max_maps
        self._mapped: OrderedDict[Any, None] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._mapped)

    def touch(self, index: Any) -> None:
        """``index`` was just mapped or used: most recently used; evict beyond the bound."""
        evicted = []
        with self._lock:
            self._mapped[index] = None
            self._mapped.move_to_end(index)
            while len(self._mapped) > self.max_maps:
                old, _ = self._mapped.popitem(last=False)
                evicted.append(old)
        for old in evicted:
            old.drop_map()

    def forget(self, index: Any) -> None:
        with self._lock:
            self._mapped.pop(index, None)


MAPS = IndexMaps()
