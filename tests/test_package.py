"""The package as others build on it: its public names, one version, true minimum versions, shipped files."""

from __future__ import annotations

import importlib
import importlib.metadata
import pkgutil
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import ozchat
import ozchat.exceptions

from processes import OZCHAT

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))

PUBLIC_NAMES = [
    "DEFAULT_PORT",
    "PROTOCOL_VERSION",
    "AccessDenied",
    "ChatMessage",
    "ClientInfo",
    "ClientSession",
    "ClientStatus",
    "ConnectionClosed",
    "ConnectionFailed",
    "ConnectionState",
    "ConnectionStateChanged",
    "ErrorCode",
    "ErrorFrame",
    "Event",
    "EventStream",
    "Gap",
    "OzWebClient",
    "OzchatConnectionError",
    "OzchatError",
    "ProtocolError",
    "ReconnectPolicy",
    "RenumberedClient",
    "RequestRejected",
    "Roster",
    "Synced",
    "TypingBoard",
    "TypingNotice",
    "__version__",
]


def test_the_public_api_is_these_names_and_each_one_imports():
    assert ozchat.__all__ == PUBLIC_NAMES
    namespace: dict[str, object] = {}
    exec("from ozchat import *", namespace)
    assert set(PUBLIC_NAMES) <= set(namespace)
    assert set(PUBLIC_NAMES) <= set(dir(ozchat))


def test_the_public_errors_are_the_documented_tree():
    tree = ozchat.exceptions.__doc__ or ""
    for name in PUBLIC_NAMES:
        value = getattr(ozchat, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, ozchat.OzchatError) and name in tree


def _modules_loaded_by(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sys.modules))"
    return set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())


def test_importing_the_protocol_loads_neither_the_client_nor_websockets():
    loaded = _modules_loaded_by("import ozchat.protocol")
    assert "ozchat.protocol" in loaded
    assert not loaded & {"ozchat.client", "websockets", "httpx", "textual"}


def test_the_session_logic_loads_without_sockets_or_an_event_loop():
    loaded = _modules_loaded_by("from ozchat import ClientSession")
    assert "ozchat.session" in loaded
    assert not loaded & {"ozchat.client", "websockets", "asyncio", "httpx", "textual"}


def test_one_version_everywhere():
    written = re.findall(r'^__version__ = "([^"]+)"$', (ROOT / "ozchat" / "__init__.py").read_text("utf-8"), re.M)
    assert written == [ozchat.__version__]
    assert "version" not in PYPROJECT["project"] and "version" in PYPROJECT["project"]["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "ozchat.__version__"}
    assert importlib.metadata.version("ozchat") == ozchat.__version__
    shown = subprocess.run([*OZCHAT, "--version"], capture_output=True, text=True, check=True).stdout
    assert shown == f"ozchat {ozchat.__version__}\n"


def _declared_minimums() -> dict[str, str]:
    requirements = [*PYPROJECT["project"]["dependencies"], *PYPROJECT["project"]["optional-dependencies"]["test"]]
    minimums = {}
    for requirement in requirements:
        found = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*>=\s*([0-9][0-9.]*)", requirement.strip())
        assert found, f"{requirement!r}: every dependency is declared as NAME>=LOWEST"
        minimums[_normal(found[1])] = found[2]
    return minimums


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_lowest_versions_ci_installs_are_the_declared_minimums():
    pinned = {}
    for line in (ROOT / ".ci" / "lowest-versions.txt").read_text("utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pinned[_normal(name)] = version.strip()
    assert pinned == _declared_minimums()


def test_every_package_data_pattern_names_shipped_files():
    package = ROOT / "ozchat"
    for pattern in PYPROJECT["tool"]["setuptools"]["package-data"]["ozchat"]:
        assert list(package.glob(pattern)), f"package-data declares {pattern!r}, which matches no file"
    assert (package / "py.typed").is_file()


def _subclasses(cls: type) -> list[type]:
    return [sub for direct in cls.__subclasses__() for sub in (direct, *_subclasses(direct))]


def test_every_error_of_the_package_is_drawn_in_the_exception_tree_with_its_module():
    for module in pkgutil.walk_packages(ozchat.__path__, "ozchat."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    tree = ozchat.exceptions.__doc__ or ""
    for error in _subclasses(ozchat.OzchatError):
        if error.__name__.startswith("_"):
            continue
        drawn = re.search(rf"── {error.__name__}\b.*?(?:\((ozchat[.\w]*)\))?$", tree, re.M)
        assert drawn, f"{error.__module__}.{error.__name__} is missing from the tree in ozchat/exceptions.py"
        # The module named beside it (ozchat.exceptions when none is) is where it is imported from.
        assert getattr(importlib.import_module(drawn[1] or "ozchat.exceptions"), error.__name__) is error


def test_no_module_of_the_package_is_over_400_lines():
    long = {
        str(path.relative_to(ROOT)): lines
        for path in sorted((ROOT / "ozchat").rglob("*.py"))
        if (lines := len(path.read_text("utf-8").splitlines())) > 400
    }
    assert long == {}, "split these into modules of at most 400 lines, each with one job"


def test_the_sdist_leaves_out_bytecode_and_hypothesis_data(tmp_path: Path) -> None:
    """Built from a copy of the tree holding what a test run leaves behind: __pycache__, tests/.hypothesis."""
    import shutil
    import tarfile

    if int(importlib.metadata.version("setuptools").split(".")[0]) < 77:
        pytest.skip("setuptools older than the declared 77 cannot build this project: pip install -e '.[test]' again")
    tree = tmp_path / "tree"
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(
        ".git", ".venv", "*.egg-info", "build", "dist", "__pycache__", ".*_cache", ".hypothesis"))
    for left_behind in ("tests/__pycache__/test_x.cpython-311.pyc", "ozchat/stray.pyc", "tests/.hypothesis/examples/x"):
        (tree / left_behind).parent.mkdir(parents=True, exist_ok=True)
        (tree / left_behind).write_bytes(b"left by a test run")
    code = f"from setuptools import build_meta; print(build_meta.build_sdist({str(tmp_path)!r}))"
    built = subprocess.run(
        [sys.executable, "-c", code], cwd=tree, capture_output=True, text=True, check=True, timeout=120
    )
    with tarfile.open(tmp_path / built.stdout.strip().splitlines()[-1]) as sdist:
        names = sdist.getnames()
        pkg_info = next(name for name in names if name.count("/") == 1 and name.endswith("/PKG-INFO"))
        member = sdist.extractfile(pkg_info)
        assert member is not None
        metadata = member.read().decode()
    assert any(name.endswith("/tests/test_package.py") for name in names)  # the tests are in it
    assert [name for name in names if "__pycache__" in name or name.endswith((".pyc", ".pyo", ".pyd"))] == []
    assert [name for name in names if "/.hypothesis" in name] == []
    assert "Name: ozchat" in metadata.splitlines()
