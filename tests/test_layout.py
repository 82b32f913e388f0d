"""The code keeps its shape: imports flow one way, and every setting is documented."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import typer.main

from screenrec.cli import app
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


def _documented_settings() -> dict[str, list[str]]:
    """docs/configuration.md's table: setting name -> its cells, backticks removed."""
    rows = {}
    for line in (ROOT / "docs" / "configuration.md").read_text().splitlines():
        if line.startswith("| `"):
            cells = [cell.strip().replace("`", "") for cell in line.strip("|").split(" | ")]
            rows[cells[0]] = cells
    return rows


def test_every_setting_is_documented() -> None:
    """Each row of docs/configuration.md matches the settings table: flag, variable, default,
    and the commands that really take the option."""
    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    rows = _documented_settings()
    assert {s.name for s in SETTINGS} == set(Settings.__dataclass_fields__) == set(rows)
    for setting in SETTINGS:
        _, option, env, default, taken_by, _ = rows[setting.name]
        assert option.split(" ")[0] == setting.flag, setting.name
        assert env.split(" ")[0] == setting.env, setting.name
        assert setting.default in default, f"{setting.name}: default {setting.default!r}"
        flag = setting.flag.split("/")[0]
        real = [n for n, c in commands.items() if any(flag in p.opts for p in c.params)]
        assert sorted(taken_by.split(", ")) == sorted(real), setting.name
    doc = (ROOT / "docs" / "configuration.md").read_text()
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


def test_serve_help_and_the_docs_agree() -> None:
    """`serve --help` lists exactly the documented settings (plus --help), whole, at 80
    columns, with each one's environment variable."""
    shown = subprocess.run(
        [sys.executable, "-m", "screenrec", "serve", "--help"], capture_output=True, text=True,
        check=True, env={**os.environ, "COLUMNS": "80"},
    ).stdout  # fmt: skip
    options = {word for word in shown.split() if word.startswith("--")} - {"--help"}
    documented = {flag for s in SETTINGS for flag in s.flag.split("/")}
    assert options == documented
    assert "…" not in shown
    for setting in SETTINGS:
        assert setting.env in shown, setting.env


def test_table_defaults_are_the_settings_defaults() -> None:
    """A default the table shows as a value parses to the Settings field's default."""
    prose = {"data_dir", "redis_url", "storage", "s3_endpoint_url", "s3_region", "ffmpeg",
             "tokens", "webhook_urls", "webhook_secret", "derive"}  # fmt: skip
    for setting in SETTINGS:
        if setting.name not in prose:
            value = setting.parse(setting.default, "default")
            assert value == getattr(Settings(), setting.name), setting.name
