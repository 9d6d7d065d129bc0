"""YAML documents (plans, benches) validated by pydantic models, with errors a lab engineer
can act on: every problem as ``<file>:<line>: <yaml path>: <reason>``.

The load tracks each node's line, rejects duplicate keys (PyYAML keeps the last silently) and
reads YAML 1.1 floats like ``3.5e9`` as numbers.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, PrivateAttr, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


def sha256_text(text: str) -> str:
    """Hex SHA-256 of ``text`` encoded as UTF-8 (file provenance)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Issue:
    """One problem in a file: YAML path (``steps[0].limits.psat_dbm.min``), 1-based line, reason."""

    path: str
    line: int | None
    message: str

    def format(self, source: str) -> str:
        where = f"{source}:{self.line}" if self.line is not None else source
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class DocumentError(Exception):
    """A YAML document that cannot be used; the message has one line per :class:`Issue`."""

    def __init__(self, source: str, issues: list[Issue]) -> None:
        self.source = source
        self.issues = sorted(issues, key=lambda i: (i.line or 0, i.path))
        lines = [i.format(source) for i in self.issues]
        head = [f"{len(lines)} problems in {source}:"] if len(lines) > 1 else []
        super().__init__("\n".join(head + lines))

    @classmethod
    def single(cls, source: str, message: str, line: int | None = None) -> DocumentError:
        return cls(source, [Issue("", line, message)])


def raise_problems(title: str, problems: list[tuple[Loc, str, Any]]) -> None:
    """From a validator: raise a ValidationError with one error per (loc, reason, input)."""
    if problems:
        raise ValidationError.from_exception_data(title, [
            InitErrorDetails(type=PydanticCustomError("benchbot_rule", "{reason}", {"reason": msg}),
                             loc=loc, input=value)
            for loc, msg, value in problems
        ])


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads ``3.5e9`` as a float, as YAML 1.2 does (PyYAML's 1.1 rules need
    ``3.5e+9`` and would hand the simulators a string)."""


_FLOAT = "tag:yaml.org,2002:float"
_Loader.yaml_implicit_resolvers = {
    first: [r for r in resolvers if r[0] != _FLOAT]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_FLOAT, re.compile(r"""^(?:
     [-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""", re.X), list("-+0123456789."))


def validate_yaml(model: type[M], text: str, source: str, error: type[DocumentError]) -> M:
    """Parse YAML ``text`` and validate it as ``model``; every problem becomes one ``error``."""
    try:  # the reader checks the characters when it is made (e.g. a control character)
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:
        line = text[:exc.position].count("\n") + 1
        raise error.single(source, f"invalid YAML: {exc.reason} (character "
                           f"{exc.character!r})", line) from None
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        why = "; ".join(p for p in (exc.context, exc.problem) if p)
        line = mark.line + 1 if mark else None
        raise error.single(source, f"invalid YAML: {why}", line) from None
    except yaml.YAMLError as exc:
        raise error.single(source, f"invalid YAML: {exc}") from None
    except RecursionError:  # e.g. thousands of nested [ from a fuzzer
        raise error.single(source, "invalid YAML: nested too deeply") from None
    finally:
        loader.dispose()
    issues = _duplicate_keys(node, ()) if node is not None else []
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        issues.append(Issue("", 1, f"expected a YAML mapping at the top level, got {got}"))
    if issues:
        raise error(source, issues)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(source, [_issue(e, node, model) for e in exc.errors()]) from None


def _path(loc: Loc) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


def _duplicate_keys(node: yaml.Node, loc: Loc) -> list[Issue]:
    """PyYAML keeps the last of repeated keys silently; a plan must not."""
    issues: list[Issue] = []
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key, value in node.value:
            name, line = str(key.value), key.start_mark.line + 1
            if name in first:
                issues.append(Issue(_path((*loc, name)), line,
                                    f"duplicate key (first on line {first[name]})"))
            first.setdefault(name, line)
            issues += _duplicate_keys(value, (*loc, name))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            issues += _duplicate_keys(item, (*loc, i))
    return issues


def _locate(loc: Loc, node: yaml.Node | None) -> tuple[Loc, int | None]:
    """Follow a pydantic ``loc`` through the YAML nodes: (loc without union tags, line)."""
    out: list[str | int] = []
    line = node.start_mark.line + 1 if node is not None else None
    for el in loc:
        if el == "[key]":
            continue
        if isinstance(node, yaml.MappingNode):
            pairs = {str(k.value): (k, v) for k, v in node.value}
            if el in pairs:
                key, node = pairs[el]
                line = key.start_mark.line + 1
            elif any(isinstance(v, yaml.ScalarNode) and v.value == el for k, v in node.value
                     if k.value == "kind"):
                continue  # a discriminated-union tag pydantic puts in loc, not in the file
            else:
                node = None
        elif isinstance(node, yaml.SequenceNode) and isinstance(el, int) and el < len(node.value):
            node = node.value[el]
            line = node.start_mark.line + 1
        else:
            node = None
        out.append(el)
    return tuple(out), line


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(members) != 1:
                return tp
            tp = members[0]
        else:
            return tp


def _union_member(tp: Any, tag: str | int) -> type[BaseModel] | None:
    """The model of a union (of several models) whose ``kind`` is the literal ``tag``."""
    if typing.get_origin(tp) not in (typing.Union, types.UnionType):
        return None
    for member in typing.get_args(tp):
        if isinstance(member, type) and issubclass(member, BaseModel):
            field = member.model_fields.get("kind")
            if field is not None and typing.get_args(field.annotation) == (tag,):
                return member
    return None


def _fields_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """Field names (aliases) of the model found at ``loc`` inside ``model``; [] if unknown."""
    tp: Any = model
    for el in loc:
        tp = _unwrap(tp)
        member = _union_member(tp, el)
        if member is not None:  # a discriminated-union tag pydantic puts in loc: pick that model
            tp = member
            continue
        origin = typing.get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            fields = {(f.alias or n): f for n, f in tp.model_fields.items()}
            if el in fields:
                tp = fields[el].annotation
            elif not any(typing.get_args(f.annotation) == (el,) for f in fields.values()):
                return []  # else: a discriminated-union tag; stay on this model
        elif origin is list and isinstance(el, int):
            tp = typing.get_args(tp)[0]
        elif origin is dict:
            tp = typing.get_args(tp)[1]
        else:
            return []
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [f.alias or n for n, f in tp.model_fields.items()]
    return []


def _issue(err: Any, root: yaml.Node | None, model: type[BaseModel]) -> Issue:
    kind, loc, ctx = err["type"], tuple(err["loc"]), err.get("ctx") or {}
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        loc = (*loc, str(ctx.get("discriminator", "kind")).strip("'"))
    tagged = loc  # still holds the union tags that select a step's model
    loc, line = _locate(loc, root)
    if kind == "missing":
        reason = "required field is missing"
    elif kind == "extra_forbidden":
        allowed = _fields_at(model, tagged[:-1])
        near = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        reason = "unknown field" + (f"; did you mean {near[0]!r}?" if near else "")
        if allowed and not near:
            reason += f"; allowed: {', '.join(allowed)}"
    elif kind in ("value_error", "assertion_error"):
        reason = str(ctx.get("error", err["msg"]))
    elif kind == "union_tag_invalid":
        reason = f"unknown kind {ctx.get('tag')!r}; known kinds: {ctx.get('expected_tags')}"
    elif kind == "union_tag_not_found":
        reason = "required field is missing (it selects the step's schema)"
    else:
        reason = err["msg"]
        value = err.get("input")
        if kind != "benchbot_rule" and (value is None or isinstance(value, str | int | float)):
            reason += f" (got {value!r})"
    return Issue(_path(loc), line, reason)


def load_document(model: type[M], path: str | Path, error: type[DocumentError]) -> M:
    """Read and validate a YAML file into `model`; an unreadable file is an `error` too."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error.single(str(path), f"cannot read: {exc}") from exc
    return parse_document(model, text, str(path), error)


def parse_document(model: type[M], text: str, source: str, error: type[DocumentError]) -> M:
    """Validate YAML `text` into `model`, keeping its source path and text on the result."""
    document = validate_yaml(model, text, source, error)
    document._source_path = source
    document._source_text = text
    return document


class SourcedDocument(BaseModel):
    """A model loaded from a file: keeps the file's path and exact text for provenance."""

    _source_path: str | None = PrivateAttr(default=None)
    _source_text: str | None = PrivateAttr(default=None)

    @property
    def source_path(self) -> str | None:
        """The file the document was loaded from, if any."""
        return self._source_path

    @property
    def source_text(self) -> str | None:
        """The file's text exactly as read (for the record)."""
        return self._source_text

    @property
    def sha256(self) -> str | None:
        """SHA-256 (hex) of :attr:`source_text`, for provenance."""
        return None if self._source_text is None else sha256_text(self._source_text)
