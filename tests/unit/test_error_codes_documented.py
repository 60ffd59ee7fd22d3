"""Every stable code used in the source is documented in docs/error-codes.md (STYLE 11)."""

from __future__ import annotations

import re
from pathlib import Path

import tracebridge.errors as errors_module
from tracebridge.errors import TraceBridgeError

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "error-codes.md").read_text(encoding="utf-8")
SOURCE = ROOT / "src" / "tracebridge"


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


def used_codes() -> set[str]:
    codes = {TraceBridgeError.code} | {sub.code for sub in _subclasses(TraceBridgeError)}
    assert errors_module.TraceBridgeError is TraceBridgeError
    patterns = [
        (SOURCE / "mapping", r'(?:Problem|RecordRejected)\(\s*"([a-z-]+)"'),
        (SOURCE / "ingest", r'"(mapping-error)"'),
        (SOURCE / "trace", r'Note\(code="([a-z-]+)"'),
        (SOURCE / "api", r'code="([a-z-]+)"'),
    ]
    for folder, pattern in patterns:
        for path in folder.rglob("*.py"):
            codes.update(re.findall(pattern, path.read_text(encoding="utf-8")))
    return codes


def test_every_code_is_documented() -> None:
    missing = sorted(code for code in used_codes() if f"`{code}`" not in DOC)
    assert missing == []


def test_the_scan_finds_codes_from_every_layer() -> None:
    codes = used_codes()
    assert {"not-found", "missing-field", "opening-balance", "invalid-request"} <= codes
