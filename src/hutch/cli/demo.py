"""``hutch demo``: hutch at work, start to finish, in under a minute.

1. The counter example: a method whose result is computed once, kept on the
   instance, and saved to a file that a new instance reads back.  It runs in
   a child process started in its folder, so the caller's working folder
   never changes.
2. A pipeline: a :class:`~hutch.multi.MultiProcessFactoryStash` builds a few
   thousand items into a :class:`~hutch.stash.directory.DirectoryStash` on
   worker processes.  The build runs in a child process that leads a session
   of its own and is killed part-way (``SIGKILL`` to that session's process
   group, never the caller's), the stash is checked (every stored item reads
   back whole), and the build is resumed: only the missing items are built,
   and the items of the first run are left untouched.
3. The items are read back through a :class:`~hutch.CacheStash`: the first
   pass from disk, the second from memory, with timings.
4. ``hutch info`` and ``hutch ls`` on the result.

Everything happens in a temporary folder unless ``--dir`` names one (which
is then kept, to look at afterwards).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional, TextIO

from .._files import is_temp_name
from ..errors import PersistableError
from ..multi import MultiProcessFactoryStash
from ..stash.base import ReadOnlyStash
from ..stash.compose import CacheStash
from ..stash.directory import DirectoryStash

__all__ = ['Documents', 'run_demo']

_WORDS = ('stash persist cache folder worker chunk resume atomic key value '
          'process thread pickle json durable factory delegate prime').split()


class Documents(ReadOnlyStash):
    """The expensive part of the pipeline: makes and analyses a document.

    Each key names a synthetic document; loading it tokenizes the text and
    hashes it a few thousand times (a stand-in for real feature extraction,
    a millisecond or two of CPU).  Picklable, so worker processes get a copy
    under any start method.

    >>> doc = Documents(3).load('doc-0002')
    >>> doc['id'], doc['tokens'], len(doc['digest'])
    ('doc-0002', 60, 64)
    """

    def __init__(self, n: int, rounds: int = 3000) -> None:
        self.n = n
        self.rounds = rounds

    def keys(self) -> list[str]:
        return [f'doc-{i:04d}' for i in range(self.n)]

    def _index(self, name: str) -> Optional[int]:
        head, _, num = name.partition('-')
        if head != 'doc' or not num.isdigit():
            return None
        i = int(num)
        return i if i < self.n and name == f'doc-{i:04d}' else None

    def load(self, name: str) -> Optional[dict[str, Any]]:
        i = self._index(name)
        if i is None:
            return None
        words = [_WORDS[(i * 7 + j * j) % len(_WORDS)] for j in range(60)]
        text = ' '.join(words).encode()
        digest = hashlib.sha256(text)
        for _ in range(self.rounds):
            digest = hashlib.sha256(digest.digest() + text)
        return {'id': name, 'tokens': len(words),
                'top': Counter(words).most_common(3),
                'digest': digest.hexdigest()}

    def exists(self, name: str) -> bool:
        return self._index(name) is not None


def _pipeline(folder: Path, items: int, workers: int,
              progress: Optional[bool] = None) -> MultiProcessFactoryStash:
    """The stack the demo builds: a multiprocess factory over a folder.

    The progress bar shows when standard error is a terminal.
    """
    return MultiProcessFactoryStash(
        DirectoryStash(folder), Documents(items),
        chunk_size=50, workers=workers, progress=progress)


def _build(folder: str, items: int, workers: int) -> None:
    """Entry point of the build the demo kills (runs in a child process)."""
    _pipeline(Path(folder), items, workers).prime()


class _Printer:
    def __init__(self, out: TextIO) -> None:
        self.out = out

    def __call__(self, text: str = '') -> None:
        self.out.write(text + '\n')
        self.out.flush()

    def section(self, title: str) -> None:
        self()
        self(f'== {title}')


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def _mtimes(folder: Path) -> dict[str, int]:
    """The modification time of each data file (not temporaries)."""
    times = {}
    with os.scandir(folder) as it:
        for e in it:
            if e.name.startswith('.'):
                continue
            try:
                times[e.name] = e.stat().st_mtime_ns
            except FileNotFoundError:
                continue
    return times


def _child(code: str, *args: str, cwd: Optional[Path] = None,
           new_session: bool = False) -> subprocess.Popen[str]:
    """A Python child process running ``code`` (with ``args`` in
    ``sys.argv[1:]``) that imports this hutch whatever its working folder.

    A child in a session of its own (``new_session``: one the demo kills)
    writes no output but its standard error; the others' output is piped,
    for :func:`_relay`.
    """
    src = os.fspath(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in (src, env.get('PYTHONPATH')) if p)
    return subprocess.Popen(
        [sys.executable, '-c', code, *args], cwd=cwd, env=env, text=True,
        stdout=subprocess.DEVNULL if new_session else subprocess.PIPE,
        stderr=None if new_session else subprocess.PIPE,
        start_new_session=new_session)


def _relay(child: subprocess.Popen[str], say: _Printer) -> None:
    """Pass on what ``child`` printed once it ends: its output to ``say``,
    its messages to standard error; an error if it failed."""
    out, err = child.communicate()
    for line in out.splitlines():
        say(line)
    sys.stderr.write(err)
    sys.stderr.flush()
    if child.returncode != 0:
        raise PersistableError(f'a step of the demo failed (exit status '
                               f'{child.returncode}): {child.args!r}')


def _counter_steps() -> None:
    """The counter example, as its users write it: the file is named
    relative to the working folder (this runs in a child started there)."""
    say = _Printer(sys.stdout)
    from .. import PersistableContainer, PersistedWork, persisted

    class SomeClass(PersistableContainer):
        def __init__(self, n: int) -> None:
            self.n = n
            self._counter = PersistedWork(Path('counter.dat'), self, mkdir=True)

        @property
        @persisted('_counter')
        def count(self) -> int:
            say('returning count value')
            return self.n * 2

        @property
        @persisted('_notsaved')
        def notsaved(self) -> int:
            say('returning unsaved value')
            return self.n * 3

    say('>>> inst = SomeClass(5)')
    inst = SomeClass(5)
    for expr in ('inst.count', 'inst.count', 'inst.notsaved',
                 'inst.notsaved'):
        say(f'>>> {expr}')
        say(repr(getattr(inst, expr.split('.')[1])))
    say(f'>>> sorted(os.listdir())\n{sorted(os.listdir())!r}')
    say('>>> inst = SomeClass(10)   # a new instance, same file')
    inst = SomeClass(10)
    for expr in ('inst.count', 'inst.notsaved'):
        say(f'>>> {expr}')
        say(repr(getattr(inst, expr.split('.')[1])))


def counter_example(folder: Path, say: _Printer) -> None:
    """Part 1: the counter example, run in ``folder`` by a child process
    (the caller's working folder stays as it is)."""
    say.section('1. Method-level persistence: the counter example')
    folder.mkdir(parents=True, exist_ok=True)
    say(f'(in {folder})')
    _relay(_child('from hutch.cli.demo import _counter_steps; '
                  '_counter_steps()', cwd=folder), say)


def _kill_session(child: subprocess.Popen[Any]) -> None:
    """Kill ``child`` and the workers it started: the session it leads
    (it was started with ``start_new_session``), never the caller's."""
    if child.poll() is not None:  # still unreaped if not: its pid is its own
        return
    group = os.getpgid(child.pid)
    if group == child.pid and group != os.getpgrp():
        os.killpg(group, signal.SIGKILL)
    else:  # not a session of its own (yet): the child alone
        child.kill()


def _interrupted_build(folder: Path, items: int, workers: int,
                       say: _Printer) -> None:
    """Start the build in a child process's own session, kill it part-way."""
    code = ('import sys; from hutch.cli.demo import _build; '
            '_build(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))')
    child = _child(code, os.fspath(folder), str(items), str(workers),
                   new_session=True)
    target = items * 2 // 5
    deadline = time.monotonic() + 60
    try:
        while child.poll() is None and time.monotonic() < deadline:
            if len(_mtimes(folder)) >= target:
                break
            time.sleep(0.02)
    finally:
        _kill_session(child)
        child.wait(timeout=30)
    if sys.stderr.isatty():
        sys.stderr.write('\n')  # end the killed build's progress bar
    if child.returncode == 0:
        say('(the build finished before it could be interrupted)')
    else:
        say(f'killed the build (SIGKILL to its process group) once '
            f'{target} of {items} items were stored')


def pipeline(folder: Path, items: int, workers: int, say: _Printer) -> None:
    """Parts 2 and 3: build, interrupt, resume, and read back."""
    say.section(f'2. A pipeline: {items} items built on {workers} worker '
                'processes into a DirectoryStash')
    folder.mkdir(parents=True, exist_ok=True)
    say(f'(in {folder})')
    say('stash = MultiProcessFactoryStash(DirectoryStash(folder), '
        f'Documents({items}), chunk_size=50, workers={workers})')
    say('stash.prime()   # in a child process, killed part-way:')
    _, took = _timed(lambda: _interrupted_build(folder, items, workers, say))
    store = DirectoryStash(folder)
    kept = len(store)
    stale = sum(1 for n in os.listdir(folder) if is_temp_name(n))
    intact, check = _timed(lambda: sum(
        1 for k, v in store if isinstance(v, dict) and v.get('id') == k))
    say(f'after {took:.1f} s: {kept} items stored, {intact} of them read '
        f'back whole ({check:.2f} s); {stale} stale temporary file(s) left '
        'by the kill, which are never keys')
    before = _mtimes(folder)

    say()
    say('stash.prime()   # again, in this process: resumes')
    stash = _pipeline(folder, items, workers)
    _, took = _timed(stash.prime)
    sys.stderr.flush()
    after = _mtimes(folder)
    untouched = sum(1 for n, t in before.items() if after.get(n) == t)
    built = sum(1 for n in after if n not in before)
    say(f'resumed in {took:.1f} s: built {built} missing items; the '
        f'{untouched} items of the first run were not rebuilt '
        f'(same modification times); {len(store)} items in all')

    say.section('3. Reading back through a CacheStash')
    cached = CacheStash(DirectoryStash(folder))
    keys = sorted(cached.keys())
    _, cold = _timed(lambda: [cached[k] for k in keys])
    _, warm = _timed(lambda: [cached[k] for k in keys])
    say(f'first pass, from disk:   {len(keys)} items in {cold * 1000:7.1f} ms')
    say(f'second pass, in memory:  {len(keys)} items in {warm * 1000:7.1f} ms')
    say(f'>>> cached[{keys[0]!r}]')
    say(repr(cached[keys[0]]))

    say.section('4. The hutch command on the result')
    for argv in (['info', os.fspath(folder)],
                 ['ls', '--long', '--limit', '3', os.fspath(folder)]):
        say(f'$ hutch {" ".join(argv)}')
        _relay(_child('import sys; from hutch.cli import main; '
                      'sys.exit(main(sys.argv[1:]))', *argv), say)


def _forget_last_run(root: Path) -> bool:
    """Remove what an earlier demo left in ``root``; whether there was any.

    Only the demo's own files go: the counter example's file and the items of
    the documents stash (which leaves anything else in its folder alone).
    """
    counter = root / 'counter' / 'counter.dat'
    documents = DirectoryStash(root / 'documents')
    found = counter.exists() or len(documents) > 0
    counter.unlink(missing_ok=True)
    documents.clear()
    return found


def run_demo(folder: Optional[str | os.PathLike[str]] = None,
             items: int = 3000, workers: int = 2,
             out: TextIO = sys.stdout) -> int:
    """Run the demonstration in ``folder`` (kept) or a temporary folder."""
    say = _Printer(out)
    start = time.perf_counter()

    def run(root: Path) -> None:
        say(f'hutch demo: working in {root}')
        counter_example(root / 'counter', say)
        pipeline(root / 'documents', items, workers, say)

    if folder is None:
        with tempfile.TemporaryDirectory(prefix='hutch-demo-') as tmp:
            run(Path(tmp))
    else:
        root = Path(folder).resolve()
        root.mkdir(parents=True, exist_ok=True)
        if _forget_last_run(root):
            say(f"(removed an earlier demo's files from {root})")
        run(root)
        say(f'\n(kept {root})')
    say(f'\ndemo finished in {time.perf_counter() - start:.1f} s')
    return 0

