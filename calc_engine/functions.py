"""Excel functions and operators over whole areas, declared as metadata, run by one runner.

Operators and functions run inside ``np.errstate(all="ignore")``, set once by whoever evaluates a
rule (``recalc``): inf and NaN from numpy become error codes here, never warnings.

A value in a rule is a ``Val``: a float64 array over the rule's area and, where some cells hold a
formula error, an int8 array of ``ErrorCode``s beside it. Errors are values (``#DIV/0!`` in a cell
is not an exception): the runner gives a function's result the first error among its arguments,
left to right, as Excel does, unless the function handles errors itself (IF, IFERROR).

Each function is declared once with its argument counts; its body is a line or two of numpy. The
examples run in the test suite (``run`` evaluates one scalar call)::

    >>> run("ROUND", 2.5, 0), run("ROUND", -2.5, 0), run("ROUND", 1234.5678, -2)
    (3.0, -3.0, 1200.0)
    >>> run("IF", 0, 1, 2), run("IF", 5, 1), run("IF", 0, 1)
    (2.0, 1.0, 0.0)
    >>> run("IFERROR", run_op("/", 1, 0), 7), run_op("/", 1, 0)
    (7.0, '#DIV/0!')
    >>> run("AND", 1, 0), run("OR", 1, 0), run("NOT", 0)
    (0.0, 1.0, 1.0)
    >>> run("MIN", 3, -1, 2), run("MAX", 3, -1, 2), run("SUM", 1, 2, 3), run("ABS", -4)
    (-1.0, 3.0, 6.0, 4.0)
    >>> run_op("^", -8, 1 / 3), run_op("^", 0, -1), run_op("<>", 1, 2)
    ('#NUM!', '#DIV/0!', 1.0)

A result beyond the float range is ``#NUM!``, as in Excel, at the operation that overflows, so
IFERROR catches it and later operations carry it like any error::

    >>> run_op("*", 1e308, 10), run_op("/", 1e308, 0.1), run("SUM", 1e308, 1e308, -1e308)
    ('#NUM!', '#NUM!', '#NUM!')
    >>> run("IFERROR", run_op("+", 1e308, 1e308), 0), run_op("+", 1e308, -1e308)
    (0.0, 0.0)

numpy reports an overflow through its floating-point error state; ``evaluating()`` (the state
rules are evaluated in) routes that report to a counter, and an operation that saw the counter
move flags its non-finite cells. Operations that did not overflow pay nothing for this.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np


class ErrorCode(IntEnum):
    NONE = 0
    DIV0 = 1
    VALUE = 2
    REF = 3
    NAME = 4
    NA = 5
    NUM = 6
    CYCLE = 7

    @property
    def text(self) -> str:
        return _ERROR_TEXT[self]


_ERROR_TEXT = {
    ErrorCode.NONE: "",
    ErrorCode.DIV0: "#DIV/0!",
    ErrorCode.VALUE: "#VALUE!",
    ErrorCode.REF: "#REF!",
    ErrorCode.NAME: "#NAME?",
    ErrorCode.NA: "#N/A",
    ErrorCode.NUM: "#NUM!",
    ErrorCode.CYCLE: "#CYCLE!",
}


@dataclass(frozen=True, slots=True)
class Val:
    v: np.ndarray
    e: np.ndarray | None = None  # int8 ErrorCode per cell, None when there is none


def first_error(*errors: np.ndarray | None) -> np.ndarray | None:
    """Per cell, the first non-zero error code among the arguments (Excel's left to right)."""
    out: np.ndarray | None = None
    for e in errors:
        if e is None:
            continue
        out = e if out is None else np.where(out != 0, out, e)
    return out


_overflows = [0]  # floating-point overflows seen (any thread: a stray count costs one check)


def _count_overflow(kind: str, flag: int) -> None:
    _overflows[0] += 1


def evaluating() -> np.errstate:
    """numpy's error state for evaluating rules: overflow counted (see above), the rest silent
    (0/0 and the like become error values, not warnings)."""
    return np.errstate(all="ignore", over="call", call=_count_overflow)


def overflow_count() -> int:
    return _overflows[0]


def flag_overflow(result: Val, seen: int) -> Val:
    """``result`` with #NUM! where it is not finite, if an overflow happened since ``seen``."""
    return result if _overflows[0] == seen else flag_non_finite(result)


def flag_non_finite(result: Val) -> Val:
    """``result`` with #NUM! wherever it is not finite and carries no error yet."""
    return Val(result.v, _flag(result.e, ~np.isfinite(result.v), ErrorCode.NUM))


def _flag(e: np.ndarray | None, where: np.ndarray, code: ErrorCode) -> np.ndarray | None:
    if not np.any(where):
        return e
    new = np.where(where, np.int8(code), np.int8(0))
    return new if e is None else np.where(e != 0, e, new).astype(np.int8)


# -- operators -------------------------------------------------------------------------------


def _divide(a: Val, b: Val) -> Val:
    seen = _overflows[0]
    v = np.divide(a.v, b.v)
    e = _flag(first_error(a.e, b.e), np.broadcast_to(b.v == 0, v.shape), ErrorCode.DIV0)
    return flag_overflow(Val(v, e), seen)


def _power(a: Val, b: Val) -> Val:
    v = np.power(a.v, b.v)
    e = first_error(a.e, b.e)
    e = _flag(e, np.broadcast_to((a.v == 0) & (b.v < 0), v.shape), ErrorCode.DIV0)
    return Val(v, _flag(e, ~np.isfinite(v), ErrorCode.NUM))


def _simple(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable[[Val, Val], Val]:
    def op(a: Val, b: Val) -> Val:
        v = np.asarray(fn(a.v, b.v), dtype=np.float64)
        return Val(v, first_error(a.e, b.e))

    return op


def _arithmetic(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable[[Val, Val], Val]:
    def op(a: Val, b: Val) -> Val:
        seen = _overflows[0]
        v = np.asarray(fn(a.v, b.v), dtype=np.float64)
        return flag_overflow(Val(v, first_error(a.e, b.e)), seen)

    return op


OPERATORS: dict[str, Callable[[Val, Val], Val]] = {
    "+": _arithmetic(np.add),
    "-": _arithmetic(np.subtract),
    "*": _arithmetic(np.multiply),
    "/": _divide,
    "^": _power,
    "=": _simple(np.equal),
    "<>": _simple(np.not_equal),
    "<": _simple(np.less),
    ">": _simple(np.greater),
    "<=": _simple(np.less_equal),
    ">=": _simple(np.greater_equal),
}


def negate(a: Val) -> Val:
    return Val(-a.v, a.e)


def percent(a: Val) -> Val:
    return Val(a.v / 100.0, a.e)


# -- functions -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Function:
    name: str
    min_args: int
    max_args: int | None  # None: any number
    body: Callable[[list[Val]], Val]
    handles_errors: bool = False


FUNCTIONS: dict[str, Function] = {}


def function(
    name: str, min_args: int, max_args: int | None = None, *, handles_errors: bool = False
) -> Callable[[Callable[[list[Val]], Val]], Callable[[list[Val]], Val]]:
    def register(body: Callable[[list[Val]], Val]) -> Callable[[list[Val]], Val]:
        FUNCTIONS[name] = Function(name, min_args, max_args, body, handles_errors)
        return body

    return register


def call(name: str, args: list[Val]) -> Val:
    """Run one function: error propagation and broadcasting in one place."""
    fn = FUNCTIONS[name]
    if fn.handles_errors:
        return fn.body(args)
    seen = _overflows[0]
    result = fn.body(args)
    return flag_overflow(Val(result.v, first_error(*(a.e for a in args), result.e)), seen)


def _elementwise(reduce: Callable[..., Any]) -> Callable[[list[Val]], Val]:
    def body(args: list[Val]) -> Val:
        arrays = np.broadcast_arrays(*(a.v for a in args))
        return Val(np.asarray(reduce(np.stack(arrays), axis=0), dtype=np.float64))

    return body


function("SUM", 1)(_elementwise(np.sum))
function("MIN", 1)(_elementwise(np.min))
function("MAX", 1)(_elementwise(np.max))
function("AND", 1)(_elementwise(lambda x, axis: np.all(x != 0, axis=axis)))
function("OR", 1)(_elementwise(lambda x, axis: np.any(x != 0, axis=axis)))


@function("NOT", 1, 1)
def _not(args: list[Val]) -> Val:
    return Val((args[0].v == 0).astype(np.float64))


@function("ABS", 1, 1)
def _abs(args: list[Val]) -> Val:
    return Val(np.abs(args[0].v))


@function("ROUND", 2, 2)
def _round(args: list[Val]) -> Val:
    """Half away from zero, like Excel; the 1e-9 nudge absorbs binary noise (2.675 -> 2.68)."""
    x, digits = args[0].v, np.trunc(args[1].v)
    scale = np.power(10.0, digits)
    scaled = np.abs(x) * scale
    v = np.sign(x) * np.floor(scaled + 0.5 + 1e-9 * np.maximum(scaled, 1.0)) / scale
    return Val(v)


@function("IF", 2, 3, handles_errors=True)
def _if(args: list[Val]) -> Val:
    cond, yes = args[0], args[1]
    no = args[2] if len(args) > 2 else Val(np.zeros(()))
    pick = cond.v != 0
    v = np.where(pick, yes.v, no.v)
    branch = None
    if yes.e is not None or no.e is not None:
        ye = yes.e if yes.e is not None else np.int8(0)
        ne = no.e if no.e is not None else np.int8(0)
        branch = np.where(pick, ye, ne).astype(np.int8)
    return Val(v, first_error(cond.e, branch))


@function("IFERROR", 2, 2, handles_errors=True)
def _iferror(args: list[Val]) -> Val:
    value, fallback = args
    if value.e is None:
        return value
    bad = value.e != 0
    v = np.where(bad, fallback.v, value.v)
    fe = fallback.e if fallback.e is not None else np.int8(0)
    return Val(v, np.where(bad, fe, value.e).astype(np.int8))


# -- scalar helpers for examples and tests ----------------------------------------------------


def _scalar(result: Val) -> float | str:
    if result.e is not None and int(np.asarray(result.e).ravel()[0]) != 0:
        return ErrorCode(int(np.asarray(result.e).ravel()[0])).text
    return float(np.asarray(result.v).ravel()[0])


def _val(x: float | str) -> Val:
    if isinstance(x, str):
        code = next(c for c, t in _ERROR_TEXT.items() if t == x)
        return Val(np.zeros(()), np.array(code, dtype=np.int8))
    return Val(np.array(float(x)))


def run(name: str, *args: float | str) -> float | str:
    """Evaluate one scalar function call (errors given and returned as Excel's error text)."""
    with evaluating():
        return _scalar(call(name, [_val(a) for a in args]))


def run_op(op: str, a: float | str, b: float | str) -> float | str:
    with evaluating():
        return _scalar(OPERATORS[op](_val(a), _val(b)))
