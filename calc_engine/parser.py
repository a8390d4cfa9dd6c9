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
"""

from __future__ import annotations

from dataclasses import dataclass

from openpyxl.formula.tokenizer import Token, Tokenizer, TokenizerError

from calc_engine.errors import RuleSyntaxError


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


class _Parser:
    def __init__(self, formula: str) -> None:
        self.formula = formula
        text = formula if formula.startswith("=") else "=" + formula
        offset = 1 - (len(text) - len(formula))  # positions refer to the text as the user wrote it
        try:
            items = Tokenizer(text).items
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

    def unary(self) -> Node:
        at = self.peek()
        if at and at[0].type == Token.OP_PRE:
            self.i += 1
            return Unary(at[0].value, self.unary(), at[1])
        node = self.primary()
        while (at := self.peek()) and at[0].type == Token.OP_POST:
            self.i += 1
            node = Unary("%", node, at[1])
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
            return self.call(tok.value[:-1].upper(), pos)
        if tok.type == Token.PAREN and tok.subtype == Token.OPEN:
            node = self.binary(0)
            self.expect(Token.PAREN, ")")
            return node
        raise self.fail(f"unexpected {tok.value!r}", pos)

    def operand(self, tok: Token, pos: int) -> Node:
        if tok.subtype == Token.NUMBER:
            return Number(float(tok.value), pos)
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
