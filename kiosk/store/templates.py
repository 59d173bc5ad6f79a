"""Face templates at rest: float32 vectors sealed with AES-GCM, and the key they need.

Blob layout: one format byte, then
* format 1 (encrypted): a random 12-byte nonce and the AES-256-GCM ciphertext + 16-byte tag
  of the little-endian float32 vector. The associated data binds the blob to its user id
  and model id, so a blob copied onto another user or relabelled as another model fails
  to open instead of matching.
* format 2 (encrypted, key named): the key number N of the fleet template key ``kN`` as 4
  big-endian bytes, then as format 1. A fleet rotates its template key (``facekiosk fleet
  rotate-template-key``): a kiosk holds several keys, seals with the current one and opens
  with whichever a blob names. Format 1 carries no number and names the original key ``k1``
  (what every database and cloud record held before rotation), and ``k1`` keeps sealing as
  format 1 so kiosks of the previous release still read it.
* format 0 (plain): the raw little-endian float32 vector; written only when
  ``store.encrypt_templates`` is off, and refused when it is on, so that someone who can
  write the database file but does not hold the key cannot plant a template.

The 32-byte key is the systemd credential ``template-key`` (``$CREDENTIALS_DIRECTORY``)
or the file named by ``store.key_file``. The file holds the key as 32 raw bytes, 64 hex
digits or base64; make one with ``head -c 32 /dev/urandom > template-key`` and
``chmod 600`` it. Losing the key means everyone must re-enroll their face (passwords
still work).
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kiosk.config.store import StoreSettings
from kiosk.errors import StoreError, ValidationError
from kiosk.secrets import check_secret_file

KEY_CREDENTIAL = "template-key"
KEY_BYTES = 32
NONCE_BYTES = 12
FORMAT_PLAIN = 0
FORMAT_AESGCM = 1
FORMAT_AESGCM_KEYED = 2
ORIGINAL_KEY_ID = "k1"
KEY_NUMBER_BYTES = 4
MAX_DIM = 4096
_DTYPE = np.dtype("<f4")
_AAD_PREFIX = b"facekiosk/template/v1\0"
_KEY_CHECK_PLAINTEXT = b"facekiosk template key check v1"


def key_source(settings: StoreSettings, resolve: Callable[[str], Path], environ: Mapping[str, str]) -> Path | None:
    """Where the template key should come from: the systemd credential wins, then key_file."""
    cred_dir = environ.get("CREDENTIALS_DIRECTORY")
    if cred_dir:
        candidate = Path(cred_dir) / KEY_CREDENTIAL
        if candidate.exists():
            return candidate
    if settings.key_file:
        return resolve(settings.key_file)
    return None


def key_number(key_id: str) -> int:
    """The number N of a key id ``kN`` (what a format 2 blob stores); StoreError otherwise."""
    digits = key_id[1:]
    if not (key_id.startswith("k") and digits.isascii() and digits.isdigit() and not digits.startswith("0")
            and 1 <= int(digits) < 2 ** (8 * KEY_NUMBER_BYTES)):
        raise StoreError(f"template key id {key_id!r} is not k1, k2, ...")
    return int(digits)


def blob_key_id(blob: bytes) -> str | None:
    """The id of the key a sealed blob was made with (None for a plain or unknown blob)."""
    if blob and blob[0] == FORMAT_AESGCM:
        return ORIGINAL_KEY_ID
    if blob and blob[0] == FORMAT_AESGCM_KEYED and len(blob) > 1 + KEY_NUMBER_BYTES:
        return f"k{int.from_bytes(blob[1 : 1 + KEY_NUMBER_BYTES], 'big')}"
    return None


def sealed_overhead(blob: bytes) -> int:
    """Bytes of a sealed blob that are not the float32 vector (format, key number, nonce, tag)."""
    return 1 + NONCE_BYTES + 16 + (KEY_NUMBER_BYTES if blob and blob[0] == FORMAT_AESGCM_KEYED else 0)


def parse_key_file(data: bytes, origin: str) -> tuple[str, bytes]:
    """A key file's (key id, key): ``kN:<base64>`` names its key (what `fleet join` writes
    for a key other than k1); a bare key (raw, hex or base64) is the original key k1."""
    if len(data) != KEY_BYTES and b":" in data:
        name, _, rest = data.strip().partition(b":")
        try:
            key_id = name.decode("ascii")
            key_number(key_id)
        except (UnicodeDecodeError, StoreError):
            raise StoreError(f"template key {origin}: {name[:20]!r} is not a key id like k2") from None
        return key_id, parse_key(rest, origin)
    return ORIGINAL_KEY_ID, parse_key(data, origin)


def parse_key(data: bytes, origin: str) -> bytes:
    if len(data) == KEY_BYTES:
        return data
    text = data.strip()
    try:
        if len(text) == 2 * KEY_BYTES:
            return binascii.unhexlify(text)
        decoded = base64.b64decode(text, validate=True)
        if len(decoded) == KEY_BYTES:
            return decoded
    except (binascii.Error, ValueError):
        pass
    raise StoreError(
        f"template key {origin} is not a {KEY_BYTES}-byte key (raw, hex or base64); "
        f"make one with: head -c {KEY_BYTES} /dev/urandom > {origin}"
    )


def load_template_key(settings: StoreSettings, resolve: Callable[[str], Path], environ: Mapping[str, str] | None = None) -> bytes | None:
    """The key, or None when there is none configured; a StoreError if it cannot be read."""
    found = load_named_template_key(settings, resolve, environ)
    return None if found is None else found[1]


def load_named_template_key(
    settings: StoreSettings, resolve: Callable[[str], Path], environ: Mapping[str, str] | None = None
) -> tuple[str, bytes] | None:
    """The configured key with its id (see parse_key_file), or None when none is configured."""
    environ = os.environ if environ is None else environ
    path = key_source(settings, resolve, environ)
    if path is None:
        return None
    check_secret_file(path, "template key", environ)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise StoreError(f"template key file not found: {path} (store.key_file)") from None
    except OSError as err:
        raise StoreError(f"cannot read template key {path}: {err.strerror}") from None
    return parse_key_file(data, str(path))


def missing_key_error() -> StoreError:
    return StoreError(
        "face templates are encrypted (store.encrypt_templates) but no key was found: provide the "
        f"systemd credential '{KEY_CREDENTIAL}' (LoadCredential=) or set store.key_file"
    )


def derive_key(key: bytes, purpose: bytes) -> bytes:
    """An independent sub-key of the template key (HKDF-SHA256), e.g. for audit hashes."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"facekiosk/" + purpose).derive(key)


def key_check_value(key: bytes) -> bytes:
    """Stored once per database so a wrong key is caught at start-up, not at first match."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, _KEY_CHECK_PLAINTEXT, b"key-check")


def key_matches(key: bytes, check: bytes) -> bool:
    try:
        return AESGCM(key).decrypt(check[:NONCE_BYTES], check[NONCE_BYTES:], b"key-check") == _KEY_CHECK_PLAINTEXT
    except InvalidTag:
        return False


def as_template(vector: object) -> np.ndarray:
    """A template as a 1-D finite float32 vector, or a ValidationError."""
    array = np.asarray(vector)
    if array.ndim != 1 or not 1 <= array.shape[0] <= MAX_DIM:
        raise ValidationError(f"a face template must be a vector of 1..{MAX_DIM} numbers, not shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number):
        raise ValidationError(f"a face template must hold numbers, not {array.dtype}")
    array = array.astype(_DTYPE)
    if not np.all(np.isfinite(array)):
        raise ValidationError("a face template holds NaN or infinite values")
    return array


def _aad(user_id: str, model_id: str) -> bytes:
    return _AAD_PREFIX + user_id.encode("utf-8") + b"\0" + model_id.encode("utf-8")


class TemplateCodec:
    """Seals and opens template blobs; ``key`` None means the store keeps them plain.

    It holds every template key this kiosk knows by id: the current one seals, any known one
    opens (the blob names its key). ``key`` is the configured key, named ``key_id``."""

    def __init__(self, key: bytes | None, encrypt: bool, key_id: str = ORIGINAL_KEY_ID) -> None:
        if encrypt and key is None:
            raise missing_key_error()
        if key is not None and len(key) != KEY_BYTES:
            raise StoreError(f"template key must be {KEY_BYTES} bytes")
        self.encrypt = encrypt
        self._keys: dict[str, bytes] = {}
        self._aeads: dict[str, AESGCM] = {}
        self._current: str | None = None
        self.refresh: Callable[[], None] | None = None  # picks up keys sync stored (store/rotation.py)
        if key is not None:
            self.add_key(key_id, key)
            self._current = key_id

    # -- the keys ------------------------------------------------------------------------------

    @property
    def current_key_id(self) -> str | None:
        """The key new templates are sealed with (after taking in what sync stored)."""
        if self.refresh is not None:
            self.refresh()
        return self._current

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(sorted(self._keys, key=key_number))

    def key(self, key_id: str) -> bytes | None:
        return self._keys.get(key_id)

    def add_key(self, key_id: str, key: bytes) -> None:
        """Know ``key`` as ``key_id`` (to open its blobs; ``use`` makes it seal)."""
        key_number(key_id)
        if len(key) != KEY_BYTES:
            raise StoreError(f"template key {key_id} must be {KEY_BYTES} bytes")
        if key_id in self._keys and self._keys[key_id] != key:
            raise StoreError(f"two different template keys are both named {key_id}")
        self._keys[key_id] = key
        self._aeads[key_id] = AESGCM(key)

    def use(self, key_id: str) -> None:
        """Seal new templates with ``key_id`` from now on."""
        if key_id not in self._keys:
            raise StoreError(f"template key {key_id} is not known here")
        self._current = key_id

    def forget(self, key_id: str) -> None:
        """Drop a retired key (never the current one)."""
        if key_id == self._current:
            raise StoreError(f"template key {key_id} is the current one")
        self._keys.pop(key_id, None)
        self._aeads.pop(key_id, None)

    @property
    def _aead(self) -> AESGCM | None:
        return self._aeads.get(self._current) if self._current is not None else None

    def is_current(self, blob: bytes) -> bool:
        """Whether ``blob`` is sealed with the current key (or is plain)."""
        found = blob_key_id(blob)
        return found is None or found == self._current

    # -- sealing and opening ----------------------------------------------------------------------

    def encode(self, user_id: str, model_id: str, vector: object) -> bytes:
        return self.seal_raw(user_id, model_id, as_template(vector).tobytes())

    def seal_raw(self, user_id: str, model_id: str, raw: bytes) -> bytes:
        """The blob of little-endian float32 bytes, under the current key."""
        if not self.encrypt:
            return bytes([FORMAT_PLAIN]) + raw
        if self.refresh is not None:
            self.refresh()
        assert self._current is not None
        aead = self._aeads[self._current]
        nonce = os.urandom(NONCE_BYTES)
        sealed = nonce + aead.encrypt(nonce, raw, _aad(user_id, model_id))
        if self._current == ORIGINAL_KEY_ID:
            return bytes([FORMAT_AESGCM]) + sealed
        return bytes([FORMAT_AESGCM_KEYED]) + key_number(self._current).to_bytes(KEY_NUMBER_BYTES, "big") + sealed

    def reseal(self, user_id: str, model_id: str, blob: bytes) -> bytes:
        """``blob`` sealed again under the current key (itself if it already is)."""
        if self.is_current(blob):
            return blob
        return self.seal_raw(user_id, model_id, self.decode_raw(user_id, model_id, blob))

    def _opener(self, user_id: str, blob: bytes) -> tuple[AESGCM, int]:
        """The AEAD of the key a sealed blob names, and where its nonce starts."""
        key_id = blob_key_id(blob)
        assert key_id is not None
        aead = self._aeads.get(key_id)
        if aead is None and self.refresh is not None:
            self.refresh()
            aead = self._aeads.get(key_id)
        if aead is None:
            if not self._aeads:
                raise missing_key_error()
            raise StoreError(
                f"a face template of user {user_id} is sealed with template key {key_id}, which this kiosk "
                f"does not hold (it holds {', '.join(self.key_ids)}): let sync fetch the fleet's keys"
            )
        return aead, (1 if blob[0] == FORMAT_AESGCM else 1 + KEY_NUMBER_BYTES)

    def decode_raw(self, user_id: str, model_id: str, blob: bytes) -> bytes:
        """The little-endian float32 bytes of one template."""
        kind = blob[0] if blob else -1
        if kind in (FORMAT_AESGCM, FORMAT_AESGCM_KEYED) and blob_key_id(blob) is not None:
            aead, start = self._opener(user_id, blob)
            try:
                return aead.decrypt(blob[start : start + NONCE_BYTES], blob[start + NONCE_BYTES :], _aad(user_id, model_id))
            except InvalidTag:
                raise StoreError(
                    f"a face template of user {user_id} does not open with the template key "
                    "(wrong key, or the database was tampered with)"
                ) from None
        if kind == FORMAT_PLAIN:
            if self.encrypt:
                raise StoreError(
                    f"a face template of user {user_id} is stored unencrypted while store.encrypt_templates "
                    "is on: refusing it (the user must re-enroll)"
                )
            return bytes(blob[1:])
        raise StoreError(f"a face template of user {user_id} has an unknown format")

    def decode(self, user_id: str, model_id: str, blob: bytes) -> np.ndarray:
        return np.frombuffer(self.decode_raw(user_id, model_id, blob), dtype=_DTYPE)

    def decode_into(self, rows: Iterable[tuple[bytes, bytes]], model_id: str, count: int, dim: int) -> tuple[np.ndarray, list[bytes]]:
        """Open ``count`` (user id as UTF-8 bytes, blob) rows of one model straight into a
        (count, dim) matrix; returns it and the rows' user ids. The loading hot path:
        300,000 templates go through here at start-up, so it avoids per-row objects."""
        row_bytes = dim * _DTYPE.itemsize
        buffer = bytearray(count * row_bytes)
        owners: list[bytes] = []
        aad_tail = b"\0" + model_id.encode("utf-8")
        plain_len, sealed_len = 1 + row_bytes, 1 + NONCE_BYTES + row_bytes + 16
        keyed_len = sealed_len + KEY_NUMBER_BYTES
        if self.refresh is not None and self.encrypt:
            self.refresh()
        original = self._aeads.get(ORIGINAL_KEY_ID)
        decrypt = original.decrypt if original is not None else None
        by_number = {key_number(k).to_bytes(KEY_NUMBER_BYTES, "big"): a.decrypt for k, a in self._aeads.items()}
        offset = 0
        for user, blob in rows:
            if offset >= len(buffer):
                raise StoreError("face templates changed while they were being loaded")
            if blob[0] == FORMAT_AESGCM and len(blob) == sealed_len and decrypt is not None:
                try:
                    buffer[offset : offset + row_bytes] = decrypt(blob[1:13], blob[13:], _AAD_PREFIX + user + aad_tail)
                except InvalidTag:
                    self.decode_raw(user.decode("utf-8"), model_id, blob)  # raises the clear error
            elif blob[0] == FORMAT_AESGCM_KEYED and len(blob) == keyed_len and blob[1:5] in by_number:
                try:
                    buffer[offset : offset + row_bytes] = by_number[blob[1:5]](blob[5:17], blob[17:], _AAD_PREFIX + user + aad_tail)
                except InvalidTag:
                    self.decode_raw(user.decode("utf-8"), model_id, blob)  # raises the clear error
            elif blob[0] == FORMAT_PLAIN and len(blob) == plain_len and not self.encrypt:
                buffer[offset : offset + row_bytes] = blob[1:]
            else:
                self.decode_raw(user.decode("utf-8"), model_id, blob)  # raises the clear error
                raise StoreError(f"a face template of user {user.decode('utf-8')} has the wrong length for {model_id}")
            owners.append(user)
            offset += row_bytes
        if offset != len(buffer):
            raise StoreError("face templates changed while they were being loaded")
        return np.frombuffer(buffer, dtype=_DTYPE).reshape(count, dim), owners

    def decode_many(self, rows: Iterable[tuple[str, str, bytes]], dim: int) -> np.ndarray:
        """Stack (user_id, model_id, blob) rows of one dimension into an (n, dim) matrix."""
        raw = b"".join(self.decode_raw(user_id, model_id, blob) for user_id, model_id, blob in rows)
        matrix = np.frombuffer(raw, dtype=_DTYPE)
        if matrix.size % dim:
            raise StoreError("face templates of one model have different lengths")
        return matrix.reshape(-1, dim)
