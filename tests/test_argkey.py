"""Stable argument keys: equal values give equal keys, different ones differ."""

from __future__ import annotations

import datetime
import enum
import pathlib
from typing import Any

import pytest

from hutch._argkey import Unkeyable, digest


class Color(enum.Enum):
    RED = 1
    BLUE = 2


def test_a_pinned_digest_never_changes() -> None:
    # a change here drops every memoized result users have stored
    assert digest(('x', 1, 2.5, None, True, b'b', [1], {'k': {1, 2}})) == \
        '6ded1c0abde563db8a3727fa20f8f63a'


@pytest.mark.parametrize('a, b', [
    (1, 1.0), (1, True), (1, '1'), ((1,), [1]), ({1}, frozenset({1})),
    ('a', b'a'), (Color.RED, Color.BLUE), (pathlib.PurePosixPath('a'), 'a'),
    (datetime.date(2024, 1, 2), datetime.date(2024, 1, 3)),
])
def test_values_that_differ_have_different_keys(a: Any, b: Any) -> None:
    assert digest(a) != digest(b)


def test_timezones_are_part_of_the_key() -> None:
    naive = datetime.datetime(2024, 1, 2, 3, 4)
    aware = naive.replace(tzinfo=datetime.timezone.utc)
    assert digest(naive) != digest(aware)


def test_an_unkeyable_value_names_its_type() -> None:
    with pytest.raises(Unkeyable, match='builtins.object'):
        digest([1, {'deep': object()}])


class Tag(str):
    pass


def test_a_subclass_of_a_plain_type_is_keyed_apart_from_it() -> None:
    assert digest(Tag('a')) == digest(Tag('a')) != digest('a')
