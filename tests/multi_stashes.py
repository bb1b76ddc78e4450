"""Stashes the multiprocess tests send to workers.

They live at module level in an importable module so that ``spawn`` and
``forkserver`` workers (and Dask workers) can unpickle them.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Optional

from hutch import MultiProcessDefaultStash, ReadOnlyStash, Stash
from hutch._files import atomic_write, is_temp_name


class FileStash(Stash):
    """One pickle file per key in a folder: a tiny shareable stash.

    Each file also records the pid of the process that wrote it, so tests
    can tell whether the parent or a worker stored an item.
    """

    shareable = True

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)

    def _file(self, name: str) -> Path:
        return self.path / (name.encode().hex() + '.pkl')

    def _read(self, name: str) -> Optional[tuple[int, Any]]:
        try:
            data = self._file(name).read_bytes()
        except FileNotFoundError:
            return None
        pid_value: tuple[int, Any] = pickle.loads(data)
        return pid_value

    def load(self, name: str) -> Any:
        found = self._read(name)
        return None if found is None else found[1]

    def writer_pid(self, name: str) -> int:
        found = self._read(name)
        assert found is not None, name
        return found[0]

    def exists(self, name: str) -> bool:
        return self._file(name).exists()

    def dump(self, name: str, inst: Any) -> None:
        atomic_write(self._file(name), pickle.dumps((os.getpid(), inst)))

    def delete(self, name: Optional[str] = None) -> None:
        if name is not None:
            self._file(name).unlink(missing_ok=True)

    def keys(self) -> list[str]:
        return sorted(bytes.fromhex(p.stem).decode()
                      for p in self.path.iterdir()
                      if not is_temp_name(p.name))


class PrivateFileStash(FileStash):
    """The same folder stash, but declared not shareable."""

    shareable = False


class Squares(MultiProcessDefaultStash):
    """Items ``0..n-1``; key ``str(i)`` holds ``i * i``.

    ``bad`` items raise ``ValueError``; a ``deadly`` item kills its worker
    process (``os._exit`` or ``SIGKILL``); a ``quitting`` item calls
    ``sys.exit(4)`` (or, with ``interrupt``, raises ``KeyboardInterrupt``);
    a ``slow`` item sleeps for ``slow_seconds``.
    """

    def __init__(self, delegate: Stash, n: int, *, bad: Iterable[int] = (),
                 deadly: Iterable[int] = (), kill_signal: bool = False,
                 quitting: Iterable[int] = (), interrupt: bool = False,
                 slow: Iterable[int] = (), slow_seconds: float = 60.0,
                 **kwargs: Any) -> None:
        super().__init__(delegate, **kwargs)
        self.n = n
        self.bad = frozenset(bad)
        self.deadly = frozenset(deadly)
        self.kill_signal = kill_signal
        self.quitting = frozenset(quitting)
        self.interrupt = interrupt
        self.slow = frozenset(slow)
        self.slow_seconds = slow_seconds

    def _create_data(self) -> Iterable[int]:
        return range(self.n)

    def _process(self, chunk: Sequence[int]) -> Iterable[tuple[str, Any]]:
        for i in chunk:
            if i in self.bad:
                raise ValueError(f'bad item {i}')
            if i in self.deadly:
                if self.kill_signal:
                    os.kill(os.getpid(), signal.SIGKILL)
                os._exit(3)
            if i in self.quitting:
                if self.interrupt:
                    raise KeyboardInterrupt
                sys.exit(4)
            if i in self.slow:
                time.sleep(self.slow_seconds)
            yield str(i), i * i


class _RangeStash(MultiProcessDefaultStash):
    """Work items ``0..n-1``; subclasses say what each item's value is."""

    def __init__(self, delegate: Stash, n: int, **kwargs: Any) -> None:
        super().__init__(delegate, **kwargs)
        self.n = n

    def _create_data(self) -> Iterable[int]:
        return range(self.n)


class PidStash(_RangeStash):
    """Items ``0..n-1``; each value is the pid of the process that made it."""

    def _process(self, chunk: Sequence[int]) -> Iterable[tuple[str, Any]]:
        time.sleep(0.05)  # long enough that one worker can't take them all
        for i in chunk:
            yield str(i), os.getpid()


class CubeFactory(ReadOnlyStash):
    """Keys ``'0'..str(n-1)``, value ``int(key) ** 3``; each load leaves a
    file named for the key in ``calls`` (when given), to count the work."""

    def __init__(self, n: int, calls: Optional[Path] = None,
                 bad: Iterable[str] = ()) -> None:
        self.n = n
        self.calls = calls
        self.bad = frozenset(bad)

    def load(self, name: str) -> Any:
        if self.calls is not None:
            (self.calls / f'{name}.{os.getpid()}.{time.monotonic_ns()}'
             ).touch()
        if name in self.bad:
            raise KeyError(f'cannot make {name}')
        return int(name) ** 3

    def keys(self) -> list[str]:
        return [str(i) for i in range(self.n)]

    def calls_made(self) -> list[str]:
        """The keys loaded so far, sorted, one entry per load."""
        assert self.calls is not None
        return sorted(p.name.split('.')[0] for p in self.calls.iterdir())


class ChunkLengths(_RangeStash):
    """Items ``0..n-1``; each value is the length of the chunk it was in."""

    def _process(self, chunk: Sequence[int]) -> Iterable[tuple[str, Any]]:
        for i in chunk:
            yield str(i), len(chunk)


class Unpicklable(MultiProcessDefaultStash):
    """Items ``0..n-1``; the ``bad`` ones have a value that can't be pickled
    (so it can't come back from a worker process)."""

    def __init__(self, delegate: Stash, n: int, bad: Iterable[int] = (),
                 **kwargs: Any) -> None:
        super().__init__(delegate, **kwargs)
        self.n = n
        self.bad = frozenset(bad)

    def _create_data(self) -> Iterable[int]:
        return range(self.n)

    def _process(self, chunk: Sequence[int]) -> Iterable[tuple[str, Any]]:
        for i in chunk:
            yield str(i), (threading.Lock() if i in self.bad else i)


class Homesick(Squares):
    """A :class:`Squares` that refuses to be unpickled outside the process
    that made it, as when a worker lacks a module the stash needs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.home = os.getpid()

    def __setstate__(self, state: dict[str, Any]) -> None:
        if state['home'] != os.getpid():
            raise RuntimeError('cannot be loaded away from home')
        super().__setstate__(state)


#: the :class:`Tracked` stashes alive in this process
UNPICKLED: weakref.WeakSet[Tracked] = weakref.WeakSet()


def unpickled_alive() -> int:
    """How many unpickled :class:`Tracked` stashes this process still
    holds, once garbage is collected."""
    import gc
    gc.collect()
    return len(UNPICKLED)


class Tracked(Squares):
    """A :class:`Squares` that counts its unpickled copies in
    :data:`UNPICKLED`, to see whether a worker keeps one alive."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        UNPICKLED.add(self)
