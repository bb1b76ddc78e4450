"""Parallel, resumable creation of stash items: the ``MultiProcessStash``
family, its executor back ends (serial, threads, processes, any
``Executor``, Dask distributed) and the errors a run reports."""

from .backends import BACKEND_NAMES
from .errors import ItemFailure, ProcessingError, WorkerDiedError
from .stash import (
    MultiProcessDefaultStash,
    MultiProcessFactoryStash,
    MultiProcessStash,
)
from .workers import cpu_count, resolve_chunk_size, resolve_workers

__all__ = [
    'MultiProcessStash', 'MultiProcessDefaultStash',
    'MultiProcessFactoryStash', 'ItemFailure', 'ProcessingError',
    'WorkerDiedError', 'BACKEND_NAMES', 'cpu_count', 'resolve_workers',
    'resolve_chunk_size',
]
