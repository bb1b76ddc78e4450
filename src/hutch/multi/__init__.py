"""Parallel, resumable creation of stash items: the ``MultiProcessStash``
family, its executor back ends (serial, threads, processes, any
``Executor``, Dask distributed) and the errors a run reports."""

from .._lazy import lazy_package

# ``typing`` costs most of a bare ``import hutch``; type checkers treat any
# name TYPE_CHECKING as true
TYPE_CHECKING = False
_EXPORTS: dict[str, tuple[str, ...]] = {
    '.stash': ('MultiProcessStash', 'MultiProcessDefaultStash',
               'MultiProcessFactoryStash'),
    '.errors': ('ItemFailure', 'ProcessingError', 'WorkerDiedError'),
    '.backends': ('BACKEND_NAMES',),
    '.workers': ('cpu_count', 'resolve_workers', 'resolve_chunk_size'),
}

lazy_package(__name__, _EXPORTS)

__all__ = [name for names in _EXPORTS.values() for name in names]

# one statement a module, each name re-exported as itself (``X as X``)
if TYPE_CHECKING:  # what type checkers see; a test keeps it equal to _EXPORTS
    # isort: off
    from .backends import (
        BACKEND_NAMES as BACKEND_NAMES,
    )
    from .errors import (
        ItemFailure as ItemFailure,
        ProcessingError as ProcessingError,
        WorkerDiedError as WorkerDiedError,
    )
    from .stash import (
        MultiProcessDefaultStash as MultiProcessDefaultStash,
        MultiProcessFactoryStash as MultiProcessFactoryStash,
        MultiProcessStash as MultiProcessStash,
    )
    from .workers import (
        cpu_count as cpu_count,
        resolve_chunk_size as resolve_chunk_size,
        resolve_workers as resolve_workers,
    )
    # isort: on
