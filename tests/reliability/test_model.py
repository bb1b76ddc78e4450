"""Model-based tests: random operation sequences against a ``dict`` model.

Hypothesis drives each stash with random sequences of dump / load / get /
``[]`` / exists / delete / clear, checks every answer against a plain
``dict`` doing the same, and after every step checks ``keys()``, ``len``
and iteration.  Durable stashes are also closed and reopened mid-sequence:
what was written must still be there.

Three stacking stashes have their own models: :class:`FactoryStash`
(items created from a factory, keys from the factory until the delegate
has data), :class:`UnionStash` (a read-only view, first member wins) and
the stacks of :func:`stashes.stacked_over` over each durable stash.

Examples per stash: ``40 * HUTCH_RELIABILITY_SCALE`` sequences of up to 30
steps.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from hutch import (
    CloseableStash,
    DictionaryStash,
    FactoryStash,
    SortedStash,
    Stash,
    UnionStash,
)

from .stashes import Kind, model_kinds, record, scaled

KEYS = st.sampled_from(['a', 'b', 'ü n/ï', 'z' * 40])
"""Few keys, so sequences overwrite and delete what they wrote."""

VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) |
    st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6)
"""JSON-shaped values (so JSON-backed stashes can run the same model)."""

SETTINGS = settings(
    max_examples=scaled(40), stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow,
                           HealthCheck.filter_too_much],
)

_ABSENT = object()


class DictModel(RuleBasedStateMachine):
    """A stash must answer like the ``dict`` :attr:`model` beside it."""

    kind: Kind

    def __init__(self) -> None:
        super().__init__()
        self.model: dict[str, Any] = {}
        self.steps = -1  # the invariant also runs once before any step
        self._tmp = tempfile.TemporaryDirectory(prefix='hutch-model-')
        self.home = Path(self._tmp.name)
        self.stash: Stash = self.kind.make(self.home)

    def teardown(self) -> None:
        record(f'model-{self.kind}', examples=1, steps=self.steps)
        try:
            if isinstance(self.stash, CloseableStash):
                self.stash.close()
        finally:
            self._tmp.cleanup()

    @rule(key=KEYS, value=VALUES)
    def dump(self, key: str, value: Any) -> None:
        self.stash.dump(key, value)
        self.model[key] = value

    @rule(key=KEYS, value=VALUES)
    def setitem(self, key: str, value: Any) -> None:
        self.stash[key] = value
        self.model[key] = value

    @rule(key=KEYS)
    def delete(self, key: str) -> None:
        self.stash.delete(key)
        self.model.pop(key, None)

    @rule(key=KEYS)
    def delitem(self, key: str) -> None:
        del self.stash[key]
        self.model.pop(key, None)

    @rule()
    def clear(self) -> None:
        self.stash.clear()
        self.model.clear()

    @rule(key=KEYS)
    def load(self, key: str) -> None:
        assert self.stash.load(key) == self.model.get(key)

    @rule(key=KEYS)
    def get(self, key: str) -> None:
        assert self.stash.get(key, _ABSENT) == self.model.get(key, _ABSENT)

    @rule(key=KEYS)
    def getitem(self, key: str) -> None:
        if key in self.model:
            assert self.stash[key] == self.model[key]
        else:
            with pytest.raises(KeyError):
                self.stash[key]

    @rule(key=KEYS)
    def exists(self, key: str) -> None:
        assert self.stash.exists(key) == (key in self.model)
        assert (key in self.stash) == (key in self.model)

    @rule()
    def iterate(self) -> None:
        assert sorted(iter(self.stash), key=repr) == \
            sorted(self.model.items(), key=repr)

    @precondition(lambda self: self.kind.durable)
    @rule()
    def reopen(self) -> None:
        if isinstance(self.stash, CloseableStash):
            self.stash.close()
        self.stash = self.kind.make(self.home)

    @invariant()
    def keys_and_len_match(self) -> None:
        self.steps += 1
        keys = list(self.stash.keys())
        assert sorted(keys) == sorted(self.model)
        assert len(self.stash) == len(self.model)
        if isinstance(self.stash, SortedStash):
            assert keys == sorted(keys)


def _model_test(kind: Kind) -> type:
    machine = type(f'DictModel_{kind.name}', (DictModel,), {'kind': kind})
    case = machine.TestCase
    case.settings = SETTINGS
    return case


for _kind in model_kinds():
    globals()[f'Test{_kind.name.replace("-", "_")}Model'] = \
        _model_test(_kind)


class FactoryModel(RuleBasedStateMachine):
    """:class:`FactoryStash` over a dict factory, against its documented model.

    A load of a key the delegate lacks asks the factory and dumps what it
    gives (also ``None``, with ``dump_factory_nones``), after which whether
    the delegate has data is worked out again; ``keys()`` are the
    delegate's once the delegate had data when last asked (remembered until
    such a load or ``clear``), else the factory's; ``exists`` is the
    delegate's; ``clear`` empties both (the factory is not read-only).
    """

    FACTORY = {'a': 1, 'b': None, 'c': [3]}

    def __init__(self) -> None:
        super().__init__()
        self.factory = dict(self.FACTORY)
        self.delegate: dict[str, Any] = {}
        self.has_data: bool | None = None
        self.steps = -1

    @invariant()
    def count_steps(self) -> None:
        self.steps += 1

    def teardown(self) -> None:
        record('model-FactoryStash', examples=1, steps=self.steps)

    @initialize(dump_nones=st.booleans())
    def build(self, dump_nones: bool) -> None:
        self.dump_nones = dump_nones
        self.stash = FactoryStash(DictionaryStash(),
                                  DictionaryStash(dict(self.factory)),
                                  dump_factory_nones=dump_nones)

    @rule(key=KEYS, value=VALUES)
    def dump(self, key: str, value: Any) -> None:
        self.stash.dump(key, value)
        self.delegate[key] = value

    @rule(key=KEYS)
    def load(self, key: str) -> None:
        if key in self.delegate:
            expect = self.delegate[key]
        else:
            expect = self.factory.get(key)
            if expect is not None or self.dump_nones:
                self.delegate[key] = expect
                self.has_data = None
        assert self.stash.load(key) == expect

    @rule(key=KEYS)
    def get_never_creates(self, key: str) -> None:
        assert self.stash.get(key, _ABSENT) == \
            self.delegate.get(key, _ABSENT)

    @rule(key=KEYS)
    def exists(self, key: str) -> None:
        assert self.stash.exists(key) == (key in self.delegate)

    @rule(key=KEYS)
    def delete(self, key: str) -> None:
        self.stash.delete(key)
        self.delegate.pop(key, None)

    @rule()
    def clear(self) -> None:
        self.stash.clear()
        self.delegate.clear()
        self.factory.clear()
        self.has_data = None

    @rule()
    def keys(self) -> None:
        if self.has_data is None:
            self.has_data = bool(self.delegate)
        expect = self.delegate if self.has_data else self.factory
        assert sorted(self.stash.keys()) == sorted(expect)
        assert len(self.stash) == len(expect)


TestFactoryStashModel = FactoryModel.TestCase
TestFactoryStashModel.settings = SETTINGS


class UnionModel(RuleBasedStateMachine):
    """:class:`UnionStash` reads like the members merged, first one winning.

    Writes go to the members directly; the union is only read.
    """

    def __init__(self) -> None:
        super().__init__()
        self.members = [DictionaryStash(), DictionaryStash(),
                        DictionaryStash()]
        self.union = UnionStash(self.members)
        self.steps = -1

    def teardown(self) -> None:
        record('model-UnionStash', examples=1, steps=self.steps)

    def merged(self) -> dict[str, Any]:
        view: dict[str, Any] = {}
        for member in reversed(self.members):
            view.update(member.data)
        return view

    @rule(which=st.integers(0, 2), key=KEYS, value=VALUES)
    def dump_member(self, which: int, key: str, value: Any) -> None:
        self.members[which].dump(key, value)

    @rule(which=st.integers(0, 2), key=KEYS)
    def delete_member(self, which: int, key: str) -> None:
        self.members[which].delete(key)

    @rule(key=KEYS)
    def writes_to_the_union_are_ignored(self, key: str) -> None:
        before = self.merged()
        self.union.dump(key, 'ignored')
        self.union.delete(key)
        assert self.merged() == before

    @rule(key=KEYS)
    def read(self, key: str) -> None:
        view = self.merged()
        assert self.union.load(key) == view.get(key)
        assert self.union.get(key, _ABSENT) == view.get(key, _ABSENT)
        assert self.union.exists(key) == (key in view)

    @invariant()
    def keys_and_len_match(self) -> None:
        self.steps += 1
        view = self.merged()
        assert sorted(self.union.keys()) == sorted(view)
        assert len(self.union) == len(view)
        assert dict(iter(self.union)) == view


TestUnionStashModel = UnionModel.TestCase
TestUnionStashModel.settings = SETTINGS
