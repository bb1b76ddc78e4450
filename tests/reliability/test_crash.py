"""Crash safety: a writer SIGKILLed at random moments loses nothing it finished.

A child process dumps (and now and then deletes) a few keys in a loop, on a
fixed schedule; the test kills it with SIGKILL after a random while, many
times over, and after each kill opens the stash afresh and checks:

* every key is in the state the last finished operation left it in -- or,
  for the key being written when the kill came, the state that operation
  would have left; values are whole (never torn) and readable;
* ``keys()`` and ``len`` show exactly the present keys: no temporary file
  is mistaken for a key;
* in the end ``clear()`` empties the stash (and its folder, for a stash
  that owns one), stale temporaries included.

Kills per stash: ``40 * HUTCH_RELIABILITY_SCALE``.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any, Optional

import pytest

from hutch import CloseableStash, Stash

from .procs import DONE, FORK, IN_FLIGHT, Killer, progress_array
from .stashes import DURABLE, Kind, check_payload, payload, record, scaled

KILLS = scaled(40)
KEYS = [f'key-{i}' for i in range(5)]

State = dict[str, Optional[int]]
"""Each key's expected content: the seq of its value, or None (absent)."""


def _operation(seq: int) -> tuple[str, bool]:
    """The key of operation ``seq``, and whether it deletes (else dumps)."""
    return KEYS[seq % len(KEYS)], seq % 11 == 10


def _value(seq: int) -> dict[str, Any]:
    return payload(seq, size=256 << (seq % 9))  # 256 B .. 64 KiB


def _dump_forever(kind: Kind, home: Path, start: int, progress: Any) -> None:
    stash = kind.make(home)
    seq = start
    while True:
        progress[IN_FLIGHT] = seq
        key, delete = _operation(seq)
        if delete:
            stash.delete(key)
        else:
            stash.dump(key, _value(seq))
        progress[DONE] = seq
        seq += 1


def _apply(state: State, seq: int) -> State:
    key, delete = _operation(seq)
    return {**state, key: None if delete else seq}


def _observe(stash: Stash) -> State:
    state: State = {}
    for key in KEYS:
        value = stash.load(key)
        if value is None:
            assert not stash.exists(key), f'{key} exists but loads as None'
            state[key] = None
        else:
            assert stash.exists(key)
            writer, seq = check_payload(value)
            assert value == _value(seq), f'{key}: not the value of op {seq}'
            state[key] = seq
    return state


def _close(stash: Stash) -> None:
    if isinstance(stash, CloseableStash):
        stash.close()


@pytest.mark.slow
@pytest.mark.parametrize('kind', DURABLE, ids=str)
def test_a_killed_writer_leaves_every_key_whole(
        kind: Kind, tmp_path: Path) -> None:
    killer = Killer(random.Random(f'crash-{kind}'))
    state: State = dict.fromkeys(KEYS)
    seq = 0
    survived = mid_op = visible = 0
    for _ in range(KILLS):
        progress = progress_array()
        killer.run_and_kill(_dump_forever, (kind, tmp_path, seq, progress),
                            progress, min_done=seq)
        done, in_flight = progress[DONE], progress[IN_FLIGHT]
        for s in range(seq, done + 1):
            state = _apply(state, s)
        stash = kind.make(tmp_path)
        try:
            found = _observe(stash)
            allowed = [state]
            if in_flight > done:
                allowed.append(_apply(state, in_flight))
                mid_op += 1
                visible += found != state
            assert found in allowed, \
                f'after kill {survived + 1}: found {found}, allowed {allowed}'
            present = sorted(k for k, v in found.items() if v is not None)
            assert sorted(stash.keys()) == present
            assert len(stash) == len(present)
        finally:
            _close(stash)
        state = found
        seq = in_flight + 1
        survived += 1
    record(f'crash-{kind}', kills=survived, operations=seq,
           killed_mid_operation=mid_op, interrupted_op_visible=visible)
    stash = kind.make(tmp_path)
    try:
        stash.clear()
        if kind.owns_folder:
            data = kind.data_dir(tmp_path)
            assert not data.exists() or os.listdir(data) == []
        assert list(stash.keys()) == []
    finally:
        _close(stash)


class _Versioned:
    """Owns persisted work whose file is rewritten for every new version."""

    def __init__(self, path: Path, seq: int) -> None:
        from hutch.persisted import PersistedWork
        self.seq = seq
        self._work = PersistedWork(path, self, version=seq, mkdir=True)

    def compute(self) -> dict[str, Any]:
        return _value(self.seq)


class _Checker(_Versioned):
    def compute(self) -> dict[str, Any]:
        raise LookupError(f'version {self.seq} is not the stored one')


def _persisted_value(obj: _Versioned) -> Any:
    from hutch.persisted import persisted

    @persisted('_work')
    def value(self: _Versioned) -> Any:
        return self.compute()

    return value(obj)


def _compute_forever(path: Path, start: int, progress: Any) -> None:
    seq = start
    while True:
        progress[IN_FLIGHT] = seq
        _persisted_value(_Versioned(path, seq))
        progress[DONE] = seq
        seq += 1


def _stored_version(path: Path, candidates: list[int]) -> int:
    """Which candidate version the file holds (whole), else AssertionError."""
    for seq in candidates:
        try:
            value = _persisted_value(_Checker(path, seq))
        except LookupError:
            continue
        assert value == _value(seq), f'version {seq}: wrong or torn value'
        return seq
    raise AssertionError(f'{path} holds none of versions {candidates}')


@pytest.mark.slow
def test_a_killed_persisted_worker_leaves_the_last_or_the_new_value(
        tmp_path: Path) -> None:
    from hutch._files import is_temp_name

    path = tmp_path / 'data' / 'work.dat'
    killer = Killer(random.Random('crash-persisted'))
    seq = survived = mid_op = visible = 0
    for _ in range(KILLS):
        progress = progress_array()
        killer.run_and_kill(_compute_forever, (path, seq, progress),
                            progress, min_done=seq)
        done, in_flight = progress[DONE], progress[IN_FLIGHT]
        found = _stored_version(path, sorted({done, in_flight}))
        mid_op += in_flight > done
        visible += found > done
        names = os.listdir(path.parent)
        assert [n for n in names if not is_temp_name(n)] == ['work.dat']
        seq = in_flight + 1
        survived += 1
    record('crash-PersistedWork', kills=survived, operations=seq,
           killed_mid_operation=mid_op, interrupted_op_visible=visible)


class _Slow:
    """Persisted work whose worker announces itself, then takes its time."""

    def __init__(self, path: Path, started: Any) -> None:
        from hutch.persisted import PersistedWork
        self.started = started
        self._work = PersistedWork(path, self, mkdir=True, lock_timeout=10)

    def value(self) -> Any:
        from hutch.persisted import persisted

        @persisted('_work')
        def compute(self: _Slow) -> Any:
            if self.started is not None:
                self.started.set()
                time.sleep(60)  # until killed
            return _value(7)

        return compute(self)


def _compute_slowly(path: Path, started: Any) -> None:
    _Slow(path, started).value()


@pytest.mark.slow
def test_a_worker_killed_while_computing_leaves_no_file_and_no_lock(
        tmp_path: Path) -> None:
    from hutch._files import is_temp_name

    path = tmp_path / 'data' / 'work.dat'
    started = FORK.Event()
    proc = FORK.Process(target=_compute_slowly, args=(path, started),
                        daemon=True)
    proc.start()
    try:
        assert started.wait(30), 'the worker never started'
    finally:
        proc.kill()
        proc.join(30)
    assert [n for n in os.listdir(path.parent) if not is_temp_name(n)] == []
    # the dead holder's lock is gone (else LockTimeoutError after 10 s)
    assert _Slow(path, None).value() == _value(7)
    assert os.listdir(path.parent) == ['work.dat']
