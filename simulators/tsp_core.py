"""A subset of TSP (Keithley's Lua dialect) for the 2600B simulators: tokenizer, parser,
object model and evaluator (see `simulators.keithley_2636b` for the subset understood).

Errors are what the instrument queues: -285 "TSP Syntax error at line 1: unexpected symbol near
`X'", -286 "TSP Runtime error at line 1: ..." (2600B Reference Manual; wording [verify]).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

SYNTAX, RUNTIME = -285, -286


class TspError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def syntax_error(near: str) -> TspError:
    return TspError(SYNTAX, f"TSP Syntax error at line 1: unexpected symbol near `{near}'")


def runtime_error(text: str) -> TspError:
    return TspError(RUNTIME, f"TSP Runtime error at line 1: {text}")


_TOKEN = re.compile(r"""\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_]\w*)
    |(?P<str>"[^"]*"|'[^']*')|(?P<sym>[.,(){}\[\]=;-]))""", re.X)


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens, i = [], 0
    text = text.split("--", 1)[0].rstrip() if "--" in text and '"' not in text else text
    while i < len(text):
        m = _TOKEN.match(text, i)
        if m is None or m.end() == i:
            if text[i:].strip() == "":
                break
            raise syntax_error(text[i:].strip()[:1])
        kind = m.lastgroup or "sym"
        tokens.append((kind, m.group(kind)))
        i = m.end()
    return tokens


class Parser:
    """Recursive descent over the token list; produces nested tuples (see `_primary`)."""

    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("eof", "<eof>")

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if value is not None and tok[1] != value:
            raise syntax_error(tok[1])
        self.i += 1
        return tok

    def chunk(self) -> list[tuple[Any, ...]]:
        statements = []
        while self.peek()[0] != "eof":
            if self.peek()[1] == ";":
                self.take()
                continue
            target = self._primary()
            if self.peek()[1] == "=":
                if target[0] not in ("name", "index"):
                    raise syntax_error("=")
                self.take()
                statements.append(("assign", target, self.expr()))
            elif target[0] == "call":
                statements.append(("call", target))
            else:
                raise syntax_error(self.peek()[1])
        return statements

    def expr(self) -> tuple[Any, ...]:
        kind, value = self.peek()
        if value == "-":
            self.take()
            return ("neg", self.expr())
        if kind == "num":
            self.take()
            return ("const", float(value))
        if kind == "str":
            self.take()
            return ("const", value[1:-1])
        if value in ("true", "false", "nil"):
            self.take()
            return ("const", {"true": True, "false": False, "nil": None}[value])
        if value == "{":
            self.take()
            items = []
            while self.peek()[1] != "}":
                items.append(self.expr())
                if self.peek()[1] != ",":
                    break
                self.take()
            self.take("}")
            return ("table", items)
        return self._primary()

    def _primary(self) -> tuple[Any, ...]:
        kind, value = self.take()
        if kind != "name":
            raise syntax_error(value)
        node: tuple[Any, ...] = ("name", value)
        while True:
            sym = self.peek()[1]
            if sym == ".":
                self.take()
                k, name = self.take()
                if k != "name":
                    raise syntax_error(name)
                node = ("index", node, ("const", name), name)
            elif sym == "[":
                self.take()
                key = self.expr()
                self.take("]")
                node = ("index", node, key, "?")
            elif sym == "(":
                self.take()
                args = []
                while self.peek()[1] != ")":
                    args.append(self.expr())
                    if self.peek()[1] != ",":
                        break
                    self.take()
                self.take(")")
                node = ("call", node, args)
            else:
                return node


class Fn:
    """A TSP function (Python callable taking evaluated arguments)."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn


class Obj:
    """A TSP object: fields (constants, attributes), computed getters and checked setters."""

    def __init__(self, fields: dict[str, Any] | None = None,
                 getters: dict[str, Callable[[], Any]] | None = None,
                 setters: dict[str, Callable[[Any], None]] | None = None) -> None:
        self.fields = dict(fields or {})
        self.getters = dict(getters or {})
        self.setters = dict(setters or {})

    def get(self, key: Any) -> Any:
        key = _key(key)
        if key in self.getters:
            return self.getters[key]()
        return self.fields.get(key)

    def set(self, key: Any, value: Any) -> None:
        key = _key(key)
        if key in self.setters:
            self.setters[key](value)
        elif key in self.fields and not isinstance(self.fields[key], Obj | Fn):
            self.fields[key] = value
        else:
            raise runtime_error(f"attempt to set read-only or unknown attribute `{key}'")


def _key(key: Any) -> Any:
    return int(key) if isinstance(key, float) and key.is_integer() else key


def number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise runtime_error(f"bad argument ({what}: number expected)")
    return float(value)


class Evaluator:
    """Runs parsed statements against global names (assignments to plain names are kept in
    `globals`, everything else resolves in `builtins`)."""

    def __init__(self, builtins: dict[str, Any]) -> None:
        self.builtins = builtins
        self.globals: dict[str, Any] = {}

    def run_statement(self, stmt: tuple[Any, ...]) -> None:
        if stmt[0] == "assign":
            target, value = stmt[1], self.evaluate(stmt[2])
            if target[0] == "name":
                self.globals[target[1]] = value
                return
            obj = self.evaluate(target[1])
            if not isinstance(obj, Obj):
                raise runtime_error(f"attempt to index field `{target[3]}' (a nil value)")
            obj.set(self.evaluate(target[2]), value)
        else:
            self.evaluate(stmt[1])

    def evaluate(self, node: tuple[Any, ...], multi: bool = False) -> Any:
        kind = node[0]
        if kind == "const":
            return node[1]
        if kind == "neg":
            return -number(self.evaluate(node[1]), "operand")
        if kind == "table":
            return [self.evaluate(e) for e in node[1]]
        if kind == "name":
            return self.globals.get(node[1], self.builtins.get(node[1]))
        if kind == "index":
            obj = self.evaluate(node[1])
            key = self.evaluate(node[2])
            if isinstance(obj, Obj):
                return obj.get(key)
            if isinstance(obj, list) and isinstance(key, float) and 1 <= key <= len(obj):
                return obj[int(key) - 1]
            raise runtime_error(f"attempt to index field `{_label(node[1])}' (a nil value)")
        fn = self.evaluate(node[1])
        if not isinstance(fn, Fn):
            raise runtime_error(f"attempt to call field `{_label(node[1])}' (a nil value)")
        args: list[Any] = []
        for i, a in enumerate(node[2]):
            value = self.evaluate(a, multi=i == len(node[2]) - 1)
            args.extend(value if isinstance(value, tuple) else (value,))
        try:
            result = fn.fn(*args)
        except TypeError:
            raise runtime_error("bad argument count") from None
        if isinstance(result, tuple) and not multi:
            return result[0]
        return result


def _label(node: tuple[Any, ...]) -> str:
    """The name a runtime error message quotes for an expression node."""
    if node[0] == "name":
        return str(node[1])
    if node[0] == "index":
        return str(node[3])
    return "?"
