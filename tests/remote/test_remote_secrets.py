"""Credentials in ``storage_options`` never leave the stash: not in a repr,
a log line, an error message or a pickled error."""

from __future__ import annotations

import logging
import pickle
from typing import Any

import pytest

from hutch import CorruptDataError, DirectoryStash, PersistableError
from hutch._urls import redact

from .conftest import BUCKET, SECRET, S3Server

HIDDEN = {'key': 'AKIA-ID-NOT-TO-SHOW', 'secret': 'SECRET-NOT-TO-SHOW',
          'token': 'TOKEN-NOT-TO-SHOW', 'password': 'PASSWORD-NOT-TO-SHOW',
          'client_kwargs': {'aws_secret_access_key': 'NESTED-NOT-TO-SHOW',
                            'endpoint_url': 'http://127.0.0.1:1'}}
WORDS = ['AKIA-ID', 'SECRET-NOT', 'TOKEN-NOT', 'PASSWORD-NOT', 'NESTED-NOT']


def _shows_none(text: str, words: list[str] = WORDS) -> bool:
    return not any(w in text for w in words)


def test_redact_keeps_only_public_values() -> None:
    shown = redact(HIDDEN)
    assert _shows_none(repr(shown))
    assert shown['client_kwargs']['endpoint_url'] == 'http://127.0.0.1:1'
    assert shown['secret'] == '***'


def test_repr_hides_every_secret(memory_url: str) -> None:
    stash = DirectoryStash(memory_url, storage_options=HIDDEN)
    text = repr(stash)
    assert _shows_none(text)
    assert 'endpoint_url' in text and memory_url[len('memory://'):] in text


def test_path_and_url_carry_no_secret(memory_url: str) -> None:
    stash = DirectoryStash(memory_url, storage_options=HIDDEN)
    assert _shows_none(str(stash.path) + stash.url + repr(stash.path))
    assert _shows_none(str(stash.key_to_path('k')))


def _failures(s3_server: S3Server, s3_url: str) -> list[BaseException]:
    """The errors of reads of an unreadable value and of a bucket the
    credentials may not reach, with the real secret in the options."""
    stash = DirectoryStash(s3_url, storage_options=s3_server.storage_options)
    s3_server.raw_fs().pipe_file(f'{s3_url}/bad.dat', b'junk')
    errors: list[BaseException] = []
    with pytest.raises(CorruptDataError) as info:
        stash.load('bad')
    errors.append(info.value)
    wrong = dict(s3_server.storage_options, client_kwargs={
        'endpoint_url': 'http://127.0.0.1:9'},  # nothing listens there
        config_kwargs={'retries': {'max_attempts': 1}})
    unreachable = DirectoryStash(f's3://{BUCKET}/x', storage_options=wrong)
    with pytest.raises(PersistableError) as info2:
        unreachable.keys()
    errors.append(info2.value)
    return errors


def test_errors_and_pickled_errors_hold_no_secret(
        s3_server: S3Server, s3_url: str) -> None:
    for error in _failures(s3_server, s3_url):
        texts = [str(error), repr(error), repr(error.args),
                 repr(pickle.dumps(error))]
        assert all(_shows_none(t, [SECRET]) for t in texts), texts
        assert isinstance(error, PersistableError) and error.path


def test_log_lines_hold_no_secret(memory_url: str,
                                  caplog: pytest.LogCaptureFixture) -> None:
    import fsspec

    stash = DirectoryStash(memory_url, storage_options=HIDDEN,
                           on_error='missing')
    fsspec.filesystem('memory').pipe_file(f'{memory_url}/bad.dat', b'junk')
    with caplog.at_level(logging.DEBUG):
        assert stash.load('bad') is None
        stash.delete('absent')
    assert caplog.records and _shows_none(caplog.text)


def test_a_pickled_stash_keeps_its_options_to_reconnect(memory_url: str) -> None:
    stash = DirectoryStash(memory_url, storage_options={'anon': True})
    again: Any = pickle.loads(pickle.dumps(stash))
    assert again.storage_options == {'anon': True}
