"""Writers outside one envelope: other hosts, other users, other paths.

Exclusion that correctness depends on must come from the shared storage,
not from a lock in one machine's temporary folder.  Each test here breaks
one assumption a temporary-folder lock silently makes:

* **two hosts** -- two writer processes with different ``HUTCH_LOCK_DIR``
  (as two containers sharing a volume, or two hosts on one file system);
* **two paths** -- one writer through a symlink, one through the real path;
* **two users** -- a child that becomes ``nobody`` (uid 65534) writes the
  same folder as root (skipped only when the tests don't run as root).

Every write that returned must be there afterwards, each exactly once.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hutch import IncrementKeyDirectoryStash, ShelveStash

from .procs import FORK, finish
from .stashes import record, scaled

NOBODY = 65534
WRITES = scaled(300)


@pytest.fixture
def shared() -> Iterator[Path]:
    """A folder everyone can reach and write (pytest's own are private)."""
    folder = Path(tempfile.mkdtemp(prefix='hutch-shared-', dir='/tmp'))
    folder.chmod(0o777)
    yield folder
    shutil.rmtree(folder)


def _become_nobody() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def _run_writers(writer: Callable[..., None],
                 args: list[tuple[Any, ...]]) -> None:
    procs = [FORK.Process(target=writer, args=a) for a in args]
    for p in procs:
        p.start()
    assert [finish(p) for p in procs] == [0] * len(procs)


# -- IncrementKeyDirectoryStash ----------------------------------------------

def _append(folder: str, lock_dir: str, tag: str, n: int,
            as_nobody: bool) -> None:
    os.umask(0)
    if as_nobody:
        _become_nobody()
    os.environ['HUTCH_LOCK_DIR'] = lock_dir
    stash = IncrementKeyDirectoryStash(folder)
    for i in range(n):
        stash.dump(f'{tag}-{i}')


def _check_appended(folder: Path, tags: list[str], n: int) -> int:
    stash = IncrementKeyDirectoryStash(folder)
    values = [stash.load(k) for k in stash.keys()]
    assert len(values) == len(set(values))
    assert sorted(values) == sorted(f'{t}-{i}' for t in tags
                                    for i in range(n))
    assert sorted(map(int, stash.keys())) == list(range(1, len(values) + 1))
    assert not [n for n in os.listdir(folder) if n.startswith('.')]
    return len(values)


@pytest.mark.slow
def test_increment_writers_with_separate_lock_folders_lose_nothing(
        tmp_path: Path) -> None:
    folder = tmp_path / 'data'
    _run_writers(_append, [
        (str(folder), str(tmp_path / f'locks-{t}'), t, WRITES, False)
        for t in 'ab'])
    kept = _check_appended(folder, ['a', 'b'], WRITES)
    record('edges-increment-two-hosts', writes=2 * WRITES, kept=kept)


@pytest.mark.slow
def test_increment_writers_through_a_symlink_and_the_real_path_lose_nothing(
        tmp_path: Path, _private_lock_dir: Path) -> None:
    real = tmp_path / 'data'
    real.mkdir()
    link = tmp_path / 'link'
    link.symlink_to(real)
    _run_writers(_append, [
        (str(path), str(_private_lock_dir), tag, WRITES, False)
        for path, tag in ((real, 'real'), (link, 'link'))])
    kept = _check_appended(real, ['real', 'link'], WRITES)
    record('edges-increment-symlink', writes=2 * WRITES, kept=kept)


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason='needs root to become nobody')
def test_increment_writers_of_two_users_lose_nothing(shared: Path) -> None:
    folder = shared / 'data'
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)
    _run_writers(_append, [
        (str(folder), str(shared / f'locks-{t}'), t, WRITES, t == 'nobody')
        for t in ('root', 'nobody')])
    kept = _check_appended(folder, ['root', 'nobody'], WRITES)
    owners = {p.stat().st_uid for p in folder.iterdir()}
    assert owners == {0, NOBODY}
    record('edges-increment-two-users', writes=2 * WRITES, kept=kept)


# -- ShelveStash ---------------------------------------------------------------

def _store(path: str, lock_dir: str, tag: str, n: int,
           as_nobody: bool) -> None:
    os.umask(0)
    if as_nobody:
        _become_nobody()
    os.environ['HUTCH_LOCK_DIR'] = lock_dir
    stash = ShelveStash(path)
    for i in range(n):
        stash.dump(f'{tag}-{i}', i)


def _check_stored(path: Path, tags: list[str], n: int) -> int:
    stash = ShelveStash(path)
    found = {k: stash.load(k) for k in stash.keys()}
    assert found == {f'{t}-{i}': i for t in tags for i in range(n)}
    return len(found)


@pytest.mark.slow
def test_shelf_writers_with_separate_lock_folders_lose_nothing(
        tmp_path: Path) -> None:
    path = tmp_path / 'shelf'
    _run_writers(_store, [
        (str(path), str(tmp_path / f'locks-{t}'), t, WRITES, False)
        for t in 'ab'])
    kept = _check_stored(path, ['a', 'b'], WRITES)
    record('edges-shelf-two-hosts', writes=2 * WRITES, kept=kept)


@pytest.mark.slow
def test_shelf_writers_through_a_symlink_and_the_real_path_lose_nothing(
        tmp_path: Path, _private_lock_dir: Path) -> None:
    (tmp_path / 'real').mkdir()
    (tmp_path / 'link').symlink_to(tmp_path / 'real')
    _run_writers(_store, [
        (str(tmp_path / folder / 'shelf'), str(_private_lock_dir), folder,
         WRITES, False) for folder in ('real', 'link')])
    kept = _check_stored(tmp_path / 'real' / 'shelf', ['real', 'link'], WRITES)
    record('edges-shelf-symlink', writes=2 * WRITES, kept=kept)


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason='needs root to become nobody')
def test_shelf_writers_of_two_users_lose_nothing(shared: Path) -> None:
    path = shared / 'shelf'
    _run_writers(_store, [
        (str(path), str(shared / f'locks-{t}'), t, WRITES, t == 'nobody')
        for t in ('root', 'nobody')])
    kept = _check_stored(path, ['root', 'nobody'], WRITES)
    record('edges-shelf-two-users', writes=2 * WRITES, kept=kept)
