"""The payload codec: sealed round trip, key rotation, tamper detection, plaintext policy, key files."""

from __future__ import annotations

import json
import stat

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure

from mlwright.client import data_converter
from mlwright.codec import (
    KEY_ID,
    EncryptionCodec,
    Keyring,
    PayloadDecryptionError,
    PayloadKeyError,
    keyring,
    new_key,
    parse_keys,
)
from mlwright.settings import Settings


@pytest.fixture(autouse=True)
def _no_session_key(monkeypatch):
    # pydantic-settings merges dict settings across sources: the session key would join every key set here.
    monkeypatch.delenv("MLWRIGHT_PAYLOAD_KEYS", raising=False)


SECRET = {"patient_id": "P-000123", "name": "Ada Example", "creatinine": 1.234}


def ring(**keys: str) -> Keyring:
    return Keyring(active=next(iter(keys)), keys=parse_keys(keys, "test"))


async def test_round_trip_is_sealed_and_compressed(tmp_path):
    settings = Settings(home=tmp_path, payload_keys={"k1": new_key()})
    conv = data_converter(settings)
    big = {"rows": [SECRET] * 200}
    [sealed] = await conv.encode([big])
    assert sealed.metadata["encoding"] == b"binary/encrypted" and sealed.metadata[KEY_ID] == b"k1"
    assert b"P-000123" not in sealed.SerializeToString()
    assert len(sealed.data) < len(json.dumps(big)) / 5  # compressed before encryption
    assert await conv.decode([sealed], [dict]) == [big]


async def test_failure_messages_are_encoded(tmp_path):
    conv = data_converter(Settings(home=tmp_path, payload_keys={"k1": new_key()}))
    failure = Failure()
    await conv.encode_failure(ValueError("patient P-000123 bad"), failure)
    assert "P-000123" not in str(failure)
    assert "P-000123" in str(await conv.decode_failure(failure))


async def test_rotation_old_payloads_still_open():
    old, new = new_key(), new_key()
    [sealed_old] = await EncryptionCodec(ring(k1=old)).encode([Payload(data=b"v1")])
    rotated = EncryptionCodec(Keyring(active="k2", keys=parse_keys({"k1": old, "k2": new}, "test")))
    [sealed_new] = await rotated.encode([Payload(data=b"v2")])
    assert sealed_new.metadata[KEY_ID] == b"k2"
    assert [p.data for p in await rotated.decode([sealed_old, sealed_new])] == [b"v1", b"v2"]
    with pytest.raises(PayloadDecryptionError, match="'k2', which is not configured"):
        await EncryptionCodec(ring(k1=old)).decode([sealed_new])


@pytest.mark.parametrize("where", ["data", "key id"])
async def test_tampering_fails_loudly(where):
    codec = EncryptionCodec(Keyring(active="k1", keys=parse_keys({"k1": new_key(), "k2": new_key()}, "t")))
    [sealed] = await codec.encode([Payload(data=b"P-000123")])
    if where == "data":
        flipped = bytearray(sealed.data)
        flipped[len(flipped) // 2] ^= 0x01
        sealed.data = bytes(flipped)
    else:
        sealed.metadata[KEY_ID] = b"k2"  # the key id is authenticated too
    with pytest.raises(PayloadDecryptionError, match="failed authentication") as err:
        await codec.decode([sealed])
    assert "P-000123" not in str(err.value)


async def test_plaintext_payloads_only_when_allowed():
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"x"')
    assert await EncryptionCodec(ring(k1=new_key()), accept_plaintext=True).decode([plain]) == [plain]
    with pytest.raises(PayloadDecryptionError, match="plaintext"):
        await EncryptionCodec(ring(k1=new_key())).decode([plain])


def test_dev_key_file_is_created_private_and_reused(tmp_path):
    first = keyring(Settings(home=tmp_path))
    path = tmp_path / "payload-keys.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keyring(Settings(home=tmp_path)) == first


@pytest.mark.parametrize(("changes", "message"), [
    ({"payload_keys": {"k": "not base64!"}}, "MLWRIGHT_PAYLOAD_KEYS: key 'k' is not valid base64"),
    ({"payload_keys": {"k": "c2hvcnQ="}}, "must be 32 bytes"),
    ({"payload_keys": {"a": new_key(), "b": new_key()}}, "MLWRIGHT_PAYLOAD_ACTIVE_KEY: required"),
    ({"payload_keys": {"a": new_key()}, "payload_active_key": "z"}, "'z' is not among"),
    ({"payload_key_file": "/nonexistent/keys.json"}, "MLWRIGHT_PAYLOAD_KEY_FILE: cannot read"),
])
def test_bad_keys_name_the_setting(tmp_path, changes, message):
    with pytest.raises(PayloadKeyError, match=message):
        keyring(Settings(home=tmp_path, **changes))


def test_production_demands_keys_and_refuses_plaintext():
    base = {"environment": "production", "database_url": "postgresql+psycopg://db/x", "codec_token": "t" * 32}
    with pytest.raises(ValueError, match="MLWRIGHT_PAYLOAD_ACCEPT_PLAINTEXT is refused"):
        Settings(**base, payload_keys={"k": new_key()}, payload_accept_plaintext=True)
    assert not Settings(**base, payload_keys={"k": new_key()}).accepts_plaintext_payloads


def test_encryption_off_is_the_plain_converter(tmp_path):
    from temporalio.contrib.pydantic import pydantic_data_converter
    assert data_converter(Settings(home=tmp_path, payload_encryption=False)) is pydantic_data_converter
