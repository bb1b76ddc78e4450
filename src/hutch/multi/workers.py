"""How many workers, how big a chunk, and what a worker does with a chunk.

The sizing rules (:func:`resolve_workers`, :func:`resolve_chunk_size`) turn
the user's ``workers`` and ``chunk_size`` into numbers.  The chunk runner
(:func:`run_chunk`) is what executes inside a worker: it asks the stash to
process one chunk, writes the results straight into a shareable delegate
or hands them back to the parent, and turns failing items into
:class:`~hutch.multi.errors.ItemFailure` records instead of losing the
chunk.

>>> resolve_workers(3, cores=8), resolve_workers(0, cores=8)
(3, 8)
>>> resolve_workers(-2, cores=8), resolve_workers(0.5, cores=8)
(6, 4)
>>> resolve_chunk_size(0, items=10, workers=3), resolve_chunk_size(4, 10, 3)
(4, 4)
"""

from __future__ import annotations

import math
import os
import pickle
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, Union

from .errors import ItemFailure

if TYPE_CHECKING:
    from .stash import MultiProcessStash

__all__ = ['cpu_count', 'check_workers', 'check_chunk_size',
           'resolve_workers', 'resolve_chunk_size', 'ChunkResult',
           'run_chunk', 'run_pickled_chunk']

Workers = Union[int, float]


def cpu_count() -> int:
    """The cores this process may run on (its affinity, where known)."""
    count = getattr(os, 'process_cpu_count', None)
    if count is not None:
        return max(1, count() or 1)
    if hasattr(os, 'sched_getaffinity'):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def check_workers(workers: Workers) -> None:
    """Refuse a ``workers`` value the sizing rules don't define.

    Valid: an ``int`` (positive: that many; ``0``: all cores; negative:
    all cores but that many) or a ``float`` in (0, 1] (that fraction of the
    cores).

    >>> check_workers(1.5)
    Traceback (most recent call last):
    ...
    ValueError: workers as a float must be a fraction in (0, 1], got 1.5
    """
    if isinstance(workers, bool) or not isinstance(workers, (int, float)):
        raise TypeError(
            f'workers must be an int or a float, got {workers!r}')
    if isinstance(workers, float) and not 0.0 < workers <= 1.0:
        raise ValueError(
            f'workers as a float must be a fraction in (0, 1], got {workers}')


def check_chunk_size(chunk_size: int) -> None:
    """Refuse a ``chunk_size`` that is not an int >= 0.

    >>> check_chunk_size(-1)
    Traceback (most recent call last):
    ...
    ValueError: chunk_size must be >= 0 (0: split evenly), got -1
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int):
        raise TypeError(f'chunk_size must be an int, got {chunk_size!r}')
    if chunk_size < 0:
        raise ValueError(
            f'chunk_size must be >= 0 (0: split evenly), got {chunk_size}')


def resolve_workers(workers: Workers, cores: Optional[int] = None) -> int:
    """The number of workers ``workers`` asks for on ``cores`` cores.

    A negative count leaves that many cores free but never goes below one
    worker, so the same setting runs on a small machine too.
    """
    check_workers(workers)
    cores = cpu_count() if cores is None else cores
    if isinstance(workers, float):
        return max(1, int(cores * workers))
    if workers == 0:
        return cores
    if workers < 0:
        return max(1, cores + workers)
    return workers


def resolve_chunk_size(chunk_size: int, items: int, workers: int) -> int:
    """Items per chunk: ``chunk_size``, or for ``0`` an even split."""
    check_chunk_size(chunk_size)
    if chunk_size == 0:
        return max(1, math.ceil(items / max(1, workers)))
    return chunk_size


@dataclass
class ChunkResult:
    """What a worker hands back for one chunk.

    :param index: the chunk's position in the run
    :param stored: how many items the worker stored itself (shareable mode)
    :param pairs: ``(key, value)`` pairs for the parent to store (streaming
        mode)
    :param failures: the items that raised
    :param error: the traceback text when the whole chunk was lost on the
        way (its result could not be sent back, say); set by the back end
    """

    index: int
    stored: int = 0
    pairs: list[tuple[str, Any]] = field(default_factory=list)
    failures: list[ItemFailure] = field(default_factory=list)
    error: str = ''


def _failure(key: str, exc: BaseException) -> ItemFailure:
    text = ''.join(traceback.format_exception(type(exc), exc,
                                              exc.__traceback__))
    return ItemFailure(key, f'{type(exc).__name__}: {exc}', text)


def _collect(stash: MultiProcessStash, chunk: Sequence[Any],
             emit: Callable[[str, Any], None]) -> list[ItemFailure]:
    """Process ``chunk``, give each pair to ``emit``; return the failures.

    The chunk is processed in one call.  If that raises, the items whose
    keys were not yet emitted are run again one by one, so each failure is
    pinned to its own item and the rest of the chunk is kept.
    """
    done: set[str] = set()

    def take(key: str, value: Any) -> None:
        emit(key, value)
        done.add(key)

    try:
        for key, value in stash._process(chunk):
            take(key, value)
        return []
    except Exception as exc:
        if len(chunk) == 1:
            return [_failure(stash._item_key(chunk[0]), exc)]
    failures = []
    for item in chunk:
        key = stash._item_key(item)
        if key in done:
            continue
        try:
            for k, v in stash._process([item]):
                take(k, v)
        except Exception as exc:
            failures.append(_failure(key, exc))
    return failures


def run_chunk(stash: MultiProcessStash, index: int, chunk: Sequence[Any],
              direct: bool) -> ChunkResult:
    """Process one chunk in this process.

    :param direct: store results (and, if the stash keeps them, failure
        records) in ``stash.delegate`` here; otherwise hand them back
    """
    result = ChunkResult(index)
    if direct:
        dump = stash.delegate.dump

        def emit(key: str, value: Any) -> None:
            dump(key, value)
            result.stored += 1
        result.failures = _collect(stash, chunk, emit)
        if stash.store_failures:
            for failure in result.failures:
                dump(failure.key, failure)
    else:
        pairs = result.pairs
        result.failures = _collect(
            stash, chunk, lambda k, v: pairs.append((k, v)))
    return result


# the stash each worker process unpickled last, by run token: a run sends
# the pickled stash with every chunk, but each process unpickles it once
_worker_stash: tuple[str, Any] = ('', None)
_worker_lock = threading.Lock()


def run_pickled_chunk(token: str, payload: bytes, index: int,
                      chunk: Sequence[Any], direct: bool) -> ChunkResult:
    """:func:`run_chunk` for a stash sent as ``payload`` (pickled bytes).

    The unpickled stash is kept for the run named ``token``, so later
    chunks of the same run skip unpickling (and its setup cost).
    """
    global _worker_stash
    with _worker_lock:
        cached_token, stash = _worker_stash
        if cached_token != token:
            stash = pickle.loads(payload)
            _worker_stash = (token, stash)
    return run_chunk(stash, index, chunk, direct)
