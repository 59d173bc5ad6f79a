"""Text shown on screen, and its translation through gettext catalogs.

The flows never hold finished sentences: they hold :class:`Text` values (a message id
and its parameters), made with ``N_()`` / ``NP_()``, and the screen translates them when
it draws. So a language change takes effect on the next frame, and the journeys are
tested independently of the language. ``python -m kiosk.i18n`` extracts the message ids
from the source and updates and compiles the catalogs with Babel, a development tool (see
:mod:`kiosk.i18n.catalogs`); at run time only the standard ``gettext`` module reads them.
"""

from __future__ import annotations

import gettext
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Union

from kiosk.errors import KioskError

DOMAIN = "facekiosk"
LANGUAGES = ("en", "de")
LOCALE_DIR = Path(__file__).resolve().parent / "locale"


@dataclass(frozen=True)
class Text:
    """A message to translate: ``msgid`` with ``{name}`` placeholders filled from params."""

    msgid: str
    params: tuple[tuple[str, object], ...] = ()
    plural: str | None = None  # plural message id; ``n`` chooses the form
    n: int = 1

    def param(self, name: str) -> object:
        return dict(self.params)[name]


Message = Union[Text, str]  # a plain str is shown as is (an email address, a number)


def N_(msgid: str, **params: object) -> Text:
    """Marks ``msgid`` for extraction; translated when drawn."""
    return Text(msgid, tuple(sorted(params.items())))


def NP_(singular: str, plural: str, n: int, **params: object) -> Text:
    """A message with plural forms, chosen by ``n`` (also available as ``{n}``)."""
    return Text(singular, tuple(sorted({**params, "n": n}.items())), plural, int(n))


class CatalogError(KioskError):
    """A language's compiled catalog is missing or unreadable."""


class Catalog:
    def __init__(self, translations: gettext.NullTranslations, language: str) -> None:
        self.translations = translations
        self.language = language

    def __call__(self, message: Message) -> str:
        if isinstance(message, str):
            return message
        if message.plural is not None:
            template = self.translations.ngettext(message.msgid, message.plural, message.n)
        else:
            template = self.translations.gettext(message.msgid)
        if not message.params:
            return template
        values = {key: self(value) if isinstance(value, Text) else value for key, value in message.params}
        return template.format_map(values)


def load_catalog(language: str, locale_dir: Path = LOCALE_DIR) -> Catalog:
    path = locale_dir / language / "LC_MESSAGES" / f"{DOMAIN}.mo"
    try:
        with open(path, "rb") as handle:
            translations = gettext.GNUTranslations(handle)
    except FileNotFoundError:
        raise CatalogError(
            f"no compiled catalog for language {language!r} at {path} (run: python -m kiosk.i18n)"
        ) from None
    except (OSError, ValueError, struct.error) as err:  # a truncated or foreign file
        raise CatalogError(f"cannot read the catalog {path}: {err}") from None
    return Catalog(translations, language)
