"""hutch: persist expensive work.

Two halves, as in the API hutch follows (``zensols.persist``):

* method-level persistence -- ``@persisted``, ``PersistedWork``,
  ``PersistableContainer``, ``Deallocatable``; and ``@memoize(stash)``,
  which keeps a function's result for each set of its arguments;
* stashes -- dict-like stores keyed by strings that stack on each other
  (a factory in front of a folder in front of a cache ...).

>>> import hutch
>>> s = hutch.CacheStash(hutch.DictionaryStash())
>>> s['answer'] = 42
>>> s['answer']
42
"""

from .container import PersistableContainer
from .dealloc import Deallocatable, dealloc, dealloc_recursive, resource
from .errors import (
    CorruptDataError,
    LockTimeoutError,
    PersistableError,
    ReadOnlyError,
    UnstorableResultError,
)
from .memoentry import MemoEntry
from .memoize import CacheInfo, Memoized, memoize
from .multi import (
    ItemFailure,
    MultiProcessDefaultStash,
    MultiProcessFactoryStash,
    MultiProcessStash,
    ProcessingError,
    WorkerDiedError,
)
from .persisted import PersistedWork, persisted
from .serial import (
    BytesSerializer,
    Compressed,
    JsonSerializer,
    PickleSerializer,
    Serializer,
    TextSerializer,
    get_serializer,
)
from .stash import (
    CacheFactoryStash,
    CacheStash,
    CloseableStash,
    DelegateDefaults,
    DelegateStash,
    DictionaryStash,
    DirectoryCompositeStash,
    DirectoryStash,
    FactoryStash,
    IncrementKeyDirectoryStash,
    KeyLimitStash,
    KeySubsetStash,
    LRUCacheStash,
    MissingDataKeysError,
    NoopStash,
    OneShotFactoryStash,
    PreemptiveStash,
    PrimablePreemptiveStash,
    PrimeableStash,
    ProtectiveStash,
    ReadOnlyDelegateStash,
    ReadOnlyStash,
    ShelveStash,
    SortedStash,
    SqliteKeys,
    SqliteStash,
    Stash,
    UnionStash,
    ZipStash,
    shelve,
)
from .util import MISSING, NotPickleable, chunks

__version__ = '0.1.0'

__all__ = [
    '__version__',
    # errors
    'PersistableError', 'CorruptDataError', 'ReadOnlyError',
    'LockTimeoutError', 'MissingDataKeysError', 'ProcessingError',
    'WorkerDiedError', 'UnstorableResultError',
    # function memoization
    'memoize', 'Memoized', 'MemoEntry', 'CacheInfo',
    # method-level persistence
    'PersistedWork', 'persisted', 'PersistableContainer', 'resource',
    'Deallocatable', 'dealloc', 'dealloc_recursive',
    # helpers
    'chunks', 'NotPickleable', 'MISSING',
    # serializers
    'Serializer', 'PickleSerializer', 'JsonSerializer', 'BytesSerializer',
    'TextSerializer', 'Compressed', 'get_serializer',
    # framework stashes
    'Stash', 'NoopStash', 'ReadOnlyStash', 'CloseableStash', 'PrimeableStash',
    'DelegateDefaults', 'DelegateStash', 'ReadOnlyDelegateStash',
    'KeyLimitStash', 'KeySubsetStash', 'PreemptiveStash',
    'PrimablePreemptiveStash', 'ProtectiveStash', 'FactoryStash',
    'CacheFactoryStash',
    # implementation stashes
    'OneShotFactoryStash', 'DictionaryStash', 'LRUCacheStash', 'CacheStash',
    'SortedStash', 'UnionStash',
    # durable stashes
    'DirectoryStash', 'IncrementKeyDirectoryStash', 'DirectoryCompositeStash',
    'ShelveStash', 'shelve', 'SqliteStash', 'SqliteKeys', 'ZipStash',
    # parallel item creation
    'MultiProcessStash', 'MultiProcessDefaultStash', 'MultiProcessFactoryStash',
    'ItemFailure',
]
