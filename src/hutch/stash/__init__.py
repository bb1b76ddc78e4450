"""Stashes: dict-like stores keyed by strings, built to be stacked.

Each back end loads when one of its names is first used (see
:mod:`hutch._lazy`).
"""

from .._lazy import lazy_package

# ``typing`` costs most of a bare ``import hutch``; type checkers treat any
# name TYPE_CHECKING as true
TYPE_CHECKING = False
_EXPORTS: dict[str, tuple[str, ...]] = {
    '.base': ('Stash', 'NoopStash', 'ReadOnlyStash', 'CloseableStash',
              'Primeable', 'PrimeableStash'),
    '.delegate': ('DelegateDefaults', 'DelegateStash', 'ReadOnlyDelegateStash',
                  'KeyLimitStash', 'KeySubsetStash', 'PreemptiveStash',
                  'PrimablePreemptiveStash', 'ProtectiveStash'),
    '.factory': ('FactoryStash', 'CacheFactoryStash', 'OneShotFactoryStash'),
    '.memory': ('DictionaryStash', 'LRUCacheStash'),
    '.compose': ('CacheStash', 'SortedStash', 'UnionStash'),
    '.directory': ('DirectoryStash', 'IncrementKeyDirectoryStash'),
    '.composite': ('DirectoryCompositeStash', 'MissingDataKeysError'),
    '.shelve': ('ShelveStash', 'shelve'),
    '.sqlite': ('SqliteStash', 'SqliteKeys'),
    '.zip': ('ZipStash',),
}

lazy_package(__name__, _EXPORTS)

__all__ = [name for names in _EXPORTS.values() for name in names]

# one statement a module, each name re-exported as itself (``X as X``)
if TYPE_CHECKING:  # what type checkers see; a test keeps it equal to _EXPORTS
    # isort: off
    from .base import (
        CloseableStash as CloseableStash,
        NoopStash as NoopStash,
        Primeable as Primeable,
        PrimeableStash as PrimeableStash,
        ReadOnlyStash as ReadOnlyStash,
        Stash as Stash,
    )
    from .compose import (
        CacheStash as CacheStash,
        SortedStash as SortedStash,
        UnionStash as UnionStash,
    )
    from .composite import (
        DirectoryCompositeStash as DirectoryCompositeStash,
        MissingDataKeysError as MissingDataKeysError,
    )
    from .delegate import (
        DelegateDefaults as DelegateDefaults,
        DelegateStash as DelegateStash,
        KeyLimitStash as KeyLimitStash,
        KeySubsetStash as KeySubsetStash,
        PreemptiveStash as PreemptiveStash,
        PrimablePreemptiveStash as PrimablePreemptiveStash,
        ProtectiveStash as ProtectiveStash,
        ReadOnlyDelegateStash as ReadOnlyDelegateStash,
    )
    from .directory import (
        DirectoryStash as DirectoryStash,
        IncrementKeyDirectoryStash as IncrementKeyDirectoryStash,
    )
    from .factory import (
        CacheFactoryStash as CacheFactoryStash,
        FactoryStash as FactoryStash,
        OneShotFactoryStash as OneShotFactoryStash,
    )
    from .memory import (
        DictionaryStash as DictionaryStash,
        LRUCacheStash as LRUCacheStash,
    )
    from .shelve import (
        ShelveStash as ShelveStash,
        shelve as shelve,
    )
    from .sqlite import (
        SqliteKeys as SqliteKeys,
        SqliteStash as SqliteStash,
    )
    from .zip import (
        ZipStash as ZipStash,
    )
    # isort: on
