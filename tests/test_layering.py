"""SQL stays in ``kiosk/store``: the rest of the product talks to the ``Store`` API.

Outside ``kiosk/store`` no code in ``kiosk/`` or ``benchmarks/`` may reach for a
connection (``.conn``), import ``sqlite3`` or pass SQL text to ``execute``-like calls.
A raw query elsewhere is how the users came to be counted three ways; when the schema
changes, the store is the one place to update. Tests may read the database file, through
``tests/store_support.py``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCANNED = ("kiosk", "benchmarks")
STORE = REPO / "kiosk" / "store"
EXECUTE_CALLS = {"execute", "executemany", "executescript"}
SQL_START = re.compile(r"\s*(SELECT|INSERT|UPDATE|DELETE|REPLACE|PRAGMA|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|CREATE|DROP|ALTER|WITH|VACUUM)\b", re.I)


def _sql_text(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value for part in node.values if isinstance(part, ast.Constant) and isinstance(part.value, str))
    return None


def violations(path: Path) -> list[tuple[int, str]]:
    """(line, what) for every way ``path`` reaches past the store's API."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Attribute) and node.attr == "conn":
            found.append((node.lineno, "uses a store's connection (.conn)"))
        elif isinstance(node, ast.Import) and any(alias.name.split(".")[0] == "sqlite3" for alias in node.names):
            found.append((node.lineno, "imports sqlite3"))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlite3":
            found.append((node.lineno, "imports from sqlite3"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in EXECUTE_CALLS and node.args:
            text = _sql_text(node.args[0])
            if text is not None and SQL_START.match(text):
                found.append((node.lineno, f"runs SQL: {text.strip()[:60]!r}"))
    return found


def scanned_files() -> list[Path]:
    files = [p for top in SCANNED for p in sorted((REPO / top).rglob("*.py")) if not p.is_relative_to(STORE)]
    assert len(files) > 20 and any(p.parts[-2] == "benchmarks" for p in files)
    return files


def test_no_sql_or_connection_outside_kiosk_store() -> None:
    problems: list[str] = []
    for path in scanned_files():
        name = path.relative_to(REPO).as_posix()
        problems += [f"{name}:{line}: {what}" for line, what in sorted(violations(path))]
    assert not problems, "SQL belongs in kiosk/store (add a Store method):\n" + "\n".join(problems)


def test_the_scan_catches_each_kind(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import sqlite3\n"
        "from sqlite3 import connect\n"
        "n = store.conn\n"
        'cursor.execute("PRAGMA data_version")\n'
        'c.executemany(f"INSERT INTO {table} VALUES (?)", rows)\n'
        'subprocess.run(["echo", "SELECT"])\n'
        "jobs.execute(task)\n"
    )
    assert [line for line, _ in violations(sample)] == [1, 2, 3, 4, 5]
