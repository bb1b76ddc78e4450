"""What a worker runs: a :class:`Job`, and what it hands back for a chunk.

A parallel run cuts its work items into chunks; a worker turns each chunk
into ``(key, value)`` pairs with :meth:`Job.run`.  The job carries all a
worker needs and nothing else -- what to run on a chunk, how to name an
item by its key, where the results go, whether failures are kept -- so back
ends run jobs without knowing what built them, and a job pickles to any
process that can import the code it runs.

A failing item never costs the rest of its chunk: when processing the
chunk raises, the items not yet done run again one by one, and each
failure is pinned to its own key as an
:class:`~hutch.multi.errors.ItemFailure`.  An item that calls
``sys.exit()`` fails like one that raises; so does one that raises
``KeyboardInterrupt`` anywhere but in the main thread of the process that
made the job (there, it is the user stopping the run, and it propagates).

>>> def squares(chunk):
...     for n in chunk:
...         if n == 2:
...             raise ValueError('two')
...         yield str(n), n * n
>>> result = Job(squares, str).run(0, [1, 2, 3])
>>> result.pairs, [f.key for f in result.failures]
([('1', 1), ('3', 9)], ['2'])

Process workers get a job as bytes, from :func:`pickled`: a pool made for
one run loads it once per worker process (:func:`receive_job`,
:func:`run_received_job`); a pool that outlives the run loads it for each
chunk (:func:`run_pickled_job`), so none of a finished run is left in a
worker; a cluster that keeps data for as long as the run asks loads it
once per worker and drops it with the run (:class:`ShippedJob`).
"""

from __future__ import annotations

import os
import pickle
import threading
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from ..errors import PersistableError
from ..stash.base import Stash
from .errors import ItemFailure

__all__ = ['Job', 'ChunkResult', 'pickled', 'run_pickled_job',
           'receive_job', 'run_received_job', 'ShippedJob',
           'run_shipped_job']

#: turns a chunk of work items into ``(key, value)`` pairs
Process = Callable[[Sequence[Any]], Iterable[tuple[str, Any]]]


@dataclass
class ChunkResult:
    """What a worker hands back for one chunk.

    :param index: the chunk's position in the run
    :param stored: how many items the worker stored itself
    :param pairs: ``(key, value)`` pairs for the parent to store
    :param failures: the items that failed
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


@dataclass(frozen=True)
class Job:
    """One parallel run's work, as its workers see it.

    :param process: makes the ``(key, value)`` pairs of a chunk of items
    :param key: the key an item is stored under, to name it when it fails
    :param store: where workers store results; ``None`` hands them back
        in :attr:`ChunkResult.pairs` for the parent to store
    :param keep_failures: store an
        :class:`~hutch.multi.errors.ItemFailure` under each failing key
        (in :attr:`store`; the parent does it when results come back)
    :param name: what the job is called in messages
    """

    process: Process
    key: Callable[[Any], str]
    store: Optional[Stash] = None
    keep_failures: bool = False
    name: str = 'job'
    #: the process that made the job: a ``KeyboardInterrupt`` in its main
    #: thread stops the run rather than failing an item
    origin: int = field(default_factory=os.getpid)

    def run(self, index: int, chunk: Sequence[Any]) -> ChunkResult:
        """Process the chunk at ``index``; store or collect its results."""
        result = ChunkResult(index)
        store = self.store
        if store is None:
            pairs = result.pairs

            def emit(key: str, value: Any) -> None:
                pairs.append((key, value))
        else:
            dump = store.dump

            def emit(key: str, value: Any) -> None:
                dump(key, value)
                result.stored += 1
        result.failures = self._collect(chunk, emit)
        if store is not None and self.keep_failures:
            for failure in result.failures:
                store.dump(failure.key, failure)
        return result

    def _fails_an_item(self, exc: BaseException) -> bool:
        """Whether ``exc``, raised while making items, fails only them."""
        if isinstance(exc, (Exception, SystemExit)):
            return True
        return isinstance(exc, KeyboardInterrupt) and not (
            os.getpid() == self.origin and
            threading.current_thread() is threading.main_thread())

    def _collect(self, chunk: Sequence[Any],
                 emit: Callable[[str, Any], None]) -> list[ItemFailure]:
        """Process ``chunk``, give each pair to ``emit``; the failures.

        The chunk is processed in one call.  If that raises, the items
        whose keys were not yet emitted run again one by one.
        """
        done: set[str] = set()

        def take(key: str, value: Any) -> None:
            emit(key, value)
            done.add(key)

        try:
            for key, value in self.process(chunk):
                take(key, value)
            return []
        except BaseException as exc:
            if not self._fails_an_item(exc):
                raise
            if len(chunk) == 1:
                return [_failure(self.key(chunk[0]), exc)]
        failures = []
        for item in chunk:
            key = self.key(item)
            if key in done:
                continue
            try:
                for k, v in self.process([item]):
                    take(k, v)
            except BaseException as exc:
                if not self._fails_an_item(exc):
                    raise
                failures.append(_failure(key, exc))
        return failures


def pickled(job: Job) -> bytes:
    """``job`` as bytes for worker processes.

    :raises PersistableError: when it cannot be pickled, naming the job
    """
    try:
        return pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as e:
        raise PersistableError(
            f'{job.name} must be picklable to run in worker processes: '
            f'{type(e).__name__}: {e}') from e


def run_pickled_job(payload: bytes, index: int,
                    chunk: Sequence[Any]) -> ChunkResult:
    """Load the job from ``payload`` and run one chunk; keep nothing."""
    job: Job = pickle.loads(payload)
    return job.run(index, chunk)


# a worker process of a pool made for one run: the run's job, as received
# and (after its first chunk) loaded; the process ends with the run
_received: Optional[bytes] = None
_loaded: Optional[Job] = None


def receive_job(payload: bytes) -> None:
    """Pool initializer: keep the run's job, loaded on the first chunk (so
    a job that fails to load fails its chunks, not the pool)."""
    global _received, _loaded
    _received, _loaded = payload, None


def run_received_job(index: int, chunk: Sequence[Any]) -> ChunkResult:
    """Run one chunk of the job :func:`receive_job` kept."""
    global _loaded
    if _loaded is None:
        if _received is None:
            raise RuntimeError('this worker process was given no job')
        _loaded = pickle.loads(_received)
    return _loaded.run(index, chunk)


class ShippedJob:
    """A pickled job that loads once where it lands and lives as long as
    this holder: what a Dask run scatters to its workers.

    :param payload: the job, from :func:`pickled`
    """

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self._job: Optional[Job] = None
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple[type[ShippedJob], tuple[bytes]]:
        # only the bytes travel; each copy loads its own job
        return ShippedJob, (self.payload,)

    def job(self) -> Job:
        """The job, loaded on first use (by one thread; others wait)."""
        with self._lock:
            if self._job is None:
                self._job = pickle.loads(self.payload)
            return self._job


def run_shipped_job(shipped: ShippedJob, index: int,
                    chunk: Sequence[Any]) -> ChunkResult:
    """Run one chunk of the job ``shipped`` holds."""
    return shipped.job().run(index, chunk)
