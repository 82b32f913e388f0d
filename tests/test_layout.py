"""The code keeps its shape: imports flow one way, and every setting is documented."""

from __future__ import annotations

import ast
from pathlib import Path

from screenrec.config import SETTINGS, Settings

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "screenrec"
TRANSPORTS = {
    "typer",
    "rich",
    "aiohttp",
    "socketio",
    "engineio",
    "screenrec.cli",
    "screenrec.server",
}
CORE = {"screenrec.service", "screenrec.store", "screenrec.storage", "screenrec.media"}


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def hits(names: set[str], banned: set[str]) -> set[str]:
    return {n for n in names if any(n == b or n.startswith(b + ".") for b in banned)}


def test_service_and_below_never_import_transports() -> None:
    below = [*(PACKAGE / "service").glob("*.py"), *(PACKAGE / "media").glob("*.py"),
             PACKAGE / "models.py",
             PACKAGE / "errors.py", PACKAGE / "config.py",
             *(PACKAGE / "store").glob("*.py"), *(PACKAGE / "storage").glob("*.py")]  # fmt: skip
    offenders = {str(p.relative_to(ROOT)): hits(imports_of(p), TRANSPORTS) for p in below}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_pure_modules_import_no_backends() -> None:
    for name in ("models.py", "errors.py", "config.py"):
        assert hits(imports_of(PACKAGE / name), CORE) == set(), name


def test_every_module_says_what_it_owns() -> None:
    for path in PACKAGE.rglob("*.py"):
        assert ast.get_docstring(ast.parse(path.read_text())), f"{path} has no module docstring"


def test_every_setting_is_documented() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text()
    fields = set(Settings.__dataclass_fields__)
    assert {s.name for s in SETTINGS} == fields
    for setting in SETTINGS:
        assert f"`{setting.env}`" in doc, f"{setting.env} is missing from docs/configuration.md"
        assert f"`{setting.name}`" in doc, f"{setting.name} is missing from docs/configuration.md"
    for spec_var in ("`REDIS_HOST`", "`REDIS_PORT`", "`WEBSOCKET_PORT`"):
        assert spec_var in doc


def test_only_the_service_touches_the_backends() -> None:
    """Transports go through RecordingService: none of them reaches `.store` or `.storage`."""
    inside = {PACKAGE / "service", PACKAGE / "store", PACKAGE / "storage"}
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if any(parent in inside for parent in path.parents):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if ".store." in line or ".storage." in line:
                if line.lstrip().startswith(("from ", "import ")):
                    continue  # importing a backend's module is not reaching into one
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []
