"""Sealed template blobs name their template key (issue 13 item 6): format 1 blobs (every
database and cloud record before rotation) read as the original key k1, format 2 blobs carry
the key number, and a codec holding several keys seals with the current one and opens with
any it holds."""

from __future__ import annotations

import base64
import os

import numpy as np
import pytest

from kiosk.errors import StoreError
from kiosk.store.templates import (
    FORMAT_AESGCM, FORMAT_AESGCM_KEYED, TemplateCodec, blob_key_id, parse_key_file, sealed_overhead,
)
from kiosk.sync import layout

USER, MODEL = "0b7a1f5e-2a6c-4a4e-9a57-1f0e7c0f1a01", "m@1"


def vector(seed: int, dim: int = 8) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(dim).astype("<f4")


def test_k1_keeps_format_1_and_other_keys_name_themselves() -> None:
    k1, k2 = os.urandom(32), os.urandom(32)
    old = TemplateCodec(k1, True)  # a database as it was before rotation
    blob1 = old.encode(USER, MODEL, vector(1))
    assert blob1[0] == FORMAT_AESGCM and blob_key_id(blob1) == "k1"
    codec = TemplateCodec(k1, True)
    codec.add_key("k2", k2)
    codec.use("k2")
    blob2 = codec.encode(USER, MODEL, vector(2))
    assert blob2[0] == FORMAT_AESGCM_KEYED and blob_key_id(blob2) == "k2" and blob2[1:5] == (2).to_bytes(4, "big")
    assert len(blob2) == len(blob1) + 4 == sealed_overhead(blob2) + 4 * 8
    # Any known key opens; the old blob still reads as k1.
    assert np.array_equal(codec.decode(USER, MODEL, blob1), vector(1))
    assert np.array_equal(codec.decode(USER, MODEL, blob2), vector(2))
    matrix, owners = codec.decode_into([(USER.encode(), blob1), (USER.encode(), blob2)], MODEL, 2, 8)
    assert np.array_equal(matrix, np.stack([vector(1), vector(2)])) and owners == [USER.encode()] * 2
    # A kiosk that only holds k1 names the key it is missing.
    with pytest.raises(StoreError, match="template key k2"):
        old.decode(USER, MODEL, blob2)
    with pytest.raises(StoreError, match="template key k2"):
        old.decode_into([(USER.encode(), blob2)], MODEL, 1, 8)
    # Re-sealing moves a blob to the current key; after forgetting k1 only k2 blobs open.
    again = codec.reseal(USER, MODEL, blob1)
    assert blob_key_id(again) == "k2" and codec.reseal(USER, MODEL, again) is again
    codec.forget("k1")
    assert np.array_equal(codec.decode(USER, MODEL, again), vector(1))
    with pytest.raises(StoreError, match="template key k1"):
        codec.decode(USER, MODEL, blob1)
    with pytest.raises(StoreError):
        codec.forget("k2")  # the current key


def test_a_renamed_key_number_does_not_open() -> None:
    k1, k2, k3 = (os.urandom(32) for _ in range(3))
    codec = TemplateCodec(k1, True)
    for key_id, key in (("k2", k2), ("k3", k3)):
        codec.add_key(key_id, key)
    codec.use("k2")
    blob = bytearray(codec.encode(USER, MODEL, vector(3)))
    blob[1:5] = (3).to_bytes(4, "big")
    with pytest.raises(StoreError, match="does not open"):
        codec.decode(USER, MODEL, bytes(blob))
    with pytest.raises(StoreError, match="two different template keys"):
        codec.add_key("k2", k3)


def test_key_files_name_their_key() -> None:
    key = os.urandom(32)
    assert parse_key_file(key, "f") == ("k1", key)
    assert parse_key_file(base64.b64encode(key) + b"\n", "f") == ("k1", key)
    assert parse_key_file(b"k7:" + base64.b64encode(key) + b"\n", "f") == ("k7", key)
    with pytest.raises(StoreError, match="key id"):
        parse_key_file(b"x7:" + base64.b64encode(key), "f")


def test_cloud_layout_takes_both_formats() -> None:
    codec = TemplateCodec(os.urandom(32), True)
    codec.add_key("k2", os.urandom(32))
    one = codec.encode(USER, MODEL, vector(4, 128))
    codec.use("k2")
    two = codec.encode(USER, MODEL, vector(5, 128))
    for blob in (one, two):
        assert layout.template_dim(blob) == 128
