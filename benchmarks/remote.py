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
  ``cat``) against a loop of per-key ``load`` calls, twice: straight to the
  local server (``rtt_ms=0``: what batching saves in client and server
  work alone), and through :mod:`benchmarks.latency`, a proxy that adds a
  round trip of :data:`RTT_MS` to every request (``rtt_ms=20``: the wait
  of a request to object storage in the same region, which batching
  overlaps).  The per-key loop reads a tenth of the keys through the proxy;
  both figures are per item.
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
#: the round trip the latency proxy adds to each request, in milliseconds
RTT_MS = 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return int(s.getsockname()[1])


def _start_server() -> tuple[subprocess.Popen[bytes], int]:
    """moto's S3 server in a process of its own, and its port."""
    require('moto.server', 'ThreadedMotoServer')
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, '-m', 'moto.server', '-H', '127.0.0.1', '-p',
         str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for(proc, port, 'moto server')
    return proc, port


def _start_proxy(target: int) -> tuple[subprocess.Popen[bytes], int]:
    """The latency proxy (:mod:`benchmarks.latency`) in front of port
    ``target``, in a process of its own, and its port."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, '-m', 'benchmarks.latency', str(port), str(target),
         str(RTT_MS)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    _wait_for(proc, port, 'latency proxy')
    return proc, port


def _wait_for(proc: subprocess.Popen[bytes], port: int, what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise NotAvailable(f'{what} did not start')


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


def _batch_case(stash: Any, rtt_ms: int) -> Iterator[Item]:
    """``load_many`` of :data:`BATCH` values against a per-key loop, on a
    stash whose requests take ``rtt_ms`` more than the server's own time."""
    value = value_of(VALUE_BYTES)
    keys = [f'batch-{i}' for i in range(BATCH)]
    stash.dump_many({k: value for k in keys})
    looped = keys[:BATCH // 10] if rtt_ms else keys
    load, load_many = stash.load, stash.load_many

    def loop() -> int:
        for k in looped:
            load(k)
        return len(looped)

    def many() -> int:
        load_many(keys)
        return BATCH

    params = {'n': BATCH, 'value': VALUE_BYTES, 'rtt_ms': rtt_ms}
    yield Case(AREA, 'batch', 'load_many', params,
               [Contender(HUTCH, many), Contender('hutch:per-key', loop)],
               unit='item')


def cases(cfg: Config) -> Iterator[Item]:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        require('s3fs', 'S3FileSystem')
        server, port = _start_server()
        procs.append(server)
        proxy, proxy_port = _start_proxy(port)
        procs.append(proxy)
    except NotAvailable as e:
        for proc in procs:
            proc.kill()
        yield Note(AREA, 's3', str(e))
        return
    try:
        import s3fs

        from hutch import DirectoryStash

        os.environ.setdefault('AWS_DEFAULT_REGION', 'us-east-1')

        def options(port: int) -> dict[str, Any]:
            endpoint = f'http://127.0.0.1:{port}'
            return {**_OPTIONS_KEYS, 'client_kwargs': {'endpoint_url': endpoint}}

        fs = s3fs.S3FileSystem(use_listings_cache=False, **options(port))
        fs.mkdir(BUCKET)
        url = f's3://{BUCKET}/{uuid.uuid4().hex}'
        stash = DirectoryStash(url, storage_options=options(port))
        yield from _per_key_cases(cfg, fs, stash, url)
        yield from _batch_case(stash, 0)
        far = DirectoryStash(url, storage_options=options(proxy_port))
        yield from _batch_case(far, RTT_MS)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
