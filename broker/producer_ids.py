"""Producer id allocation for InitProducerId, unique across restarts.

Like Kafka's ProducerIdManager, ids are handed out from blocks; the end of the current block is
persisted (write, fsync, rename) before any id from it is used, so a restart — clean or not —
continues after every id that may have been handed out.
"""

from __future__ import annotations

from pathlib import Path

from pykafka_broker.storage.files import atomic_write

BLOCK_SIZE = 1000


class ProducerIdAllocator:
    def __init__(self, data_dir: Path) -> None:
        self._path = data_dir / "producer-id-block"
        self._next = 0
        self._block_end = 0
        if self._path.exists():
            text = self._path.read_text().strip()
            self._next = self._block_end = int(text) if text else 0

    def next_id(self) -> int:
        if self._next >= self._block_end:
            self._persist(self._next + BLOCK_SIZE)
        pid = self._next
        self._next += 1
        return pid

    def _persist(self, block_end: int) -> None:
        # tmp, fsync, rename, fsync of the directory: without the last, a crash may lose the rename
        # and hand out the ids of the block again.
        atomic_write(self._path, f"{block_end}\n".encode())
        self._block_end = block_end
