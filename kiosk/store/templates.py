"""Face templates at rest: float32 vectors sealed with AES-GCM, and the key they need.

Blob layout: one format byte, then
* format 1 (encrypted): a random 12-byte nonce and the AES-256-GCM ciphertext + 16-byte tag
  of the little-endian float32 vector. The associated data binds the blob to its user id
  and model id, so a blob copied onto another user or relabelled as another model fails
  to open instead of matching.
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
    return parse_key(data, str(path))


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
    """Seals and opens template blobs; ``key`` None means the store keeps them plain."""

    def __init__(self, key: bytes | None, encrypt: bool) -> None:
        if encrypt and key is None:
            raise missing_key_error()
        if key is not None and len(key) != KEY_BYTES:
            raise StoreError(f"template key must be {KEY_BYTES} bytes")
        self.encrypt = encrypt
        self._aead = AESGCM(key) if key is not None else None

    def encode(self, user_id: str, model_id: str, vector: object) -> bytes:
        raw = as_template(vector).tobytes()
        if not self.encrypt:
            return bytes([FORMAT_PLAIN]) + raw
        assert self._aead is not None
        nonce = os.urandom(NONCE_BYTES)
        return bytes([FORMAT_AESGCM]) + nonce + self._aead.encrypt(nonce, raw, _aad(user_id, model_id))

    def decode_raw(self, user_id: str, model_id: str, blob: bytes) -> bytes:
        """The little-endian float32 bytes of one template."""
        kind = blob[0] if blob else -1
        if kind == FORMAT_AESGCM:
            if self._aead is None:
                raise missing_key_error()
            try:
                return self._aead.decrypt(blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :], _aad(user_id, model_id))
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
        decrypt = self._aead.decrypt if self._aead is not None else None
        offset = 0
        for user, blob in rows:
            if offset >= len(buffer):
                raise StoreError("face templates changed while they were being loaded")
            if blob[0] == FORMAT_AESGCM and len(blob) == sealed_len and decrypt is not None:
                try:
                    buffer[offset : offset + row_bytes] = decrypt(blob[1:13], blob[13:], _AAD_PREFIX + user + aad_tail)
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
