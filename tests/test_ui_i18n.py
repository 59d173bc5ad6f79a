"""Message catalogs: complete in English and German, compiled files current, placeholders
kept, every character drawable with the UI font; and the UI config section."""

from __future__ import annotations

import gettext
import shutil
import subprocess

import pygame
import pytest

from kiosk.config.ui import UiSettings
from kiosk.i18n import LANGUAGES, N_, NP_, Catalog, CatalogError, load_catalog
from kiosk.i18n.catalogs import PLACEHOLDER, compile_po, compiled, extract, format_po, main, mo_path, parse_po, po_path


def entries(language):
    return parse_po(po_path(language).read_text(encoding="utf-8"))[1]


def test_catalogs_are_complete_current_and_compiled(capsys):
    assert main(["check"]) == 0, capsys.readouterr().out
    wanted = {(e.msgid, e.plural) for e in extract()}
    assert len(wanted) > 100
    for language in LANGUAGES:
        assert {(e.msgid, e.plural) for e in entries(language)} == wanted
        assert all(e.translated for e in entries(language)), language
        assert mo_path(language).read_bytes() == compiled(language), f"{language}: run python -m kiosk.i18n compile"


def test_translations_keep_the_placeholders():
    for language in LANGUAGES:
        for entry in entries(language):
            for form, text in enumerate(entry.msgstr):
                source = entry.plural if form and entry.plural else entry.msgid
                assert set(PLACEHOLDER.findall(text)) <= set(PLACEHOLDER.findall(source)) | {"n"}, (language, entry.msgid)
                assert set(PLACEHOLDER.findall(source)) - {"n"} <= set(PLACEHOLDER.findall(text)), (language, entry.msgid)


def test_german_is_really_translated():
    german = entries("de")
    same = [e.msgid for e in german if e.msgstr[0] == e.msgid]
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
    with pytest.raises(CatalogError, match="python -m kiosk.i18n compile"):
        load_catalog("de", locale_dir=tmp_path)


def test_po_round_trip_and_mo_readable_by_gettext(tmp_path):
    header, items = parse_po(po_path("de").read_text(encoding="utf-8"))
    assert parse_po(format_po(header, items, "x"))[1] == items
    path = tmp_path / "x.mo"
    path.write_bytes(compile_po(header, items))
    with open(path, "rb") as handle:
        translations = gettext.GNUTranslations(handle)
    assert translations.gettext("Start over") == "Neu beginnen"
    assert translations.ngettext("{n} try left.", "{n} tries left.", 2) == "Noch {n} Versuche."


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="GNU gettext's msgfmt is not installed")
def test_gnu_msgfmt_accepts_the_catalogs_and_agrees(tmp_path):
    for language in LANGUAGES:
        out = tmp_path / f"{language}.mo"
        result = subprocess.run(["msgfmt", "--check", "-o", str(out), str(po_path(language))], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        with open(out, "rb") as gnu, open(mo_path(language), "rb") as ours:
            assert gettext.GNUTranslations(gnu)._catalog == gettext.GNUTranslations(ours)._catalog


def test_every_character_has_a_glyph_in_the_ui_font():
    pygame.font.init()
    font = pygame.font.Font(None, 24)
    missing_glyph = font.metrics("\ue000")[0]  # a private-use code point: the font's "no glyph" box
    for language in LANGUAGES:
        chars = {c for e in entries(language) for text in e.msgstr for c in text} | set("•…")
        lacking = sorted(c for c in chars if not c.isspace() and font.metrics(c)[0] == missing_glyph)
        assert not lacking, (language, lacking)


def test_catalog_without_translation_falls_back_to_the_message():
    catalog = Catalog(gettext.NullTranslations(), "en")
    assert catalog(N_("Move closer")) == "Move closer"


def test_ui_settings_validation():
    assert UiSettings().language == "en" and UiSettings().fullscreen
    assert UiSettings(width=800, height=480).width == 800
    for bad in ({"admin_pin": "12a4"}, {"admin_pin": "123"}, {"width": 800}, {"width": 200, "height": 100}, {"language": "fr"}, {"idle_timeout_s": 0.0}):
        with pytest.raises(Exception):
            UiSettings(**bad)
    assert UiSettings(admin_pin="").admin_pin == ""
