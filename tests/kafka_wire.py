"""A blocking Kafka connection for raw-socket tests, speaking through kafka-python's message
classes (an independent encoder, not ours). Importable from any test (tests/ is on sys.path)."""

from __future__ import annotations

import socket
import struct
import time
from typing import Any

from kafka.protocol.metadata import ApiVersionsResponse

TIMEOUT = 10.0


class Wire:
    """A blocking Kafka connection speaking through kafka-python's message classes."""

    def __init__(self, bootstrap: str) -> None:
        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=TIMEOUT)
        self.correlation_id = 0

    def __enter__(self) -> Wire:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    @property
    def local_address(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"{host}:{port}"

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_frame(self) -> bytes:
        size = struct.unpack(">i", self._read_exactly(4))[0]
        return self._read_exactly(size)

    def _read_exactly(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed by the broker")
            buf += chunk
        return bytes(buf)

    def request(self, req: Any, response_cls: Any, version: int) -> Any:
        self.correlation_id += 1
        req.with_header(correlation_id=self.correlation_id, client_id="bad-input-test")
        self.send_raw(bytes(req.encode(version=version, header=True, framed=True)))
        frame = self.read_frame()
        (corr,) = struct.unpack_from(">i", frame)
        assert corr == self.correlation_id
        pos = 4
        # Response header v1 (flexible versions) ends with empty tagged fields; ApiVersions is always v0.
        if response_cls is not ApiVersionsResponse and response_cls.flexible_version_q(version):
            assert frame[pos] == 0, "unexpected tagged fields in the response header"
            pos += 1
        return response_cls.decode(frame[pos:], version=version)

    def assert_closed_by_peer(self) -> None:
        """The broker closes this connection: EOF or reset within the deadline, and no response."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                return
            except TimeoutError:
                continue
            assert not data, f"expected the connection to be closed, got {data[:64]!r}"
            return
        raise AssertionError("the broker did not close the connection")
