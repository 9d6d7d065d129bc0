"""SCPI text handling for the simulators: errors, header patterns, message splitting.

References: IEEE 488.2-1992 §7 (program message syntax, <SUFFIX PROGRAM DATA> multipliers,
definite/indefinite <ARBITRARY BLOCK PROGRAM DATA>), SCPI-1999 Vol. 1 §6 (header path rules,
short/long forms, numeric suffixes, MINimum/MAXimum/DEFault) and §21.8 (error codes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# SCPI-1999 §21.8 standard error messages (Keysight programming guides use the same texts).
STANDARD_ERRORS: dict[int, str] = {
    0: "No error",
    -100: "Command error",
    -101: "Invalid character",
    -102: "Syntax error",
    -103: "Invalid separator",
    -104: "Data type error",
    -108: "Parameter not allowed",
    -109: "Missing parameter",
    -112: "Program mnemonic too long",
    -113: "Undefined header",
    -120: "Numeric data error",
    -121: "Invalid character in number",
    -131: "Invalid suffix",
    -141: "Invalid character data",
    -151: "Invalid string data",
    -161: "Invalid block data",
    -200: "Execution error",
    -213: "Init ignored",
    -220: "Parameter error",
    -221: "Settings conflict",
    -222: "Data out of range",
    -224: "Illegal parameter value",
    -230: "Data corrupt or stale",
    -240: "Hardware error",
    -300: "Device-specific error",
    -310: "System error",
    -330: "Self-test failed",
    -350: "Queue overflow",
    -400: "Query error",
    -410: "Query INTERRUPTED",
    -420: "Query UNTERMINATED",
    -430: "Query DEADLOCKED",
    -440: "Query UNTERMINATED after indefinite response",
}


class ScpiError(Exception):
    """An SCPI error raised by a handler; the core queues `code,"message"` and sends no reply."""

    def __init__(self, code: int, message: str | None = None) -> None:
        self.code = int(code)
        self.message = message if message is not None else STANDARD_ERRORS.get(code, "Error")
        super().__init__(f"{self.code},{self.message}")


# ---------------------------------------------------------------------------------------------
# Header patterns and the command trie
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """One mnemonic of a pattern: short form, long form, and its `<n>` slot (None: no suffix)."""

    short: str
    long: str
    slot: int | None = None

    @property
    def suffix(self) -> bool:
        return self.slot is not None


_NODE_RE = re.compile(r"^([A-Za-z][A-Za-z0-9_]*?)(<n>)?$")


def make_node(text: str, slot: int | None = None) -> Node:
    m = _NODE_RE.match(text)
    if not m:
        raise ValueError(f"bad SCPI pattern node {text!r}")
    word = m.group(1)
    # Short form = the upper-case letters and digits of the manual's mixed-case spelling.
    short = "".join(c for c in word if c.isupper() or c.isdigit() or c == "_")
    return Node(short=short or word.upper(), long=word.upper(),
                slot=slot if m.group(2) else None)


def expand_pattern(pattern: str) -> tuple[list[tuple[Node, ...]], int]:
    """All concrete node sequences of a pattern such as `[:SOURce]:FREQuency[:CW|:FIXed]`.

    `[...]` is an optional group whose `|`-separated alternatives are node sequences; groups
    may nest. Returns (expansions, number of `<n>` slots); slots are numbered in text order.
    """
    pattern = pattern.strip().rstrip("?")
    n_slots = 0

    def parse_seq(s: str, i: int, stop: str) -> tuple[list[list[Node]], int]:
        nonlocal n_slots
        # returns (expansions of this sequence, index after it)
        alts: list[list[list[Node]]] = [[[]]]  # list of alternatives, each a list of expansions
        while i < len(s) and s[i] not in stop:
            ch = s[i]
            if ch == "|":
                alts.append([[]])
                i += 1
            elif ch == "[":
                inner, i = parse_seq(s, i + 1, "]")
                if i >= len(s) or s[i] != "]":
                    raise ValueError(f"unbalanced [ in {pattern!r}")
                i += 1
                options = [[]] + inner
                alts[-1] = [e + o for e in alts[-1] for o in options]
            elif ch == ":":
                i += 1
            else:
                j = i
                while j < len(s) and s[j] not in ":[]|":
                    j += 1
                node = make_node(s[i:j], n_slots)
                if node.suffix:
                    n_slots += 1
                alts[-1] = [e + [node] for e in alts[-1]]
                i = j
        out: list[list[Node]] = []
        for a in alts:
            out.extend(a)
        return out, i

    expansions, _ = parse_seq(pattern, 0, "")
    result = [tuple(e) for e in expansions if e]
    if not result:
        raise ValueError(f"empty SCPI pattern {pattern!r}")
    return result, n_slots


@dataclass
class TrieNode:
    plain: dict[str, TrieNode] = field(default_factory=dict)
    suffixed: dict[str, TrieNode] = field(default_factory=dict)
    # terminal: (command object, suffix slot per level or None, number of slots)
    terminal: tuple[object, tuple[int | None, ...], int] | None = None


class CommandTrie:
    """Maps typed header node lists to registered commands (long or short form, any case)."""

    def __init__(self) -> None:
        self.root = TrieNode()

    def insert(self, pattern: str, command: object) -> None:
        """Register every expansion of `pattern`; a later registration overrides an earlier."""
        expansions, n_slots = expand_pattern(pattern)
        for nodes in expansions:
            t = self.root
            for node in nodes:
                table = t.suffixed if node.suffix else t.plain
                child = table.get(node.long)
                if child is None:
                    child = TrieNode()
                    table[node.long] = child
                table[node.short] = child
                t = child
            t.terminal = (command, tuple(node.slot for node in nodes), n_slots)

    def lookup(self, words: list[str]) -> tuple[object, tuple[int, ...]] | None:
        """Find the command for upper-case typed mnemonics; returns (command, suffixes)."""
        found = self._walk(self.root, words, 0, [])
        if found is None:
            return None
        t, typed_suffixes = found
        command, slots, n_slots = t.terminal  # type: ignore[misc]
        suffixes = [1] * n_slots
        for slot, value in zip(slots, typed_suffixes, strict=True):
            if slot is not None and value is not None:
                suffixes[slot] = value
        return command, tuple(suffixes)

    def _walk(
        self, t: TrieNode, words: list[str], i: int, acc: list[int | None]
    ) -> tuple[TrieNode, list[int | None]] | None:
        if i == len(words):
            return (t, acc) if t.terminal is not None else None
        w = words[i]
        child = t.plain.get(w)
        if child is not None:
            r = self._walk(child, words, i + 1, acc + [None])
            if r is not None:
                return r
        if t.suffixed:
            child = t.suffixed.get(w)
            if child is not None:
                r = self._walk(child, words, i + 1, acc + [None])
                if r is not None:
                    return r
            m = _TRAILING_DIGITS.match(w)
            if m:
                child = t.suffixed.get(m.group(1))
                if child is not None:
                    return self._walk(child, words, i + 1, acc + [int(m.group(2))])
        return None


_TRAILING_DIGITS = re.compile(r"^(.*?[A-Z_])(\d+)$")


# ---------------------------------------------------------------------------------------------
# Program message splitting
# ---------------------------------------------------------------------------------------------


def find_message_end(buf: bytes | bytearray, start: int = 0) -> int:
    """Index of the `\\n` that terminates the program message in `buf`, or -1 if incomplete.

    Definite-length blocks (`#<n><len><data>`, IEEE 488.2 §7.7.6) may contain `\\n`; they are
    skipped by length. Quoted strings are honoured. Fast path when the line has no `#`.
    """
    nl = buf.find(b"\n", start)
    if nl < 0:
        return -1
    if buf.find(b"#", start, nl) < 0:
        return nl
    i, n, quote = start, len(buf), 0
    while i < n:
        c = buf[i]
        if quote:
            if c == quote:
                quote = 0
        elif c in (0x22, 0x27):
            quote = c
        elif c == 0x0A:
            return i
        elif c == 0x23 and i + 1 < n and 0x31 <= buf[i + 1] <= 0x39:  # '#1'..'#9'
            nd = buf[i + 1] - 0x30
            if i + 2 + nd > n:
                return -1
            digits = bytes(buf[i + 2 : i + 2 + nd])
            if not digits.isdigit():
                i += 1
                continue
            i += 2 + nd + int(digits)
            if i > n:
                return -1
            continue
        i += 1
    return -1


def split_top(text: str, sep: str) -> list[str]:
    """Split on `sep` outside quotes, `(...)` and definite-length blocks."""
    if '"' not in text and "'" not in text and "(" not in text and "#" not in text:
        return text.split(sep)
    parts: list[str] = []
    cur_start, i, n, depth, quote = 0, 0, len(text), 0, ""
    while i < n:
        c = text[i]
        if quote:
            if c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth = max(0, depth - 1)
        elif c == "#" and i + 1 < n and text[i + 1] in "123456789":
            nd = int(text[i + 1])
            digits = text[i + 2 : i + 2 + nd]
            if digits.isdigit():
                i += 2 + nd + int(digits)
                continue
        elif c == sep and depth == 0:
            parts.append(text[cur_start:i])
            cur_start = i + 1
        i += 1
    parts.append(text[cur_start:])
    return parts


def block_end(text: str) -> int:
    """Index just after the last definite-length block in `text` (outside quotes), else 0.

    Whitespace before that index is payload and must not be stripped (IEEE 488.2 §7.7.6).
    """
    if "#" not in text:
        return 0
    i, n, quote, end = 0, len(text), "", 0
    while i < n:
        c = text[i]
        if quote:
            if c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c == "#" and i + 1 < n and text[i + 1] in "123456789":
            nd = int(text[i + 1])
            digits = text[i + 2 : i + 2 + nd]
            if len(digits) == nd and digits.isdigit():
                i += 2 + nd + int(digits)
                end = min(i, n)
                continue
        i += 1
    return end


def strip_unit(text: str) -> str:
    """`str.strip` that leaves the payload of a trailing definite-length block intact."""
    text = text.lstrip()
    end = block_end(text)
    return text[:end] + text[end:].rstrip() if end else text.rstrip()


_HEADER_RE = re.compile(r"^(:?)([A-Za-z][A-Za-z0-9_]*(?::[A-Za-z][A-Za-z0-9_]*)*)(\??)$")
_COMMON_RE = re.compile(r"^(\*[A-Za-z]+)(\??)$")


@dataclass(frozen=True)
class Unit:
    """One program message unit: header words, absolute?, common?, query?, raw arguments."""

    words: tuple[str, ...]
    absolute: bool
    common: bool
    query: bool
    args: list[str]


def parse_unit(text: str) -> Unit | None:
    """Parse `:FREQ:CENT 3.5 GHz` into a Unit; None for an empty unit; -102 on bad syntax."""
    text = strip_unit(text)
    if not text:
        return None
    parts = text.split(None, 1)
    header = parts[0]
    rest = parts[1] if len(parts) > 1 else ""
    if header.startswith("*"):
        m = _COMMON_RE.match(header)
        if not m:
            raise ScpiError(-102)
        words: tuple[str, ...] = (m.group(1).upper(),)
        absolute, common, query = True, True, bool(m.group(2))
    else:
        m = _HEADER_RE.match(header)
        if not m:
            raise ScpiError(-102)
        words = tuple(m.group(2).upper().split(":"))
        absolute, common, query = bool(m.group(1)), False, bool(m.group(3))
    args: list[str] = []
    if rest.strip():
        args = [strip_unit(a) for a in split_top(rest, ",")]
        if any(a == "" for a in args):
            raise ScpiError(-102)
    return Unit(words, absolute, common, query, args)
