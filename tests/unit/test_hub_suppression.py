"""Secondary suppression of the published figures (docs/data-hub.md "Suppression"): on random
day tables, no hidden count can be recomputed from the shown cells and totals by subtraction,
every count under 10 is hidden, and every shown value is the true one."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from app.hub.figures import TOTAL, published_day, with_totals
from app.hub.suppression import SUPPRESS_BELOW, derivable, protect

TOWNS = ("南城街道", "莞城街道", "东城街道", "虎门镇")
DEPARTMENTS = ("hrss", "metro", "civil")
count = st.one_of(st.integers(0, 12), st.integers(0, 400))
scans = st.dictionaries(
    st.tuples(st.sampled_from(TOWNS), st.sampled_from(DEPARTMENTS), st.just("scans"), st.sampled_from(("transit", "library"))),
    count,
    max_size=24,
)
active = st.dictionaries(st.tuples(st.sampled_from(TOWNS), st.just(""), st.just("ecards_active"), st.just("")), count, max_size=4)


def recomputed(shown: dict, equations: list) -> list:
    """Every hidden member that is alone in its equation, with its value got by subtraction."""
    found = []
    for total, parts in equations:
        hidden = [member for member in (total, *parts) if shown[member] is None]
        if len(hidden) == 1:
            found.append(hidden[0])
    return found


@settings(max_examples=400, deadline=None)
@given(scans, active)
def test_no_hidden_count_can_be_recomputed_by_subtraction(scan_cells: dict, active_cells: dict) -> None:
    cells = {**scan_cells, **active_cells}
    values, equations = with_totals(cells)
    shown = published_day(cells)
    assert set(shown) == set(values)
    assert recomputed(shown, equations) == []
    for cell, value in values.items():
        assert shown[cell] in (None, value)
        if value < SUPPRESS_BELOW:
            assert shown[cell] is None, cell


def test_one_small_cell_hides_the_next_smallest_of_its_row_and_column() -> None:
    cells = {
        ("A", "d1", "scans", "s"): 4,
        ("A", "d2", "scans", "s"): 30,
        ("A", "d3", "scans", "s"): 20,
        ("B", "d1", "scans", "s"): 50,
        ("B", "d2", "scans", "s"): 60,
        ("B", "d3", "scans", "s"): 70,
    }
    shown = published_day(cells)
    assert shown[("A", "d1", "scans", "s")] is None  # primary: 4
    assert shown[("A", "d3", "scans", "s")] is None  # its row's next smallest (20), not 30
    assert shown[("B", "d1", "scans", "s")] is None and shown[("B", "d3", "scans", "s")] is None  # the columns d1 and d3
    assert shown[("A", TOTAL, "scans", "s")] == 54 and shown[(TOTAL, TOTAL, "scans", "s")] == 234
    assert shown[("A", "d2", "scans", "s")] == 30


def test_a_frozen_part_leaves_the_total_to_hide() -> None:
    values = {"total": 40, "a": 5, "b": 35}
    assert protect(values, [("total", ["a", "b"])], frozen=["a", "b"]) == {"a", "total"}
    assert derivable(values, [("total", ["a", "b"])], {"a"}) == ["a"]
