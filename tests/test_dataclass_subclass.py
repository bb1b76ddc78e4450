"""Stashes subclassed with ``@dataclass``, as code written for the original
API does: the generated ``__init__`` takes the base stash's arguments, and
``super().__post_init__()`` sets the base up."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

from hutch import (
    CacheStash,
    DelegateStash,
    DictionaryStash,
    FactoryStash,
    KeyLimitStash,
    OneShotFactoryStash,
    PersistableError,
    PreemptiveStash,
    PrimeableStash,
    ProtectiveStash,
    ReadOnlyStash,
    SortedStash,
)


@dataclass
class Range(ReadOnlyStash):
    n: int
    loads: int = field(default=0)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.names = [str(i) for i in range(self.n)]

    def load(self, name: str) -> Any:
        self.loads += 1
        return int(name) if name in self.names else None

    def keys(self) -> Iterable[str]:
        return self.names


def test_a_dataclass_read_only_stash_takes_its_fields() -> None:
    stash = Range(3)
    assert dict(stash) == {'0': 0, '1': 1, '2': 2}
    assert stash.strict is False


def test_a_dataclass_delegate_stash_takes_the_delegate_first() -> None:
    @dataclass
    class Tagged(DelegateStash):
        tag: str = 'x'

    inner = DictionaryStash({'a': 1})
    stash = Tagged(inner, tag='t')
    assert (stash.delegate, stash.tag, stash['a']) == (inner, 't', 1)
    assert Tagged(delegate=inner).tag == 'x'


def test_a_dataclass_delegate_stash_is_checked_as_any_other() -> None:
    @dataclass
    class Tagged(DelegateStash):
        tag: str = 'x'

    with pytest.raises(PersistableError, match='delegate'):
        Tagged(None)  # type: ignore[arg-type]


def test_a_dataclass_factory_stash_takes_the_factory_arguments() -> None:
    @dataclass
    class Counting(FactoryStash):
        made: int = 0

        def load(self, name: str) -> Any:
            self.made += 1
            return super().load(name)

    stash = Counting(DictionaryStash(), Range(4), enable_preemptive=True)
    assert len(stash) == 4 and stash.has_data is False
    assert stash['2'] == 2
    assert list(stash.keys()) == ['2'] and stash.made == 1


def test_a_dataclass_stash_may_name_primeable_first() -> None:
    @dataclass
    class Primed(PrimeableStash, DelegateStash):
        primes: int = 0

        def prime(self) -> None:
            self.primes += 1
            super().prime()

    stash = Primed(DictionaryStash({'a': 1}))
    assert stash.load('a') == 1 and stash.primes == 1


def test_a_dataclass_one_shot_stash_may_define_its_worker() -> None:
    @dataclass
    class Squares(OneShotFactoryStash):
        n: int = 3

        @property
        def worker(self) -> list[tuple[str, int]]:  # type: ignore[override]
            return [(str(i), i * i) for i in range(self.n)]

    assert Squares(DictionaryStash(), n=2).load('1') == 1


@pytest.mark.parametrize('cls, names', [
    (DelegateStash, ['delegate']),
    (PreemptiveStash, ['delegate']),
    (KeyLimitStash, ['delegate', 'limit']),
    (ProtectiveStash, ['delegate', 'log_errors']),
    (SortedStash, ['delegate', 'sort_function']),
    (CacheStash, ['delegate', 'cache_stash', 'read_only']),
    (FactoryStash, ['delegate', 'factory', 'enable_preemptive',
                    'dump_factory_nones', 'force_clear_factory']),
    (OneShotFactoryStash, ['delegate']),
])
def test_wrapping_stashes_list_their_arguments_as_dataclass_fields(
        cls: type, names: list[str]) -> None:
    assert [f.name for f in dataclasses.fields(cls)] == names


def test_option_defaults_read_from_the_class() -> None:
    assert FactoryStash.enable_preemptive is True
    assert FactoryStash.force_clear_factory is False
