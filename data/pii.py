"""Personal data at rest: AES-256-GCM under keys kept in a file outside the database, a keyed hash for
exact lookup, and the masked forms that are all anyone sees without a reveal.

A sealed value is `version (1 byte) ‖ key id (2 bytes, big-endian) ‖ nonce (12) ‖ ciphertext ‖ tag (16)`;
the key id travels with the ciphertext so rotation can re-seal row by row while old keys still open
what they sealed. The associated data names table, column and row id, so a ciphertext copied onto
another row (or into another column) does not open. The lookup hash is HMAC-SHA256 under its own key:
an unkeyed hash of an 18-digit ID number is enumerable (~10^11 candidates a birth-date range narrows).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Iterable, Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from data.errors import ConfigError, LedgerError

VERSION = 1
HEADER = struct.Struct(">BH")  # version, key id
NONCE_BYTES = 12
KEY_BYTES = 32
SEALED_MIN = HEADER.size + NONCE_BYTES + 16


class Tampered(LedgerError):
    """A sealed value did not authenticate: altered, moved to another row, or sealed under an unknown key."""


@dataclass(frozen=True)
class Keyring:
    """The sealing keys by id (the newest seals, all open), and the lookup-hash key (never rotated)."""

    active: int
    keys: Mapping[int, bytes]
    lookup_key: bytes
    _ciphers: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self):
        if self.active not in self.keys:
            raise ConfigError(f"personal-data key file: active key {self.active} is not in the file")
        if any(len(k) != KEY_BYTES for k in (*self.keys.values(), self.lookup_key)):
            raise ConfigError(f"personal-data key file: every key must be {KEY_BYTES} bytes")

    @classmethod
    def generate(cls) -> "Keyring":
        return cls(1, MappingProxyType({1: os.urandom(KEY_BYTES)}), os.urandom(KEY_BYTES))

    def cipher(self, key_id: int) -> AESGCM:
        if key_id not in self._ciphers:
            if key_id not in self.keys:
                raise Tampered(f"sealed under key {key_id}, which the key file does not hold")
            self._ciphers[key_id] = AESGCM(self.keys[key_id])
        return self._ciphers[key_id]

    def rotated(self) -> "Keyring":
        """A new sealing key, active from now on; the old ones stay to open what is not yet re-sealed."""
        new_id = max(self.keys) + 1
        return Keyring(new_id, MappingProxyType({**self.keys, new_id: os.urandom(KEY_BYTES)}), self.lookup_key)

    def retired(self, key_ids: Iterable[int]) -> "Keyring":
        """Without the given (non-active) keys: after a rotation has re-sealed everything."""
        gone = set(key_ids) - {self.active}
        return Keyring(self.active, MappingProxyType({k: v for k, v in self.keys.items() if k not in gone}),
                       self.lookup_key)

    def as_json(self) -> str:
        b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
        return json.dumps({"format": "minqing-pii-keys/1", "active": self.active,
                           "keys": {str(k): b64(v) for k, v in sorted(self.keys.items())},
                           "lookup": b64(self.lookup_key)}, indent=1)

    @classmethod
    def from_json(cls, raw: str) -> "Keyring":
        try:
            doc = json.loads(raw)
            keys = {int(k): base64.b64decode(v, validate=True) for k, v in doc["keys"].items()}
            return cls(int(doc["active"]), MappingProxyType(keys), base64.b64decode(doc["lookup"], validate=True))
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"personal-data key file is malformed: {exc}") from None


def load(path: str | Path) -> Keyring:
    """The key file, refused if anyone but its owner may read it."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"personal-data key file {path} is readable by others (mode {mode & 0o777:o}); "
                              f"chmod 600 it")
        return Keyring.from_json(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"personal-data key file {path} does not exist (set MINQING_PII_KEYS, or run "
                          f"`minqing pii init`)") from None


def file_stamp(path: str | Path) -> tuple[int, int, int] | None:
    """What changes when the key file is replaced (inode, size, mtime): a server re-reads it on a change."""
    try:
        st = Path(path).stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def save(keys: Keyring, path: str | Path) -> None:
    """Written beside the old file with mode 600 and renamed over it, so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    handle = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(handle, "w") as out:
        out.write(keys.as_json())
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)


def load_or_create(path: str | Path) -> Keyring:
    """The key file, made (mode 600) when missing; two processes racing to make it end with the same keys."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(handle, "w") as out:
                out.write(Keyring.generate().as_json())
    return load(path)


def context(table: str, column: str, row_id: int) -> bytes:
    """The associated data: which cell a ciphertext belongs to."""
    return f"{table}.{column}:{row_id}".encode()


def seal(keys: Keyring, value: str, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return HEADER.pack(VERSION, keys.active) + nonce + keys.cipher(keys.active).encrypt(nonce, value.encode(), aad)


def seal_many(keys: Keyring, values: Sequence[str | None], aads: Sequence[bytes]) -> list[bytes | None]:
    """The bulk form: one call for the nonces, one cipher object (~2 µs a value)."""
    nonces = os.urandom(NONCE_BYTES * len(values))
    encrypt, header = keys.cipher(keys.active).encrypt, HEADER.pack(VERSION, keys.active)
    out: list[bytes | None] = []
    for i, (value, aad) in enumerate(zip(values, aads)):
        if value is None:
            out.append(None)
            continue
        nonce = nonces[i * NONCE_BYTES:(i + 1) * NONCE_BYTES]
        out.append(header + nonce + encrypt(nonce, value.encode(), aad))
    return out


def key_id(sealed: bytes) -> int:
    if len(sealed) < SEALED_MIN:
        raise Tampered("sealed value is too short")
    version, kid = HEADER.unpack_from(sealed)
    if version != VERSION:
        raise Tampered(f"sealed value has unknown format version {version}")
    return kid


def unseal(keys: Keyring, sealed: bytes, aad: bytes) -> str:
    kid = key_id(bytes(sealed))
    sealed = bytes(sealed)
    nonce = sealed[HEADER.size:HEADER.size + NONCE_BYTES]
    try:
        return keys.cipher(kid).decrypt(nonce, sealed[HEADER.size + NONCE_BYTES:], aad).decode()
    except InvalidTag:
        raise Tampered(f"sealed value for {aad.decode()} does not authenticate") from None


def lookup_hash(keys: Keyring, kind: str, value: str) -> bytes:
    """HMAC-SHA256 of the normalised value; `kind` keeps ID numbers and phones in separate spaces."""
    return hmac.digest(keys.lookup_key, f"{kind}:{normalise(kind, value)}".encode(), "sha256")


def lookup_hashes(keys: Keyring, kind: str, values: Sequence[str | None]) -> list[bytes | None]:
    """The bulk form of `lookup_hash`: the same HMAC (RFC 2104) from precomputed inner and outer SHA-256
    states, 0.75 µs a value instead of hmac.digest's 2.3 µs (which rebuilds the keyed context every call)."""
    block = keys.lookup_key.ljust(64, b"\0")  # SHA-256's block; our keys are 32 bytes, never hashed down
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
    prefix, out = f"{kind}:", []
    for value in values:
        if value is None:
            out.append(None)
            continue
        i, o = inner.copy(), outer.copy()
        i.update((prefix + normalise(kind, value)).encode())
        o.update(i.digest())
        out.append(o.digest())
    return out


def normalise(kind: str, value: str) -> str:
    value = value.strip()
    if kind == "birth_date":
        return value[:10]  # ISO date, whatever time part a timestamp's text carried
    return value.upper() if kind == "id_number" else value


def mask_id_number(value: str | None) -> str | None:
    """`620102********123X`: region kept (it is on every letter the person gets), birth date and sequence hidden."""
    return None if value is None else value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_phone(value: str | None) -> str | None:
    """`138****5678`: the carrier prefix and last four, as on a bank statement."""
    return None if value is None else value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_name(value: str | None) -> str | None:
    """`张*`: the surname a caller would greet them by, nothing of the given name or its length."""
    return None if value is None else value.strip()[:1] + "*"


def _mask_one_contact(value: str) -> str:
    if "@" in value:  # the mail provider is no secret; one letter of the mailbox is enough to recognise it
        box, domain = value.rsplit("@", 1)
        return box[:1] + "***@" + domain
    digits = "".join(c for c in value if c.isdigit())
    if len(digits) == 11 and digits.startswith("1"):
        return mask_phone(digits)
    return "*" * max(len(value) - 4, 4) + value[-4:] if len(value) >= 8 else "****"


def mask_contact(value: str | None) -> str | None:
    """A reporter's phone as `138****5678`; a mailbox as `z***@example.com`; a landline or anything else keeps
    its last four (`*******8888`); Open311's `email; phone` masks each part."""
    return None if value is None else "; ".join(_mask_one_contact(v.strip()) for v in value.split(";"))


MASKS = MappingProxyType({"id_number": mask_id_number, "phone": mask_phone, "reporter_name": mask_name,
                          "reporter_contact": mask_contact})
