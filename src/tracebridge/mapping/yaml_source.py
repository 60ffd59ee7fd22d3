"""YAML that remembers where each mapping key was written, so errors can say file:line.

>>> doc = load_yaml_text("a: 1\\nb:\\n  c: x\\n", "m.yaml")
>>> doc.where("b"), doc["b"].where("c")
('m.yaml:2', 'm.yaml:3')
"""

from __future__ import annotations

from typing import Any

import yaml

from tracebridge.errors import MappingError


class LineDict(dict[str, Any]):
    """A YAML mapping with the line of each key."""

    file: str = "<mapping>"
    line: int = 0

    def __init__(self) -> None:
        super().__init__()
        self.key_lines: dict[str, int] = {}

    def where(self, key: str | None = None) -> str:
        line = self.key_lines.get(key, self.line) if key is not None else self.line
        return f"{self.file}:{line}"


class _Loader(yaml.SafeLoader):
    source_name = "<mapping>"


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.file = loader.source_name
    result.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str):
            hint = (" (YAML reads unquoted yes/no/on/off/true/false as booleans: quote the key)"
                    if isinstance(key, bool) else "")
            raise MappingError(f"{loader.source_name}:{line}: keys must be text, got {key!r}"
                               f"{hint}")
        if key in result:
            raise MappingError(
                f"{loader.source_name}:{line}: key '{key}' given twice "
                f"(first at line {result.key_lines[key]})"
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = line
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml_text(text: str, source_name: str) -> Any:
    loader = _Loader(text)
    loader.source_name = source_name
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise MappingError(f"{source_name}{line}: not valid YAML: {e.problem}") from e
    except yaml.YAMLError as e:
        raise MappingError(f"{source_name}: not valid YAML: {e}") from e
    finally:
        loader.dispose()
