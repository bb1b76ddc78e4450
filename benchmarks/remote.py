"""Object storage: a ``DirectoryStash`` on ``s3://`` against raw s3fs.

The S3 API is moto's server, started for the area on 127.0.0.1 in a process
of its own (so its work does not share this process's interpreter lock).
A local server shows what hutch adds on top of s3fs -- key encoding,
serialization, error handling -- not network latency, which on real object
storage dwarfs both and makes concurrent batches pay off even more.

* ``per-key``: ``load`` and ``dump`` of small values one key at a time,
  against the floor ``pickle.loads(fs.cat_file(path))`` and
  ``fs.pipe_file(path, pickle.dumps(value))`` on the same s3fs file system.
* ``batch``: ``load_many`` of 1,000 small values (one batched, concurrent
  ``cat``) against a loop of per-key ``load`` calls.
"""

from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

from .harness import HUTCH, Case, Config, Contender, Item, NotAvailable, Note, require
from .stashops import value_of

AREA = 'remote'
BUCKET = 'hutch-bench'
VALUE_BYTES = 300
BATCH = 1_000
_OPTIONS_KEYS = {'key': 'bench', 'secret': 'bench'}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return int(s.getsockname()[1])


def _start_server() -> tuple[subprocess.Popen[bytes], str]:
    """moto's S3 server in a process of its own, and its endpoint."""
    require('moto.server', 'ThreadedMotoServer')
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, '-m', 'moto.server', '-H', '127.0.0.1', '-p',
         str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=0.2):
                return proc, f'http://127.0.0.1:{port}'
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise NotAvailable('moto server did not start')


def _per_key_cases(cfg: Config, fs: Any, stash: Any, url: str) -> Iterator[Item]:
    value = value_of(VALUE_BYTES)
    n = max(50, cfg.write_sample // 10)
    keys = [f'item-{i}' for i in range(n)]
    root = fs._strip_protocol(url)
    paths = [f'{root}/{k}.dat' for k in keys]
    fs.pipe({p: pickle.dumps(value) for p in paths})
    load, dump, cat, pipe = stash.load, stash.dump, fs.cat_file, fs.pipe_file

    def hutch_load() -> int:
        for k in keys:
            load(k)
        return n

    def floor_load() -> int:
        for p in paths:
            pickle.loads(cat(p))
        return n

    def hutch_dump() -> int:
        for k in keys:
            dump(k, value)
        return n

    def floor_dump() -> int:
        for p in paths:
            pipe(p, pickle.dumps(value, pickle.HIGHEST_PROTOCOL))
        return n

    params = {'n': n, 'value': VALUE_BYTES}
    yield Case(AREA, 'per-key', 'load', params,
               [Contender(HUTCH, hutch_load), Contender('floor:s3fs', floor_load)])
    yield Case(AREA, 'per-key', 'dump', params,
               [Contender(HUTCH, hutch_dump), Contender('floor:s3fs', floor_dump)])


def _batch_case(cfg: Config, stash: Any) -> Iterator[Item]:
    value = value_of(VALUE_BYTES)
    keys = [f'batch-{i}' for i in range(BATCH)]
    stash.dump_many({k: value for k in keys})
    load, load_many = stash.load, stash.load_many

    def loop() -> int:
        for k in keys:
            load(k)
        return BATCH

    def many() -> int:
        load_many(keys)
        return BATCH

    yield Case(AREA, 'batch', 'load_many', {'n': BATCH, 'value': VALUE_BYTES},
               [Contender(HUTCH, many), Contender('hutch:per-key', loop)],
               unit='item')


def cases(cfg: Config) -> Iterator[Item]:
    try:
        require('s3fs', 'S3FileSystem')
        proc, endpoint = _start_server()
    except NotAvailable as e:
        yield Note(AREA, 's3', str(e))
        return
    try:
        import s3fs

        from hutch import DirectoryStash

        options = {**_OPTIONS_KEYS, 'client_kwargs': {'endpoint_url': endpoint}}
        os.environ.setdefault('AWS_DEFAULT_REGION', 'us-east-1')
        fs = s3fs.S3FileSystem(use_listings_cache=False, **options)
        fs.mkdir(BUCKET)
        url = f's3://{BUCKET}/{uuid.uuid4().hex}'
        stash = DirectoryStash(url, storage_options=options)
        yield from _per_key_cases(cfg, fs, stash, url)
        yield from _batch_case(cfg, stash)
    finally:
        proc.kill()
        proc.wait()
