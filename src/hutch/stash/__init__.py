"""Stashes: dict-like stores keyed by strings, built to be stacked."""

from .base import (
    CloseableStash,
    NoopStash,
    Primeable,
    PrimeableStash,
    ReadOnlyStash,
    Stash,
)
from .compose import CacheStash, SortedStash, UnionStash
from .composite import DirectoryCompositeStash, MissingDataKeysError
from .delegate import (
    DelegateDefaults,
    DelegateStash,
    KeyLimitStash,
    KeySubsetStash,
    PreemptiveStash,
    PrimablePreemptiveStash,
    ProtectiveStash,
    ReadOnlyDelegateStash,
)
from .directory import DirectoryStash, IncrementKeyDirectoryStash
from .factory import CacheFactoryStash, FactoryStash, OneShotFactoryStash
from .memory import DictionaryStash, LRUCacheStash
from .shelve import ShelveStash, shelve
from .sqlite import SqliteKeys, SqliteStash
from .zip import ZipStash

__all__ = [
    'Stash', 'NoopStash', 'ReadOnlyStash', 'CloseableStash', 'Primeable',
    'PrimeableStash',
    'DelegateDefaults', 'DelegateStash', 'ReadOnlyDelegateStash',
    'KeyLimitStash', 'KeySubsetStash', 'PreemptiveStash',
    'PrimablePreemptiveStash', 'ProtectiveStash',
    'FactoryStash', 'CacheFactoryStash', 'OneShotFactoryStash',
    'DictionaryStash', 'LRUCacheStash',
    'CacheStash', 'SortedStash', 'UnionStash',
    'DirectoryStash', 'IncrementKeyDirectoryStash',
    'DirectoryCompositeStash', 'MissingDataKeysError',
    'ShelveStash', 'shelve', 'SqliteStash', 'SqliteKeys', 'ZipStash',
]
