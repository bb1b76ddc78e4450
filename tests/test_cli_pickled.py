"""Reading a pickle without running it (hutch.cli.pickled), as shown by
hutch.cli.render.format_value."""

from __future__ import annotations

import collections
import datetime
import pickle
import pprint
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hutch.cli.pickled import read_pickle
from hutch.cli.render import format_json, format_value

PLAIN: list[Any] = [
    None, True, False, 0, -1, 255, 65536, -2**31, 2**64, 10**40, 1.5,
    float('inf'), '', 'héllo', 'x' * 300, b'', b'\x00\xff', bytearray(b'ab'),
    [], [1, [2, [3]]], (), (1,), (1, 2, 3, 4), {}, {'a': 1, 2: 'b'},
    {(1, 2): None}, set(), {1}, frozenset(), frozenset({'a'}),
    {'k': list(range(40)), 't': ('x' * 90, 'y')},
]


@pytest.mark.parametrize('protocol', range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize('value', PLAIN, ids=lambda v: repr(v)[:20])
def test_plain_data_shows_as_pprint_shows_the_unpickled_value(
        value: Any, protocol: int) -> None:
    shown = format_value(read_pickle(pickle.dumps(value, protocol)))
    assert shown == pprint.pformat(value, width=100, sort_dicts=False)


def test_a_shared_list_shows_twice_and_a_self_containing_one_ends() -> None:
    inner = [1]
    assert format_value(read_pickle(pickle.dumps([inner, inner]))) == \
        '[[1], [1]]'
    loop: list[Any] = [1]
    loop.append(loop)
    assert format_value(read_pickle(pickle.dumps(loop))) == '[1, ...]'


@dataclass
class Point:
    x: int
    y: int


class Slotted:
    __slots__ = ('a',)

    def __init__(self) -> None:
        self.a = 1


CALLS: dict[str, tuple[Any, str]] = {
    'object': (Point(1, 2), f'{__name__}.Point(x=1, y=2)'),
    'slots': (Slotted(), f'{__name__}.Slotted(a=1)'),
    'date': (datetime.date(2024, 1, 31),
             "datetime.date(b'\\x07\\xe8\\x01\\x1f')"),
    'ordered-dict': (collections.OrderedDict(a=1),
                     "collections.OrderedDict({'a': 1})"),
    'defaultdict': (collections.defaultdict(list, {'a': [1]}),
                    "collections.defaultdict(builtins.list, {'a': [1]})"),
    'path': (Path('/a/b'), "pathlib.PosixPath('/', 'a', 'b')"),
    'function': (len, 'builtins.len'),
}


@pytest.mark.parametrize('case', CALLS)
def test_what_a_pickle_would_call_shows_as_a_call(case: str) -> None:
    value, shown = CALLS[case]
    assert format_value(read_pickle(pickle.dumps(value))) == shown


def test_nothing_named_by_a_pickle_is_imported() -> None:
    module = __name__.encode()
    gone = b'n' * len(module)  # same length: the pickle stays well formed
    data = pickle.dumps(Point(1, 2)).replace(module, gone)
    assert format_value(read_pickle(data)) == \
        f'{gone.decode()}.Point(x=1, y=2)'


@pytest.mark.parametrize('data', [
    b'', b'\x80\x05', b'\x80\x05K\x01', b'\x80\x05a.', b'\x80\x05h\x07.',
    b'\x80\x05(K\x01K\x02\x86.', b'not a pickle at all',
    b'\x80\x05\x8e\xff\xff\xff\xff\xff\xff\xff\x7f.',
], ids=['empty', 'proto-only', 'no-stop', 'append-to-nothing',
        'memo-missing', 'mark-left', 'text', 'bytes8-too-long'])
def test_bytes_that_are_not_a_whole_pickle_raise_value_error(
        data: bytes) -> None:
    with pytest.raises(ValueError):
        read_pickle(data)


def test_a_pickle_of_too_many_opcodes_is_refused() -> None:
    with pytest.raises(ValueError, match='too large'):
        read_pickle(pickle.dumps(list(range(1000))), max_opcodes=100)


def test_a_pickle_read_this_way_gives_json_when_it_is_plain_data() -> None:
    value = {'a': [1, 2.5, None, True], 'b': {'c': 'd'}}
    assert format_json(read_pickle(pickle.dumps(value))) == \
        format_json(value)
    with pytest.raises(TypeError):
        format_json(read_pickle(pickle.dumps(Point(1, 2))))
