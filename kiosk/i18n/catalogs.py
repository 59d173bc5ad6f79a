"""Catalog tooling on Babel: extract the messages, update each language's .po, compile the .mo.

Babel is a development tool here (setup.py's "dev" extra): the kiosk reads the compiled
``.mo`` files with the standard ``gettext`` module (:func:`kiosk.i18n.load_catalog`) and
never imports this module. Usage::

    python -m kiosk.i18n          # after changing a message: extract, update, compile
    python -m kiosk.i18n check    # exit 1 if a catalog is stale or untranslated

``babel.cfg`` at the repository root names the files scanned. The keywords are the kiosk's
own markers, ``N_(msgid, **params)`` and ``NP_(singular, plural, n, **params)``; a comment
starting with ``TRANSLATORS:`` on the line above a message reaches the translators. The
same extraction with the CLI, from the repository root::

    pybabel extract -F babel.cfg --no-default-keywords -k N_ -k NP_:1,2 -c TRANSLATORS: .

English is the source language, so its catalog is filled from the message ids. In the
other languages a new message arrives untranslated (or "fuzzy", guessed from a similar
old one), and the check fails until someone translates it in the ``.po`` file.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import io
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import IO

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from kiosk.i18n import DOMAIN, LANGUAGES, LOCALE_DIR

REPO = Path(__file__).resolve().parents[2]
POT_PATH = Path(__file__).resolve().parent / f"{DOMAIN}.pot"
KEYWORDS = {"N_": None, "NP_": (1, 2)}
COMMENT_TAGS = ("TRANSLATORS:",)
SOURCE_LANGUAGE = "en"
LANGUAGE_NAMES = {"en": "English", "de": "German"}
COMMAND = "python -m kiosk.i18n"
# Only these header lines change on a run with no message change: such a run writes nothing.
_DATES = re.compile(rb'^"(POT-Creation-Date|PO-Revision-Date): .*\n', re.MULTILINE)
# Babel leaves this one unannotated: its documented types, for the type checker.
_parse_mapping: Callable[[IO[str], str], tuple[list[tuple[str, str]], dict[str, dict[str, str]]]] = parse_mapping_cfg


def po_path(language: str, locale_dir: Path = LOCALE_DIR) -> Path:
    return locale_dir / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(language: str, locale_dir: Path = LOCALE_DIR) -> Path:
    return locale_dir / language / "LC_MESSAGES" / f"{DOMAIN}.mo"


def extract(root: Path = REPO) -> Catalog:
    """The template: every message babel.cfg's files mark, ordered by where it is first used."""
    return _extract(root)[0]


def _extract(root: Path) -> tuple[Catalog, list[str]]:
    mapping = root / "babel.cfg"
    with open(mapping, encoding="utf-8") as handle:
        method_map, options_map = _parse_mapping(handle, str(mapping))
    files: list[str] = []
    # Babel warns about every f-string in a call, a parameter's value included; _lint() is
    # the check that matters: a message id that is not a literal string.
    with contextlib.redirect_stderr(io.StringIO()):
        found = sorted(
            extract_from_dir(root, method_map, options_map, KEYWORDS, COMMENT_TAGS,
                             callback=lambda name, method, options: files.append(name), strip_comment_tags=True),
            key=lambda item: (item[0], item[1]),
        )
    template = Catalog(
        domain=DOMAIN,
        project="facekiosk",
        version=metadata.version("facekiosk"),
        header_comment=f"# FaceKiosk messages shown on screen (generated: {COMMAND}).",
        msgid_bugs_address="",
    )
    for filename, lineno, message, comments, context in found:
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template, files


def _lint(root: Path, files: list[str]) -> list[str]:
    """Calls Babel cannot extract (it skips them): a message id that is not a literal string."""
    found = []
    for name in files:
        for node in ast.walk(ast.parse((root / name).read_text(encoding="utf-8"), name)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in KEYWORDS:
                count = max(KEYWORDS[node.func.id] or (1,))
                args = node.args[:count]
                if len(args) < count or not all(isinstance(a, ast.Constant) and isinstance(a.value, str) and a.value for a in args):
                    found.append(f"{name}:{node.lineno}: {node.func.id}() needs non-empty literal strings to be extracted")
    return found


def read(path: Path, language: str | None = None) -> Catalog:
    with open(path, "rb") as handle:
        return read_po(handle, locale=language, domain=DOMAIN)


def compiled(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_mo(out, catalog)  # fuzzy entries left out, as msgfmt does
    return out.getvalue()


def update(root: Path = REPO, locale_dir: Path = LOCALE_DIR, pot_path: Path = POT_PATH) -> list[Path]:
    """Extract, update every language's .po from the template, compile; the files written."""
    template = extract(root)
    written = [path for path in [pot_path] if _save(path, template)]
    for language in LANGUAGES:
        path = po_path(language, locale_dir)
        catalog = read(path, language) if path.exists() else Catalog(locale=language, domain=DOMAIN)
        # Keeps the translations; a new message may get a fuzzy guess from a similar old one.
        # A copy: update() adopts the template's new Message objects, filled below for English.
        catalog.update(copy.deepcopy(template))
        catalog.project, catalog.version = template.project, template.version
        catalog.header_comment = f"# FaceKiosk messages in {LANGUAGE_NAMES[language]}.\n# Translate the msgstr lines, then run: {COMMAND}"
        catalog.language_team = f"FaceKiosk {LANGUAGE_NAMES[language]}"
        catalog.last_translator = "FaceKiosk developers"
        if language == SOURCE_LANGUAGE:
            for message in catalog:
                if message.id:
                    message.string = message.id
                    message.flags.discard("fuzzy")
        if _save(path, catalog):
            written.append(path)
        mo = mo_path(language, locale_dir)
        if not mo.exists() or mo.read_bytes() != compiled(read(path, language)):
            mo.write_bytes(compiled(read(path, language)))
            written.append(mo)
    return written


def _save(path: Path, catalog: Catalog) -> bool:
    """Writes the catalog unless the file differs from it only in its dates."""
    old = path.read_bytes() if path.exists() else b""
    new = _po_bytes(catalog)
    if _DATES.sub(b"", new) == _DATES.sub(b"", old):
        return False
    if catalog.locale is not None:  # a translation: this run is its revision
        catalog.revision_date = datetime.now(timezone.utc)
        new = _po_bytes(catalog)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(new)
    return True


def _po_bytes(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_po(out, catalog, width=0, ignore_obsolete=True)  # one line per string; removed messages go
    return out.getvalue()


def _ids(catalog: Catalog) -> set[tuple[str, str | None, str | None]]:
    """(singular, plural or None, context or None) of every message, the header left out."""
    ids = set()
    for message in catalog:
        if message.id:
            singular, plural = (message.id, None) if isinstance(message.id, str) else (message.id[0], message.id[1])
            ids.add((singular, plural, message.context))
    return ids


def translated(message: Message, catalog: Catalog) -> bool:
    forms = message.string if isinstance(message.string, (list, tuple)) else [message.string]
    plural = not isinstance(message.id, str)
    return not message.fuzzy and all(forms) and len(forms) == (catalog.num_plurals if plural else 1)


def problems(root: Path = REPO, locale_dir: Path = LOCALE_DIR, pot_path: Path = POT_PATH) -> list[str]:
    """What is stale or untranslated; empty when the committed catalogs match the source.

    The line numbers in the references are not compared: moving a message does not make a
    catalog stale.
    """
    template, files = _extract(root)
    wanted = _ids(template)
    found = _lint(root, files)
    if _ids(read(pot_path)) != wanted:
        found.append(f"{pot_path.name}: the messages differ from the source: run {COMMAND}")
    for language in LANGUAGES:
        catalog = read(po_path(language, locale_dir), language)
        ids = _ids(catalog)
        if ids != wanted:
            missing, gone = sorted(repr(key[0]) for key in wanted - ids), sorted(repr(key[0]) for key in ids - wanted)
            found.append(f"{language}: the messages differ from the source (new: {', '.join(missing[:3]) or '-'}; gone: {', '.join(gone[:3]) or '-'}): run {COMMAND}")
        untranslated = [message.id for message in catalog if message.id and not translated(message, catalog)]
        if untranslated:
            found.append(f"{language}: {len(untranslated)} untranslated or fuzzy, e.g. {untranslated[0]!r}: translate them in {po_path(language, locale_dir)}")
        mo = mo_path(language, locale_dir)
        if not mo.exists() or mo.read_bytes() != compiled(catalog):
            found.append(f"{mo} is not compiled from its .po: run {COMMAND}")
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description="FaceKiosk message catalogs (Babel)")
    parser.add_argument("command", nargs="?", choices=("update", "check"), default="update",
                        help="update (default): extract, update the .po files, compile the .mo files; check: report what is stale")
    args = parser.parse_args(argv)
    if args.command == "update":
        for path in update():
            print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    found = problems()
    for problem in found:
        print(problem)
    return 1 if found else 0
