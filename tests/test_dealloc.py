"""Deallocatable, dealloc, dealloc_recursive and resource: explicit release
and leak tracking."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from hutch import (
    Deallocatable,
    PersistableError,
    dealloc,
    dealloc_recursive,
    resource,
)


class Resource(Deallocatable):
    def __init__(self, name: str = 'r') -> None:
        super().__init__()
        self.name = name
        self.freed = 0

    def deallocate(self) -> None:
        super().deallocate()
        self.freed += 1


class Holder(Deallocatable):
    def __init__(self) -> None:
        super().__init__()
        self.res = Resource()
        self.plain = 'text'


@pytest.fixture(autouse=True)
def _registry_untouched_by_others() -> Iterator[None]:
    Deallocatable._ALLOCATIONS.clear()
    yield
    Deallocatable._ALLOCATIONS.clear()


def test_without_tracking_nothing_is_registered() -> None:
    Resource()
    assert Deallocatable._num_deallocations() == 0


def test_tracked_instance_is_registered_until_deallocated(
        tracking: None) -> None:
    res = Resource()
    assert Deallocatable._num_deallocations() == 1
    res.deallocate()
    assert Deallocatable._num_deallocations() == 0


def test_deallocating_twice_is_harmless(tracking: None) -> None:
    res = Resource()
    res.deallocate()
    res.deallocate()
    assert Deallocatable._num_deallocations() == 0


def test_assert_dealloc_raises_on_a_leak(tracking: None) -> None:
    Resource()
    with pytest.raises(PersistableError, match='1 instances'):
        Deallocatable.assert_dealloc()


def test_assert_dealloc_passes_when_all_are_freed(tracking: None) -> None:
    Resource().deallocate()
    Deallocatable.assert_dealloc()


def test_print_undeallocated_names_each_leaked_class(tracking: None) -> None:
    Resource()
    out = io.StringIO()
    Deallocatable._print_undeallocated(writer=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == 'total allocations: 1'
    assert lines[1].endswith('-> tests.test_dealloc.Resource')


def test_print_undeallocated_can_include_the_creation_stack(
        tracking: None) -> None:
    Resource()
    out = io.StringIO()
    Deallocatable._print_undeallocated(include_stack=True, writer=out)
    assert 'test_print_undeallocated_can_include_the_creation_stack' in \
        out.getvalue()


def test_print_undeallocated_only_counts_gives_one_line_per_class(
        tracking: None) -> None:
    Resource(), Resource(), Holder()
    out = io.StringIO()
    Deallocatable._print_undeallocated(only_counts=True, writer=out)
    assert out.getvalue().splitlines() == [
        'total allocations: 4',
        'tests.test_dealloc.Holder: 1',
        'tests.test_dealloc.Resource: 3',
    ]


def test_print_undeallocated_logs_when_no_writer_is_given(
        tracking: None, caplog: pytest.LogCaptureFixture) -> None:
    Resource()
    with caplog.at_level(logging.WARNING, logger='hutch.dealloc'):
        Deallocatable._print_undeallocated()
    assert 'total allocations: 1' in caplog.messages


def test_print_undeallocated_fail_raises_on_a_leak(tracking: None) -> None:
    Resource()
    with pytest.raises(PersistableError, match='resource leak'):
        Deallocatable._print_undeallocated(fail=True, writer=io.StringIO())


def test_deallocate_all_frees_every_tracked_instance(tracking: None) -> None:
    a, b = Resource('a'), Resource('b')
    Deallocatable._deallocate_all()
    assert (a.freed, b.freed) == (1, 1)
    assert Deallocatable._num_deallocations() == 0


def test_try_deallocate_frees_a_deallocatable() -> None:
    res = Resource()
    assert Deallocatable._try_deallocate(res) is True
    assert res.freed == 1


def test_try_deallocate_refuses_other_objects() -> None:
    assert Deallocatable._try_deallocate('text') is False


def test_try_deallocate_leaves_containers_alone_unless_recursive() -> None:
    items = [Resource()]
    assert Deallocatable._try_deallocate(items) is False
    assert items[0].freed == 0


def test_try_deallocate_recursive_descends_into_nested_containers() -> None:
    inner = Resource()
    deep = Resource()
    items = (inner, {'k': [deep]}, {Resource()})
    assert Deallocatable._try_deallocate(items, recursive=True) is True
    assert (inner.freed, deep.freed) == (1, 1)


def test_dealloc_recursive_block_makes_try_deallocate_recursive() -> None:
    items = [Resource()]
    with dealloc_recursive():
        Deallocatable._try_deallocate(items)
    assert items[0].freed == 1
    assert Deallocatable._RECURSIVE is False


def test_dealloc_recursive_restores_the_switch_after_an_error() -> None:
    with pytest.raises(RuntimeError), dealloc_recursive():
        raise RuntimeError('boom')
    assert Deallocatable._RECURSIVE is False


def test_deallocate_attribute_frees_and_deletes_it() -> None:
    holder = Holder()
    res = holder.res
    assert holder._deallocate_attribute('res') is True
    assert res.freed == 1
    assert not hasattr(holder, 'res')


def test_deallocate_attribute_deletes_a_plain_value_without_freeing() -> None:
    holder = Holder()
    assert holder._deallocate_attribute('plain') is False
    assert not hasattr(holder, 'plain')


def test_deallocate_attribute_ignores_a_missing_attribute() -> None:
    assert Holder()._deallocate_attribute('nothing') is False


def test_deallocate_attributes_counts_what_was_freed() -> None:
    holder = Holder()
    assert holder._deallocate_attributes(('res', 'plain', 'nothing')) == 1


def test_dealloc_frees_the_instance_at_the_end_of_the_block() -> None:
    res = Resource()
    with dealloc(res) as got:
        assert got is res
        assert res.freed == 0
    assert res.freed == 1


def test_dealloc_frees_the_instance_when_the_block_raises() -> None:
    res = Resource()
    with pytest.raises(KeyError), dealloc(res):
        raise KeyError('x')
    assert res.freed == 1


def test_dealloc_calls_a_factory_and_frees_what_it_made() -> None:
    with dealloc(Resource) as res:
        assert isinstance(res, Resource)
    assert res.freed == 1


def test_dealloc_track_tracks_what_the_factory_makes(
        caplog: pytest.LogCaptureFixture) -> None:
    leaked: list[Resource] = []

    def factory() -> Holder:
        leaked.append(Resource('leak'))
        return Holder()

    with caplog.at_level(logging.WARNING, logger='hutch.dealloc'):
        with dealloc(factory, track=True):
            assert Deallocatable._num_deallocations() == 3
    # the holder went; its resource and the leak were never freed
    assert Deallocatable._num_deallocations() == 2
    assert 'total allocations: 2' in caplog.messages
    assert Deallocatable.ALLOCATION_TRACKING is False


def test_dealloc_restores_tracking_when_the_factory_raises() -> None:
    def factory() -> Resource:
        raise ValueError('cannot build')

    with pytest.raises(ValueError):
        dealloc(factory, track=True)
    assert Deallocatable.ALLOCATION_TRACKING is False


def test_print_trace_logs_the_stack_of_a_deallocation(
        caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Deallocatable, 'PRINT_TRACE', True)
    with caplog.at_level(logging.WARNING, logger='hutch.dealloc'):
        Resource().deallocate()
    record = caplog.records[-1]
    assert 'Resource' in record.getMessage()
    assert record.stack_info is not None
    assert 'test_print_trace_logs_the_stack' in record.stack_info


class AlwaysTracked(Resource):
    ALLOCATION_TRACKING = True


def test_a_subclass_can_switch_tracking_on_for_itself() -> None:
    AlwaysTracked()
    Resource()
    assert Deallocatable._num_deallocations() == 1


# -- @resource ----------------------------------------------------------------

class Connections:
    def __init__(self) -> None:
        self.log: list[str] = []

    def _open(self) -> str:
        self.log.append('open')
        return 'conn'

    def _close(self, conn: str) -> None:
        self.log.append(f'close {conn}')

    @resource('_open', '_close')
    def query(self, conn: str, sql: str) -> str:
        """Run ``sql``."""
        self.log.append(f'{sql} on {conn}')
        return 'rows'

    @resource('_open', '_close')
    def broken(self, conn: str) -> None:
        raise ValueError('query failed')


def test_resource_makes_passes_and_releases_the_resource() -> None:
    db = Connections()
    assert db.query('select') == 'rows'
    assert db.log == ['open', 'select on conn', 'close conn']


def test_resource_is_released_when_the_method_raises() -> None:
    db = Connections()
    with pytest.raises(ValueError):
        db.broken()
    assert db.log == ['open', 'close conn']


def test_resource_keeps_the_methods_name_and_doc() -> None:
    assert Connections.query.__name__ == 'query'
    assert Connections.query.__doc__ == 'Run ``sql``.'


def test_resource_rejects_non_str_method_names() -> None:
    with pytest.raises(TypeError):
        resource('_open', 3)  # type: ignore[arg-type]


def test_dealloc_keeps_the_tracking_switch_it_found_in_org_track() -> None:
    before = Deallocatable.ALLOCATION_TRACKING
    block = dealloc(Deallocatable(), track=True)
    assert block.org_track is before
    with block:
        assert Deallocatable.ALLOCATION_TRACKING
    assert Deallocatable.ALLOCATION_TRACKING is before
