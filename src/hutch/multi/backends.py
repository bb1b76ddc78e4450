"""Where the chunks of a parallel run execute.

A back end takes the stash and its chunks and yields one
:class:`~hutch.multi.workers.ChunkResult` per chunk, in the order they
finish.  :func:`make_backend` builds one from what a user passes:

* ``'serial'`` -- in this thread, one chunk after another (for debugging);
* ``'thread'`` -- a thread pool in this process;
* ``'process'`` -- a :class:`~concurrent.futures.ProcessPoolExecutor` with an
  explicit start method (``fork``, ``spawn`` or ``forkserver``);
* any :class:`concurrent.futures.Executor` -- used as is, never shut down;
* a ``distributed.Client`` or a scheduler address such as
  ``'tcp://host:8786'`` -- Dask distributed (the ``dask`` extra).

Out-of-process back ends pickle the stash once per run and send those bytes
with every chunk; each worker process unpickles them once.  Only a bounded
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
import pickle
import sys
import traceback
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Optional

from ..errors import PersistableError
from .workers import ChunkResult, run_chunk, run_pickled_chunk

if TYPE_CHECKING:
    from .stash import MultiProcessStash

__all__ = ['Backend', 'SerialBackend', 'ExecutorBackend', 'ProcessBackend',
           'DaskBackend', 'ChunksLost', 'make_backend', 'BACKEND_NAMES']

logger = logging.getLogger(__name__)

#: the back ends named by a string
BACKEND_NAMES = ('serial', 'thread', 'process')

#: chunks in flight per parallel slot
_WINDOW = 2

Chunks = Sequence[Sequence[Any]]


class ChunksLost(Exception):
    """Chunks in flight were lost: a worker died or went silent.

    Internal: the stash turns it into a
    :class:`~hutch.multi.errors.WorkerDiedError` naming the unfinished keys.
    """


def _payload(stash: MultiProcessStash, direct: bool) -> bytes:
    try:
        return pickle.dumps(stash._worker_copy(direct),
                            protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as e:
        raise PersistableError(
            f'{type(stash).__name__} must be picklable to run in worker '
            f'processes: {type(e).__name__}: {e}') from e


class Backend(ABC):
    """Runs the chunks of one parallel run somewhere."""

    #: chunks run in this process on the stash itself: nothing is pickled
    #: and results always come back to the parent to store
    in_process: bool = False

    @abstractmethod
    def slots(self) -> int:
        """How many chunks can run at once (for splitting evenly)."""

    @abstractmethod
    def run(self, stash: MultiProcessStash, chunks: Chunks, direct: bool,
            timeout: Optional[float]) -> Iterator[ChunkResult]:
        """Run every chunk; yield each result as its chunk finishes.

        :param direct: workers store results in the stash's delegate
        :param timeout: seconds to wait for the next chunk to finish
            before giving up with :class:`ChunksLost` (``None``: no limit)
        """


class SerialBackend(Backend):
    """Runs the chunks one by one in the calling thread."""

    in_process = True

    def slots(self) -> int:
        return 1

    def run(self, stash: MultiProcessStash, chunks: Chunks, direct: bool,
            timeout: Optional[float]) -> Iterator[ChunkResult]:
        for index, chunk in enumerate(chunks):
            yield run_chunk(stash, index, chunk, direct)


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
                except Exception as e:
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
        runs the stash in process, any other executor gets it pickled
    :param workers: its parallelism, when the executor does not say
    :param owned: shut the executor down after each run (for pools this
        back end made itself)
    """

    def __init__(self, executor: cf.Executor, workers: int = 1,
                 owned: bool = False) -> None:
        self.executor = executor
        self.workers = getattr(executor, '_max_workers', workers)
        self.owned = owned
        self.in_process = isinstance(executor, cf.ThreadPoolExecutor)

    def slots(self) -> int:
        return max(1, int(self.workers))

    def _submit(self, stash: MultiProcessStash,
                direct: bool) -> Callable[[int, Sequence[Any]], Any]:
        ex = self.executor
        if self.in_process:
            return lambda i, chunk: ex.submit(run_chunk, stash, i, chunk,
                                              direct)
        token, payload = uuid.uuid4().hex, _payload(stash, direct)
        return lambda i, chunk: ex.submit(run_pickled_chunk, token, payload,
                                          i, chunk, direct)

    @staticmethod
    def _wait(pending: set[Any], timeout: Optional[float]) -> set[Any]:
        done, _ = cf.wait(pending, timeout, cf.FIRST_COMPLETED)
        return done

    def run(self, stash: MultiProcessStash, chunks: Chunks, direct: bool,
            timeout: Optional[float]) -> Iterator[ChunkResult]:
        clean = False
        try:
            submit = self._submit(stash, direct)
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

    def run(self, stash: MultiProcessStash, chunks: Chunks, direct: bool,
            timeout: Optional[float]) -> Iterator[ChunkResult]:
        workers = max(1, min(self.workers, len(chunks)))
        self.executor = cf.ProcessPoolExecutor(workers,
                                               mp_context=self.context)
        return super().run(stash, chunks, direct, timeout)

    def _shutdown(self, clean: bool) -> None:
        if not clean:
            # a chunk may never finish (timeout, interrupt): stop the
            # workers rather than wait for them
            procs = getattr(self.executor, '_processes', None) or {}
            for proc in list(procs.values()):
                proc.terminate()
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

    The stash is scattered to every worker once per run.  A worker that
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

    def run(self, stash: MultiProcessStash, chunks: Chunks, direct: bool,
            timeout: Optional[float]) -> Iterator[ChunkResult]:
        dist = _distributed()
        client = self._client()
        try:
            token, payload = uuid.uuid4().hex, _payload(stash, direct)
            [shared] = client.scatter([payload], broadcast=True, hash=False)
            slots = self.slots()

            def submit(i: int, chunk: Sequence[Any]) -> Any:
                return client.submit(run_pickled_chunk, token, shared, i,
                                     chunk, direct, pure=False,
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


def make_backend(spec: Any, workers: int,
                 start_method: Optional[str] = None) -> Backend:
    """The back end ``spec`` names (see the module docs).

    :param workers: the resolved worker count (threads or processes)
    :param start_method: the start method for ``'process'``
    """
    if isinstance(spec, Backend):
        return spec
    if spec == 'serial':
        return SerialBackend()
    if spec == 'thread':
        return ExecutorBackend(cf.ThreadPoolExecutor(workers), workers,
                               owned=True)
    if spec == 'process':
        return ProcessBackend(workers, start_method)
    if isinstance(spec, cf.Executor):
        return ExecutorBackend(spec, workers)
    if isinstance(spec, str):
        if '://' in spec or ':' in spec:
            return DaskBackend(spec)
        raise ValueError(
            f'unknown back end {spec!r}: expected one of {BACKEND_NAMES}, '
            'an Executor, a distributed.Client or a scheduler address')
    dist = sys.modules.get('distributed')
    if dist is not None and isinstance(spec, dist.Client):
        return DaskBackend(spec)
    raise TypeError(
        f'backend must be a name, an Executor or a distributed.Client, '
        f'got {type(spec).__name__}')
