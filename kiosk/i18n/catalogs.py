"""Catalog tooling without GNU gettext: extract message ids, read .po, write .mo.

``msgfmt`` is not needed on the build machine: the compiled ``.mo`` files are committed,
and :func:`compile_po` writes byte-for-byte what the tests compare them against. (GNU
``msgfmt`` reads the same ``.po`` files; the tests run ``msgfmt --check`` when it is
installed.)

Usage::

    python -m kiosk.i18n extract   # rewrite facekiosk.pot from N_()/NP_() calls
    python -m kiosk.i18n merge     # add new ids to each language's .po (untranslated)
    python -m kiosk.i18n compile   # write each language's .mo
    python -m kiosk.i18n check     # exit 1 if anything is stale or untranslated
"""

from __future__ import annotations

import ast
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from kiosk.i18n import DOMAIN, LANGUAGES, LOCALE_DIR

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # kiosk/
SOURCE_DIRS = ("flows", "ui")
POT_PATH = Path(__file__).resolve().parent / f"{DOMAIN}.pot"
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

PLURAL_FORMS = {"en": "nplurals=2; plural=(n != 1);", "de": "nplurals=2; plural=(n != 1);"}
LANGUAGE_NAMES = {"en": "English", "de": "German"}


@dataclass
class Entry:
    msgid: str
    plural: str | None = None
    msgstr: list[str] = field(default_factory=lambda: [""])
    references: list[str] = field(default_factory=list)
    fuzzy: bool = False

    @property
    def translated(self) -> bool:
        return not self.fuzzy and all(self.msgstr) and len(self.msgstr) == (2 if self.plural else 1)


# -- extraction -------------------------------------------------------------------------

def extract(package_dir: Path = PACKAGE_DIR, source_dirs: Iterable[str] = SOURCE_DIRS) -> list[Entry]:
    """Every N_("...") and NP_("...", "...") in the source, in order of first use."""
    entries: dict[tuple[str, str | None], Entry] = {}
    for folder in source_dirs:
        for path in sorted((package_dir / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("N_", "NP_")):
                    continue
                count = 1 if node.func.id == "N_" else 2
                args = node.args[:count]
                if len(args) < count or not all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in args):
                    raise ValueError(f"{path}:{node.lineno}: {node.func.id}() needs literal strings to be extracted")
                msgid = args[0].value
                plural = args[1].value if count == 2 else None
                entry = entries.setdefault((msgid, plural), Entry(msgid, plural, ["", ""] if plural else [""]))
                entry.references.append(f"{path.relative_to(package_dir.parent)}:{node.lineno}")
    # ast.walk is breadth-first: order by where each id is first used, for stable diffs.
    return sorted(entries.values(), key=lambda e: _ref_key(e.references[0]))


def _ref_key(reference: str) -> tuple[str, int]:
    name, _, line = reference.rpartition(":")
    return name, int(line)


# -- .po reading and writing ------------------------------------------------------------

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def _unquote(token: str) -> str:
    body = token.strip()
    if len(body) < 2 or not (body.startswith('"') and body.endswith('"')):
        raise ValueError(f"expected a quoted string, got {token!r}")
    out, chars = [], iter(body[1:-1])
    for char in chars:
        if char == "\\":
            code = next(chars, "")
            if code not in _ESCAPES:
                raise ValueError(f"unknown escape \\{code} in {token!r}")
            out.append(_ESCAPES[code])
        else:
            out.append(char)
    return "".join(out)


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t").replace("\n", "\\n")
    return f'"{escaped}"'


def parse_po(text: str) -> tuple[dict[str, str], list[Entry]]:
    """The header fields and the entries (the header entry itself excluded)."""
    entries: list[Entry] = []
    header: dict[str, str] = {}
    current: Entry | None = None
    target: tuple[str, int] | None = None
    flags: set[str] = set()
    refs: list[str] = []

    def finish() -> None:
        nonlocal current
        if current is None:
            return
        if current.msgid == "" and current.plural is None:
            for line in current.msgstr[0].splitlines():
                name, _, value = line.partition(":")
                if name:
                    header[name.strip()] = value.strip()
        else:
            entries.append(current)
        current = None

    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        try:
            if not line:
                continue
            if line.startswith("#,"):
                finish()
                flags |= {flag.strip() for flag in line[2:].split(",")}
            elif line.startswith("#:"):
                finish()
                refs.extend(line[2:].split())
            elif line.startswith("#"):
                finish()
            elif line.startswith("msgid_plural "):
                assert current is not None
                current.plural = _unquote(line[len("msgid_plural "):])
                current.msgstr = ["", ""]
                target = ("plural", 0)
            elif line.startswith("msgid "):
                finish()
                current = Entry(_unquote(line[len("msgid "):]), references=refs, fuzzy="fuzzy" in flags)
                flags, refs = set(), []
                target = ("msgid", 0)
            elif line.startswith("msgstr["):
                assert current is not None
                index = int(line[len("msgstr["):line.index("]")])
                while len(current.msgstr) <= index:
                    current.msgstr.append("")
                current.msgstr[index] = _unquote(line[line.index("]") + 1:])
                target = ("msgstr", index)
            elif line.startswith("msgstr "):
                assert current is not None
                current.msgstr = [_unquote(line[len("msgstr "):])]
                target = ("msgstr", 0)
            elif line.startswith('"'):
                assert current is not None and target is not None
                piece = _unquote(line)
                kind, index = target
                if kind == "msgid":
                    current.msgid += piece
                elif kind == "plural":
                    current.plural = (current.plural or "") + piece
                else:
                    current.msgstr[index] += piece
            else:
                raise ValueError(f"cannot read {line!r}")
        except (AssertionError, ValueError) as err:
            raise ValueError(f"line {number}: {err or 'a string outside an entry'}") from None
    finish()
    return header, entries


def format_po(header: dict[str, str], entries: Iterable[Entry], comment: str) -> str:
    lines = [f"# {line}".rstrip() for line in comment.splitlines()]
    lines += ['msgid ""', 'msgstr ""']
    lines += [_quote(f"{name}: {value}\n") for name, value in header.items()]
    for entry in entries:
        lines.append("")
        if entry.references:
            lines.append("#: " + " ".join(entry.references))
        flags = (["fuzzy"] if entry.fuzzy else []) + (["python-brace-format"] if PLACEHOLDER.search(entry.msgid) else [])
        if flags:
            lines.append("#, " + ", ".join(flags))
        lines.append(f"msgid {_quote(entry.msgid)}")
        if entry.plural is not None:
            lines.append(f"msgid_plural {_quote(entry.plural)}")
            for index, text in enumerate(entry.msgstr):
                lines.append(f"msgstr[{index}] {_quote(text)}")
        else:
            lines.append(f"msgstr {_quote(entry.msgstr[0])}")
    return "\n".join(lines) + "\n"


def base_header(language: str | None) -> dict[str, str]:
    header = {
        "Project-Id-Version": "facekiosk",
        "Language": language or "",
        "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=UTF-8",
        "Content-Transfer-Encoding": "8bit",
    }
    if language:
        header["Plural-Forms"] = PLURAL_FORMS[language]
        header["Language-Team"] = f"FaceKiosk {LANGUAGE_NAMES[language]}"
        header["Last-Translator"] = "FaceKiosk developers"
    return header


def merge(template: list[Entry], existing: list[Entry]) -> list[Entry]:
    """The template's ids in its order, with the translations ``existing`` has for them."""
    known = {(e.msgid, e.plural): e for e in existing}
    merged = []
    for entry in template:
        old = known.get((entry.msgid, entry.plural))
        msgstr = list(old.msgstr) if old else list(entry.msgstr)
        merged.append(Entry(entry.msgid, entry.plural, msgstr, list(entry.references), old.fuzzy if old else False))
    return merged


# -- .mo -------------------------------------------------------------------------------

def compile_po(header: dict[str, str], entries: Iterable[Entry]) -> bytes:
    """A GNU .mo file (little-endian, no hash table) of the translated, non-fuzzy entries."""
    pairs = {b"": "".join(f"{name}: {value}\n" for name, value in header.items()).encode("utf-8")}
    for entry in entries:
        if not entry.translated:
            continue
        key = entry.msgid if entry.plural is None else f"{entry.msgid}\0{entry.plural}"
        pairs[key.encode("utf-8")] = "\0".join(entry.msgstr).encode("utf-8")
    keys = sorted(pairs)
    count = len(keys)
    originals_at = 7 * 4
    translations_at = originals_at + 8 * count
    data_at = translations_at + 8 * count
    table_o, table_t, blob = [], [], bytearray()
    for key in keys:
        table_o.append((len(key), data_at + len(blob)))
        blob += key + b"\0"
    for key in keys:
        table_t.append((len(pairs[key]), data_at + len(blob)))
        blob += pairs[key] + b"\0"
    out = bytearray(struct.pack("<7I", 0x950412DE, 0, count, originals_at, translations_at, 0, data_at))
    for length, offset in table_o + table_t:
        out += struct.pack("<2I", length, offset)
    return bytes(out + blob)


# -- the project's catalogs ---------------------------------------------------------------

def po_path(language: str, locale_dir: Path = LOCALE_DIR) -> Path:
    return locale_dir / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(language: str, locale_dir: Path = LOCALE_DIR) -> Path:
    return locale_dir / language / "LC_MESSAGES" / f"{DOMAIN}.mo"


def pot_text() -> str:
    return format_po(base_header(None), extract(), "FaceKiosk messages shown on screen (generated: python -m kiosk.i18n extract).")


def po_comment(language: str) -> str:
    return f"FaceKiosk messages in {LANGUAGE_NAMES[language]}.\nEdit msgstr lines, then run: python -m kiosk.i18n compile"


def compiled(language: str, locale_dir: Path = LOCALE_DIR) -> bytes:
    header, entries = parse_po(po_path(language, locale_dir).read_text(encoding="utf-8"))
    return compile_po(header, entries)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m kiosk.i18n", description="FaceKiosk message catalogs")
    parser.add_argument("command", choices=("extract", "merge", "compile", "check"))
    args = parser.parse_args(argv)
    problems = []
    if args.command == "extract":
        POT_PATH.write_text(pot_text(), encoding="utf-8")
    elif args.command == "merge":
        _, template = parse_po(pot_text())
        for language in LANGUAGES:
            path = po_path(language)
            old_header, old = parse_po(path.read_text(encoding="utf-8")) if path.exists() else ({}, [])
            path.parent.mkdir(parents=True, exist_ok=True)
            header = {**base_header(language), **{k: v for k, v in old_header.items() if k not in base_header(language)}}
            path.write_text(format_po(header, merge(template, old), po_comment(language)), encoding="utf-8")
    elif args.command == "compile":
        for language in LANGUAGES:
            mo_path(language).write_bytes(compiled(language))
    else:
        wanted = {(e.msgid, e.plural) for e in extract()}
        for language in LANGUAGES:
            _, entries = parse_po(po_path(language).read_text(encoding="utf-8"))
            if {(e.msgid, e.plural) for e in entries} != wanted:
                problems.append(f"{language}: the messages differ from the source: run extract, merge, compile")
            missing = [e.msgid for e in entries if not e.translated]
            if missing:
                problems.append(f"{language}: {len(missing)} untranslated, e.g. {missing[0]!r}")
            if not mo_path(language).exists() or mo_path(language).read_bytes() != compiled(language):
                problems.append(f"{mo_path(language)} is stale: run compile")
        for problem in problems:
            print(problem)
    return 1 if problems else 0
