"""A bounds-checked reader of Kafka's binary encodings (fixed-width big-endian integers, int16- or
varint-sized strings and arrays, tagged fields), for the internal records that must be decoded:
``__consumer_offsets`` and ``__transaction_state`` keys and values. Every malformed input raises
RecordFormatError (the log's fault, never an IndexError from us)."""

from __future__ import annotations

import builtins
import struct

from pykafka_broker.protocol.records import read_uvarint


class RecordFormatError(ValueError):
    """A record that does not follow its schema (a corrupt log, not our bug)."""


class BinaryReader:
    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes | bytearray | memoryview) -> None:
        self.buf = memoryview(buf)
        self.pos = 0

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.buf):
            raise RecordFormatError(f"record truncated at byte {self.pos} (wanted {n} more)")
        view = self.buf[self.pos : self.pos + n]
        self.pos += n
        return view

    def remaining(self) -> int:
        return len(self.buf) - self.pos

    def unpack(self, fmt: str) -> tuple[int, ...]:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))

    def int16(self) -> int:
        return int(struct.unpack(">h", self.take(2))[0])

    def int32(self) -> int:
        return int(struct.unpack(">i", self.take(4))[0])

    def int64(self) -> int:
        return int(struct.unpack(">q", self.take(8))[0])

    def uvarint(self) -> int:
        try:
            value, self.pos = read_uvarint(self.buf, self.pos)
        except (IndexError, ValueError) as exc:
            raise RecordFormatError(f"bad varint at byte {self.pos}") from exc
        return value

    def text(self, n: int) -> builtins.str:
        try:
            return bytes(self.take(n)).decode()
        except UnicodeDecodeError as exc:
            raise RecordFormatError(f"invalid UTF-8 string at byte {self.pos}") from exc

    def nullable_str(self) -> builtins.str | None:
        n = self.int16()
        return None if n == -1 else self.text(n)

    def str(self) -> builtins.str:
        value = self.nullable_str()
        if value is None:
            raise RecordFormatError(f"null in a non-nullable string at byte {self.pos}")
        return value

    def string(self, compact: bool) -> builtins.str:
        n = self.uvarint() - 1 if compact else self.int16()
        if n < 0:
            raise RecordFormatError(f"null in a non-nullable string at byte {self.pos}")
        return self.text(n)

    def nullable_bytes(self) -> bytes | None:
        n = self.int32()
        return None if n == -1 else bytes(self.take(n))

    def count(self, compact: bool) -> int:
        """Array length; -1 for a null array."""
        return self.uvarint() - 1 if compact else self.int32()

    def skip_tags(self) -> dict[int, memoryview]:
        tags = {}
        for _ in range(self.uvarint()):
            tag = self.uvarint()
            tags[tag] = self.take(self.uvarint())
        return tags
