"""ShelveStash.check: a shelf's index against its data file."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from hutch import ShelveStash
from hutch.stash.check import DATABASE, UNREADABLE


@pytest.fixture
def shelf(tmp_path: Path) -> ShelveStash:
    stash = ShelveStash(tmp_path / 'shelf')
    stash['a'] = 'alpha' * 100
    stash['b'] = 'beta'
    return stash


def index_line(shelf: ShelveStash, line: str) -> None:
    """Append ``line`` to the shelf's index, as a hand edit would."""
    with open(f'{shelf.path}.dir', 'a', encoding='latin-1') as f:
        f.write(line + '\n')


def test_a_sound_shelf_has_no_problems(shelf: ShelveStash) -> None:
    report = shelf.check(values=True)
    assert (report.items, report.problems) == (2, [])


def test_an_index_entry_past_the_end_of_the_data_is_reported(
        shelf: ShelveStash) -> None:
    index_line(shelf, "'c', (0, 999999)")
    report = shelf.check(values=True)
    assert [p.kind for p in report.problems] == [DATABASE]
    assert report.problems[0].path == f'{shelf.path}.dir'
    assert 'outside' in report.problems[0].detail
    assert str(report).startswith('ShelveStash: items unknown, 1 problem')


def test_records_that_overlap_are_reported_naming_both_keys(
        shelf: ShelveStash) -> None:
    size = len(pickle.dumps('alpha' * 100, protocol=pickle.DEFAULT_PROTOCOL))
    index_line(shelf, f"'b', (10, {size})")  # inside the record of 'a'
    report = shelf.check()
    assert [(p.kind, p.key) for p in report.problems] == [(DATABASE, 'b')]
    assert "'a'" in report.problems[0].detail
    assert report.items == 2


def test_a_value_that_does_not_unpickle_is_found_with_values(
        shelf: ShelveStash) -> None:
    shelf['c'] = 'gamma'  # appended last, at a 512-byte boundary
    data = Path(f'{shelf.path}.dat')
    raw = data.read_bytes()
    start = (len(raw) - 1) // 512 * 512
    data.write_bytes(raw[:start] + b'\xff' * (len(raw) - start))
    assert shelf.check().problems == []
    assert [(p.kind, p.key) for p in shelf.check(values=True).problems] == \
        [(UNREADABLE, 'c')]
