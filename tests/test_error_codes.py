"""Every error code the server can send lives once in errors.py and once in docs/protocol.md."""

from __future__ import annotations

import re
from pathlib import Path

from screenrec import errors

ROOT = Path(__file__).resolve().parent.parent


def codes() -> dict[str, type[errors.ScreenrecError]]:
    found = {}
    for value in vars(errors).values():
        if isinstance(value, type) and issubclass(value, errors.ScreenrecError):
            found[value.code] = value
    return found


def test_every_code_is_documented_in_the_protocol() -> None:
    doc = (ROOT / "docs" / "protocol.md").read_text()
    table = set(re.findall(r"^\| `([a-z_]+)` \|", doc, re.MULTILINE))
    assert set(codes()) == table, "docs/protocol.md's error table and errors.py disagree"


def test_every_class_is_in_the_tree_drawn_in_the_docstring() -> None:
    drawn = errors.__doc__ or ""
    for code, cls in codes().items():
        assert re.search(rf"\b{cls.__name__}\b.*\({code},", drawn), cls.__name__


def test_transports_build_no_error_codes_of_their_own() -> None:
    """A code written as a string literal outside errors.py is a code outside the tree."""
    offenders = []
    for path in (ROOT / "screenrec").rglob("*.py"):
        if path.name == "errors.py" or "simulate" in path.parts:
            continue  # simulate is a client: it reads codes, it sends none
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"""["']code["']\s*:\s*["']""", line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_the_page_explains_only_real_codes() -> None:
    page = (ROOT / "screenrec" / "web" / "app.js").read_text()
    block = page[page.index("const MESSAGES = {") : page.index("};", page.index("const MESSAGES"))]
    explained = set(re.findall(r"^\s+([a-z_]+):", block, re.MULTILINE))
    assert explained <= set(codes()), explained - set(codes())
