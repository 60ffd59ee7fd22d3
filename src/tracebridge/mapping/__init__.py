"""The mapping language: declarative YAML per source system, compiled once into closures.

``load_mapping("erp")`` / ``load_mapping("wms")`` give the built-in mappings; any other
argument is the path of a user's mapping file, loaded by the same mechanism.
"""

from __future__ import annotations

from tracebridge.mapping.engine import Mapping, load_mapping

__all__ = ["Mapping", "load_mapping"]
