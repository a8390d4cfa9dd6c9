"""Engine errors: misuse of the engine API raises one of these typed exceptions.

Formula errors (``#DIV/0!`` and friends) are values, not exceptions; they arrive with the rule
language. What is here is what a caller did wrong: a name that does not exist, a write to a
computed cell, a hierarchy that loops.
"""

from __future__ import annotations


class EngineError(Exception):
    """Base of every error the engine raises."""


class UnknownElementError(EngineError, KeyError):
    def __init__(self, dimension: str, element: str) -> None:
        super().__init__(f"dimension {dimension!r} has no element {element!r}")
        self.dimension = dimension
        self.element = element

    def __str__(self) -> str:
        return str(self.args[0])


class UnknownDimensionError(EngineError, KeyError):
    def __init__(self, dimension: str) -> None:
        super().__init__(f"no dimension {dimension!r}")
        self.dimension = dimension

    def __str__(self) -> str:
        return str(self.args[0])


class UnknownCubeError(EngineError, KeyError):
    def __init__(self, cube: str) -> None:
        super().__init__(f"no cube {cube!r}")
        self.cube = cube

    def __str__(self) -> str:
        return str(self.args[0])


class HierarchyCycleError(EngineError, ValueError):
    def __init__(self, dimension: str, cycle: list[str]) -> None:
        super().__init__(f"dimension {dimension!r} has a cycle: {' -> '.join(cycle)}")
        self.dimension = dimension
        self.cycle = cycle


class NotALeafError(EngineError, ValueError):
    """A write addressed a consolidated cell (spreading arrives with the calc engine issue)."""

    def __init__(self, dimension: str, element: str) -> None:
        super().__init__(
            f"element {element!r} of dimension {dimension!r} is consolidated; "
            "only leaf cells can be written"
        )
        self.dimension = dimension
        self.element = element


class RuleSyntaxError(EngineError, ValueError):
    """A rule that does not parse or compile; ``position`` is the character offset in it."""

    def __init__(self, formula: str, position: int, message: str, rule: str | None = None) -> None:
        super().__init__(f"{message} (at position {position} of {formula!r})")
        self.formula = formula
        self.position = position
        self.reason = message
        self.rule = rule


class RuleCycleError(EngineError, ValueError):
    """Rules that depend on each other in a loop (earlier-period references do not count)."""

    def __init__(self, rules: list[str]) -> None:
        super().__init__(f"rules form a cycle: {' -> '.join(rules)}")
        self.rules = rules


class RuleCellError(EngineError, ValueError):
    """A write addressed a cell that a rule computes."""

    def __init__(self, elements: list[str], rule: str) -> None:
        super().__init__(f"cell {elements} is computed by rule {rule!r}; it cannot be written")
        self.elements = elements
        self.rule = rule
