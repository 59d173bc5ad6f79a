"""Message catalogs: complete in English and German, compiled files current, placeholders
kept, every character drawable with the UI font; and the UI config section. The catalogs are
made with Babel (a dev tool: python -m kiosk.i18n); the runtime reads them with gettext."""

from __future__ import annotations

import gettext
import re
import shutil
import subprocess
import sys

import pygame
import pytest

from kiosk.config.ui import UiSettings
from kiosk.i18n import LANGUAGES, LOCALE_DIR, N_, NP_, Catalog, CatalogError, load_catalog
from kiosk.i18n.catalogs import POT_PATH, REPO, mo_path, po_path, problems, read, translated, update

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def entries(language):
    return [message for message in read(po_path(language), language) if message.id]


def forms(message):
    """(msgid, msgstr) pairs, one per plural form: the singular id goes with form 0."""
    if isinstance(message.id, str):
        return [(message.id, message.string)]
    return [(message.id[min(index, 1)], text) for index, text in enumerate(message.string)]


def test_catalogs_are_complete_current_and_compiled():
    found = problems()
    assert not found, "\n".join(found)
    assert len([m for m in read(POT_PATH) if m.id]) > 100


@pytest.fixture
def project(tmp_path):
    """A small copy to break: babel.cfg, a screen with two of the kiosk's messages, the
    committed catalogs (whose other messages the tool drops as gone from the source)."""
    shutil.copy(REPO / "babel.cfg", tmp_path)
    screen = tmp_path / "kiosk" / "ui" / "screen.py"
    screen.parent.mkdir(parents=True)
    screen.write_text(SCREEN, encoding="utf-8")
    shutil.copytree(LOCALE_DIR, tmp_path / "locale")
    shutil.copy(POT_PATH, tmp_path)
    return tmp_path, tmp_path / "locale", tmp_path / POT_PATH.name


SCREEN = '''from kiosk.i18n import N_, NP_
START = N_("Start over")
TRIES = NP_("{n} try left.", "{n} tries left.", 2)
'''


def test_the_check_fails_on_a_new_message_an_untranslated_one_and_a_stale_mo(project):
    root, locale_dir, pot = project
    update(root, locale_dir, pot)
    assert problems(root, locale_dir, pot) == []
    assert load_catalog("de", locale_dir)(NP_("{n} try left.", "{n} tries left.", 2)) == "Noch 2 Versuche."

    new = root / "kiosk" / "ui" / "new_screen.py"
    new.write_text('from kiosk.i18n import N_\nTITLE = N_("A message nobody translated yet")\n', encoding="utf-8")
    found = problems(root, locale_dir, pot)
    assert found[0] == "facekiosk.pot: the messages differ from the source: run python -m kiosk.i18n", found
    assert found[1].startswith("en: the messages differ") and found[2].startswith("de: the messages differ"), found
    assert "A message nobody translated yet" in found[2] and len(found) == 3, found

    # The tool brings the message in: English from its id, German untranslated until someone writes it.
    update(root, locale_dir, pot)
    found = problems(root, locale_dir, pot)
    assert found == [f"de: 1 untranslated or fuzzy, e.g. 'A message nobody translated yet': translate them in {po_path('de', locale_dir)}"]
    german = po_path("de", locale_dir)
    untranslated = 'msgid "A message nobody translated yet"\nmsgstr ""\n'
    assert untranslated in german.read_text(encoding="utf-8")
    german.write_text(german.read_text(encoding="utf-8").replace(untranslated, untranslated.replace('""', '"Eine Nachricht"')), encoding="utf-8")
    assert problems(root, locale_dir, pot) == [f"{mo_path('de', locale_dir)} is not compiled from its .po: run python -m kiosk.i18n"]

    update(root, locale_dir, pot)
    assert problems(root, locale_dir, pot) == []
    assert load_catalog("de", locale_dir)(N_("A message nobody translated yet")) == "Eine Nachricht"
    assert load_catalog("de", locale_dir)(N_("Start over")) == "Neu beginnen", "the other translations are kept"
    assert load_catalog("en", locale_dir)(N_("A message nobody translated yet")) == "A message nobody translated yet"


def test_the_tool_changes_nothing_when_nothing_changed(project):
    root, locale_dir, pot = project
    update(root, locale_dir, pot)
    files = sorted(locale_dir.rglob("*.*")) + [pot]
    before = {path: path.read_bytes() for path in files}
    assert update(root, locale_dir, pot) == []
    assert {path: path.read_bytes() for path in files} == before


def test_a_message_babel_cannot_extract_is_a_problem(project):
    root, locale_dir, pot = project
    update(root, locale_dir, pot)
    (root / "kiosk" / "ui" / "new_screen.py").write_text("from kiosk.i18n import N_\nWORD = 'x'\nTITLE = N_(WORD)\n", encoding="utf-8")
    assert problems(root, locale_dir, pot) == ["kiosk/ui/new_screen.py:3: N_() needs non-empty literal strings to be extracted"]


def test_the_runtime_does_not_import_babel():
    code = "import sys, kiosk.i18n, kiosk.ui.text; kiosk.i18n.load_catalog('de'); print('babel' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "False"  # after pygame's banner


def test_translations_keep_the_placeholders():
    for language in LANGUAGES:
        for message in entries(language):
            for source, text in forms(message):
                assert set(PLACEHOLDER.findall(text)) <= set(PLACEHOLDER.findall(source)) | {"n"}, (language, message.id)
                assert set(PLACEHOLDER.findall(source)) - {"n"} <= set(PLACEHOLDER.findall(text)), (language, message.id)


def test_german_is_really_translated():
    catalog = read(po_path("de"), "de")
    assert all(translated(message, catalog) for message in catalog if message.id)
    same = [message.id for message in catalog if message.id and forms(message)[0][1] == forms(message)[0][0]]
    # Names, codes and pure placeholders read the same in both languages.
    assert set(same) <= {"Admin", "PIN", "OK", "name@example.org", "{problem} {tries}", "• {item}"}, same


def test_plurals_and_nested_messages():
    german = load_catalog("de")
    assert german(NP_("{n} try left.", "{n} tries left.", 1)) == "Noch 1 Versuch."
    assert german(NP_("{n} try left.", "{n} tries left.", 3)) == "Noch 3 Versuche."
    nested = N_("{problem} {tries}", problem=N_("We could not verify you."), tries=NP_("{n} try left.", "{n} tries left.", 2))
    assert german(nested) == "Wir konnten Sie nicht bestätigen. Noch 2 Versuche."
    assert load_catalog("en")(nested) == "We could not verify you. 2 tries left."
    assert german("ann@example.org") == "ann@example.org", "plain strings are data, never translated"


def test_missing_catalog_is_a_clear_error(tmp_path):
    with pytest.raises(CatalogError, match="python -m kiosk.i18n"):
        load_catalog("de", locale_dir=tmp_path)


def test_compiled_catalog_read_by_gettext():
    with open(mo_path("de"), "rb") as handle:
        translations = gettext.GNUTranslations(handle)
    assert translations.gettext("Start over") == "Neu beginnen"
    assert translations.ngettext("{n} try left.", "{n} tries left.", 2) == "Noch {n} Versuche."
    assert mo_path("de").parent.parent.parent == LOCALE_DIR


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="GNU gettext's msgfmt is not installed")
def test_gnu_msgfmt_accepts_the_catalogs_and_agrees(tmp_path):
    for language in LANGUAGES:
        out = tmp_path / f"{language}.mo"
        result = subprocess.run(["msgfmt", "--check", "-o", str(out), str(po_path(language))], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        with open(out, "rb") as gnu, open(mo_path(language), "rb") as ours:
            theirs, mine = gettext.GNUTranslations(gnu), gettext.GNUTranslations(ours)
        # Only the header ("") differs: msgfmt leaves POT-Creation-Date out.
        assert {k: v for k, v in theirs._catalog.items() if k} == {k: v for k, v in mine._catalog.items() if k}
        assert [theirs.plural(n) for n in range(3)] == [mine.plural(n) for n in range(3)]


def test_every_character_has_a_glyph_in_the_ui_font():
    pygame.font.init()
    font = pygame.font.Font(None, 24)
    missing_glyph = font.metrics("\ue000")[0]  # a private-use code point: the font's "no glyph" box
    for language in LANGUAGES:
        chars = {c for message in entries(language) for _, text in forms(message) for c in text} | set("•…")
        lacking = sorted(c for c in chars if not c.isspace() and font.metrics(c)[0] == missing_glyph)
        assert not lacking, (language, lacking)


def test_catalog_without_translation_falls_back_to_the_message():
    catalog = Catalog(gettext.NullTranslations(), "en")
    assert catalog(N_("Move closer")) == "Move closer"


def test_ui_settings_validation():
    assert UiSettings().language == "en" and UiSettings().fullscreen
    assert UiSettings(width=800, height=480).width == 800
    for bad in ({"admin_pin": "123456"}, {"admin_pin_hash": "123456"}, {"width": 800}, {"width": 200, "height": 100}, {"language": "fr"}, {"idle_timeout_s": 0.0}):
        with pytest.raises(Exception):
            UiSettings(**bad)
    assert UiSettings(admin_pin_hash="").admin_pin_hash == ""
