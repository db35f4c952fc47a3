"""The layer and the functions' code carry bytecode of the runtime's Python (infra_cdk.constructs.shared).

Lambda's file system is read-only: a module without a usable `.pyc` is compiled from source on every cold
start. The staged `.pyc` files must be hash-based and unchecked, because the asset's zip does not keep the
modification times a timestamp-based one is validated against.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from infra_cdk.constructs.shared import RUNTIME, bytecode_interpreter, stage_functions, stage_layer

THIS_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
UNCHECKED_HASH = 0b01  # PEP 552: hash-based, source not checked


def _pyc_flags(source: Path) -> int:
    pyc = Path(importlib.util.cache_from_source(str(source)))
    assert pyc.exists(), f"no bytecode for {source}"
    return int.from_bytes(pyc.read_bytes()[4:8], "little")


def test_the_staged_layer_and_functions_carry_unchecked_hash_bytecode(tmp_path: Path) -> None:
    # Given this interpreter standing in for the runtime's
    layer = stage_layer(tmp_path, bundle_dependencies=False, bytecode=sys.executable)
    functions = stage_functions(tmp_path, bytecode=sys.executable)
    # Then every module of the layer's package and of the functions has its .pyc, hash-based and unchecked
    sources = [*(layer / "python" / "gridshare").rglob("*.py"), *(functions / "functions").rglob("*.py")]
    assert len(sources) > 100
    assert {_pyc_flags(s) for s in sources} == {UNCHECKED_HASH}


def test_without_an_interpreter_nothing_is_compiled(tmp_path: Path) -> None:
    layer = stage_layer(tmp_path, bundle_dependencies=False)
    assert not list(layer.rglob("*.pyc"))


def test_the_bytecode_interpreter_is_of_the_runtimes_version() -> None:
    assert RUNTIME.name.startswith("python3.")
    assert bytecode_interpreter(THIS_VERSION) == sys.executable
    assert bytecode_interpreter("3.99") is None
