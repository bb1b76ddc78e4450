"""Trust: what loading stored data can make this process do.

Loading a pickle runs code its author chose -- that is how pickle works,
and hutch documents it rather than hides it.  The JSON serializer loads only
plain data: bytes crafted as a malicious pickle are refused, and the code in
them never runs, whichever compression is layered on top.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest

from hutch import PersistableError, get_serializer
from hutch.serial import CODECS

from .stashes import DURABLE, Kind


class _Trap:
    """Pickles to a payload that, when loaded, creates :attr:`marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (Path.touch, (self.marker,))


def _malicious(marker: Path) -> bytes:
    return pickle.dumps(_Trap(marker))


def test_loading_a_pickle_runs_the_code_in_it(tmp_path: Path) -> None:
    """Why the docs say: only unpickle data you trust."""
    marker = tmp_path / 'pwned'
    get_serializer('pickle').loads(_malicious(marker))
    assert marker.exists()


@pytest.mark.parametrize('codec', ['', *sorted(CODECS)])
def test_the_json_serializer_never_runs_a_malicious_pickle(
        tmp_path: Path, codec: str) -> None:
    marker = tmp_path / 'pwned'
    name = f'json+{codec}' if codec else 'json'
    # the attacker compresses the payload the way the stash expects
    packed = get_serializer(f'bytes+{codec}' if codec else 'bytes') \
        .dumps(_malicious(marker))
    with pytest.raises(ValueError):  # JSONDecodeError, UnicodeDecodeError
        get_serializer(name).loads(packed)
    assert not marker.exists()


def test_a_json_stash_never_runs_a_planted_pickle(tmp_path: Path) -> None:
    from hutch.stash.directory import DirectoryStash

    marker = tmp_path / 'pwned'
    stash = DirectoryStash(tmp_path / 'data', serializer='json')
    stash.dump('k', {'plain': 'data'})
    stash.key_to_path('k').write_bytes(_malicious(marker))
    with pytest.raises(PersistableError) as info:
        stash.load('k')
    assert info.value.key == 'k'
    assert not marker.exists()


@pytest.mark.parametrize('kind', [k for k in DURABLE if k.key_file], ids=str)
def test_listing_and_counting_never_unpickle(
        kind: Kind, tmp_path: Path) -> None:
    """Keys, length and existence come from names, never from contents."""
    marker = tmp_path / 'pwned'
    stash = kind.make(tmp_path / 'home')
    stash.dump('k', 'harmless')
    assert kind.key_file is not None
    kind.key_file(stash, 'k').write_bytes(_malicious(marker))
    assert list(stash.keys()) == ['k']
    assert len(stash) == 1
    assert stash.exists('k') and 'k' in stash
    assert not marker.exists()
