"""Loading the data dictionary from YAML, reporting every problem as ``file:line: field: what``.

A dictionary is a root file (``dictionary.yaml``: ``version``, ``effective``,
``changelog``, ``include``) plus the files it includes, each holding ``code_lists``
and/or ``entities``. The built-in dictionary ships inside the package and is loaded
through exactly the same code as a user's own copy.

>>> d = load_dictionary()
>>> d.field("lot", "expiry_date").gs1_ai
'17'
>>> d.source_of_truth("shipment", "ship_date")
'wms'
>>> "expiry_date" in d.required_fields("lot", {"origin": "received", "product.sterile": True})
True
>>> "expiry_date" in d.required_fields("lot", {"origin": "received", "product.sterile": False})
False

Loading checks more than the shape of each file: every code list a field names must
exist, every reference must name an entity, every ``required_when`` must parse and
compare a real field with values that field can hold.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from tracebridge.dictionary.model import CodeList, Condition, Dictionary, Entity, Scalar
from tracebridge.errors import DictionaryError

ROOT_FILE = "dictionary.yaml"
_PACKAGED_LABEL = "tracebridge/dictionary/data"
_ROOT_KEYS = frozenset({"version", "effective", "changelog", "include", "code_lists", "entities"})
_PART_KEYS = frozenset({"code_lists", "entities"})

Loc = tuple[str | int, ...]


@dataclass
class _Document:
    """One parsed YAML file, with the line of every mapping key and list item."""

    file: str
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line(self, loc: Loc) -> int:
        while loc and loc not in self.lines:
            loc = loc[:-1]
        return self.lines.get(loc, 1)


@dataclass
class _Problems:
    messages: list[str] = field(default_factory=list)

    def add(self, doc: _Document, loc: Loc, message: str) -> None:
        where = ".".join(str(part) for part in loc) or "(top level)"
        self.messages.append(f"{doc.file}:{doc.line(loc)}: {where}: {message}")

    def add_validation(self, doc: _Document, prefix: Loc, error: ValidationError) -> None:
        for detail in error.errors():
            given = detail.get("input")
            shown = f" (given {given!r})" if isinstance(given, str | int | float | bool) else ""
            self.add(doc, prefix + tuple(detail["loc"]), f"{detail['msg']}{shown}")


def load_dictionary(path: Path | None = None) -> Dictionary:
    """Load and check a dictionary; ``path`` is its root file or the folder holding it.

    Without ``path`` the dictionary shipped with TraceBridge is loaded (once, then cached).
    Raises ``DictionaryError`` listing every problem found, each as ``file:line: field: what``.
    """
    if path is None:
        return _packaged()
    if path.is_dir():
        return _load(path, ROOT_FILE, str(path))
    if not path.is_file():
        raise DictionaryError(
            f"Dictionary not found: {str(path)!r} is neither a file nor a folder; "
            f"expected a {ROOT_FILE} or the folder holding it"
        )
    return _load(path.parent, path.name, str(path.parent))


@lru_cache(maxsize=1)
def _packaged() -> Dictionary:
    return _load(files("tracebridge.dictionary").joinpath("data"), ROOT_FILE, _PACKAGED_LABEL)


def _load(folder: Traversable, root_name: str, label: str) -> Dictionary:
    problems = _Problems()
    root = _read(folder, root_name, label)
    if not isinstance(root.data, dict):
        raise DictionaryError(f"{root.file}:1: expected a mapping with 'version', 'entities' …")
    documents = [root, *_included(folder, root, label, problems)]
    owners: dict[tuple[str, str], _Document] = {}
    parts: dict[str, dict[str, BaseModel]] = {"code_lists": {}, "entities": {}}
    for doc in documents:
        allowed = _ROOT_KEYS if doc is root else _PART_KEYS
        if not isinstance(doc.data, dict):
            problems.add(doc, (), f"expected a mapping with {' and/or '.join(sorted(_PART_KEYS))}")
            continue
        for key in doc.data:
            if key not in allowed:
                expected = ", ".join(sorted(allowed))
                problems.add(doc, (key,), f"unknown key; expected one of {expected}")
        for section, model in (("code_lists", CodeList), ("entities", Entity)):
            _validate_section(doc, section, model, parts[section], owners, problems)
    meta = {k: v for k, v in root.data.items() if k in ("version", "effective", "changelog")}
    try:
        dictionary = Dictionary.model_validate({**meta, **parts})
    except ValidationError as error:
        problems.add_validation(root, (), error)
        raise DictionaryError(_summary(problems)) from error
    # A definition that failed validation is already reported; don't report its users too.
    broken = {(section, name) for (section, name) in owners if name not in parts[section]}
    for section, name, loc, message in _cross_reference(dictionary, broken):
        doc = owners.get((section, name), root)
        problems.add(doc, loc, message)
    if problems.messages:
        raise DictionaryError(_summary(problems))
    return dictionary


def _summary(problems: _Problems) -> str:
    count = len(problems.messages)
    heading = f"Data dictionary is invalid ({count} problem{'s' if count != 1 else ''}):"
    return "\n".join([heading, *(f"  {message}" for message in problems.messages)])


def _included(
    folder: Traversable, root: _Document, label: str, problems: _Problems
) -> list[_Document]:
    names = root.data.get("include", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        problems.add(root, ("include",), "expected a list of file names next to the root file")
        return []
    documents: list[_Document] = []
    for index, name in enumerate(names):
        if not folder.joinpath(name).is_file():
            problems.add(root, ("include", index), f"included file {name!r} not found in {label}")
            continue
        documents.append(_read(folder, name, label))
    return documents


def _validate_section(
    doc: _Document,
    section: str,
    model: type[CodeList] | type[Entity],
    validated: dict[str, BaseModel],
    owners: dict[tuple[str, str], _Document],
    problems: _Problems,
) -> None:
    bodies = doc.data.get(section, {})
    if not isinstance(bodies, dict):
        problems.add(doc, (section,), "expected a mapping of names to definitions")
        return
    for name, body in bodies.items():
        loc: Loc = (section, name)
        if (section, name) in owners:
            first = owners[(section, name)]
            problems.add(doc, loc, f"defined twice; first at {first.file}:{first.line(loc)}")
            continue
        owners[(section, name)] = doc
        try:
            validated[name] = model.model_validate(
                {**body, "name": name} if isinstance(body, dict) else body
            )
        except ValidationError as error:
            problems.add_validation(doc, loc, error)


def _cross_reference(
    d: Dictionary, broken: set[tuple[str, str]]
) -> list[tuple[str, str, Loc, str]]:
    """Problems that span definitions: (section, owner name, loc, message)."""
    found: list[tuple[str, str, Loc, str]] = []
    if d.changelog[0].version != d.version:
        message = f"newest entry is {d.changelog[0].version!r}, expected the version {d.version!r}"
        found.append(("", "", ("changelog", 0, "version"), message))
    for entity in d.entities.values():
        at: Loc = ("entities", entity.name)
        for index, key in enumerate(entity.key):
            if key not in entity.fields:
                message = f"key field {key!r} is not one of the entity's fields"
                found.append(("entities", entity.name, (*at, "key", index), message))
        for spec in entity.fields.values():
            here: Loc = (*at, "fields", spec.name)
            checks = (
                ("code_list", "code list", spec.code_list, d.code_lists, "code_lists"),
                ("references", "entity", spec.references, d.entities, "entities"),
            )
            for attribute, what, name, defined, section in checks:
                if name and name not in defined and (section, name) not in broken:
                    message = f"{what} {name!r} is not defined; {_known(name, defined)}"
                    found.append(("entities", entity.name, (*here, attribute), message))
            for message in _condition_problems(d, entity.name, spec.condition, broken):
                found.append(("entities", entity.name, (*here, "required_when"), message))
    return found


def _condition_problems(
    d: Dictionary, entity: str, condition: Condition | None, broken: set[tuple[str, str]]
) -> list[str]:
    if condition is None:
        return []
    problems: list[str] = []
    for comparison in condition.comparisons:
        target_entity = comparison.entity or entity
        target = d.entities.get(target_entity)
        if ("entities", target_entity) in broken:
            continue
        if target is None:
            problems.append(f"{comparison.path!r}: no entity {target_entity!r}")
            continue
        spec = target.fields.get(comparison.field)
        if spec is None:
            problems.append(
                f"{comparison.path!r}: {target_entity!r} has no field {comparison.field!r}"
            )
            continue
        for value in comparison.values:
            expected = _expected_values(d, spec.type, spec.code_list, value)
            if expected is not None:
                problems.append(f"{comparison.path!r} cannot be {value!r}; expected {expected}")
    return problems


def _expected_values(d: Dictionary, kind: str, code_list: str | None, value: Scalar) -> str | None:
    """What ``value`` should have been for a field of this type, or ``None`` if it fits."""
    if kind == "boolean":
        return None if isinstance(value, bool) else "true or false"
    if kind in ("integer", "decimal"):
        fits = isinstance(value, int | float) and not isinstance(value, bool)
        return None if fits else "a number"
    if kind == "code" and code_list in d.code_lists:
        codes = d.code_lists[code_list].values
        return None if value in codes else f"one of {', '.join(codes)}"
    return None if isinstance(value, str) else "a text value"


def _known(given: str, names: dict[str, Any]) -> str:
    close = difflib.get_close_matches(given, list(names), n=1)
    return f"did you mean {close[0]!r}?" if close else f"expected one of {', '.join(sorted(names))}"


def _read(folder: Traversable, name: str, label: str) -> _Document:
    doc = _Document(file=f"{label}/{name}", data=None)
    try:
        text = folder.joinpath(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DictionaryError(f"{doc.file}: cannot read the file: {error}") from error
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        doc.data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise DictionaryError(f"{doc.file}:{line}: not valid YAML: {error.problem}") from error
    except yaml.YAMLError as error:
        raise DictionaryError(f"{doc.file}: not valid YAML: {error}") from error
    finally:
        loader.dispose()
    duplicates = _Problems()
    if node is not None:
        _index(node, (), doc, duplicates)
    if duplicates.messages:
        raise DictionaryError(_summary(duplicates))
    return doc


def _index(node: yaml.Node, loc: Loc, doc: _Document, problems: _Problems) -> None:
    """Record the line of every key and item; YAML keeps the last of duplicate keys, we refuse."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            here = (*loc, key_node.value)
            if here in doc.lines:
                first = doc.lines[here]
                doc.lines[here] = key_node.start_mark.line + 1
                problems.add(doc, here, f"duplicate key (first at line {first})")
            doc.lines[here] = key_node.start_mark.line + 1
            _index(value_node, here, doc, problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            doc.lines[(*loc, index)] = item.start_mark.line + 1
            _index(item, (*loc, index), doc, problems)
