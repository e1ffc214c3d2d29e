"""Every Lua script names its KEYS and ARGV once, at the top, and touches only keys it was
passed: the condition for running unchanged on a Redis Cluster (SPEC §3), read off the
source (as Redis loads it, includes expanded) by a small Lua tokenizer.

Rules, per script:
- ``KEYS`` and ``ARGV`` appear only in top-level ``local`` bindings (``local a, b = KEYS[1],
  ARGV[2]``, ``local list = {unpack(KEYS, 8)}``), which are never rebound or shadowed.
- The key argument of every ``redis.call``/``redis.pcall`` (but keyless commands such as
  TIME) is a local bound from ``KEYS[n]``, an element of a list bound from ``KEYS``, or a
  parameter of a local function at every call of which that argument obeys this rule.
- The seats hash is written only by ``set_seat`` (scripts/seat_state.lua), which keeps the
  event's availability index in step, and a script that changes seats saves the index rows
  it changed (``save_rows``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources

import pytest

from ticketmaster.adapters.redis.seat_gate import load_script

KEYLESS = frozenset({"TIME"})
SEAT_WRITES = frozenset({"HSET", "HDEL", "HSETNX", "HINCRBY", "DEL", "UNLINK"})
OPENERS = frozenset({"function", "do", "if", "repeat"})
CLOSERS = frozenset({"end", "until"})
_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<long_comment>--\[(?P<eq1>=*)\[.*?\](?P=eq1)\])
      | (?P<comment>--[^\n]*)
      | (?P<long_string>\[(?P<eq2>=*)\[.*?\](?P=eq2)\])
      | (?P<string>'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*")
      | (?P<number>0[xX][0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op>\.\.\.|\.\.|==|~=|<=|>=|[-+*/%^#<>=(){}\[\];:,.])
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    line: int
    depth: int  # block depth before this token


def tokenize(source: str) -> list[Token]:
    tokens: list[Token] = []
    depth, pos, line = 0, 0, 1
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        assert match, f"cannot tokenize line {line}: {source[pos : pos + 40]!r}"
        kind = str(match.lastgroup)
        text = match.group()
        if kind in ("eq1", "eq2"):  # a named inner group: take the outer one
            kind = "long_comment" if text.startswith("--") else "long_string"
        if kind not in ("space", "comment", "long_comment"):
            if kind == "name" and text in CLOSERS:
                depth -= 1
            tokens.append(Token("string" if kind == "long_string" else kind, text, line, depth))
            if kind == "name" and text in OPENERS:
                depth += 1
        line += text.count("\n")
        pos = match.end()
    assert depth == 0, "unbalanced blocks"
    return tokens


def split_args(tokens: list[Token], open_index: int) -> tuple[list[list[Token]], int]:
    """The comma-separated arguments of the call whose "(" is at ``open_index``, and the
    index of its ")"."""
    args: list[list[Token]] = [[]]
    nesting = 0
    i = open_index + 1
    while True:
        t = tokens[i]
        if t.text in ("(", "{", "[") and t.kind == "op":
            nesting += 1
        elif t.text in (")", "}", "]") and t.kind == "op":
            if nesting == 0:
                return ([] if args == [[]] else args), i
            nesting -= 1
        elif t.text == "," and nesting == 0:
            args.append([])
            i += 1
            continue
        args[-1].append(t)
        i += 1


def _split_top(tokens: list[Token]) -> list[list[Token]]:
    """``tokens`` split at the commas outside any brackets."""
    parts: list[list[Token]] = [[]]
    nesting = 0
    for t in tokens:
        if t.kind == "op" and t.text in "({[":
            nesting += 1
        elif t.kind == "op" and t.text in ")}]":
            nesting -= 1
        elif t.text == "," and nesting == 0:
            parts.append([])
            continue
        parts[-1].append(t)
    return parts


@dataclass
class Function:
    name: str | None
    params: list[str]
    start: int
    end: int


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)


def _functions(tokens: list[Token]) -> list[Function]:
    found = []
    for i, t in enumerate(tokens):
        if t.kind != "name" or t.text != "function":
            continue
        name = tokens[i + 1].text if tokens[i + 1].kind == "name" else None
        open_index = i + 2 if name else i + 1
        params = [a[0].text for a in split_args(tokens, open_index)[0]]
        end = next(
            j for j in range(i + 1, len(tokens)) if tokens[j].text in CLOSERS and tokens[j].depth == t.depth
        )
        found.append(Function(name, params, i, end))
    return found


def _enclosing(functions: list[Function], index: int) -> Function | None:
    inside = [f for f in functions if f.start < index < f.end]
    return max(inside, key=lambda f: f.start) if inside else None


def check_script(source: str) -> list[str]:
    """Every violation of the module's rules in one (expanded) script."""
    tokens = tokenize(source)
    problems: list[str] = []
    key_locals: set[str] = set()
    key_lists: set[str] = set()
    bound_lines: set[int] = set()
    for i, t in enumerate(tokens):
        if t.text not in ("KEYS", "ARGV") or t.kind != "name":
            continue
        start = i
        while start > 0 and tokens[start - 1].line == t.line:
            start -= 1
        head = tokens[start]
        if head.text != "local" or head.depth != 0 or tokens[start + 1].text == "function":
            problems.append(f"line {t.line}: {t.text} used outside a top-level local binding")
            continue
        if t.line in bound_lines:
            continue
        bound_lines.add(t.line)
        line_tokens = [x for x in tokens[start:] if x.line == t.line]
        eq = next(j for j, x in enumerate(line_tokens) if x.text == "=")
        names = [x.text for x in line_tokens[1:eq] if x.kind == "name"]
        exprs = [" ".join(x.text for x in e) for e in _split_top(line_tokens[eq + 1 :])]
        for name, expr in zip(names, exprs, strict=True):
            if re.fullmatch(r"KEYS \[ \d+ \]", expr):
                key_locals.add(name)
            elif re.fullmatch(r"\{ unpack \( KEYS , \d+ \) \}", expr):
                key_lists.add(name)
            elif "KEYS" in expr.split() or "redis" in expr.split():
                problems.append(f"line {t.line}: {name} is bound to {expr}: bind KEYS entries as they are")
    keyish = key_locals | key_lists
    functions = _functions(tokens)
    for f in functions:
        for shadow in keyish & set(f.params):
            problems.append(f"function {f.name}: parameter {shadow} shadows a key local")
    for i, t in enumerate(tokens):
        if t.kind == "name" and t.text in keyish:
            before, after = tokens[i - 1], tokens[i + 1] if i + 1 < len(tokens) else None
            if before.text == "local" and t.line not in bound_lines:
                problems.append(f"line {t.line}: {t.text} is declared again")
            if after is not None and after.text == "=" and t.line not in bound_lines:
                problems.append(f"line {t.line}: {t.text} is reassigned")

    def allowed(arg: list[Token], at: int, pending: set[tuple[str, int]]) -> str | None:
        """None when ``arg`` is a declared key; else why not. Parameters of the enclosing
        function become requirements on its callers (``pending``)."""
        if len(arg) == 1 and arg[0].kind == "name":
            name = arg[0].text
            if name in key_locals:
                return None
            f = _enclosing(functions, at)
            if f is not None and f.name and name in f.params:
                pending.add((f.name, f.params.index(name)))
                return None
        if len(arg) >= 3 and arg[0].text in key_lists and arg[1].text == "[" and arg[-1].text == "]":
            return None
        return " ".join(x.text for x in arg) or "(nothing)"

    pending: set[tuple[str, int]] = set()
    for i, t in enumerate(tokens):
        if not (t.text == "redis" and tokens[i + 1].text == "." and tokens[i + 2].text in ("call", "pcall")):
            continue
        args, _ = split_args(tokens, i + 3)
        command = args[0][0].text.strip("'\"").upper() if args and args[0][0].kind == "string" else None
        if command is None:
            problems.append(f"line {t.line}: the command is not a literal")
            continue
        if command in KEYLESS:
            continue
        why = allowed(args[1], i, pending) if len(args) > 1 else "(no key)"
        if why is not None:
            problems.append(f"line {t.line}: {command} on {why}, not a key passed in KEYS")
    for i, t in enumerate(tokens):
        if t.text == "redis" and tokens[i + 2].text in ("call", "pcall"):
            args, _ = split_args(tokens, i + 3)
            if (
                len(args) > 1
                and args[0][0].text.strip("'\"").upper() in SEAT_WRITES
                and args[1][0].text == "seats_key"
            ):
                writer = _enclosing(functions, i)
                if writer is None or writer.name != "set_seat":
                    problems.append(f"line {t.line}: the seats hash is written outside set_seat")
    calls = {
        tokens[i].text
        for i in range(len(tokens) - 1)
        if tokens[i + 1].text == "(" and tokens[i - 1].text != "function"
    }
    if calls & {"set_seat", "install_row"} and "save_rows" not in calls:
        problems.append("the script changes seats but never saves the index rows (save_rows)")
    checked: set[tuple[str, int]] = set()
    while pending - checked:
        name, position = (pending - checked).pop()
        checked.add((name, position))
        for i, t in enumerate(tokens):
            if t.text != name or tokens[i - 1].text == "function" or tokens[i + 1].text != "(":
                continue
            args, _ = split_args(tokens, i + 1)
            why = allowed(args[position], i, pending) if position < len(args) else "(missing)"
            if why is not None:
                problems.append(f"line {t.line}: {name}() is given {why} as a key, not a key passed in KEYS")
    return problems


def _scripts() -> list[str]:
    folder = resources.files("ticketmaster.adapters.redis").joinpath("scripts")
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".lua"))
    included = {
        line.split()[1]
        for name in names
        for line in folder.joinpath(name).read_text().splitlines()
        if line.startswith("--#include ")
    }
    return [n for n in names if n not in included]


@pytest.mark.parametrize("script", _scripts())
def test_every_script_touches_only_the_keys_it_names_at_the_top(script: str) -> None:
    assert check_script(load_script(script)) == []


@pytest.mark.parametrize(
    ("source", "complaint"),
    [
        ("return redis.call('GET', KEYS[1])", "KEYS used outside"),
        ("local k = KEYS[1]\nlocal p = ARGV[1]\nreturn redis.call('GET', p .. 'x')", "GET on p .."),
        (
            "local p = ARGV[1]\nlocal function f(key)\n  return redis.call('DEL', key)\nend\nf(p)",
            "f() is given p",
        ),
        ("local k = KEYS[1]\nlocal function f(k)\n  return redis.call('DEL', k)\nend\nf(ARGV)", "shadows"),
        ("local k = KEYS[1]\nif true then\n  k = 'other'\nend", "k is reassigned"),
        ("local k = KEYS[1]\nlocal x = redis.call('GET', KEYS[2])", "bind KEYS entries as they are"),
        ("local seats_key = KEYS[1]\nredis.call('HDEL', seats_key, 's')", "written outside set_seat"),
        (
            "local seats_key = KEYS[1]\nlocal function set_seat(s)\n  redis.call('HDEL', seats_key, s)\nend\n"
            "set_seat('a')",
            "never saves the index rows",
        ),
    ],
)
def test_the_checker_catches_undeclared_keys(source: str, complaint: str) -> None:
    problems = check_script(source)
    assert any(complaint in p for p in problems), problems


def test_the_checker_accepts_keys_passed_through_helpers() -> None:
    source = (
        "local seats_key, holds = KEYS[1], {unpack(KEYS, 2)}\n"
        "local function put(key, value)\n  redis.call('SET', key, value)\nend\n"
        "put(seats_key, 1)\nput(holds[2], 2)\nreturn redis.call('TIME')\n"
    )
    assert check_script(source) == []
