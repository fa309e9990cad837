"""The broker under fuzz: a ``python -m pykafka_broker serve`` subprocess, its RSS, a health check."""

from __future__ import annotations

import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

from wire import api_versions_request, metadata_request

READY = re.compile(r"listening on (\S+):(\d+) ")


class BrokerProc:
    def __init__(self, data_dir: Path, log_file: Path, *overrides: str) -> None:
        self.data_dir, self.log_file, self.overrides = data_dir, log_file, overrides
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.peak_rss_kib = 0  # max VmHWM over every process started (restarts included)
        self.cpu_before = 0.0  # CPU seconds of the processes already gone

    def start(self, timeout: float = 30.0) -> BrokerProc:
        cmd = [sys.executable, "-m", "pykafka_broker", "serve", "--host", "127.0.0.1", "--port", "0",
               "--data-dir", str(self.data_dir), "--log-level", "ERROR"]
        for o in self.overrides:
            cmd += ["--override", o]
        log = open(self.log_file, "a")  # noqa: SIM115  (owned by the child from here on)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
        log.close()
        assert self.proc.stdout is not None
        found = threading.Event()

        def pump() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                m = READY.search(line)
                if m and not found.is_set():
                    self.port = int(m.group(2))
                    found.set()
            found.set()

        threading.Thread(target=pump, daemon=True).start()
        if not found.wait(timeout) or not self.port:
            self.kill()
            raise RuntimeError(f"broker did not start; see {self.log_file}")
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _status_kib(self, field: str) -> int:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        except (OSError, ValueError):
            pass
        return 0

    def rss_kib(self) -> int:
        rss = self._status_kib("VmRSS")
        self.peak_rss_kib = max(self.peak_rss_kib, self._status_kib("VmHWM"), rss)
        return rss

    def cpu_seconds(self) -> float:
        """utime + stime of the current broker process so far (/proc/<pid>/stat)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return 0.0

    def health(self, timeout: float = 10.0) -> bool:
        """A fresh connection gets ApiVersions v0 and Metadata v1 answered, each with its correlation id."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
                s.settimeout(timeout)
                for corr, req in ((7001, api_versions_request(7001)), (7002, metadata_request(7002))):
                    s.sendall(req)
                    size = struct.unpack(">i", _read(s, 4))[0]
                    body = _read(s, size)
                    if size < 4 or struct.unpack_from(">i", body)[0] != corr:
                        return False
            return True
        except (OSError, struct.error, ConnectionError):
            return False

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.proc is None:
            return None
        self.rss_kib()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.cpu_before += self.cpu_seconds()
            self.proc.kill()
            self.proc.wait()


def _read(s: socket.socket, n: int) -> bytes:
    buf = bytearray()
    deadline = time.monotonic() + (s.gettimeout() or 10.0)
    while len(buf) < n:
        if time.monotonic() > deadline:
            raise ConnectionError("timeout")
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return bytes(buf)
