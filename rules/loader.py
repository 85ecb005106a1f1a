"""Load a policy file: YAML with line numbers -> validated `Policy`, or a `PolicyError` listing every mistake.

The YAML is composed into nodes (``yaml.compose``'s machinery) and walked by hand, which gives three things
PyYAML's plain ``safe_load`` does not: the line of every key and list item (so each error names its line),
duplicate keys reported instead of silently keeping the last, and a place to keep YAML's own surprises
visible (``yes`` read as true). Exponent numbers without a dot (``1e-6``) are read as numbers, as YAML 1.2
does, instead of as text.

The data is then validated by the pydantic schema and by `rules.checks`; both run to the end, so one
`PolicyError` carries every issue, in file order.
"""

from __future__ import annotations

import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from rules.checks import Loc, did_you_mean, find_problems, format_loc
from rules.errors import PolicyError, PolicyIssue
from rules.kinds import KINDS
from rules.schema import (
    DEFER_CHECKS,
    DETECTOR_MODELS,
    AllOf,
    AnyOf,
    Condition,
    DetectorSpec,
    KOfN,
    Policy,
    _condition_form,
)

__all__ = ["load_policy", "load_policy_text"]

_FLOAT_WITHOUT_DOT = re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _PolicyYamlLoader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-6`` and ``2.5e3`` as numbers."""


_PolicyYamlLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_WITHOUT_DOT, list("-+0123456789"))


@dataclass
class _Parsed:
    data: Any = None
    lines: dict[Loc, int] = field(default_factory=dict)
    scalars: dict[Loc, str] = field(default_factory=dict)
    issues: list[tuple[Loc, int, str]] = field(default_factory=list)

    def line_of(self, loc: Loc) -> int:
        for end in range(len(loc), -1, -1):
            line = self.lines.get(loc[:end])
            if line is not None:
                return line
        return 1


class _Walker:
    """Builds plain Python data from a node tree while recording lines and YAML-level problems."""

    def __init__(self, loader: _PolicyYamlLoader, parsed: _Parsed) -> None:
        self.loader = loader
        self.parsed = parsed
        self.active: set[int] = set()

    def walk(self, node: yaml.Node, loc: Loc) -> Any:
        if id(node) in self.active:
            self.parsed.issues.append(
                (loc, node.start_mark.line + 1, "an alias refers to itself; remove the loop")
            )
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, loc)
            if isinstance(node, yaml.SequenceNode):
                return self._sequence(node, loc)
            return self._scalar(node, loc)
        finally:
            self.active.discard(id(node))

    def _scalar(self, node: yaml.Node, loc: Loc) -> Any:
        self.parsed.scalars[loc] = node.value
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            self.parsed.issues.append((loc, node.start_mark.line + 1, f"cannot read this value: {problem}"))
            return node.value

    def _sequence(self, node: yaml.SequenceNode, loc: Loc) -> list[Any]:
        out = []
        for i, item in enumerate(node.value):
            self.parsed.lines[(*loc, i)] = item.start_mark.line + 1
            out.append(self.walk(item, (*loc, i)))
        return out

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[str, Any]:
        merged: list[yaml.MappingNode] = []
        explicit: list[tuple[yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for source in sources:
                    if isinstance(source, yaml.MappingNode):
                        merged.append(source)
                    else:
                        self.parsed.issues.append(
                            (
                                loc,
                                key_node.start_mark.line + 1,
                                "'<<' must merge a mapping (an &anchor of key: value lines)",
                            )
                        )
            elif not isinstance(key_node, yaml.ScalarNode):
                self.parsed.issues.append(
                    (loc, key_node.start_mark.line + 1, "a key must be a plain word, not a list or a mapping")
                )
            else:
                explicit.append((key_node, value_node))

        out: dict[str, Any] = {}
        for source in reversed(merged):  # the first merged mapping wins, as YAML's merge key says
            out.update(self.walk(source, loc))
        first_line: dict[str, int] = {}
        for key_node, value_node in explicit:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in first_line:
                self.parsed.issues.append(
                    (
                        (*loc, key),
                        line,
                        (
                            f"duplicate key {key!r}: it is also set on line {first_line[key]}, and YAML "
                            "would silently keep only the last one; remove one of them"
                        ),
                    )
                )
            else:
                first_line[key] = line
            self.parsed.lines[(*loc, key)] = line
            out[key] = self.walk(value_node, (*loc, key))
        return out


_SYNTAX_HINTS = (
    ("'\\t'", "YAML does not allow tabs for indentation; use spaces"),
    ("character '>'", 'quote comparison operators, e.g. op: ">"'),
    ("character '%'", "quote values that start with '%'"),
    ("character '@'", "quote values that start with '@'"),
    ("character '`'", "quote values that start with '`'"),
    (
        "mapping values are not allowed here",
        "a value containing ': ' must be quoted, or the indentation is off",
    ),
    ("could not find expected ':'", "a key is missing its ':', or the indentation is off"),
    ("expected <block end>", "check the indentation of this line"),
    ("did not find expected key", "check the indentation of this line"),
    ("did not find expected '-' indicator", "check the indentation of this list item"),
    ("expected a single document", "a policy file holds one document; remove the extra '---'"),
)


def _syntax_issue(exc: yaml.YAMLError, filename: str) -> PolicyIssue:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else 1
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    if context and context_mark is not None and context_mark.line + 1 != line:
        problem += f" ({context} on line {context_mark.line + 1})"
    for needle, hint in _SYNTAX_HINTS:
        if needle in problem:
            problem += f"; {hint}"
            break
    return PolicyIssue(filename, line, "YAML syntax", problem)


def _parse(text: str, filename: str) -> _Parsed | PolicyIssue:
    loader = _PolicyYamlLoader(text)
    try:
        node = loader.get_single_node()
        parsed = _Parsed()
        if node is not None:
            parsed.lines[()] = node.start_mark.line + 1
            parsed.data = _Walker(loader, parsed).walk(node, ())
        return parsed
    except yaml.YAMLError as exc:
        return _syntax_issue(exc, filename)
    finally:
        loader.dispose()


# -- pydantic errors in plain English ------------------------------------------------------------------------

_EXPECTED = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "text",
    "model_type": "a mapping of keys (key: value)",
    "model_attributes_type": "a mapping of keys (key: value)",
    "dict_type": "a mapping of keys (key: value)",
    "tuple_type": "a list",
    "list_type": "a list",
}


def _describe(value: Any, raw: str | None, wanted_text: bool = False) -> str:
    """Name a value for a message; ``raw`` is how it was written in the file, when it was a scalar."""
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool):
        word = "true" if value else "false"
        if raw is not None and raw.lower() not in ("true", "false"):
            return f"{raw!r}, which YAML reads as {word} (quote it if you meant text)"
        return word
    if isinstance(value, int | float):
        if wanted_text and raw is not None and raw != repr(value):
            return f"{raw}, which YAML reads as the number {value!r} (quote it to give text)"
        return f"the number {raw if raw is not None else repr(value)}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return f"{value!r}"


def _clean_loc(loc: tuple[Any, ...]) -> Loc:
    """Drop the tags pydantic inserts: a detector's kind after its index (models.0.detectors.1.ks.window), and
    a condition's form."""
    out: list[str | int] = []
    for part in loc:
        if isinstance(part, str) and part.startswith("cond:"):
            continue  # the tag of a condition's form (leaf, all, any, k_of_n)
        if (
            isinstance(part, str)
            and part in KINDS
            and len(out) >= 2
            and out[-2] == "detectors"
            and isinstance(out[-1], int)
        ):
            continue
        out.append(part)
    return tuple(out)


def _unwrap(annotation: Any, raw: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if any(typing.get_origin(a) is typing.Annotated for a in args):
                form = _condition_form(raw)
                return {"cond:all": AllOf, "cond:any": AnyOf, "cond:k_of_n": KOfN}.get(form or "", Condition)
            if len(args) != 1:
                return annotation
            annotation = args[0]
        elif annotation is DetectorSpec:  # an entry's keys are those of its kind
            kind = raw.get("kind") if isinstance(raw, Mapping) else None
            return DETECTOR_MODELS.get(kind, DetectorSpec) if isinstance(kind, str) else DetectorSpec
        else:
            return annotation


def _allowed_keys(loc: Loc, data: Any) -> list[str]:
    """The keys the schema allows in the mapping at ``loc``."""
    annotation: Any = Policy
    raw = data
    for part in loc:
        annotation = _unwrap(annotation, raw)
        if isinstance(part, int):
            args = typing.get_args(annotation)
            annotation = args[0] if args else Any
            raw = raw[part] if isinstance(raw, list) and part < len(raw) else None
        else:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return []
            fields = {(f.alias or name): f for name, f in annotation.model_fields.items()}
            if part not in fields:
                return []
            annotation = fields[part].annotation
            raw = raw.get(part) if isinstance(raw, Mapping) else None
    annotation = _unwrap(annotation, raw)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [f.alias or name for name, f in annotation.model_fields.items()]
    return []


def _message(err: Mapping[str, Any], loc: Loc, parsed: _Parsed) -> tuple[Loc, str]:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    raw = parsed.scalars.get(loc)
    if kind == "missing":
        return loc, "required field is missing"
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = _allowed_keys(loc[:-1], parsed.data)
        hint = did_you_mean(key, allowed)
        return loc, f"unknown key {key!r}{hint}" + (
            f"; allowed here: {', '.join(allowed)}" if allowed else ""
        )
    if kind == "union_tag_invalid":
        tag = str(ctx.get("tag"))
        return (*loc, "kind"), (
            f"unknown detector kind {tag!r}{did_you_mean(tag, list(KINDS))}; known kinds: {', '.join(KINDS)}"
        )
    if kind == "union_tag_not_found":
        if not isinstance(value, Mapping):
            return loc, f"expected a mapping of keys (key: value), got {_describe(value, raw)}"
        return (*loc, "kind"), f"required field is missing; a detector needs a kind: {', '.join(KINDS)}"
    if kind == "literal_error":
        message = f"{_describe(value, raw)} is not allowed here; use {ctx.get('expected')}"
        if loc and loc[-1] == "op":
            message += ' (in YAML, quote the operator: op: ">")'
        return loc, message
    if kind in _EXPECTED:
        return loc, f"expected {_EXPECTED[kind]}, got {_describe(value, raw, kind == 'string_type')}"
    if kind == "string_too_short":
        return loc, "must not be empty"
    if kind == "too_short":
        n = ctx.get("min_length")
        return loc, f"needs at least {n} {'entry' if n == 1 else 'entries'}, got {ctx.get('actual_length')}"
    if kind == "greater_than_equal":
        return loc, f"must be at least {ctx.get('ge')}, got {_describe(value, raw)}"
    if kind == "finite_number":
        return loc, f"must be a finite number, got {_describe(value, raw)}"
    message = str(err.get("msg", ""))
    message = message.removeprefix("Value error, ")
    return loc, message[:1].lower() + message[1:]


# -- entry points --------------------------------------------------------------------------------------------


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Load and validate a policy file; reference files are looked up next to it.

    Raises `PolicyError` listing every problem (with file and line), or `OSError` if the file cannot be read.
    """
    path = Path(path)
    blob = path.read_bytes()
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = blob[: exc.start].count(b"\n") + 1
        issue = PolicyIssue(str(path), line, "file", "is not UTF-8 text; save the policy as UTF-8")
        raise PolicyError([issue], str(path)) from None
    return load_policy_text(text, str(path), base_dir=path.parent)


def load_policy_text(
    text: str, filename: str = "<policy>", *, base_dir: str | os.PathLike[str] | None = None
) -> Policy:
    """Validate policy YAML given as text; ``filename`` is used in messages.

    Reference files (``reference: {file: ...}``) are checked for existence only when ``base_dir`` is given.
    """
    parsed = _parse(text, filename)
    if isinstance(parsed, PolicyIssue):
        raise PolicyError([parsed], filename)
    data = parsed.data
    if not isinstance(data, dict):
        what = "empty" if data is None else f"{_describe(data, None)}, not a mapping"
        problem = (
            f"the policy is {what}; it must be a mapping with version, name, models and groups "
            "(see rules/examples/lending.yaml)"
        )
        raise PolicyError([PolicyIssue(filename, parsed.line_of(()), "policy", problem)], filename)

    found: list[tuple[Loc, int, str]] = list(parsed.issues)
    policy: Policy | None = None
    try:
        policy = Policy.model_validate(data, context={DEFER_CHECKS: True})
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            loc, message = _message(err, _clean_loc(err["loc"]), parsed)
            found.append((loc, parsed.line_of(loc), message))
    for cross in find_problems(data, where=lambda loc: f"line {parsed.line_of(loc)}"):
        found.append((cross.loc, parsed.line_of(cross.loc), cross.message))
    if base_dir is not None:
        found.extend(_missing_reference_files(data, Path(base_dir), parsed))

    if found or policy is None:
        issues: list[PolicyIssue] = []
        for loc, line, message in sorted(found, key=lambda item: item[1]):
            issue = PolicyIssue(filename, line, format_loc(loc), message)
            if issue not in issues:
                issues.append(issue)
        raise PolicyError(issues, filename)

    policy._source = filename
    policy._base_dir = Path(base_dir) if base_dir is not None else None
    policy._lines = dict(parsed.lines)
    return policy


def _missing_reference_files(
    data: Mapping[str, Any], base_dir: Path, parsed: _Parsed
) -> list[tuple[Loc, int, str]]:
    out = []
    models = data.get("models")
    for i, model in enumerate(models if isinstance(models, list) else []):
        reference = model.get("reference") if isinstance(model, Mapping) else None
        file = reference.get("file") if isinstance(reference, Mapping) else None
        if isinstance(file, str) and file and not (base_dir / file).is_file():
            loc: Loc = ("models", i, "reference", "file")
            out.append(
                (
                    loc,
                    parsed.line_of(loc),
                    f"reference file {file!r} not found (looked for {base_dir / file})",
                )
            )
    return out
