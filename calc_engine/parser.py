"""Rule text -> AST: Excel formula syntax, tokenized by openpyxl, parsed by precedence climbing.

A rule is an Excel formula (``=Units * Price``). openpyxl's tokenizer (MIT) splits it into Excel's
own token kinds; this module turns those tokens into a small AST with the character position of
every node, so a bad rule is answered with the position in the formula that is wrong.

Excel's operator precedence, tightest first: negation, percent, ``^``, ``* /``, ``+ -``, ``&``,
comparisons. Negation binds tighter than ``^`` (``=-2^2`` is 4), which is why ``unary`` sits
below ``power`` here.

Names in a rule are element names of the cube's measure dimension, written as Excel names: case
does not matter and ``_`` stands for a space (``Net_Income`` is "Net Income"). Elements whose
names are not valid Excel names are reached with ``M("COGS %")``.

A formula nests at most ``MAX_NESTING`` (64, Excel's own limit) levels of parentheses, function
calls, signs and percent signs: parsing, compiling and evaluating all recurse along the nesting,
so a deeper one would exhaust the stack, at the latest while a write is being recalculated. A
long flat chain (``a + b + c ...``) is no nesting and may be as long as the formula. Number
literals must be finite (``1e400`` is refused, as Excel refuses it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from openpyxl.formula.tokenizer import Token, Tokenizer, TokenizerError

from calc_engine.errors import RuleSyntaxError

MAX_NESTING = 64


@dataclass(frozen=True, slots=True)
class Number:
    value: float
    pos: int


@dataclass(frozen=True, slots=True)
class Text:
    value: str
    pos: int


@dataclass(frozen=True, slots=True)
class Name:
    name: str
    pos: int


@dataclass(frozen=True, slots=True)
class Call:
    function: str  # upper case
    args: tuple[Node, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "-", "+", "%"
    operand: Node
    pos: int


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    left: Node
    right: Node
    pos: int


Node = Number | Text | Name | Call | Unary | Binary

_LEVELS: list[set[str]] = [
    {"=", "<>", "<", ">", "<=", ">="},
    {"&"},
    {"+", "-"},
    {"*", "/"},
    {"^"},
]


class _UnmatchedCloser(TokenizerError):
    def __init__(self, offset: int, closer: str) -> None:
        super().__init__(f"{closer!r} closes nothing")
        self.offset = offset


class _Tokenizer(Tokenizer):
    """openpyxl's tokenizer, telling where a ``)`` or ``}`` closes nothing (it would pop an
    empty stack and raise IndexError)."""

    def _parse_closer(self) -> int:
        if not self.token_stack:
            raise _UnmatchedCloser(self.offset, self.formula[self.offset])
        result: int = super()._parse_closer()
        return result


class _Parser:
    def __init__(self, formula: str) -> None:
        self.formula = formula
        text = formula if formula.startswith("=") else "=" + formula
        offset = 1 - (len(text) - len(formula))  # positions refer to the text as the user wrote it
        try:
            items = _Tokenizer(text).items
        except _UnmatchedCloser as exc:
            raise RuleSyntaxError(formula, exc.offset - 1 + offset, str(exc)) from None
        except TokenizerError as exc:
            raise RuleSyntaxError(formula, 0, str(exc)) from None
        self.tokens: list[tuple[Token, int]] = []
        pos = offset
        for t in items:
            if t.type != Token.WSPACE:
                self.tokens.append((t, pos))
            pos += len(t.value)
        self.end = max(pos, 0)
        self.i = 0
        self.depth = 0  # parentheses, calls, signs and percent signs around the current node

    def peek(self) -> tuple[Token, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def fail(self, message: str, pos: int | None = None) -> RuleSyntaxError:
        at = self.peek()
        where = pos if pos is not None else (at[1] if at else self.end)
        return RuleSyntaxError(self.formula, where, message)

    def parse(self) -> Node:
        if not self.tokens:
            raise self.fail("the formula is empty", 0)
        node = self.binary(0)
        if self.peek() is not None:
            tok, pos = self.tokens[self.i]
            raise self.fail(f"unexpected {tok.value!r}", pos)
        return node

    def binary(self, level: int) -> Node:
        if level == len(_LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while (at := self.peek()) and at[0].type == Token.OP_IN and at[0].value in _LEVELS[level]:
            self.i += 1
            right = self.binary(level + 1)
            left = Binary(at[0].value, left, right, at[1])
        return left

    def nest(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.fail(
                f"the formula nests deeper than {MAX_NESTING} levels (parentheses, function "
                "calls, signs)",
                pos,
            )

    def unary(self) -> Node:
        at = self.peek()
        if at and at[0].type == Token.OP_PRE:
            self.i += 1
            self.nest(at[1])
            node: Node = Unary(at[0].value, self.unary(), at[1])
            self.depth -= 1
            return node
        node = self.primary()
        outer = self.depth
        while (at := self.peek()) and at[0].type == Token.OP_POST:
            self.i += 1
            self.nest(at[1])
            node = Unary("%", node, at[1])
        self.depth = outer
        return node

    def primary(self) -> Node:
        at = self.peek()
        if at is None:
            raise self.fail("the formula ends too early")
        tok, pos = at
        self.i += 1
        if tok.type == Token.OPERAND:
            return self.operand(tok, pos)
        if tok.type == Token.FUNC and tok.subtype == Token.OPEN:
            self.nest(pos)
            node = self.call(tok.value[:-1].upper(), pos)
            self.depth -= 1
            return node
        if tok.type == Token.PAREN and tok.subtype == Token.OPEN:
            self.nest(pos)
            node = self.binary(0)
            self.expect(Token.PAREN, ")")
            self.depth -= 1
            return node
        raise self.fail(f"unexpected {tok.value!r}", pos)

    def operand(self, tok: Token, pos: int) -> Node:
        if tok.subtype == Token.NUMBER:
            value = float(tok.value)
            if not math.isfinite(value):
                raise self.fail(f"the number {tok.value} is too large", pos)
            return Number(value, pos)
        if tok.subtype == Token.TEXT:
            return Text(tok.value[1:-1].replace('""', '"'), pos)
        if tok.subtype == Token.LOGICAL:
            return Number(1.0 if tok.value.upper() == "TRUE" else 0.0, pos)
        if tok.subtype == Token.RANGE and _is_name(tok.value):
            return Name(tok.value, pos)
        raise self.fail(
            f"{tok.value!r} is not supported in rules (use names, not cell ranges)", pos
        )

    def call(self, function: str, pos: int) -> Node:
        args: list[Node] = []
        at = self.peek()
        if at and at[0].type == Token.FUNC and at[0].subtype == Token.CLOSE:
            self.i += 1
            return Call(function, (), pos)
        while True:
            args.append(self.binary(0))
            at = self.peek()
            if at and at[0].type == Token.SEP and at[0].subtype == Token.ARG:
                self.i += 1
                continue
            self.expect(Token.FUNC, ")")
            return Call(function, tuple(args), pos)

    def expect(self, kind: str, value: str) -> None:
        at = self.peek()
        if at is None or at[0].type != kind or at[0].value != value:
            raise self.fail(f"expected {value!r}")
        self.i += 1


def _is_name(text: str) -> bool:
    return text.replace("_", "a").replace(".", "a").isalnum() and not text[0].isdigit()


def parse(formula: str) -> Node:
    """Parse an Excel-syntax rule formula (with or without the leading ``=``)."""
    return _Parser(formula.strip()).parse()
