"""Paths that are URLs: telling them from local paths, and hiding secrets.

A folder stash or a persisted work given an fsspec URL (``s3://bucket/x``,
``gs://``, ``az://``, ``memory://`` ...) or a ``upath.UPath`` keeps its data
through fsspec; a local path never loads it.  This module is the one place
that tells the two apart (cheaply: it imports nothing heavy) and the one
place that says what of the ``storage_options`` -- which often hold
credentials -- a repr or a message may show: only the values of a short
allow-list of options known to be no secret.

>>> is_remote('s3://bucket/prefix'), is_remote('/tmp/x'), is_remote('file:///tmp')
(True, False, False)
>>> redact({'key': 'AKIA', 'anon': False,
...         'client_kwargs': {'endpoint_url': 'http://127.0.0.1:9000'}})
{'key': '***', 'anon': False, 'client_kwargs': {'endpoint_url': 'http://127.0.0.1:9000'}}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Optional

__all__ = ['is_remote', 'redact', 'as_upath', 'PUBLIC_OPTIONS']

_URL = re.compile(r'[A-Za-z][A-Za-z0-9+.\-]+://')
_LOCAL_PROTOCOLS = frozenset({'', 'file', 'local'})

#: storage options whose values are never secret: shown in reprs; every
#: other option's value is shown as ``***``
PUBLIC_OPTIONS = frozenset({
    'anon', 'endpoint_url', 'region_name', 'use_ssl', 'requester_pays',
    'version_aware', 'default_block_size', 'use_listings_cache',
    'skip_instance_cache', 'client_kwargs', 'config_kwargs', 'project',
    'account_name', 'max_concurrency', 'listings_expiry_time',
})

_HIDDEN = '***'


def is_remote(path: object) -> bool:
    """Whether ``path`` is reached through fsspec: a URL with a protocol
    other than ``file``, or a ``UPath`` of one.  Imports nothing."""
    if isinstance(path, str):
        match = _URL.match(path)
        return match is not None and \
            path[:match.end() - 3].lower() not in _LOCAL_PROTOCOLS
    protocol = getattr(path, 'protocol', None)
    return isinstance(protocol, str) and protocol not in _LOCAL_PROTOCOLS \
        and hasattr(path, 'storage_options') and hasattr(path, 'fs')


def redact(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` with every value hidden but those of
    :data:`PUBLIC_OPTIONS` (nested dicts are redacted the same way)."""
    shown: dict[str, Any] = {}
    for name, value in options.items():
        if name not in PUBLIC_OPTIONS:
            shown[name] = _HIDDEN
        elif isinstance(value, Mapping):
            shown[name] = redact(value)
        else:
            shown[name] = value
    return shown


def fsspec_module() -> Any:
    """The ``fsspec`` package, or an ``ImportError`` saying which extra
    brings it."""
    try:
        import fsspec
    except ImportError as e:  # pragma: no cover -- the extra is installed
        raise ImportError("a URL needs fsspec and universal-pathlib: "
                          "pip install 'hutch[remote]' (or 'hutch[s3]')"
                          ) from e
    return fsspec


def as_upath(path: Any, storage_options: Optional[Mapping[str, Any]]) -> Any:
    """``path`` (a URL or a ``UPath``) as a ``UPath`` carrying
    ``storage_options`` on top of its own."""
    fsspec_module()
    try:
        from upath import UPath
    except ImportError as e:  # pragma: no cover -- the extra is installed
        raise ImportError("a URL needs universal-pathlib: "
                          "pip install 'hutch[remote]'") from e
    if storage_options is not None and not isinstance(storage_options,
                                                        Mapping):
        raise TypeError(f'storage_options must be a dict, got '
                        f'{type(storage_options).__name__}')
    options = dict(storage_options or {})
    if isinstance(path, str):
        return UPath(path, **options)
    if options:
        return UPath(str(path), **{**path.storage_options, **options})
    return path
