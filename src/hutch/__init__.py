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

from ._lazy import lazy_package

# ``typing`` costs most of a bare ``import hutch``; type checkers treat any
# name TYPE_CHECKING as true
TYPE_CHECKING = False
__version__ = '0.1.0'

#: every public name, by the module that defines it; a module loads the first
#: time one of its names is used, so ``import hutch`` loads none of them
_EXPORTS: dict[str, tuple[str, ...]] = {
    '.errors': ('APIError', 'PersistableError', 'BadValueError',
                'CorruptDataError', 'ReadOnlyError', 'LockTimeoutError',
                'DiskFullError', 'SerializeError', 'ForeignFileError',
                'UnstorableResultError'),
    '.memoize': ('memoize', 'Memoized', 'CacheInfo'),
    '.memoentry': ('MemoEntry',),
    '.container': ('PersistableContainer', 'PersistableContainerMetadata'),
    '.filetext': ('FileTextUtil',),
    '.dealloc': ('Deallocatable', 'dealloc', 'dealloc_recursive', 'resource'),
    '.persisted': ('PersistedWork', 'persisted'),
    '.serial': ('Serializer', 'PickleSerializer', 'JsonSerializer',
                'BytesSerializer', 'TextSerializer', 'Compressed',
                'get_serializer'),
    '.util': ('MISSING', 'NotPickleable', 'chunks'),
    '.stash': ('Stash', 'NoopStash', 'ReadOnlyStash', 'CloseableStash',
               'Primeable', 'PrimeableStash', 'DelegateDefaults', 'DelegateStash',
               'ReadOnlyDelegateStash', 'KeyLimitStash', 'KeySubsetStash',
               'PreemptiveStash', 'PrimablePreemptiveStash', 'ProtectiveStash',
               'FactoryStash', 'CacheFactoryStash', 'OneShotFactoryStash',
               'DictionaryStash', 'LRUCacheStash', 'CacheStash', 'SortedStash',
               'UnionStash', 'DirectoryStash', 'IncrementKeyDirectoryStash',
               'DirectoryCompositeStash', 'MissingDataKeysError', 'ShelveStash',
               'shelve', 'SqliteStash', 'SqliteKeys', 'ZipStash'),
    '.multi': ('MultiProcessStash', 'MultiProcessDefaultStash',
               'MultiProcessFactoryStash', 'ItemFailure', 'ProcessingError',
               'WorkerDiedError'),
}

lazy_package(__name__, _EXPORTS)

__all__ = ['__version__'] + [
    name for names in _EXPORTS.values() for name in names]

# one statement a module, each name re-exported as itself (``X as X``)
if TYPE_CHECKING:  # what type checkers see; a test keeps it equal to _EXPORTS
    # isort: off
    from .container import (
        PersistableContainer as PersistableContainer,
        PersistableContainerMetadata as PersistableContainerMetadata,
    )
    from .dealloc import (
        Deallocatable as Deallocatable,
        dealloc as dealloc,
        dealloc_recursive as dealloc_recursive,
        resource as resource,
    )
    from .errors import (
        APIError as APIError,
        BadValueError as BadValueError,
        CorruptDataError as CorruptDataError,
        DiskFullError as DiskFullError,
        ForeignFileError as ForeignFileError,
        LockTimeoutError as LockTimeoutError,
        PersistableError as PersistableError,
        ReadOnlyError as ReadOnlyError,
        SerializeError as SerializeError,
        UnstorableResultError as UnstorableResultError,
    )
    from .filetext import (
        FileTextUtil as FileTextUtil,
    )
    from .memoentry import (
        MemoEntry as MemoEntry,
    )
    from .memoize import (
        CacheInfo as CacheInfo,
        Memoized as Memoized,
        memoize as memoize,
    )
    from .multi import (
        ItemFailure as ItemFailure,
        MultiProcessDefaultStash as MultiProcessDefaultStash,
        MultiProcessFactoryStash as MultiProcessFactoryStash,
        MultiProcessStash as MultiProcessStash,
        ProcessingError as ProcessingError,
        WorkerDiedError as WorkerDiedError,
    )
    from .persisted import (
        PersistedWork as PersistedWork,
        persisted as persisted,
    )
    from .serial import (
        BytesSerializer as BytesSerializer,
        Compressed as Compressed,
        JsonSerializer as JsonSerializer,
        PickleSerializer as PickleSerializer,
        Serializer as Serializer,
        TextSerializer as TextSerializer,
        get_serializer as get_serializer,
    )
    from .stash import (
        CacheFactoryStash as CacheFactoryStash,
        CacheStash as CacheStash,
        CloseableStash as CloseableStash,
        DelegateDefaults as DelegateDefaults,
        DelegateStash as DelegateStash,
        DictionaryStash as DictionaryStash,
        DirectoryCompositeStash as DirectoryCompositeStash,
        DirectoryStash as DirectoryStash,
        FactoryStash as FactoryStash,
        IncrementKeyDirectoryStash as IncrementKeyDirectoryStash,
        KeyLimitStash as KeyLimitStash,
        KeySubsetStash as KeySubsetStash,
        LRUCacheStash as LRUCacheStash,
        MissingDataKeysError as MissingDataKeysError,
        NoopStash as NoopStash,
        OneShotFactoryStash as OneShotFactoryStash,
        PreemptiveStash as PreemptiveStash,
        PrimablePreemptiveStash as PrimablePreemptiveStash,
        Primeable as Primeable,
        PrimeableStash as PrimeableStash,
        ProtectiveStash as ProtectiveStash,
        ReadOnlyDelegateStash as ReadOnlyDelegateStash,
        ReadOnlyStash as ReadOnlyStash,
        ShelveStash as ShelveStash,
        SortedStash as SortedStash,
        SqliteKeys as SqliteKeys,
        SqliteStash as SqliteStash,
        Stash as Stash,
        UnionStash as UnionStash,
        ZipStash as ZipStash,
        shelve as shelve,
    )
    from .util import (
        MISSING as MISSING,
        NotPickleable as NotPickleable,
        chunks as chunks,
    )
    # isort: on
