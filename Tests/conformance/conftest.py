"""Shared fixtures for the evssnap conformance tests (pytest).

Fixtures:
  repo_root   the repository root
  bin_dir     the directory of the built Swift executables: $EVSSNAP_BIN, else `swift build --show-bin-path`
  evssnap_bin callable name -> path of a built executable (skips the test if it is not built)
  csi_pb      (csi_pb2, csi_pb2_grpc), generated at test time by grpcio-tools from our proto/csi.proto
"""
import importlib
import os
import pathlib
import subprocess
import sys

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def repo_root():
    return REPO_ROOT


@pytest.fixture(scope="session")
def bin_dir():
    env = os.environ.get("EVSSNAP_BIN")
    if env:
        return pathlib.Path(env)
    out = subprocess.run(["swift", "build", "--show-bin-path"], cwd=REPO_ROOT,
                         capture_output=True, text=True, check=True)
    return pathlib.Path(out.stdout.strip())


@pytest.fixture(scope="session")
def evssnap_bin(bin_dir):
    def find(name):
        path = bin_dir / name
        if not path.is_file():
            pytest.skip(f"{name} is not built in {bin_dir} (run `swift build --product {name}`)")
        return path
    return find


@pytest.fixture(scope="session")
def csi_pb(tmp_path_factory):
    """Python bindings for proto/csi.proto, compiled into a per-session temp dir."""
    from grpc_tools import protoc
    import grpc_tools

    out = tmp_path_factory.mktemp("csi_pb")
    well_known = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    rc = protoc.main([
        "grpc_tools.protoc",
        f"-I{REPO_ROOT / 'proto'}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        str(REPO_ROOT / "proto" / "csi.proto"),
    ])
    assert rc == 0, "grpc_tools.protoc failed on proto/csi.proto"
    sys.path.insert(0, str(out))
    try:
        return importlib.import_module("csi_pb2"), importlib.import_module("csi_pb2_grpc")
    finally:
        sys.path.remove(str(out))
