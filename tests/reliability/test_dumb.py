"""The crash-safe ``dbm.dumb`` under :class:`~hutch.stash.shelve.ShelveStash`.

It keeps ``dbm.dumb``'s file format (so the stock module and
:mod:`shelve` read what it writes), never overwrites a value in place, and
survives a writer SIGKILLed at random moments with every key holding a
whole value from the last or the interrupted write.
"""

from __future__ import annotations

import dbm.dumb
import random
import shelve
from pathlib import Path
from typing import Any

import pytest

from hutch.stash._dumb import open_safe_dumb

from .procs import DONE, IN_FLIGHT, Killer, progress_array
from .stashes import record, scaled

KEYS = [b'k0', b'k1', b'k2']


def _value(seq: int) -> bytes:
    return f'{seq:08d}'.encode() * (1 + seq % 300)


def test_what_it_writes_is_a_plain_dbm_dumb_database(tmp_path: Path) -> None:
    path = str(tmp_path / 'db')
    db = open_safe_dumb(path, 'c')
    db[b'a'] = b'1'
    db['b'] = 'two'
    db[b'a'] = b'one, longer than before'
    db.close()
    with dbm.dumb.open(path, 'r') as plain:
        assert dict(plain.items()) == {b'a': b'one, longer than before',
                                       b'b': b'two'}


def test_it_reads_what_the_standard_dbm_dumb_wrote(tmp_path: Path) -> None:
    path = str(tmp_path / 'db')
    with dbm.dumb.open(path, 'c') as plain:
        plain[b'a'] = b'1'
        plain['\u00e9t\u00e9'] = b'summer'
        plain[b'a'] = b'overwritten with more bytes than before'
        plain[b'gone'] = b'soon'
        del plain[b'gone']
    db = open_safe_dumb(path, 'r')
    assert sorted(db.keys()) == [b'a', '\u00e9t\u00e9'.encode()]
    assert db[b'a'] == b'overwritten with more bytes than before'
    assert db['\u00e9t\u00e9'] == b'summer'
    assert (len(db), b'a' in db, 'zz' in db, 3 in db) == (2, True, False, False)
    db.close()
    with pytest.raises(dbm.dumb.error):
        db[b'a']


def test_a_shelf_it_writes_opens_with_shelve(tmp_path: Path) -> None:
    path = str(tmp_path / 'db')
    db = open_safe_dumb(path, 'c')
    with shelve.Shelf(db) as shelf:
        shelf['x'] = {'nested': [1, 2]}
    assert dbm.whichdb(path) == 'dbm.dumb'
    with shelve.Shelf(dbm.dumb.open(path, 'r')) as again:
        assert again['x'] == {'nested': [1, 2]}


def test_an_overwrite_never_touches_the_old_bytes(tmp_path: Path) -> None:
    path = tmp_path / 'db'
    db = open_safe_dumb(str(path), 'c')
    db[b'k'] = b'A' * 100
    db.sync()
    before = (tmp_path / 'db.dat').read_bytes()
    db[b'k'] = b'B' * 10  # would fit in place
    db.close()
    after = (tmp_path / 'db.dat').read_bytes()
    assert after.startswith(before)
    with dbm.dumb.open(str(path), 'r') as plain:
        assert plain[b'k'] == b'B' * 10


def test_read_only_refuses_writes(tmp_path: Path) -> None:
    path = str(tmp_path / 'db')
    open_safe_dumb(path, 'c').close()
    db = open_safe_dumb(path, 'r')
    with pytest.raises(dbm.dumb.error):
        db[b'k'] = b'v'
    db.close()


def test_an_unknown_flag_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        open_safe_dumb(str(tmp_path / 'db'), 'x')


def _write_forever(path: str, start: int, progress: Any) -> None:
    seq = start
    while True:
        progress[IN_FLIGHT] = seq
        db = open_safe_dumb(path, 'w' if seq else 'c')
        db[KEYS[seq % len(KEYS)]] = _value(seq)
        db.close()
        progress[DONE] = seq
        seq += 1


@pytest.mark.slow
def test_a_killed_writer_leaves_every_value_whole(tmp_path: Path) -> None:
    path = str(tmp_path / 'db')
    killer = Killer(random.Random('dumb'), max_delay=0.01)
    expected: dict[bytes, int] = {}
    seq = survived = 0
    for _ in range(scaled(40)):
        progress = progress_array()
        killer.run_and_kill(_write_forever, (path, seq, progress), progress,
                            min_done=seq)
        done, in_flight = progress[DONE], progress[IN_FLIGHT]
        for s in range(seq, done + 1):
            expected[KEYS[s % len(KEYS)]] = s
        with dbm.dumb.open(path, 'r') as db:  # the stock reader
            for key in KEYS:
                allowed = {expected.get(key)}
                if in_flight > done and KEYS[in_flight % len(KEYS)] == key:
                    allowed.add(in_flight)
                found = db.get(key)
                seqs = {s for s in allowed if s is not None}
                assert (found is None and None in allowed) or \
                    found in {_value(s) for s in seqs}, key
                if found is not None:
                    expected[key] = int(found[:8])
        seq = in_flight + 1
        survived += 1
    record('crash-dbm.dumb-safe', kills=survived, operations=seq)
