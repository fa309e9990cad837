"""Project-level checks: packaging covers every subpackage, README's Compatibility table matches the
handler registry, the Docker setup parses and its command runs."""

from __future__ import annotations

import shlex
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

from pykafka_broker.broker.compat import BEGIN, END, compatibility_table

ROOT = Path(__file__).resolve().parent.parent
TOP_LEVEL = {"broker": "pykafka_broker.broker", "protocol": "pykafka_broker.protocol",
             "storage": "pykafka_broker.storage", "cli": "pykafka_broker.cli"}


def test_every_subpackage_is_listed_in_pyproject() -> None:
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(conf["packages"])
    for folder, package in TOP_LEVEL.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            name = ".".join((package, *rel))
            assert name in listed, f"{init.parent} has __init__.py but {name} is not in pyproject packages"
            assert conf["package-dir"].get(name, "/".join((folder, *rel))) == "/".join((folder, *rel))


def test_readme_compatibility_table_matches_registry() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert table == compatibility_table(), "regenerate with: python -m pykafka_broker.broker.compat"


def test_compose_file_parses_and_points_at_the_dockerfile() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    svc = compose["services"]["kafka"]
    assert (ROOT / svc["build"]["context"] / svc["build"]["dockerfile"]).is_file()
    assert "9092:9092" in svc["ports"]
    volume, target = svc["volumes"][0].split(":")
    assert volume in compose["volumes"] and target == "/data"
    assert svc["environment"]["ADVERTISED_HOST"] == "localhost"


def _container_command() -> list[str]:
    lines = (ROOT / "docker" / "Dockerfile").read_text().splitlines()
    cmd = next(line for line in lines if line.startswith("CMD "))
    argv = yaml.safe_load(cmd[4:])  # JSON exec form
    assert argv[:2] == ["sh", "-c"]
    return shlex.split(argv[2].replace("exec ", "", 1).replace('"$ADVERTISED_HOST"', "localhost"))


def test_container_command_runs_directly(tmp_path: Path) -> None:
    argv = _container_command()
    assert argv[:2] == ["pykafka-broker", "serve"]
    assert argv[argv.index("--host") + 1] == "0.0.0.0"
    # Run the same command here, but on loopback and a free port (tests never bind 0.0.0.0 or 9092).
    args = argv[2:]
    args[args.index("--host") + 1] = "127.0.0.1"
    args[args.index("--port") + 1] = "0"
    args[args.index("--data-dir") + 1] = str(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "pykafka_broker", "serve", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on localhost:" in line, line
        port = int(line.split("listening on localhost:")[1].split()[0])
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    finally:
        proc.terminate()
        assert proc.wait(20) == 0


def test_record_walk_extension_is_built_where_a_compiler_exists() -> None:
    """setup.py's optional C walk must really be built on machines that can build it (CI included),
    so the produce path measured by the benchmarks is the one tested."""
    import shutil
    import sysconfig

    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not (shutil.which("cc") or shutil.which("gcc")) or not headers.exists():
        import pytest
        pytest.skip("no C compiler or Python headers: the pure-Python walker is used")
    from pykafka_broker.protocol import validation
    assert validation._summarize is not None


def test_readme_lists_every_config_that_has_no_effect() -> None:
    from pykafka_broker.broker.config_audit import NOT_USED

    readme = (ROOT / "README.md").read_text()
    missing = [name for name in NOT_USED if f"`{name}`" not in readme]
    assert not missing, f"README's table of configs with no effect lacks {missing}"
