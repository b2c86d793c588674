"""Payload encryption: every payload Temporal stores (inputs, results, memos, failures) is sealed here.

The Temporal server and its UI keep whole workflow histories; for patient data that must be
ciphertext. Payloads are compressed (ciphertext does not compress) and sealed with AES-256-GCM; the
key id travels in the payload metadata so keys can rotate while running workflows still hold
payloads sealed with an older key: every configured key decrypts, only the active one encrypts.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from mlwright.private import create_once
from mlwright.settings import Settings

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
COMPRESSION = "compression"
NONCE_BYTES = 12
DEV_KEY_FILE = "payload-keys.json"


class PayloadKeyError(RuntimeError):
    """The payload key settings are unusable; the message names the setting."""


class PayloadDecryptionError(Exception):
    """A payload could not be opened. Never carries payload contents: only the key id and why."""


@dataclass(frozen=True)
class Keyring:
    active: str
    keys: dict[str, bytes]

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise PayloadKeyError(f"MLWRIGHT_PAYLOAD_ACTIVE_KEY: {self.active!r} is not among the configured keys "
                             f"({', '.join(sorted(self.keys)) or 'none'})")
        for kid, key in self.keys.items():
            if len(key) != 32:
                raise PayloadKeyError(f"MLWRIGHT_PAYLOAD_KEYS: key {kid!r} must be 32 bytes (AES-256), got {len(key)}")


def new_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def parse_keys(raw: dict[str, str], setting: str) -> dict[str, bytes]:
    keys = {}
    for kid, value in raw.items():
        try:
            keys[kid] = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise PayloadKeyError(f"{setting}: key {kid!r} is not valid base64") from None
    return keys


def _read_key_file(path: Path) -> tuple[str | None, dict[str, bytes]]:
    try:
        data = json.loads(path.read_text())
        return data.get("active"), parse_keys(data["keys"], f"MLWRIGHT_PAYLOAD_KEY_FILE ({path})")
    except (OSError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise PayloadKeyError(f"MLWRIGHT_PAYLOAD_KEY_FILE: cannot read keys from {path}: {type(exc).__name__}") from None


def _dev_key_file(home: Path) -> Path:
    kid = f"dev-{secrets.token_hex(4)}"
    return create_once(home / DEV_KEY_FILE, json.dumps({"active": kid, "keys": {kid: new_key()}}))


def keyring(settings: Settings) -> Keyring:
    keys: dict[str, bytes] = {}
    active = settings.payload_active_key
    file = settings.payload_key_file
    if file is None and not settings.payload_keys:
        if settings.environment == "production":
            raise PayloadKeyError("MLWRIGHT_PAYLOAD_KEYS or MLWRIGHT_PAYLOAD_KEY_FILE is required in production "
                             "(or set MLWRIGHT_PAYLOAD_ENCRYPTION=false)")
        file = _dev_key_file(settings.home)
    if file is not None:
        file_active, keys = _read_key_file(file)
        active = active or file_active
    keys = {**keys, **parse_keys(settings.payload_keys, "MLWRIGHT_PAYLOAD_KEYS")}
    if active is None:
        if len(keys) != 1:
            raise PayloadKeyError("MLWRIGHT_PAYLOAD_ACTIVE_KEY: required when several payload keys are configured")
        active = next(iter(keys))
    return Keyring(active, keys)


class EncryptionCodec(PayloadCodec):
    def __init__(self, ring: Keyring, accept_plaintext: bool = False) -> None:
        self._ring = ring
        self._active = AESGCM(ring.keys[ring.active])
        self._ciphers = {kid: AESGCM(key) for kid, key in ring.keys.items()}
        self._accept_plaintext = accept_plaintext

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.seal(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.open(p) for p in payloads]

    def seal(self, payload: Payload) -> Payload:
        kid = self._ring.active.encode()
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._active.encrypt(nonce, zlib.compress(payload.SerializeToString()), kid)
        return Payload(metadata={"encoding": ENCODING, KEY_ID: kid, COMPRESSION: b"zlib"}, data=nonce + sealed)

    def open(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            if self._accept_plaintext:
                return payload  # histories recorded before encryption (replay tests, old dev runs)
            raise PayloadDecryptionError("refusing a plaintext payload (MLWRIGHT_PAYLOAD_ACCEPT_PLAINTEXT is off)")
        kid = payload.metadata.get(KEY_ID, b"").decode()
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise PayloadDecryptionError(f"payload sealed with key {kid!r}, which is not configured "
                                         "(MLWRIGHT_PAYLOAD_KEYS / MLWRIGHT_PAYLOAD_KEY_FILE)")
        try:
            plain = cipher.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], kid.encode())
        except InvalidTag:
            raise PayloadDecryptionError(f"payload sealed with key {kid!r} failed authentication: "
                                         "tampered with or corrupted") from None
        if payload.metadata.get(COMPRESSION) == b"zlib":
            plain = zlib.decompress(plain)
        return Payload.FromString(plain)


def codec_for(settings: Settings) -> EncryptionCodec | None:
    if not settings.payload_encryption:
        return None
    return EncryptionCodec(keyring(settings), accept_plaintext=settings.accepts_plaintext_payloads)
