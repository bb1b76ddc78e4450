"""Stashes whose items are made in parallel: the ``MultiProcessStash`` family.

A :class:`MultiProcessStash` fills its delegate on the first read
(:meth:`~MultiProcessStash.prime`): the parent lists the work
(:meth:`~MultiProcessStash._create_data`), splits it into chunks, and the
workers turn each chunk into ``(key, value)`` pairs
(:meth:`~MultiProcessStash._process`).  The workers get a
:class:`~hutch.multi.jobs.Job` the stash builds: a copy of the stash runs
its ``_process`` there, so it works under every start method; nothing
relies on ``fork``.

Where results go depends on the delegate:

* a *shareable* delegate (one whose data other processes reach by
  unpickling it: a folder, a database file) is written by the worker
  processes directly; the parent never holds the values;
* any other delegate (say a :class:`~hutch.DictionaryStash`), and every
  delegate on the in-process back ends (``serial``, threads), gets the
  values streamed back chunk by chunk and dumped by the parent, so the
  delegate is only ever written from one thread.

A failing item does not lose finished work: everything that succeeded is
stored, then :class:`~hutch.multi.errors.ProcessingError` names the failing
keys with the workers' tracebacks.  With ``store_failures=True`` an
:class:`~hutch.multi.errors.ItemFailure` is stored under each failing key
instead, and :meth:`~MultiProcessStash.redo_failed` makes those items again.

>>> from hutch import DictionaryStash
>>> class Squares(MultiProcessDefaultStash):
...     def _create_data(self):
...         return range(6)
...     def _process(self, chunk):
...         for n in chunk:
...             yield str(n), n * n
>>> s = Squares(DictionaryStash(), chunk_size=2, backend='serial')
>>> s['5'], len(s)
(25, 6)
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import logging
import sys
from abc import abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any, Optional

from ..errors import PersistableError
from ..stash.base import Stash, check_stash
from ..stash.delegate import _PrimeOnceStash
from ..util import chunks as split
from .backends import Backend, ChunksLost, check_backend, make_backend
from .errors import ItemFailure, ProcessingError, WorkerDiedError
from .jobs import ChunkResult, Job
from .workers import (
    Workers,
    check_chunk_size,
    check_workers,
    resolve_chunk_size,
    resolve_workers,
)

__all__ = ['MultiProcessStash', 'MultiProcessDefaultStash',
           'MultiProcessFactoryStash']

logger = logging.getLogger(__name__)

_START_METHODS = (None, 'fork', 'spawn', 'forkserver')


def _tqdm() -> Any:
    """tqdm's bar class, or ``None`` without the ``progress`` extra."""
    try:
        module = importlib.import_module('tqdm')
    except ImportError:
        return None
    return module.tqdm


class MultiProcessStash(_PrimeOnceStash):
    """Fills its delegate in parallel, once, before the first read.

    Subclasses implement :meth:`_create_data` and :meth:`_process` and must
    be picklable (define them at module level).

    :param delegate: where the items are kept
    :param chunk_size: items per chunk; ``0`` splits the items evenly over
        the workers
    :param workers: a positive count; ``0`` for every core; a negative
        number for every core but that many (at least one); a float in
        (0, 1] for that fraction of the cores
    :param backend: ``'process'`` (default), ``'thread'``, ``'serial'``, a
        :class:`concurrent.futures.Executor`, a ``distributed.Client`` or a
        Dask scheduler address (see :mod:`hutch.multi.backends`)
    :param start_method: ``'fork'``, ``'spawn'`` or ``'forkserver'`` for the
        process back end; ``None`` for the platform default
    :param store_failures: store an
        :class:`~hutch.multi.errors.ItemFailure` under each failing key
        instead of raising
    :param progress: show a tqdm bar over chunks; ``None`` shows one when
        standard error is a terminal and tqdm is installed
    :param timeout: seconds to wait for the next chunk to finish before
        the run fails (``None``: wait as long as it takes)
    """

    def __init__(self, delegate: Stash, chunk_size: int, workers: Workers,
                 backend: Any = 'process', *,
                 start_method: Optional[str] = None,
                 store_failures: bool = False,
                 progress: Optional[bool] = None,
                 timeout: Optional[float] = None) -> None:
        super().__init__(delegate)
        check_chunk_size(chunk_size)
        check_workers(workers)
        if start_method not in _START_METHODS:
            raise ValueError(f'start_method must be one of {_START_METHODS}, '
                             f'got {start_method!r}')
        if timeout is not None and not timeout > 0:
            raise ValueError(f'timeout must be positive, got {timeout!r}')
        if progress and _tqdm() is None:
            raise PersistableError(
                'progress=True needs tqdm: pip install "hutch[progress]"')
        # it is built afresh for every run
        check_backend(backend)
        self.chunk_size = chunk_size
        self.workers = workers
        self.backend = backend
        self.start_method = start_method
        self.store_failures = store_failures
        self.progress = progress
        self.timeout = timeout

    # -- what subclasses write -------------------------------------------

    @abstractmethod
    def _create_data(self) -> Iterable[Any]:
        """The work items; runs in the parent.  Items must be picklable."""

    @abstractmethod
    def _process(self, chunk: Sequence[Any]) -> Iterable[tuple[str, Any]]:
        """Make the ``(key, value)`` pairs of ``chunk``; runs in a worker."""

    def _item_key(self, item: Any) -> str:
        """The key ``item`` is stored under, to name it when it fails.

        The default is the item itself when it is a string, else its
        ``str``; override it when items are not keys.
        """
        return item if isinstance(item, str) else str(item)

    # -- running ---------------------------------------------------------

    def _job(self, backend: Backend) -> Job:
        """What the workers of ``backend`` run.

        In this process the job runs this stash's own ``_process``.
        Elsewhere it runs a copy's: a copy that counts as primed (a worker
        never starts a build of its own) and that, unless the workers store
        into a shareable delegate themselves, leaves the delegate (and
        whatever it holds) behind.
        """
        name = type(self).__name__
        if backend.in_process:
            return Job(self._process, self._item_key, None,
                       self.store_failures, name)
        direct = self.delegate.shareable
        worker = copy.copy(self)
        worker._primed = True
        if not direct:
            worker.delegate = None  # type: ignore[assignment]
        return Job(worker._process, worker._item_key,
                   self.delegate if direct else None, self.store_failures,
                   name)

    def _show_progress(self) -> bool:
        if self.progress is None:
            return _tqdm() is not None and sys.stderr.isatty()
        return self.progress

    def _run(self, items: Sequence[Any]) -> int:
        """Make and store ``items``; the number stored.

        :raises ProcessingError: after storing everything else, when items
            failed (unless failures are stored)
        :raises WorkerDiedError: when a worker died; finished chunks stay
        """
        if not items:
            return 0
        workers = resolve_workers(self.workers)
        backend: Backend = make_backend(self.backend, workers,
                                        self.start_method)
        job = self._job(backend)
        direct = job.store is not None
        size = resolve_chunk_size(
            self.chunk_size, len(items),
            backend.slots() if self.chunk_size == 0 else workers)
        chunks = list(split(items, size))
        logger.info('%s: %d items in %d chunks of %d on %s (%s)',
                    type(self).__name__, len(items), len(chunks), size,
                    type(backend).__name__,
                    'workers store' if direct else 'streamed back')
        finished: set[int] = set()
        failures: list[ItemFailure] = []
        stored = 0
        bar = None
        if self._show_progress():
            bar = _tqdm()(total=len(chunks), unit='chunk',
                          desc=type(self).__name__, file=sys.stderr)
        results = backend.run(job, chunks, self.timeout)
        try:
            with contextlib.closing(results):  # type: ignore[type-var]
                for result in results:
                    if result.error:
                        result.failures = self._chunk_failures(
                            chunks[result.index], result.error, direct)
                    stored += self._store(result, direct)
                    failures.extend(result.failures)
                    finished.add(result.index)
                    if bar is not None:
                        bar.update(1)
        except ChunksLost as e:
            keys = [self._item_key(item)
                    for i, chunk in enumerate(chunks) if i not in finished
                    for item in chunk]
            lost = [ItemFailure(k, str(e), '')
                    for k in self._not_stored(keys, direct)]
            raise WorkerDiedError(lost, str(e)) from e
        finally:
            if bar is not None:
                bar.close()
        if failures and not self.store_failures:
            raise ProcessingError(failures, f'{type(self).__name__}')
        return stored

    def _chunk_failures(self, chunk: Sequence[Any], error: str,
                        direct: bool) -> list[ItemFailure]:
        """A failure per item of a chunk lost as a whole (minus the items
        a worker stored before the loss, when workers store)."""
        last = error.strip().splitlines()[-1] if error.strip() else error
        keys = self._not_stored([self._item_key(item) for item in chunk],
                                direct)
        return [ItemFailure(k, last, error) for k in keys]

    def _not_stored(self, keys: list[str], direct: bool) -> list[str]:
        """The ``keys`` of a lost chunk its worker had not stored (when
        workers store; otherwise none was)."""
        if not direct:
            return keys
        exists = self.delegate.exists
        return [k for k in keys if not exists(k)]

    def _store(self, result: ChunkResult, direct: bool) -> int:
        """Keep one chunk's results (workers already did when ``direct``,
        except for failure records of a chunk lost on the way back)."""
        dump = self.delegate.dump
        if direct and not result.error:
            return result.stored
        for key, value in result.pairs:
            dump(key, value)
        if self.store_failures:
            for failure in result.failures:
                dump(failure.key, failure)
        return len(result.pairs)

    def _prime_work(self) -> None:
        """Make the items, unless the delegate has data (:meth:`prime`
        runs this once, on the first read).

        :raises ProcessingError: when items failed (everything else is
            stored); the next read primes again
        """
        if not self.has_data:
            self._run(list(self._create_data()))

    # -- failures --------------------------------------------------------

    def failed_keys(self) -> list[str]:
        """The keys holding an :class:`~hutch.multi.errors.ItemFailure`.

        Reads every stored value: meant for after a run, not a hot path.
        """
        self.prime()
        delegate = self.delegate
        return [k for k in list(delegate.keys())
                if isinstance(delegate.load(k), ItemFailure)]

    def redo_failed(self, keys: Optional[Iterable[str]] = None) -> int:
        """Make the failed items again; the number now stored.

        :param keys: the keys to redo, e.g. ``ProcessingError.keys``; by
            default those with a stored failure record
        """
        wanted = set(self.failed_keys() if keys is None else keys)
        if not wanted:
            return 0
        items = [i for i in self._create_data()
                 if self._item_key(i) in wanted]
        for item in items:
            self.delegate.delete(self._item_key(item))
        try:
            return self._run(items)
        finally:
            self._reset_has_data()

    # -- housekeeping ----------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        if not isinstance(state['backend'], str):
            # executors and clients stay in this process
            state['backend'] = 'serial'
        return state


class MultiProcessDefaultStash(MultiProcessStash):
    """A :class:`MultiProcessStash` that defaults to an even split over one
    worker (``chunk_size=0``, ``workers=1``)."""

    def __init__(self, delegate: Stash, chunk_size: int = 0,
                 workers: Workers = 1, backend: Any = 'process',
                 **kwargs: Any) -> None:
        super().__init__(delegate, chunk_size, workers, backend, **kwargs)


class MultiProcessFactoryStash(MultiProcessDefaultStash):
    """Makes every key of :attr:`factory` in parallel, resumably.

    :meth:`prime` computes only the keys the delegate lacks, so a run that
    was interrupted or failed part way is completed, not skipped or redone.
    Items are the factory's keys; each worker loads its keys from its copy
    of the factory, which must therefore be picklable.

    :param factory: the stash whose :meth:`~hutch.Stash.load` makes items

    >>> from hutch import DictionaryStash, ReadOnlyStash
    >>> class Cubes(ReadOnlyStash):
    ...     def load(self, name): return int(name) ** 3
    ...     def keys(self): return [str(i) for i in range(5)]
    >>> done = DictionaryStash({'0': 0, '1': 1})      # a half-built run
    >>> s = MultiProcessFactoryStash(done, Cubes(), backend='serial')
    >>> s['4'], sorted(done.keys())
    (64, ['0', '1', '2', '3', '4'])
    """

    def __init__(self, delegate: Stash, factory: Stash, chunk_size: int = 0,
                 workers: Workers = 1, backend: Any = 'process',
                 **kwargs: Any) -> None:
        check_stash(factory, 'factory')
        super().__init__(delegate, chunk_size, workers, backend, **kwargs)
        self.factory = factory

    def _create_data(self) -> Iterable[str]:
        return self.factory.keys()

    def _process(self, chunk: Sequence[Any]) -> Iterable[tuple[str, Any]]:
        load = self.factory.load
        for key in chunk:
            yield key, load(key)

    def _prime_work(self) -> None:
        # one listing of the delegate, not an existence check per key
        have = set(self.delegate.keys())
        self._run([k for k in self._create_data() if k not in have])
