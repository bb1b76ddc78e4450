"""Where the chunks of a parallel run execute.

A back end takes a :class:`~hutch.multi.jobs.Job` and its chunks and yields
one :class:`~hutch.multi.jobs.ChunkResult` per chunk, in the order they
finish; it knows nothing of what built the job.  :func:`make_backend`
builds one from what a user passes (:func:`check_backend` only checks it):

* ``'serial'`` -- in this thread, one chunk after another (for debugging);
* ``'thread'`` -- a thread pool in this process;
* ``'process'`` -- a :class:`~concurrent.futures.ProcessPoolExecutor` with an
  explicit start method (``fork``, ``spawn`` or ``forkserver``);
* any :class:`concurrent.futures.Executor` -- used as is, never shut down;
* a ``distributed.Client`` or a scheduler address such as
  ``'tcp://host:8786'`` -- Dask distributed (the ``dask`` extra).

Out-of-process back ends pickle the job once per run.  A process pool made
for the run loads it once per worker process; a pool passed in, which
outlives the run, gets it with every chunk and keeps nothing of it; Dask
workers hold it while the run lasts.  Only a bounded
window of chunks is in flight, so a long run does not queue every chunk at
once.  A dead worker (or, with a ``timeout``, a silent one) ends the run
with :class:`ChunksLost` rather than a hang; the process back end then
terminates its workers, while a thread, which cannot be stopped, finishes
its chunk in the background.

>>> backend = make_backend('serial', workers=4)
>>> backend.in_process, backend.slots()
(True, 1)
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing
import sys
import traceback
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Optional

from ..errors import PersistableError
from .jobs import (
    ChunkResult,
    Job,
    ShippedJob,
    pickled,
    receive_job,
    run_pickled_job,
    run_received_job,
    run_shipped_job,
)

__all__ = ['Backend', 'SerialBackend', 'ExecutorBackend', 'ProcessBackend',
           'DaskBackend', 'ChunksLost', 'check_backend', 'make_backend',
           'pool_size', 'stop_pool', 'BACKEND_NAMES']

logger = logging.getLogger(__name__)

#: the back ends named by a string
BACKEND_NAMES = ('serial', 'thread', 'process')

#: chunks in flight per parallel slot
_WINDOW = 2

Chunks = Sequence[Sequence[Any]]


class ChunksLost(Exception):
    """Chunks in flight were lost: a worker died or went silent.

    Internal: the caller turns it into a
    :class:`~hutch.multi.errors.WorkerDiedError` naming the unfinished keys.
    """


def pool_size(executor: cf.Executor) -> Optional[int]:
    """The workers of a standard library pool; ``None`` for another kind.

    The standard pools have no public way to say their size; this reads
    the ``_max_workers`` they keep (a test checks it on every Python hutch
    supports).
    """
    if isinstance(executor, (cf.ThreadPoolExecutor, cf.ProcessPoolExecutor)):
        size: int = executor._max_workers  # type: ignore[union-attr]
        return size
    return None


def stop_pool(executor: cf.ProcessPoolExecutor) -> None:
    """Terminate a process pool's workers, say when a chunk hangs.

    Python 3.14 has ``terminate_workers()`` for this; before it, the
    workers are found in the pool's ``_processes`` map (a test checks it
    on every Python hutch supports).
    """
    terminate = getattr(executor, 'terminate_workers', None)
    if terminate is not None:
        terminate()
        return
    procs = getattr(executor, '_processes', None) or {}
    for proc in list(procs.values()):
        proc.terminate()


class Backend(ABC):
    """Runs the chunks of one parallel run somewhere."""

    #: chunks run in this process on the job itself: nothing is pickled
    #: and results always come back to the parent to store
    in_process: bool = False

    @abstractmethod
    def slots(self) -> int:
        """How many chunks can run at once (for splitting evenly)."""

    @abstractmethod
    def run(self, job: Job, chunks: Chunks,
            timeout: Optional[float]) -> Iterator[ChunkResult]:
        """Run every chunk of ``job``; yield each result as it finishes.

        :param timeout: seconds to wait for the next chunk to finish
            before giving up with :class:`ChunksLost` (``None``: no limit)
        """


class SerialBackend(Backend):
    """Runs the chunks one by one in the calling thread."""

    in_process = True

    def slots(self) -> int:
        return 1

    def run(self, job: Job, chunks: Chunks,
            timeout: Optional[float]) -> Iterator[ChunkResult]:
        for index, chunk in enumerate(chunks):
            yield job.run(index, chunk)


def _drive(submit: Callable[[int, Sequence[Any]], Any],
           wait: Callable[[set[Any], Optional[float]], set[Any]],
           cancel: Callable[[set[Any]], None],
           chunks: Chunks, window: int, timeout: Optional[float],
           deaths: tuple[type[BaseException], ...]) -> Iterator[ChunkResult]:
    """Keep ``window`` chunks in flight; yield results as they finish.

    :param deaths: the errors a future raises when its worker died; they
        end the run with :class:`ChunksLost`.  Any other error (say, a
        result that cannot be pickled) fails only its own chunk.
    """
    pending: dict[Any, int] = {}
    todo = iter(enumerate(chunks))
    try:
        while True:
            for index, chunk in todo:
                pending[submit(index, chunk)] = index
                if len(pending) >= window:
                    break
            if not pending:
                return
            done = wait(set(pending), timeout)
            if not done:
                raise ChunksLost(
                    f'no chunk finished within the timeout of {timeout} s')
            died: Optional[BaseException] = None
            for future in done:
                index = pending.pop(future)
                try:
                    result = future.result()
                except deaths as e:
                    # hand over the chunks that finished beside it first
                    died = died or e
                    continue
                except (Exception, SystemExit) as e:
                    # a worker's exit reaches here only as its chunk's
                    # result: it fails the chunk, never this process
                    text = ''.join(traceback.format_exception(
                        type(e), e, e.__traceback__))
                    result = ChunkResult(index, error=text)
                yield result
            if died is not None:
                raise ChunksLost(f'a worker died: {died}') from died
    finally:
        if pending:
            cancel(set(pending))


class ExecutorBackend(Backend):
    """Runs chunks on a :class:`concurrent.futures.Executor`.

    :param executor: the pool; a :class:`~concurrent.futures.ThreadPoolExecutor`
        runs the job in process, any other executor gets it pickled
    :param workers: its parallelism, when the executor does not say
    :param owned: shut the executor down after each run (for pools this
        back end made itself)
    """

    def __init__(self, executor: cf.Executor, workers: int = 1,
                 owned: bool = False) -> None:
        self.executor = executor
        self.workers = pool_size(executor) or workers
        self.owned = owned
        self.in_process = isinstance(executor, cf.ThreadPoolExecutor)

    def slots(self) -> int:
        return max(1, int(self.workers))

    def _submit(self, job: Job) -> Callable[[int, Sequence[Any]], Any]:
        ex = self.executor
        if self.in_process:
            return lambda i, chunk: ex.submit(job.run, i, chunk)
        payload = pickled(job)
        return lambda i, chunk: ex.submit(run_pickled_job, payload, i, chunk)

    @staticmethod
    def _wait(pending: set[Any], timeout: Optional[float]) -> set[Any]:
        done, _ = cf.wait(pending, timeout, cf.FIRST_COMPLETED)
        return done

    def run(self, job: Job, chunks: Chunks,
            timeout: Optional[float]) -> Iterator[ChunkResult]:
        clean = False
        try:
            submit = self._submit(job)
            yield from _drive(submit, self._wait, self._cancel, chunks,
                              _WINDOW * self.slots(), timeout,
                              (cf.BrokenExecutor,))
            clean = True
        except cf.BrokenExecutor as e:
            # a pool broken before this run refuses new chunks outright
            raise ChunksLost(f'the executor is broken: {e}') from e
        finally:
            if self.owned:
                self._shutdown(clean)

    @staticmethod
    def _cancel(pending: set[Any]) -> None:
        for future in pending:
            future.cancel()

    def _shutdown(self, clean: bool) -> None:
        self.executor.shutdown(wait=clean, cancel_futures=True)


class ProcessBackend(ExecutorBackend):
    """A process pool made for each run, with an explicit start method.

    :param workers: the number of worker processes
    :param start_method: ``'fork'``, ``'spawn'``, ``'forkserver'``, or
        ``None`` for the platform's default
    """

    def __init__(self, workers: int, start_method: Optional[str] = None
                 ) -> None:
        self.start_method = start_method
        self.context = multiprocessing.get_context(start_method)
        self.workers = workers
        self.owned = True
        self.in_process = False

    def run(self, job: Job, chunks: Chunks,
            timeout: Optional[float]) -> Iterator[ChunkResult]:
        # the pool lives for this run only: each worker process gets the
        # job when it starts, and the chunks go without it
        payload = pickled(job)
        self.executor = cf.ProcessPoolExecutor(
            max(1, min(self.workers, len(chunks))), mp_context=self.context,
            initializer=receive_job, initargs=(payload,))
        return super().run(job, chunks, timeout)

    def _submit(self, job: Job) -> Callable[[int, Sequence[Any]], Any]:
        ex = self.executor
        return lambda i, chunk: ex.submit(run_received_job, i, chunk)

    def _shutdown(self, clean: bool) -> None:
        if not clean:
            # a chunk may never finish (timeout, interrupt): stop the
            # workers rather than wait for them
            assert isinstance(self.executor, cf.ProcessPoolExecutor)
            stop_pool(self.executor)
        super()._shutdown(clean)


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as e:  # pragma: no cover - depends on the install
        raise PersistableError(
            'the Dask back end needs the dask extra: '
            'pip install "hutch[dask]"') from e
    return distributed


class DaskBackend(Backend):
    """Runs chunks on a Dask distributed cluster.

    :param client: a ``distributed.Client``, used as is; or a scheduler
        address, connected to for each run and closed after

    The job is scattered to every worker once per run, and released when
    the run ends.  A worker that
    dies is retried by the scheduler up to its ``allowed-failures`` setting
    (``distributed.scheduler.allowed-failures``, 3 by default); after that
    the run ends with an error.  Give a ``timeout`` to bound a silent
    cluster.
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self._opened: Any = None  # the client this back end connected

    def _client(self) -> Any:
        if not isinstance(self.client, str):
            return self.client
        if self._opened is None:
            self._opened = _distributed().Client(self.client)
        return self._opened

    def slots(self) -> int:
        threads: int = sum(self._client().nthreads().values())
        return max(1, threads)

    def run(self, job: Job, chunks: Chunks,
            timeout: Optional[float]) -> Iterator[ChunkResult]:
        dist = _distributed()
        client = self._client()
        try:
            token, payload = uuid.uuid4().hex, pickled(job)
            [shared] = client.scatter([ShippedJob(payload)],
                                      broadcast=True, hash=False)
            slots = self.slots()

            def submit(i: int, chunk: Sequence[Any]) -> Any:
                return client.submit(run_shipped_job, shared, i, chunk,
                                     pure=False,
                                     key=f'hutch-chunk-{i}-{token}')

            def wait(pending: set[Any], timeout: Optional[float]) -> set[Any]:
                try:
                    done, _ = dist.wait(list(pending), timeout,
                                        'FIRST_COMPLETED')
                except TimeoutError:
                    return set()
                return set(done)

            def cancel(pending: set[Any]) -> None:
                client.cancel(list(pending))

            try:
                yield from _drive(submit, wait, cancel, chunks,
                                  _WINDOW * slots, timeout,
                                  (dist.KilledWorker,))
            finally:
                client.cancel([shared])
        finally:
            if self._opened is not None:
                self._opened.close()
                self._opened = None


def _kind(spec: Any) -> str:
    """Which back end ``spec`` names: a name of :data:`BACKEND_NAMES`,
    ``'backend'``, ``'executor'`` or ``'dask'``.

    :raises ValueError: for a string that names none
    :raises TypeError: for anything else
    """
    if isinstance(spec, Backend):
        return 'backend'
    if isinstance(spec, cf.Executor):
        return 'executor'
    if isinstance(spec, str):
        if spec in BACKEND_NAMES:
            return spec
        if ':' in spec:
            return 'dask'
        raise ValueError(
            f'unknown back end {spec!r}: expected one of {BACKEND_NAMES}, '
            'an Executor, a distributed.Client or a scheduler address')
    dist = sys.modules.get('distributed')
    if dist is not None and isinstance(spec, dist.Client):
        return 'dask'
    raise TypeError(
        f'backend must be a name, an Executor or a distributed.Client, '
        f'got {type(spec).__name__}')


def check_backend(spec: Any) -> None:
    """Refuse a ``spec`` that names no back end (``ValueError`` for an
    unknown name, ``TypeError`` for another type), building nothing: no
    pool is made and no cluster is reached.

    >>> check_backend('thread'), check_backend('tcp://scheduler:8786')
    (None, None)
    """
    _kind(spec)


def make_backend(spec: Any, workers: int,
                 start_method: Optional[str] = None) -> Backend:
    """The back end ``spec`` names (see the module docs).

    :param workers: the resolved worker count (threads or processes)
    :param start_method: the start method for ``'process'``
    """
    kind = _kind(spec)
    if kind == 'backend':
        backend: Backend = spec
        return backend
    if kind == 'serial':
        return SerialBackend()
    if kind == 'thread':
        return ExecutorBackend(cf.ThreadPoolExecutor(workers), workers,
                               owned=True)
    if kind == 'process':
        return ProcessBackend(workers, start_method)
    if kind == 'executor':
        return ExecutorBackend(spec, workers)
    return DaskBackend(spec)
