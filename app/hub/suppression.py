"""Primary and secondary (complementary) suppression of published counts (M-10(2), M-10(7);
docs/data-hub.md "Suppression"). Pure functions: no database, no Flask.

A published table is a set of cells and the equations that tie them: ``total = part + part + ...``
(a town's total over departments, a department's total over towns, the grand total). Primary
suppression hides every count under :data:`SUPPRESS_BELOW`. A hidden cell that is the only hidden
member of one equation could be recomputed by subtraction (the total minus the shown parts), so
:func:`protect` then hides, in every such equation, the smallest shown part that is not frozen
(else the total), and repeats until every equation has none or at least two hidden members.
Frozen cells keep their state: they are already published elsewhere (a range total over days
whose days are each published on their own).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import TypeVar

SUPPRESS_BELOW = 10
K = TypeVar("K", bound=Hashable)
Equation = tuple[K, Sequence[K]]  # (total, its parts)


def primary(values: Mapping[K, int]) -> set[K]:
    """The cells whose count is under :data:`SUPPRESS_BELOW`."""
    return {cell for cell, value in values.items() if value < SUPPRESS_BELOW}


def protect(values: Mapping[K, int], equations: Iterable[Equation[K]], frozen: Iterable[K] = ()) -> set[K]:
    """The hidden cells of ``values`` (counts by cell): primary suppression, then secondary
    suppression over ``equations`` (each ``(total, parts)``, every cell a key of ``values``)
    until no equation has exactly one hidden member. ``frozen`` cells are never hidden by the
    second step. An equation that cannot be protected (all its other members frozen) keeps its
    one hidden member: callers freeze only parts, so its total is always free."""
    equations = [(total, tuple(parts)) for total, parts in equations]
    hidden = primary(values)
    fixed = set(frozen)
    changed = True
    while changed:
        changed = False
        for total, parts in equations:
            if sum(member in hidden for member in (total, *parts)) != 1:
                continue
            choice = _complement(values, parts, hidden, fixed) or (total if total not in hidden | fixed else None)
            if choice is not None:
                hidden.add(choice)
                changed = True
    return hidden


def _complement(values: Mapping[K, int], parts: Sequence[K], hidden: set[K], fixed: set[K]) -> K | None:
    """The smallest shown part that may be hidden (ties: the first listed), or None."""
    free = [part for part in parts if part not in hidden and part not in fixed]
    return min(free, key=lambda part: values[part]) if free else None


def derivable(values: Mapping[K, int], equations: Iterable[Equation[K]], hidden: set[K]) -> list[K]:
    """The hidden cells one equation gives away by subtraction (its only hidden member): what
    :func:`protect` leaves empty. For tests and audits."""
    found = []
    for total, parts in equations:
        members = [member for member in (total, *parts) if member in hidden]
        if len(members) == 1:
            found.append(members[0])
    return found
