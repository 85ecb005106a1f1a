"""The generated pages of the documentation site, written from the code so that they cannot drift from it.

    rules.Policy's JSON Schema ........... reference/policy.md     (every key of a policy file)
    rules.kinds.KINDS + detectors' docs .. reference/detectors.md  (every kind: statistics, parameters, defaults)
    watchdog.cli.build_parser() .......... reference/cli.md        (every subcommand, nested ones too)
    contracts/src/*.sol NatSpec .......... reference/contract.md   (parsed from the comments; no solc)

The pages are not committed: ``docs/hooks.py`` runs this script with the project's interpreter on every
``mkdocs build`` / ``serve`` (mkdocs lives in a venv of its own, ``.venv-docs``, because it needs the other
``watchdog`` package, the filesystem-events library, which would overwrite this one) and hands the pages to
mkdocs as generated files. By hand::

    .venv/bin/python docs/gen_reference.py --out /some/dir     # writes reference/*.md under it
    .venv/bin/python docs/gen_reference.py --json              # {path: markdown} on stdout (what the hook reads)
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import detectors
from rules.kinds import KINDS, DetectorKind
from watchdog.cli import build_parser
from watchdog.commands.policy import policy_json_schema

ROOT = Path(__file__).resolve().parent.parent
PAGES = ("reference/policy.md", "reference/detectors.md", "reference/cli.md", "reference/contract.md")
CONTRACTS = ("contracts/src/ModelMonitor.sol", "contracts/src/ModelOracle.sol")
HELP_WIDTH = "100"  # argparse wraps usage lines at $COLUMNS; fixed so the page does not depend on a terminal


def generate(root: Path = ROOT) -> dict[str, str]:
    """Every generated page, by its path under docs/."""
    pages = {
        "reference/policy.md": policy_page(),
        "reference/detectors.md": detectors_page(),
        "reference/cli.md": cli_page(),
        "reference/contract.md": contract_page([root / c for c in CONTRACTS]),
    }
    return {path: lists_spaced(text) for path, text in pages.items()}


# -- text helpers ------------------------------------------------------------------------------------------------

_ROLE = re.compile(r":(?:math|meth|class|func|data|mod|attr|obj|exc|ref|py:\w+):`~?([^`]+)`")
_LITERAL = re.compile(r"``(.+?)``")
_CODE_SPAN = re.compile(r"(`[^`]*`)")


def rst_inline(text: str) -> str:
    """reST inline markup of the docstrings as Markdown: ``x`` and :role:`x` become `x`; other text is escaped."""
    text = _ROLE.sub(lambda m: f"``{m.group(1)}``", text)
    text = _LITERAL.sub(lambda m: "`" + m.group(1).replace("`", "'") + "`", text)
    return "".join(part if part.startswith("`") else _emphasised(part) for part in _CODE_SPAN.split(text))


_EMPHASIS = re.compile(r"(\*\*[^*\s](?:[^*]*[^*\s])?\*\*|(?<![\w*])\*[^*\s](?:[^*]*[^*\s])?\*(?![\w*]))")


def _emphasised(text: str) -> str:
    """``**strong**`` and ``*emphasis*`` (the same in reST and Markdown) kept; any other ``*`` escaped."""
    out = []
    for part in _EMPHASIS.split(text):
        if _EMPHASIS.fullmatch(part):
            stars = "**" if part.startswith("**") else "*"
            out.append(stars + escape(part[len(stars):-len(stars)]) + stars)
        else:
            out.append(escape(part))
    return "".join(out)


def escape(text: str) -> str:
    """Plain text that Markdown must not read as markup (emphasis, HTML, links)."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([*\[\]|])", r"\\\1", text)


def code(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    fence = "``" if "`" in text else "`"
    return f"{fence}{text}{fence}" if fence == "`" else f"{fence} {text} {fence}"


def anchor(*parts: str) -> str:
    return "-".join(re.sub(r"[^a-z0-9]+", "-", p.lower()).strip("-") for p in parts if p)


_LIST_ITEM = re.compile(r"^(?:[-*+]|\d+\.) ")


def lists_spaced(text: str) -> str:
    """A blank line before a list that follows a paragraph: docstrings and NatSpec write lists without one,
    and Python-Markdown then reads the items as part of the paragraph."""
    out: list[str] = []
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif (not fenced and _LIST_ITEM.match(line) and out and out[-1].strip()
              and not _LIST_ITEM.match(out[-1]) and not out[-1].startswith((" ", "|", "#"))):
            out.append("")
        out.append(line)
    return "\n".join(out) + "\n"


def one_line(text: str) -> str:
    return " ".join(text.split())


# -- numpydoc docstrings ---------------------------------------------------------------------------------------

_UNDERLINE = re.compile(r"^-{3,}$")


def docstring_sections(doc: str) -> list[tuple[str, list[str]]]:
    """A numpydoc docstring cut into (section title, lines); the summary and text before any title is ''."""
    lines = doc.splitlines()
    sections: list[tuple[str, list[str]]] = [("", [])]
    i = 0
    while i < len(lines):
        if i + 1 < len(lines) and lines[i].strip() and _UNDERLINE.match(lines[i + 1].strip()):
            sections.append((lines[i].strip(), []))
            i += 2
            continue
        sections[-1][1].append(lines[i])
        i += 1
    return [(title, body) for title, body in sections if title or any(line.strip() for line in body)]


def _paragraphs(lines: Sequence[str]) -> list[str]:
    """Prose lines as Markdown; a block that ends with ``::`` introduces an indented literal block."""
    out: list[str] = []
    literal = False
    for line in lines:
        if literal:
            if line.strip() and not line.startswith((" ", "\t")):
                out.append("```")
                literal = False
            else:
                out.append(line[4:] if line.startswith("    ") else line.strip())
                continue
        stripped = line.strip()
        if stripped.endswith("::"):
            text = stripped[:-1] if stripped != "::" else ""
            out.extend([rst_inline(text), "", "```text"])
            literal = True
            continue
        out.append(rst_inline(stripped))
    if literal:
        out.append("```")
    return out


def _examples(lines: Sequence[str]) -> list[str]:
    """Doctests as fenced pycon blocks (blank lines between doctests stay inside one block); the prose between
    them stays prose."""
    out: list[str] = []
    in_code = False
    blanks = 0
    for line in lines:
        if not line.strip():
            blanks += 1
            continue
        if line.startswith(">>>") or (in_code and not blanks) or (in_code and line.startswith("...")):
            if not in_code:
                out.extend(["", "```pycon"])
                in_code = True
            else:
                out.extend([""] * blanks)
        else:
            if in_code:
                out.extend(["```", ""])
                in_code = False
            out.extend([""] * blanks)
            line = rst_inline(line.strip())
        blanks = 0
        out.append(line)
    if in_code:
        out.append("```")
    return out


def _parameters(lines: Sequence[str], defaults: Mapping[str, str]) -> list[str]:
    """A numpydoc Parameters section as a list: name, default (from the signature), description."""
    items: list[tuple[str, list[str]]] = []
    for line in lines:
        if line.strip() and not line.startswith((" ", "\t")):
            items.append((line.strip(), []))
        elif items:
            items[-1][1].append(line.strip())
    out = []
    for head, body in items:
        name, _, typ = head.partition(" : ")
        name = name.strip()
        bits = [f"**`{name}`**"]
        notes = [f"type {code(typ.strip())}"] if typ.strip() else []
        if name in defaults:
            notes.append(f"default {code(defaults[name])}")
        if notes:
            bits.append(f"({', '.join(notes)})")
        text = rst_inline(one_line(" ".join(body)))
        out.append(f"- {' '.join(bits)}{': ' + text if text else ''}")
    return out


def docstring_markdown(doc: str, defaults: Mapping[str, str]) -> list[str]:
    out: list[str] = []
    for title, body in docstring_sections(doc):
        if title:
            out.extend(["", f"**{escape(title)}**", ""])
        if title in ("Parameters", "Attributes", "Other Parameters"):
            out.extend(_parameters(body, defaults if title != "Attributes" else {}))
        elif title == "Examples":
            out.extend(_examples(body))
        else:
            out.extend(_paragraphs(body))
    return out


def signature_defaults(obj: Any) -> dict[str, str]:
    try:
        params = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return {}
    return {p.name: repr(p.default) for p in params if p.default is not inspect.Parameter.empty}


# -- the policy reference, from the JSON Schema ----------------------------------------------------------------

_DETECTOR_DEF = re.compile(r".+Detector$")


def policy_page() -> str:
    schema = policy_json_schema()
    defs: dict[str, Any] = schema.get("$defs", {})
    order = _reachable(schema, defs)
    detector_defs = [d for d in order if _DETECTOR_DEF.match(d) and "kind" in defs[d].get("properties", {})]
    other_defs = [d for d in order if d not in detector_defs]
    out = [
        "# Policy reference",
        "",
        "Generated from the policy's JSON Schema (`watchdog policy schema` prints it; an editor can validate a",
        "policy against it as it is typed). Every mapping refuses keys it does not list; `watchdog check",
        "POLICY.yaml` reports every mistake at once, as `file:line: field: problem`. What each detector kind",
        "computes is in the [detector reference](detectors.md).",
        "",
        f"## The policy file {{#{anchor('policy')}}}",
        "",
    ]
    if schema.get("description"):
        out += [*_paragraphs(inspect.cleandoc(schema["description"]).splitlines()), ""]
    out += _properties(schema, defs)
    for name in other_defs:
        out += ["", f"## {name} {{#{anchor(name)}}}", ""]
        out += _definition(defs[name], defs)
    out += ["", f"## Detector entries {{#{anchor('detector-entries')}}}", "",
            "A model's `detectors` list holds one entry per detector; `kind` picks its definition below, and the",
            "other keys are that kind's parameters (each kind's meaning, statistics and defaults are in the",
            "[detector reference](detectors.md)).", ""]
    for name in detector_defs:
        kind = defs[name]["properties"]["kind"].get("const", name)
        out += ["", f"### `{kind}` entry {{#{anchor(name)}}}", "",
                f"See [`{kind}` in the detector reference](detectors.md#{anchor(kind)}).", ""]
        out += _properties(defs[name], defs)
    return "\n".join(out) + "\n"


def _refs(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            yield ref.removeprefix("#/$defs/")
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _reachable(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> list[str]:
    """Definitions in the order a reader meets them from the top of the file, then any left over."""
    seen: list[str] = []
    queue = list(_refs(schema.get("properties", {})))
    while queue:
        name = queue.pop(0)
        if name in seen or name not in defs:
            continue
        seen.append(name)
        queue.extend(_refs(defs[name]))
    return seen + sorted(set(defs) - set(seen))


def _definition(node: Mapping[str, Any], defs: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    if node.get("description"):
        out += [*_paragraphs(inspect.cleandoc(node["description"]).splitlines()), ""]
    if "properties" in node:
        out += _properties(node, defs)
    else:
        out.append(f"A value of type {_type(node)}.")
    return out


def _properties(node: Mapping[str, Any], defs: Mapping[str, Any]) -> list[str]:
    required = set(node.get("required", ()))
    out = []
    for key, prop in node.get("properties", {}).items():
        notes = [_type(prop), "required" if key in required else None]
        if "default" in prop and key not in required:
            notes.append(f"default {code(prop['default'])}")
        constraints = _constraints(prop)
        text = [rst_inline(one_line(prop["description"]))] if prop.get("description") else []
        text += [rst_inline(one_line(d)) for d in _alternative_descriptions(prop)]
        line = f"- **`{key}`** ({'; '.join(n for n in notes if n)})"
        if constraints:
            line += f", {constraints}"
        if text:
            line += ": " + "; ".join(text)
        out.append(line)
    if node.get("additionalProperties") is False:
        out += ["", "No other key is accepted."]
    elif isinstance(node.get("additionalProperties"), dict):
        out += ["", f"Any other key maps to {_type(node['additionalProperties'])}."]
    return out


def _alternative_descriptions(prop: Mapping[str, Any]) -> list[str]:
    seen: list[str] = []
    for alt in prop.get("anyOf", []) + prop.get("oneOf", []):
        text = alt.get("description") if isinstance(alt, dict) else None
        if text and text not in seen:
            seen.append(text)
    return seen


def _type(node: Mapping[str, Any]) -> str:
    if "$ref" in node:
        name = node["$ref"].removeprefix("#/$defs/")
        return f"[{name}](#{anchor(name)})"
    for key in ("anyOf", "oneOf"):
        if key in node:
            alts = [a for a in node[key] if a.get("type") != "null"]
            refs = [a.get("$ref", "") for a in alts]
            if len(alts) > 4 and all(_DETECTOR_DEF.match(r) for r in refs):  # the union of every kind's entry
                return f"[detector entry](#{anchor('detector-entries')}) (one definition per `kind`)"
            text = " or ".join(_type(a) for a in alts)
            return text + (" or null" if len(alts) < len(node[key]) else "")
    if "const" in node:
        return f"exactly {code(node['const'])}"
    if "enum" in node:
        return "one of " + ", ".join(code(v) for v in node["enum"])
    typ = node.get("type")
    if isinstance(typ, list):
        return " or ".join(_type({**node, "type": t}) for t in typ)
    if typ == "array":
        items = node.get("items")
        return f"list of {_type(items)}" if isinstance(items, dict) else "list"
    if typ == "object" and isinstance(node.get("additionalProperties"), dict):
        return f"mapping of string to {_type(node['additionalProperties'])}"
    return {"integer": "integer", "number": "number", "string": "string", "boolean": "boolean",
            "object": "mapping", "null": "null"}.get(str(typ), "any value")


_CONSTRAINTS = (("minimum", "at least {}"), ("exclusiveMinimum", "above {}"), ("maximum", "at most {}"),
                ("exclusiveMaximum", "below {}"), ("minLength", "at least {} characters"),
                ("maxLength", "at most {} characters"), ("minItems", "at least {} items"),
                ("maxItems", "at most {} items"), ("pattern", "matching {}"))


def _constraints(node: Mapping[str, Any]) -> str:
    found: list[str] = []
    if node.get("minLength") == 1 or node.get("minItems") == 1:
        found.append("not empty")
        node = {k: v for k, v in node.items() if k not in ("minLength", "minItems")}
    alts = [node] + [a for k in ("anyOf", "oneOf") for a in node.get(k, []) if isinstance(a, dict)]
    for alt in alts:
        for key, template in _CONSTRAINTS:
            if key in alt:
                text = template.format(code(alt[key]) if key == "pattern" else alt[key])
                if text not in found:
                    found.append(text)
    return ", ".join(found)


# -- the detector reference, from rules.kinds and the detectors' docstrings -------------------------------------

def detectors_page() -> str:
    classes: dict[str, type[Any]] = {**detectors.REGISTRY, **detectors.TIME_REGISTRY}
    out = [
        "# Detector reference",
        "",
        "Every detector kind a policy may name, generated from `rules.kinds.KINDS` (what the policy may set)",
        "and from each detector class's docstring (what it computes). A rule reads a kind's `statistic` unless",
        "it names another of its statistics; *fires when* is the comparison under which a statistic usually",
        "signals trouble. Parameters the policy leaves unset take the detector's own default, listed with the",
        "class.",
        "",
        "| kind | reads | statistics | class |",
        "|---|---|---|---|",
    ]
    for name in sorted(KINDS):
        kind = KINDS[name]
        cls = classes.get(name)
        stats = ", ".join(f"`{s}`" for s in kind.statistics)
        out.append(f"| [`{name}`](#{anchor(name)}) | {kind.input} | {stats} | "
                   f"{f'`{cls.__name__}`' if cls else 'none registered'} |")
    for name in sorted(KINDS):
        out += ["", *_kind_section(KINDS[name], classes.get(name))]
    extra = sorted(set(classes) - set(KINDS))
    if extra:
        out += ["", f"## Python API only {{#{anchor('python-api-only')}}}", "",
                "Registered in `detectors` but not (yet) a kind a policy may name: usable from Python.", ""]
        for name in extra:
            cls = classes[name]
            out += ["", f"### `{name}` {{#{anchor(name)}}}", "", f"**Class** `{cls.__module__}.{cls.__name__}`", ""]
            out += docstring_markdown(inspect.getdoc(cls) or "", signature_defaults(cls))
    return "\n".join(out) + "\n"


def _kind_section(kind: DetectorKind, cls: type[Any] | None) -> list[str]:
    out = [f"## `{kind.name}` {{#{anchor(kind.name)}}}", ""]
    if kind.doc:
        out += [rst_inline(kind.doc[0].upper() + kind.doc[1:]) + ".", ""]
    out += [f"Reads: **{kind.input}**{_input_note(kind)}.", ""]
    out += ["| statistic | fires when |", "|---|---|"]
    out += [f"| `{stat}` | `{op}` |" for stat, op in kind.statistics.items()]
    out += ["", "**Policy parameters**", ""]
    own = signature_defaults(cls) if cls else {}
    if not kind.params:
        out.append("None.")
    for param in kind.params.values():
        if param.default is not None:
            default = f"default {code(repr(param.default))}"
        elif param.name in own and own[param.name] != "None":
            default = f"default: the detector's own, {code(own[param.name])}"
        elif cls is not None and param.name == "threshold" and param.name in _required(cls):
            # the engine lends a pair-fed detector the threshold of the rule that reads it (engine/model.py)
            default = "unset by default: the threshold of the rule that reads the detector"
        elif cls is not None and param.name in _required(cls):
            default = "required"
        else:
            default = "unset by default: the detector decides, see below"
        bits = [param.type, default]
        if param.minimum is not None:
            bits.append(f"at least {param.minimum}")
        doc = f": {rst_inline(param.doc)}" if param.doc else ""
        out.append(f"- **`{param.name}`** ({', '.join(bits)}){doc}")
    if cls is not None:
        out += ["", f"**Class** `{cls.__module__}.{cls.__name__}`", ""]
        out += docstring_markdown(inspect.getdoc(cls) or "", own)
    return out


def _required(cls: type[Any]) -> set[str]:
    try:
        params = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return set()
    return {p.name for p in params if p.default is inspect.Parameter.empty
            and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)}


def _input_note(kind: DetectorKind) -> str:
    return {
        "numeric": " (a window of a numeric feature, or of the prediction, against the reference)",
        "categorical": " (a window of a categorical feature, or of the prediction, against the reference)",
        "classification": " ((prediction, label) pairs of a classifier; no feature)",
        "regression": " ((prediction, label) pairs of a regressor; no feature)",
        "time": " (the records' timestamps against the clock; no feature)",
        "records": " (the model's records as a whole, counted from the quarantine; no feature)",
    }.get(kind.input, "")


# -- the command line reference, from argparse ---------------------------------------------------------------------

def cli_page() -> str:
    os.environ["COLUMNS"] = HELP_WIDTH
    parser = build_parser()
    out = [
        "# Command line reference",
        "",
        "Generated from the argument parser (`watchdog --help`, `watchdog COMMAND --help`). Exit codes: 0 done;",
        "1 `check` found errors (or a steward command's action failed); 2 the watchdog refused to start, with a",
        "sentence that says what to fix; 3 `run` ended with a protective action no node accepted; 4 `run`",
        "quarantined more than `--max-quarantined-share` of its source.",
        "",
        f"## watchdog {{#{anchor('watchdog')}}}",
        "",
        "```text",
        parser.format_usage().strip(),
        "```",
        "",
    ]
    out += _arguments(parser)
    out += ["", "| command | what it does |", "|---|---|"]
    for name, _sub, help_text in subcommands(parser):
        out.append(f"| [`{name}`](#{anchor('watchdog', name)}) | {rst_inline(one_line(help_text))} |")
    for name, sub, help_text in subcommands(parser):
        out += _command(["watchdog", name], sub, help_text, level=2)
    return "\n".join(out) + "\n"


def subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser, str]]:
    """(name, parser, help) of a parser's subcommands, in the order they were added."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            seen: set[int] = set()
            for name, sub in action.choices.items():
                if id(sub) in seen:  # an alias
                    continue
                seen.add(id(sub))
                found.append((name, sub, helps.get(name, "")))
    return found


def _command(words: list[str], parser: argparse.ArgumentParser, help_text: str, level: int) -> list[str]:
    out = ["", f"{'#' * level} {' '.join(words)} {{#{anchor(*words)}}}", ""]
    if help_text:
        out += [rst_inline(help_text[0].upper() + help_text[1:]) + ".", ""]
    if parser.description and one_line(parser.description) != one_line(help_text):
        out += [*_paragraphs(inspect.cleandoc(parser.description).splitlines()), ""]
    out += ["```text", parser.format_usage().strip(), "```", ""]
    out += _arguments(parser)
    if parser.epilog:
        out += ["", *_paragraphs(inspect.cleandoc(parser.epilog).splitlines())]
    for name, sub, sub_help in subcommands(parser):
        out += _command([*words, name], sub, sub_help, level=min(level + 1, 4))
    return out


def _arguments(parser: argparse.ArgumentParser) -> list[str]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction) or action.help == argparse.SUPPRESS:
            continue
        if action.option_strings:
            metavar = "" if action.nargs == 0 else " " + _metavar(action)
            flags = ", ".join(f"`{flag}{metavar}`" for flag in action.option_strings)
        else:
            flags = f"`{_metavar(action)}`"
        notes = []
        if action.required or not action.option_strings:
            notes.append("required" if action.nargs not in ("?", "*") else "optional")
        text = _expand_help(action)
        if (action.option_strings and action.nargs != 0 and action.default not in (None, argparse.SUPPRESS)
                and "default" not in text):  # a help that says its default already
            notes.append(f"default {code(str(action.default))}" if str(action.default) else "empty by default")
        if action.choices is not None and not isinstance(action.choices, Mapping):
            notes.append("one of " + ", ".join(code(str(c)) for c in action.choices))
        if isinstance(action, argparse._AppendAction):
            notes.append("repeatable")
        line = f"- {flags}" + (f" ({'; '.join(notes)})" if notes else "")
        if text:
            line += ": " + rst_inline(one_line(text))
        out.append(line)
    return out


def _metavar(action: argparse.Action) -> str:
    if isinstance(action.metavar, tuple):
        return " ".join(action.metavar)
    if action.metavar is not None:
        return action.metavar
    return action.dest if not action.option_strings else action.dest.upper()


def _expand_help(action: argparse.Action) -> str:
    """The help text with %(default)s and friends filled in, as argparse prints it."""
    if not action.help:
        return ""
    params = {k: v for k, v in vars(action).items() if v is not argparse.SUPPRESS}
    for key, value in list(params.items()):
        if hasattr(value, "__name__"):
            params[key] = value.__name__
    if params.get("choices") is not None:
        params["choices"] = ", ".join(str(c) for c in params["choices"])
    try:
        return action.help % params
    except (KeyError, TypeError, ValueError):
        return action.help


# -- the contract reference, from NatSpec ------------------------------------------------------------------------

@dataclass
class Item:
    """One declaration of a contract and its NatSpec."""

    category: str  # contract, function, event, error, modifier, struct, enum, variable
    name: str
    declaration: str
    tags: dict[str, str] = field(default_factory=dict)
    params: list[tuple[str, str]] = field(default_factory=list)
    returns: list[tuple[str, str]] = field(default_factory=list)
    contract: str = ""


_DECL = re.compile(r"^(contract|interface|library|abstract contract|function|event|error|modifier|struct|enum|"
                   r"constructor|receive|fallback)\b\s*(\w*)")
_VARIABLE = re.compile(r"^[\w.\[\]() =>]+?\b(public|external)\b.*?(\w+)\s*(?:=.*)?$")
_SHOWN = ("contract", "interface", "library", "abstract contract")


def parse_natspec(source: str) -> list[Item]:
    """Every public declaration of a Solidity file with its NatSpec (``///`` lines and ``/** */`` blocks).

    Private and internal functions and state are left out; a declaration without NatSpec is kept (its
    signature still documents it). Bodies are skipped by counting braces.
    """
    items: list[Item] = []
    lines = source.splitlines()
    doc: list[str] = []
    contract = ""
    depth = 0
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if depth <= 1 and line.startswith("///"):
            doc.append(line[3:].strip())
            i += 1
            continue
        if depth <= 1 and line.startswith("/**"):
            block = []
            while True:
                block.append(lines[i].strip())
                if "*/" in lines[i]:
                    break
                i += 1
            i += 1
            text = "\n".join(block).removeprefix("/**").rsplit("*/", 1)[0]
            doc.extend(re.sub(r"^\s*\*(?!/) ?", "", part) for part in text.splitlines())
            continue
        if depth <= 1 and line and not line.startswith(("//", "/*", "}", "pragma", "import", "using")):
            start = i
            decl = [line]
            while not re.search(r"\{|;\s*(//.*)?$", decl[-1]) and i + 1 < len(lines):
                i += 1
                decl.append(lines[i].strip())
            text = " ".join(decl)
            head = re.split(r"\s*\{", text, maxsplit=1)[0].rstrip(";").strip()
            item = _item(head, doc, contract)
            if item is not None and item.category in ("struct", "enum"):
                body = [lines[start].rstrip()]
                j = start
                while sum(_brace_delta(b) for b in body) > 0 and j + 1 < len(lines):
                    j += 1
                    body.append(lines[j].rstrip())
                item.declaration = inspect.cleandoc("\n".join(body))
            if item is not None:
                if item.category in _SHOWN:
                    contract = item.name
                    item.contract = item.name
                items.append(item)
            doc = []
            for j in range(start, i + 1):
                depth += _brace_delta(lines[j])
            i += 1
            continue
        if line and not line.startswith(("//", "/*", "*")):
            doc = []
        depth += _brace_delta(lines[i])
        i += 1
    return items


def _brace_delta(line: str) -> int:
    line = re.sub(r'"(?:[^"\\]|\\.)*"', '""', line.split("//", 1)[0])
    return line.count("{") - line.count("}")


def _item(head: str, doc: list[str], contract: str) -> Item | None:
    match = _DECL.match(head)
    if match:
        category, name = match.group(1), match.group(2)
        if category in ("constructor", "receive", "fallback"):
            category, name = "function", category
        elif category == "function" and not re.search(r"\b(public|external)\b", head):
            return None
        if category == "abstract contract":
            category = "contract"
    else:
        var = _VARIABLE.match(head)
        if not var or re.search(r"\b(private|internal)\b", head.split("=", 1)[0]):
            return None
        category, name = "variable", var.group(2)
        head = head.split("=", 1)[0].strip() if "constant" not in head else head
    item = Item(category, name, re.sub(r"\s+", " ", head).replace("( ", "(").replace(" )", ")"), contract=contract)
    _read_tags(item, doc)
    return item


def _read_tags(item: Item, doc: list[str]) -> None:
    current: list[str] | None = None
    tag = "notice"
    parts: dict[str, list[str]] = {}
    for raw in doc:
        line = raw.strip()
        match = re.match(r"@(\w+(?::[\w-]+)?)\s*(.*)", line)
        if match:
            tag, rest = match.group(1), match.group(2)
            if tag in ("param", "return"):
                name, _, text = rest.partition(" ")
                target = item.params if tag == "param" else item.returns
                target.append((name, text))
                current = None
                continue
            current = parts.setdefault(tag, [])
            current.append(rest)
        elif current is None and (item.params or item.returns) and line:
            target = item.returns if item.returns and tag == "return" else item.params
            name, text = target[-1]
            target[-1] = (name, f"{text} {line}")
        else:
            if current is None:
                current = parts.setdefault(tag, [])
            current.append(line)
    for tag, lines in parts.items():
        item.tags[tag] = "\n".join(lines).strip()


_LINK = re.compile(r"\{(\w+)\}")
_CATEGORY_TITLES = (("variable", "Roles, constants and public state"), ("function", "Functions"),
                    ("event", "Events"), ("error", "Errors"), ("struct", "Structs"), ("enum", "Enums"),
                    ("modifier", "Modifiers"))


def contract_page(paths: Sequence[Path]) -> str:
    out = [
        "# Contract reference",
        "",
        "Generated from the NatSpec comments of the Solidity sources (no compiler needed). Only what another",
        "account can call or read is listed: public and external functions, public state, events and custom",
        "errors (the watchdog reports a revert by its error's name).",
    ]
    for path in paths:
        items = parse_natspec(path.read_text(encoding="utf-8"))
        contracts = [it for it in items if it.category in _SHOWN or it.category == "contract"]
        if not contracts:
            continue
        main = contracts[0]
        targets = {it.name: _item_anchor(it) for it in items if it.category != "contract"}
        targets.update({c.name: anchor(c.name) for c in contracts})
        rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        out += ["", f"## {main.name} {{#{anchor(main.name)}}}", "", f"Source: `{rel}`.", ""]
        for tag in ("notice", "dev"):
            if main.tags.get(tag):
                out += [*_natspec_text(main.tags[tag], targets), ""]
        for category, title in _CATEGORY_TITLES:
            members = [it for it in items if it.category == category and it.contract == main.name]
            if not members:
                continue
            out += ["", f"### {title} {{#{anchor(main.name, category)}}}", ""]
            for it in members:
                out += _render_item(it, targets)
    return "\n".join(out) + "\n"


def _item_anchor(item: Item) -> str:
    return anchor(item.contract, item.category, item.name)


def _natspec_text(text: str, targets: Mapping[str, str]) -> list[str]:
    def link(match: re.Match[str]) -> str:
        name = match.group(1)
        return f"[`{name}`](#{targets[name]})" if name in targets else f"`{name}`"

    out = []
    for line in text.splitlines():
        md = "".join(part if part.startswith("`") else escape(part) for part in _CODE_SPAN.split(line))
        out.append(_LINK.sub(link, md.replace("\\[", "[").replace("\\]", "]")) if "{" in md else md)
    return out


def _render_item(item: Item, targets: Mapping[str, str]) -> list[str]:
    out = ["", f"#### `{item.name}` {{#{_item_anchor(item)}}}", "", "```solidity", item.declaration, "```", ""]
    for tag in ("notice", "dev"):
        if item.tags.get(tag):
            out += [*_natspec_text(item.tags[tag], targets), ""]
    for label, entries in (("Parameters", item.params), ("Returns", item.returns)):
        if entries:
            out += [f"**{label}**", ""]
            out += [f"- `{name}`: {' '.join(_natspec_text(one_line(text), targets))}" for name, text in entries]
            out.append("")
    return out


# -- command line ----------------------------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the generated pages of the documentation site.")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, help="folder to write reference/*.md under (e.g. a copy of docs/)")
    where.add_argument("--json", action="store_true", help="print {path: markdown} as JSON on stdout")
    args = parser.parse_args(argv)
    pages = generate()
    if args.json:
        json.dump(pages, sys.stdout, ensure_ascii=False)
        return 0
    for rel, text in pages.items():
        target = args.out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
