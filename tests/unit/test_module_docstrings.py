"""Every module says its one job in its opening line, so a newcomer can read the layout from the files."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PY = sorted(
    p
    for folder in ("operators", "plugins", "dags", "bench", "scripts")
    for p in (ROOT / folder).rglob("*.py")
    if "__pycache__" not in p.parts and p.read_text().strip()
)  # an empty __init__.py says nothing
JS = sorted((ROOT / "plugins" / "warm_monitor" / "static").rglob("*.js"))


@pytest.mark.parametrize("path", PY, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_module_opens_with_its_job(path: Path):
    doc = ast.get_docstring(ast.parse(path.read_text()))
    assert doc, f"{path.relative_to(ROOT)} has no module docstring"
    first = doc.splitlines()[0].strip()
    assert len(first) >= 15, f"{path.relative_to(ROOT)}: opening line {first!r} does not say what the module does"


@pytest.mark.parametrize("path", JS, ids=lambda p: str(p.relative_to(ROOT)))
def test_js_module_opens_with_its_job(path: Path):
    first = path.read_text().lstrip().splitlines()[0]
    assert first.startswith(("//", "/*")) and len(first) >= 18, (
        f"{path.relative_to(ROOT)}: the first line should be a comment saying what the module does: {first!r}"
    )
