"""Seeded mutators over captured client frames.

Case ``i`` of seed ``s`` is a pure function of (s, i, corpus): any failure is reproduced by its
seed and index. Three families, picked by weight:

* frame-level, on any corpus frame: bit flips, byte sets, interesting int16/int32/varint values at
  random places (lying array counts and string lengths), truncation, extension, header changes (api key,
  version, client-id length), splices of two frames, lying size prefixes;
* batch-level, inside a well-framed Produce built from a captured one: garbage records with the CRC
  recomputed, bad varints, wrong offset deltas, wrong record counts and offset ranges, huge timestamps,
  decompression bombs, a producer id without a sequence, the control flag, unknown codecs and magics,
  internal topic names — each labelled valid or invalid by the oracle in ``batches``;
* replays of the unmodified frames, so the broker keeps real state (topics, groups, transactions).
"""

from __future__ import annotations

import random
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from batches import Rec, build_batch, check_batch, compress, encode_record, recrc
from wire import Produce, encode_produce, framed, parse_produce, zigzag

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"
INTERNAL_TOPICS = ("__consumer_offsets", "__transaction_state")
INTERESTING16 = (-1, -2, 0, 1, 0x7FFF, -0x8000, 0x100)
INTERESTING32 = (-1, -2, 0, 1, 0x7FFFFFFF, -0x80000000, 0x10000, 0x7FFFFFFE, 1 << 24)
BOMB_BYTES = 300 << 20  # decompressed size of a bomb: far above any sane bound, tiny compressed


@dataclass(slots=True)
class ProduceInfo:
    """What the oracle knows about a Produce the fuzzer sent: one verdict per partition, in order."""
    version: int
    acks: int
    verdicts: list[tuple[str, int, bool | None, str]]  # topic, partition, valid (None: not judged), why


@dataclass(slots=True)
class Case:
    index: int
    kind: str
    data: bytes  # what is written to the socket (one or more frames, maybe partial or lying)
    produce: ProduceInfo | None = None


def load_corpus(directory: Path = CORPUS_DIR) -> list[bytes]:
    """Corpus frames without their size prefix."""
    frames = []
    for f in sorted(directory.glob("*.bin")):
        raw = f.read_bytes()
        frames.append(raw[4:])
    if not frames:
        raise RuntimeError(f"empty corpus in {directory}: run tests/fuzz/capture.py")
    return frames


_BOMBS: dict[str, bytes] = {}


def bomb(codec: str, valid_record: bool) -> bytes:
    """A compressed payload of ~BOMB_BYTES: zeros (garbage records), or one well-formed record whose
    value is BOMB_BYTES of zeros. Built once per process by streaming compression (no big buffer)."""
    key = f"{codec}-{valid_record}"
    if key not in _BOMBS:
        prefix = suffix = b""
        if valid_record:  # attributes 0, ts delta 0, offset delta 0, null key, value length, value, 0 headers
            value_len = zigzag(BOMB_BYTES)
            body_len = 4 + len(value_len) + BOMB_BYTES + 1
            prefix, suffix = zigzag(body_len) + b"\x00\x00\x00\x01" + value_len, b"\x00"
        if codec == "zstd":
            import zstandard
            c = zstandard.ZstdCompressor(level=1).compressobj()
        else:
            c = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        zeros = bytes(1 << 20)
        out = [c.compress(prefix)] + [c.compress(zeros) for _ in range(BOMB_BYTES >> 20)]
        _BOMBS[key] = b"".join([*out, c.compress(suffix), c.flush()])
    return _BOMBS[key]


class Mutator:
    def __init__(self, seed: int, corpus: list[bytes], *, bombs: bool = True,
                 replay_only: bool = False) -> None:
        self.seed = seed
        self.replay_only = replay_only  # the control: unmodified client frames only
        self.corpus = corpus
        self.produces: list[Produce] = []
        for f in corpus:
            try:
                self.produces.append(parse_produce(f))
            except (ValueError, struct.error):
                pass
        self.bombs = bombs
        captured = {t for p in self.produces for t, _ in p.topics}
        self.topics = sorted(captured | {"kpy-compact", "fuzz-missing"})

    def case(self, i: int) -> Case:
        rng = random.Random(f"{self.seed}:{i}")
        roll = rng.random()
        if roll < 0.10 or self.replay_only:
            f = rng.choice(self.corpus)
            return Case(i, "replay", framed(f), self._info_if_produce(f))
        if roll < 0.55:
            return self._batch_case(rng, i)
        return self._frame_case(rng, i)

    # -- frame level ------------------------------------------------------------------------
    def _frame_case(self, rng: random.Random, i: int) -> Case:
        f = bytearray(rng.choice(self.corpus))
        kinds = []
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            op = rng.choice(_FRAME_OPS)
            kinds.append(op.__name__.lstrip("_"))
            f = op(self, rng, f)
        data = framed(bytes(f))
        if rng.random() < 0.12:
            kinds.append("lying_size")
            data = _lying_size(rng, bytes(f))
        return Case(i, "+".join(kinds), data, self._info_if_produce(bytes(f)) if data[4:] == f else None)

    def _info_if_produce(self, frame: bytes) -> ProduceInfo | None:
        try:
            req = parse_produce(frame)
        except (ValueError, struct.error, IndexError):
            return None
        verdicts: list[tuple[str, int, bool | None, str]] = []
        for topic, parts in req.topics:
            for index, records in parts:
                v = check_batch(records or b"")
                valid = v.valid and topic not in INTERNAL_TOPICS
                verdicts.append((topic, index, valid, v.reason or ("internal topic" if not valid else "")))
        return ProduceInfo(req.version, req.acks, verdicts)

    # -- batch level -------------------------------------------------------------------------
    def _batch_case(self, rng: random.Random, i: int) -> Case:
        tpl = rng.choice(self.produces)
        # bombs are rare: each stored one costs the data dir up to 300 KiB (gzip)
        kind = rng.choice(("bomb_zeros", "bomb_record")) if rng.random() < 0.01 else rng.choice(_BATCH_KINDS)
        batch, judged = _make_batch(self, rng, kind)
        topic = rng.choice(self.topics)
        if kind == "internal_topic":
            topic = rng.choice(INTERNAL_TOPICS)
        partition = rng.choice((0, 0, 1, 2, 3, -1))
        acks = rng.choice((1, 1, 1, -1, -1, 0))
        txn_id = tpl.transactional_id if rng.random() < 0.8 else "fuzz-txn"
        req = Produce(tpl.version, rng.randrange(1 << 31), tpl.client_id, txn_id, acks, 30000,
                      [(topic, [(partition, batch)])])
        info = None
        if judged:
            v = check_batch(batch)
            valid = v.valid and topic not in INTERNAL_TOPICS
            info = ProduceInfo(req.version, acks, [(topic, partition, valid, v.reason or
                                                    ("internal topic" if not valid else ""))])
        else:
            info = ProduceInfo(req.version, acks, [(topic, partition, None, "bomb, well-formed record")])
        return Case(i, f"batch:{kind}", framed(encode_produce(req)), info)


# -- frame operators ---------------------------------------------------------------------------
def _bit_flip(m: Mutator, rng: random.Random, f: bytearray) -> bytearray:
    for _ in range(rng.randint(1, 8)):
        if f:
            p = rng.randrange(len(f))
            f[p] ^= 1 << rng.randrange(8)
    return f


def _byte_set(m: Mutator, rng: random.Random, f: bytearray) -> bytearray:
    for _ in range(rng.randint(1, 4)):
        if f:
            f[rng.randrange(len(f))] = rng.choice((0, 0xFF, 0x7F, 0x80, 0x01, rng.randrange(256)))
    return f


def _lying_int(m: Mutator, rng: random.Random, f: bytearray) -> bytearray:
    """An interesting int16/int32 or a huge unsigned varint at a random place: lying array counts,
    string and bytes lengths (compact ones are varints)."""
    if len(f) <= 8:
        return f
    p = rng.randrange(8, len(f)) if rng.random() < 0.9 else rng.randrange(len(f))
    which = rng.randrange(3)
    if which == 0 and p + 2 <= len(f):
        struct.pack_into(">h", f, p, rng.choice(INTERESTING16))
    elif which == 1 and p + 4 <= len(f):
        struct.pack_into(">i", f, p, rng.choice(INTERESTING32))
    else:
        v = rng.choice((b"\xff\xff\xff\xff\x0f", b"\xff" * 11, b"\x80", b"\xfe\xff\xff\xff\x07"))
        f[p:p + rng.randint(0, 2)] = v
    return f


def _truncate(m: Mutator, rng: random.Random, f: bytearray) -> bytearray:
    return f[:rng.randrange(len(f) + 1)]


def _extend(m: Mutator, rng: random.Random, f: bytearray) -> bytearray:
    return f + rng.randbytes(rng.randint(1, 64))


def _header(m: Mutator, rng: random.Random, f: bytearray) -> bytearray:
    if len(f) < 10:
        return f
    what = rng.randrange(3)
    if what == 0:
        struct.pack_into(">h", f, 0, rng.choice((-1, 99, 1000, 0x7FFF, rng.randrange(80))))
    elif what == 1:
        struct.pack_into(">h", f, 2, rng.choice((-1, 0, 1, 2, 17, 99, 0x7FFF, rng.randrange(20))))
    else:
        struct.pack_into(">h", f, 8, rng.choice((-2, 0x7FFF, len(f), len(f) - 9)))
    return f


def _splice(m: Mutator, rng: random.Random, f: bytearray) -> bytearray:
    other = rng.choice(m.corpus)
    cut = rng.randrange(len(f) + 1)
    return f[:cut] + other[rng.randrange(len(other) + 1):]


_FRAME_OPS = (_bit_flip, _byte_set, _lying_int, _lying_int, _truncate, _extend, _header, _splice)


def _lying_size(rng: random.Random, frame: bytes) -> bytes:
    n = len(frame)
    size = rng.choice((-1, -0x80000000, 0, 1, 3, n - 1, n + 1, n + rng.randint(2, 4096),
                       0x7FFFFFFF, 104857600 + 1, rng.randint(0, 1 << 20)))
    if rng.random() < 0.01:
        size = 104857600  # exactly socket.request.max.bytes: a legal claim the client never fills
    return struct.pack(">i", size) + frame


# -- batch makers ------------------------------------------------------------------------------
def _records(rng: random.Random, n: int, **kw: object) -> list[Rec]:
    out = []
    for _ in range(n):
        key = None if rng.random() < 0.2 else b"k%d" % rng.randrange(100)
        value = None if rng.random() < 0.05 else rng.randbytes(rng.randrange(40))
        headers = tuple((b"h%d" % j, b"v") for j in range(rng.choice((0, 0, 1, 2))))
        out.append(Rec(key, value, headers, **kw))  # type: ignore[arg-type]
    return out


def _section(recs: list[Rec]) -> bytes:
    return b"".join(encode_record(r, i) for i, r in enumerate(recs))


def _make_batch(m: Mutator, rng: random.Random, kind: str) -> tuple[bytes, bool]:
    codec = rng.choice((0, 0, 1, 2, 3, 4))
    n = rng.randint(1, 5)
    recs = _records(rng, n)
    sec = _section(recs)
    kw: dict[str, int] = {"attributes": codec, "count": n}
    if kind == "valid":
        return build_batch(sec, **kw), True
    if kind == "garbage_records":
        garbage = rng.randbytes(rng.randint(0, 200))
        return build_batch(garbage, attributes=codec, count=rng.randint(1, 5)), True
    if kind == "bad_varint":
        p = rng.randrange(len(sec) + 1)
        sec = sec[:p] + rng.choice((b"\xff" * rng.randint(6, 12), b"\x80", b"\xff\xff\xff\xff\x7f")) + sec[p:]
        return build_batch(sec, **kw), True
    if kind == "truncated_records":
        return build_batch(sec[:rng.randrange(len(sec))], **kw), True
    if kind == "offset_deltas":
        recs = [Rec(r.key, r.value, r.headers, offset_delta=rng.choice((0, -1, 5, 1 << 30))) for r in recs]
        return build_batch(_section(recs), **kw), True
    if kind == "record_count":
        count = rng.choice((0, -1, n + 1, n - 1, 1 << 30, 0x7FFFFFFF))
        return build_batch(sec, attributes=codec, count=count), True
    if kind == "offset_range":
        return build_batch(sec, **kw, last_offset_delta=rng.choice((-1, n, n + 10, 0x7FFFFFFF))), True
    if kind == "timestamps":
        recs = [Rec(r.key, r.value, r.headers, ts_delta=rng.choice((1 << 62, -(1 << 62), -1))) for r in recs]
        big = rng.choice(((1 << 63) - 1, -(1 << 63), -1, -2))
        return build_batch(_section(recs), **kw, base_ts=big, max_ts=rng.choice((big, 0))), True
    if kind == "producer_no_sequence":
        return build_batch(sec, **kw, producer_id=rng.randrange(1 << 20), producer_epoch=0,
                           base_sequence=-1), True
    if kind == "control_flag":
        kw["attributes"] |= 0x20 | (0x10 if rng.random() < 0.5 else 0)
        return build_batch(sec, **kw, producer_id=rng.randrange(1 << 20), producer_epoch=0,
                           base_sequence=0), True
    if kind == "transactional_flag":
        kw["attributes"] |= 0x10
        return build_batch(sec, **kw, producer_id=rng.randrange(1 << 20), producer_epoch=0,
                           base_sequence=0), True
    if kind == "bad_codec":
        return build_batch(sec, count=n, attributes=rng.randint(5, 7), compressed=sec), True
    if kind == "bad_magic":
        b = bytearray(build_batch(sec, **kw))
        b[16] = rng.choice((0, 1, 3, 0xFF))
        return recrc(bytes(b)), True
    if kind == "batch_length":
        b = bytearray(build_batch(sec, **kw))
        struct.pack_into(">i", b, 8, rng.choice((0, 48, len(b) - 13, len(b) + 100, -1, 0x7FFFFFFF)))
        return bytes(b), True
    if kind == "two_batches":
        return build_batch(sec, **kw) + build_batch(sec, **kw), True
    if kind == "bad_compressed_payload":
        body = compress(codec or 1, sec)
        body = body[:rng.randrange(len(body))] + rng.randbytes(rng.randrange(8))
        return build_batch(b"", count=n, attributes=codec or 1, compressed=body), True
    if kind in ("bomb_zeros", "bomb_record"):
        if not m.bombs:
            return build_batch(sec, **kw), True
        # gzip bombs take seconds to build: only the garbage one is gzip, sometimes
        c = "gzip" if kind == "bomb_zeros" and rng.random() < 0.25 else "zstd"
        payload = bomb(c, kind == "bomb_record")
        return build_batch(b"", count=1, attributes=4 if c == "zstd" else 1, compressed=payload), \
            kind == "bomb_zeros"
    if kind == "internal_topic":
        return build_batch(sec, **kw), True
    raise AssertionError(kind)


_BATCH_KINDS = ("valid", "valid", "garbage_records", "garbage_records", "bad_varint", "truncated_records",
                "offset_deltas", "record_count", "offset_range", "timestamps", "producer_no_sequence",
                "control_flag", "transactional_flag", "bad_codec", "bad_magic", "batch_length", "two_batches",
                "bad_compressed_payload", "internal_topic")
