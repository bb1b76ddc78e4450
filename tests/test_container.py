"""PersistableContainer: pickling persisted work, the _PERSITABLE_* class
attributes, and deallocation."""

from __future__ import annotations

import copy
import io
import pickle
import threading
from pathlib import Path
from typing import Any

import pytest

from hutch import (
    Deallocatable,
    PersistableContainer,
    PersistableContainerMetadata,
    PersistedWork,
    persisted,
)


class Res(Deallocatable):
    """A value that records being deallocated."""

    freed = False

    def deallocate(self) -> None:
        super().deallocate()
        self.freed = True


class Model(PersistableContainer):
    def __init__(self, n: int) -> None:
        self.n = n
        self.runs: list[str] = []

    @property
    @persisted('_kept')
    def kept(self) -> list[int]:
        self.runs.append('kept')
        return list(range(self.n))

    @property
    @persisted('_fleeting', transient=True)
    def fleeting(self) -> int:
        self.runs.append('fleeting')
        return self.n * 10

    @property
    @persisted('_handle', transient=True)
    def handle(self) -> threading.Lock:
        return threading.Lock()

    @property
    @persisted('_res')
    def res(self) -> Res:
        return Res()


def roundtrip(obj: Any) -> Any:
    return pickle.loads(pickle.dumps(obj))


def test_a_persisted_value_survives_pickling() -> None:
    model = Model(3)
    _ = model.kept
    copy = roundtrip(model)
    assert copy.kept == [0, 1, 2]
    assert copy.runs == ['kept']  # not computed again


def test_a_transient_value_is_recomputed_after_unpickling() -> None:
    model = Model(3)
    _ = model.fleeting
    copy = roundtrip(model)
    assert not copy._fleeting.is_set()
    assert copy.fleeting == 30
    assert copy.runs == ['fleeting', 'fleeting']


def test_an_unpicklable_transient_value_does_not_break_pickling() -> None:
    model = Model(3)
    _ = model.handle
    copy = roundtrip(model)
    assert isinstance(copy.handle, type(threading.Lock()))


def test_unpickled_work_belongs_to_the_new_instance() -> None:
    model = Model(3)
    _ = model.kept
    copy = roundtrip(model)
    assert copy._kept.owner is copy


def test_a_file_backed_value_is_read_from_its_file_after_unpickling(
        tmp_path: Path) -> None:
    model = FileModel(tmp_path / 'v.dat')
    assert model.value == 'computed'
    (tmp_path / 'v.dat').write_bytes(pickle.dumps('from file'))
    assert roundtrip(model).value == 'from file'


class FileModel(PersistableContainer):
    def __init__(self, path: Path) -> None:
        self._value = PersistedWork(path, self, transient=True)

    @property
    @persisted('_value')
    def value(self) -> str:
        return 'computed'


class Tuned(PersistableContainer):
    _PERSITABLE_TRANSIENT_ATTRIBUTES = {'cache'}
    _PERSITABLE_REMOVE_ATTRIBUTES = {'scratch'}
    _PERSITABLE_PROPERTIES = {'summary'}
    _PERSITABLE_METHODS = {'table'}

    def __init__(self) -> None:
        self.cache = {'big': 'data'}
        self.scratch = 'temporary'
        self.runs: list[str] = []

    @property
    @persisted('_summary')
    def summary(self) -> str:
        self.runs.append('summary')
        return 'short'

    @persisted('_table')
    def table(self) -> dict[str, int]:
        self.runs.append('table')
        return {'rows': 2}


class Spelled(PersistableContainer):
    _PERSISTABLE_TRANSIENT_ATTRIBUTES = {'cache'}
    _PERSISTABLE_REMOVE_ATTRIBUTES = {'scratch'}
    _PERSISTABLE_PROPERTIES = {'summary'}
    _PERSISTABLE_METHODS = {'table'}
    __init__ = Tuned.__init__  # type: ignore[assignment]
    summary = Tuned.summary
    table = Tuned.table


@pytest.mark.parametrize('cls', [Tuned, Spelled])
def test_transient_attributes_are_pickled_as_none(cls: type) -> None:
    assert roundtrip(cls()).cache is None


@pytest.mark.parametrize('cls', [Tuned, Spelled])
def test_remove_attributes_are_left_out(cls: type) -> None:
    assert not hasattr(roundtrip(cls()), 'scratch')


@pytest.mark.parametrize('cls', [Tuned, Spelled])
def test_persistable_properties_are_computed_before_pickling(
        cls: type) -> None:
    copy = roundtrip(cls())
    assert copy._summary.is_set()
    assert copy.summary == 'short'


@pytest.mark.parametrize('cls', [Tuned, Spelled])
def test_persistable_methods_are_called_before_pickling(cls: type) -> None:
    copy = roundtrip(cls())
    assert copy._table.is_set()
    assert copy.table() == {'rows': 2}
    assert sorted(copy.runs) == ['summary', 'table']


def test_pickling_leaves_the_original_untouched() -> None:
    obj = Tuned()
    pickle.dumps(obj)
    assert (obj.cache, obj.scratch) == ({'big': 'data'}, 'temporary')


class Transient(PersistableContainer):
    _PERSITABLE_TRANSIENT_ATTRIBUTES = {'_value'}

    @property
    @persisted('_value')
    def value(self) -> object:
        return object()


def test_work_named_a_transient_attribute_is_made_again() -> None:
    obj = Transient()
    _ = obj.value
    copy = roundtrip(obj)
    assert copy._value is None
    assert isinstance(copy.value, object)
    assert isinstance(copy._value, PersistedWork)


class Adjusted(Model):
    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self.restored = True


def test_a_subclass_setstate_can_adjust_the_state() -> None:
    model = Adjusted(2)
    _ = model.kept
    copy = roundtrip(model)
    assert copy.restored
    assert copy.kept == [0, 1]
    assert copy._kept.owner is copy


def test_a_shallow_copy_gets_its_own_persisted_work() -> None:
    model = Model(2)
    _ = model.kept
    twin = copy.copy(model)
    assert twin._kept is not model._kept
    assert twin._kept.owner is twin
    assert model._kept.owner is model
    twin._kept.clear()
    assert model._kept.is_set()


def test_deallocate_frees_persisted_work_and_its_values() -> None:
    model = Model(2)
    res = model.res
    _ = model.kept
    model.deallocate()
    assert res.freed
    assert not model._kept.is_set()
    assert model._res.owner is None


def test_deallocate_marks_the_container_and_its_work_freed() -> None:
    saved = Deallocatable.ALLOCATION_TRACKING
    Deallocatable._ALLOCATIONS.clear()
    Deallocatable.ALLOCATION_TRACKING = True
    try:
        model = Model(2)
        _ = model.kept
        _ = model.res
        # the res value, two works: Model's own __init__ skips super()
        assert Deallocatable._num_deallocations() == 3
        model.deallocate()
        assert Deallocatable._num_deallocations() == 0
    finally:
        Deallocatable.ALLOCATION_TRACKING = saved
        Deallocatable._ALLOCATIONS.clear()


def test_clear_persistable_state_forgets_every_value(tmp_path: Path) -> None:
    model = FileModel(tmp_path / 'v.dat')
    _ = model.value
    model._clear_persistable_state()
    assert not model._value.is_set()
    assert list(tmp_path.iterdir()) == []


class Ordered(PersistableContainer):
    _PERSITABLE_PROPERTIES = ('second', 'first')
    _PERSISTABLE_PROPERTIES = ('first', 'third')

    def __init__(self) -> None:
        self.order: list[str] = []

    def __getattr__(self, name: str) -> Any:
        if name in ('first', 'second', 'third'):
            self.order.append(name)
            return name
        raise AttributeError(name)


def test_both_spellings_are_evaluated_once_each_in_declared_order() -> None:
    obj = Ordered()
    pickle.dumps(obj)
    assert obj.order == ['second', 'first', 'third']


class Misdeclared(PersistableContainer):
    _PERSITABLE_REMOVE_ATTRIBUTES = 'scratch'


def test_a_str_instead_of_a_collection_of_names_is_refused() -> None:
    with pytest.raises(TypeError, match='collection of names'):
        pickle.dumps(Misdeclared())


# --- PersistableContainerMetadata -------------------------------------------

def test_metadata_lists_the_persisted_work_by_attribute() -> None:
    model = Model(2)
    model.kept  # noqa: B018
    model.fleeting  # noqa: B018
    meta = model._get_persistable_metadata()
    assert isinstance(meta, PersistableContainerMetadata)
    assert sorted(meta.persisted) == ['_fleeting', '_kept']
    assert meta.persisted['_kept'] is model._kept  # type: ignore[attr-defined]


def test_metadata_clear_forgets_every_persisted_value(tmp_path: Path) -> None:
    class OnDisk(PersistableContainer):
        def __init__(self) -> None:
            self._value = PersistedWork(tmp_path / 'value.dat', self)

        @property
        @persisted('_value')
        def value(self) -> int:
            return 7

    holder = OnDisk()
    assert holder.value == 7 and (tmp_path / 'value.dat').exists()
    holder._get_persistable_metadata().clear()
    assert not holder._value.is_set()
    assert not (tmp_path / 'value.dat').exists()


def test_metadata_write_describes_attributes_and_work() -> None:
    model = Model(2)
    model.kept  # noqa: B018
    out = io.StringIO()
    model._get_persistable_metadata().write(writer=out, include_content=True)
    text = out.getvalue()
    assert 'n:\n type: <class \'int\'>\n content: 2\n' in text
    assert f'{model._kept}:\n global: False\n' in text  # type: ignore[attr-defined]
    assert ' content: [0, 1]\n' in text


def test_metadata_write_goes_into_held_containers_when_recursive() -> None:
    outer = Model(1)
    outer.inner = Model(5)  # type: ignore[attr-defined]
    flat, deep = io.StringIO(), io.StringIO()
    outer._get_persistable_metadata().write(writer=flat)
    outer._get_persistable_metadata().write(writer=deep, recursive=True)
    assert '\n  n:\n' not in flat.getvalue()
    assert '\n  n:\n' in deep.getvalue()
