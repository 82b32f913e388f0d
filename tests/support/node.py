"""The official socket.io-client for Node, installed in tests/node by `npm ci` when missing."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).parent.parent / "node"
INSTALL_HINT = (
    "install Node.js 18+ with npm (e.g. `apt-get install nodejs npm`), or run scripts/test, "
    "which sets up everything the test suite needs"
)
NPM_TIMEOUT = 240.0


def find_node() -> str:
    """`node` with socket.io-client 4.x installed in tests/node (`npm ci` if missing); fails
    with an install hint."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"`node` is not on PATH: {INSTALL_HINT}", pytrace=False)
    installed = NODE_DIR / "node_modules" / "socket.io-client" / "package.json"
    if not installed.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail(f"`npm` is not on PATH: {INSTALL_HINT}", pytrace=False)
        try:
            done = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=NODE_DIR, capture_output=True, text=True, timeout=NPM_TIMEOUT,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            pytest.fail(f"`npm ci` in {NODE_DIR} took over {NPM_TIMEOUT:.0f} s", pytrace=False)
        if done.returncode != 0 or not installed.exists():
            pytest.fail(
                f"`npm ci` in {NODE_DIR} failed ({done.returncode}):\n{done.stdout}{done.stderr}",
                pytrace=False,
            )
    version = json.loads(installed.read_text())["version"]
    assert version.startswith("4."), f"socket.io-client {version} installed, 4.x expected"
    return node
