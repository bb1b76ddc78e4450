"""A real S3 API for the object storage tests: moto's server on 127.0.0.1.

The server runs once a session; each test gets its own prefix (a folder
URL) in one bucket, and ``memory://`` tests their own prefix too, removed
after.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

BUCKET = 'hutch-test'
KEY_ID = 'testing-key-id'
SECRET = 'testing-secret-value'


@dataclass(frozen=True)
class S3Server:
    """Where the server listens and how to reach it."""

    endpoint: str

    @property
    def storage_options(self) -> dict[str, Any]:
        return {'key': KEY_ID, 'secret': SECRET,
                'client_kwargs': {'endpoint_url': self.endpoint}}

    def raw_fs(self) -> Any:
        """An s3fs file system of its own, for reading and writing the
        bucket without the stash (no listing cache)."""
        fs = _RAW.get(self.endpoint)
        if fs is None:
            import s3fs

            fs = _RAW[self.endpoint] = s3fs.S3FileSystem(
                skip_instance_cache=True, use_listings_cache=False,
                **self.storage_options)
        return fs


_RAW: dict[str, Any] = {}


@pytest.fixture(scope='session')
def s3_server() -> Iterator[S3Server]:
    from moto.server import ThreadedMotoServer

    logging.getLogger('werkzeug').setLevel(logging.ERROR)
    with pytest.MonkeyPatch.context() as env:
        # for the session only: botocore looks for credentials at start up
        env.setenv('AWS_ACCESS_KEY_ID', KEY_ID)
        env.setenv('AWS_SECRET_ACCESS_KEY', SECRET)
        env.setenv('AWS_DEFAULT_REGION', 'us-east-1')
        server = ThreadedMotoServer(ip_address='127.0.0.1', port=0,
                                    verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            found = S3Server(f'http://{host}:{port}')
            found.raw_fs().mkdir(BUCKET)
            yield found
        finally:
            server.stop()


@pytest.fixture
def s3_url(s3_server: S3Server) -> str:
    """A fresh prefix in the test bucket."""
    return f's3://{BUCKET}/{uuid.uuid4().hex}'


@pytest.fixture
def memory_url() -> Iterator[str]:
    """A fresh prefix on ``memory://``, removed after the test."""
    import fsspec

    name = f'/hutch-test/{uuid.uuid4().hex}'
    yield f'memory://{name}'
    fs = fsspec.filesystem('memory')
    # the store is shared by every memory:// protocol, under any prefix
    for path in [p for p in fs.store if name + '/' in p]:
        del fs.store[path]
    for path in [p for p in fs.pseudo_dirs if name in p]:
        fs.pseudo_dirs.remove(path)
