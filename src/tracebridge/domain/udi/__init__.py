"""Unique Device Identifiers: decode a scanned or typed UDI from any issuing agency.

Start at :func:`tracebridge.domain.udi.parse.parse_udi`; the agency modules (``gs1``,
``hibc``, ``iccbba``) are its building blocks.
"""

from __future__ import annotations

from tracebridge.domain.udi.model import UdiElement, UdiResult
from tracebridge.domain.udi.parse import check_label_consistency, parse_udi

__all__ = ["UdiElement", "UdiResult", "check_label_consistency", "parse_udi"]
