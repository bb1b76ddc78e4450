"""The ``hutch`` command: look inside a stash on disk without writing code.

``hutch ls``, ``show``, ``info`` and ``check`` only read; ``rm``, ``clear``
and ``check --fix`` write, and ``clear`` asks first unless given ``--yes``.
``hutch demo`` runs the demonstration that ``make demo`` shows.

Errors are one line on standard error, ``hutch: <what went wrong>``, and a
non-zero exit status: 1 when the command could not do what was asked, 2 for
a command line it does not understand.  ``--traceback`` shows the Python
traceback instead, for reporting a bug.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import traceback
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from .. import __version__
from .._layout import describe as describe_layout
from ..errors import PersistableError
from ..memoentry import function_of_key, peek
from ..serial import get_serializer
from . import render
from .targets import KINDS, Options, Target
from .values import read_bytes, read_value

__all__ = ['main', 'build_parser']


class UsageError(Exception):
    """The command line asks for something that can't be done (exit 2)."""


class Declined(Exception):
    """The user answered no (exit 1)."""


def _natural(key: str) -> list[Any]:
    # '2' before '10', 'doc-2' before 'doc-10'
    return [(0, int(p), '') if p.isdigit() else (1, 0, p)
            for p in re.split(r'(\d+)', key) if p]


def _sorted_keys(target: Target) -> list[str]:
    return sorted(target.keys(), key=_natural)


def storage_options(args: argparse.Namespace) -> Optional[dict[str, Any]]:
    """The storage options of the command line: ``--storage-options`` with
    each ``--storage-option`` on top; ``None`` when neither is given (fsspec
    then reads its own configuration)."""
    given = getattr(args, 'storage_options', None)
    each = getattr(args, 'storage_option', None)
    if given is None and not each:
        return None
    options = dict(given or {})
    options.update(each or [])
    return options


def _options(args: argparse.Namespace, write: bool = False) -> Options:
    return Options(kind=args.kind, pattern=args.pattern, table=args.table,
                   shard=args.shard, write=write,
                   storage_options=storage_options(args))


def _open(args: argparse.Namespace, write: bool = False) -> Target:
    """The target the command line names."""
    from .kinds import open_target  # the stash back ends load when needed
    return open_target(args.path, _options(args, write))


def cmd_ls(args: argparse.Namespace) -> int:
    out = sys.stdout
    with _open(args) as target:
        keys = _sorted_keys(target)
        shown = keys if args.limit is None else keys[:args.limit]
        for key in shown:
            if args.long:
                size, mtime = target.entry(key)
                sz = '-' if size is None else str(size)
                out.write(f'{sz:>10}  {render.format_time(mtime):19}  '
                          f'{render.show_key(key)}{_memo_note(target, key)}\n')
            else:
                out.write(render.show_key(key) + '\n')
        if len(shown) < len(keys):
            print(f'... {len(keys) - len(shown)} more keys not shown '
                  f'(--limit {args.limit})', file=sys.stderr)
    return 0


def _memo_note(target: Target, key: str) -> str:
    """How a memoized result was made (read without unpickling), or ''."""
    if function_of_key(key) is None:
        return ''
    data = target.raw(key)
    entry = None if data is None else peek(data)
    return '' if entry is None else f'  [{entry.describe()}]'


def _memo_summary(keys: Sequence[str]) -> Optional[str]:
    """How many memoized results of which functions ``keys`` hold."""
    counts: dict[str, int] = {}
    for key in keys:
        function = function_of_key(key)
        if function is not None:
            counts[function] = counts.get(function, 0) + 1
    if not counts:
        return None
    each = ', '.join(f'{f} ({n})' for f, n in sorted(counts.items()))
    total = sum(counts.values())
    return f'{total} memoized result{"" if total == 1 else "s"}: {each}'


def cmd_show(args: argparse.Namespace) -> int:
    out = sys.stdout
    with _open(args) as target:
        if args.raw:
            data = read_bytes(target, args.key)
            out.flush()
            out.buffer.write(data)
            return 0
        value = read_value(target, args.key, args.serializer, args.unpickle)
    if args.json:
        try:
            text = render.format_json(value)
        except (TypeError, ValueError) as e:
            raise PersistableError(
                f'the value ({type(value).__name__}) has no JSON form: {e}',
                key=args.key) from e
    else:
        text = render.format_value(value)
    out.write(text + '\n')
    return 0


def _sniffed(target: Target, keys: list[str]) -> str:
    """The serializer of the first key's value, and where it came from."""
    first = min(keys, key=_natural)
    try:
        data = read_bytes(target, first, render.SNIFF_BYTES)
    except PersistableError as e:
        return f'unknown (key {render.show_key(first)} unreadable: {e.msg})'
    found = (f'{render.sniff_serializer(data)} '
             f'(sniffed from key {render.show_key(first)})')
    layout = describe_layout(data)
    return found if layout is None else f'{found}; {layout}'


def cmd_info(args: argparse.Namespace) -> int:
    out = sys.stdout
    with _open(args) as target:
        # sizes first: reading may open files (a SQLite journal) for a while
        disk, files = target.stored()
        room, unit = target.stored_as
        keys = target.keys()
        if args.serializer:
            ser = f'{args.serializer} (given)'
        elif target.serializer_hint:
            ser = target.serializer_hint
        elif keys:
            ser = _sniffed(target, keys)
        else:
            ser = 'unknown (no keys)'
        rows = [
            target.location(),
            ('kind', f'{target.kind} ({target.stash_class})'),
            ('keys', str(len(keys))),
            (room, f'{render.human_bytes(disk)} ({disk} bytes in '
                   f'{files} {unit}{"" if files == 1 else "s"})'),
            ('serializer', ser),
        ]
        rows.extend(target.details())
        memo = _memo_summary(list(keys))
        if memo is not None:
            rows.append(('memo', memo))
    for name, value in rows:
        out.write(f'{name:<11} {value}\n')
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    missing = []
    with _open(args, write=True) as target:
        for key in args.keys:
            if not target.delete(key):
                missing.append(key)
    for key in missing:
        print(f'hutch: no key {key!r} to remove', file=sys.stderr)
    return 1 if missing else 0


def _confirm(question: str) -> None:
    if not sys.stdin.isatty():
        raise UsageError('refusing to clear without confirmation: standard '
                         'input is not a terminal; pass --yes')
    print(f'{question} [y/N] ', end='', file=sys.stderr, flush=True)
    answer = sys.stdin.readline().strip().lower()
    if answer not in ('y', 'yes'):
        raise Declined('nothing removed')


def cmd_clear(args: argparse.Namespace) -> int:
    with _open(args, write=True) as target:
        target.check_writable()
        n = len(target.keys())
        if not args.yes:
            _confirm(f'remove all {n} keys from the {target.kind} stash at '
                     f'{os.fspath(target.place)}?')
        target.clear()
    sys.stdout.write(f'removed {n} key{"" if n == 1 else "s"}\n')
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from .check import run_check
    with _open(args, write=args.fix) as target:
        return run_check(target, sys.stdout, fix=args.fix,
                         values=args.values, serializer=args.serializer)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo
    return run_demo(args.dir, items=args.items, workers=args.workers)


def build_parser() -> argparse.ArgumentParser:
    """The command line parser of ``hutch``."""
    parser = argparse.ArgumentParser(
        prog='hutch',
        description='Look inside stashes on disk, and run the demonstration.',
        epilog='Errors print one line and exit 1 (2 for a bad command line).')
    parser.add_argument('--version', action='version',
                        version=f'hutch {__version__}')
    parser.add_argument('--traceback', action='store_true',
                        help='on an error, show the Python traceback')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')

    where = argparse.ArgumentParser(add_help=False)
    where.add_argument('path', metavar='PATH',
                       help='a stash folder, SQLite file, zip or shelf, or '
                            'the URL of a folder stash on object storage '
                            '(s3://bucket/prefix, any fsspec protocol)')
    where.add_argument('--storage-option', action='append',
                       type=_storage_option, metavar='NAME=VALUE',
                       help="an option of a URL's file system, e.g. "
                            'anon=true (VALUE is read as JSON when it is '
                            'JSON, else as text; repeatable)')
    where.add_argument('--storage-options', type=_storage_options,
                       metavar='JSON',
                       help="a URL's file system options as one JSON object "
                            '(--storage-option adds to it)')
    where.add_argument('--kind', choices=KINDS,
                       help='the kind of stash (detected when not given)')
    where.add_argument('--pattern',
                       help="a directory stash's file name pattern, e.g. "
                            "'{name}.json' (default: worked out from the "
                            "file names; '{name}.dat' for an empty folder)")
    where.add_argument('--shard', type=_shards, metavar='N',
                       help="a directory stash's shard count (default: "
                            'worked out from its folders)')
    where.add_argument('--table', help="a SQLite stash's table "
                                       '(default: its only stash table)')
    reading = argparse.ArgumentParser(add_help=False)
    reading.add_argument('--serializer', metavar='NAME', type=_serializer,
                         help="how values were written, e.g. 'pickle', "
                              "'json+zlib' (default: sniffed from the data)")

    p = sub.add_parser('ls', parents=[where], help='list the keys',
                       description='List the keys, in natural order.')
    p.add_argument('--limit', type=_positive, metavar='N',
                   help='show at most N keys')
    p.add_argument('-l', '--long', action='store_true',
                   help='also show stored size and modification time')
    p.set_defaults(func=cmd_ls)

    p = sub.add_parser('show', parents=[where, reading], help='show a value',
                       description='Show the value of one key.  A pickle is '
                       'shown as the data it holds, read without running '
                       'it: what it would call appears as module.name(...).')
    p.add_argument('key', metavar='KEY', help='the key whose value to show')
    p.add_argument('--unpickle', action='store_true',
                   help='really unpickle the value (runs code chosen by '
                        'whoever wrote it: only for data you trust)')
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument('--json', action='store_true',
                     help='print the value as JSON')
    fmt.add_argument('--raw', action='store_true',
                     help='write the stored bytes as they are')
    p.set_defaults(func=cmd_show)

    p = sub.add_parser('info', parents=[where, reading],
                       help='kind, size and serializer',
                       description='Show the kind of stash, its number of '
                       'keys, its size on disk and its serializer.')
    p.set_defaults(func=cmd_info)

    p = sub.add_parser('rm', parents=[where], help='remove keys',
                       description='Remove keys; a missing key is reported '
                       'and makes the exit status 1.')
    p.add_argument('keys', metavar='KEY', nargs='+', help='the keys to remove')
    p.set_defaults(func=cmd_rm)

    p = sub.add_parser('clear', parents=[where], help='remove every key',
                       description='Remove every key, after asking.')
    p.add_argument('-y', '--yes', action='store_true',
                   help="don't ask for confirmation")
    p.set_defaults(func=cmd_clear)

    p = sub.add_parser('check', parents=[where, reading],
                       help='report what is wrong with a stash',
                       description='Report stale temporary files, file '
                       'names that decode to no key and (with --values) '
                       'values that cannot be read.  Exit status 1 while '
                       'problems remain.')
    p.add_argument('--fix', action='store_true',
                   help='remove what holds no data (stale temporary files); '
                        'values are never removed')
    p.add_argument('--values', action='store_true',
                   help='also read every value (a pickle is read without '
                        'running it)')
    p.set_defaults(func=cmd_check)

    p = sub.add_parser('demo', help='run the demonstration',
                       description='Run the persisted-work example, then build, '
                       'interrupt, resume and read back a stash.')
    p.add_argument('--dir', metavar='DIR',
                   help='work in DIR (kept; an earlier demo there is '
                        'removed first) instead of a temporary folder')
    p.add_argument('--items', type=_positive, default=3000, metavar='N',
                   help='items the pipeline builds (default: %(default)s)')
    p.add_argument('--workers', type=_positive, default=2, metavar='N',
                   help='worker processes (default: %(default)s)')
    p.set_defaults(func=cmd_demo)
    return parser


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'not a number: {text!r}') from None
    if n < 1:
        raise argparse.ArgumentTypeError(f'must be at least 1, got {n}')
    return n


def _serializer(text: str) -> str:
    try:
        get_serializer(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def _shards(text: str) -> int:
    n = _positive(text) if text != '0' else 0
    if n == 1:
        raise argparse.ArgumentTypeError('must be 0 or at least 2')
    return n


def _storage_option(text: str) -> tuple[str, Any]:
    # messages never repeat the text: it may hold a secret
    name, eq, value = text.partition('=')
    if not eq or not name.strip():
        raise argparse.ArgumentTypeError('expected NAME=VALUE')
    try:
        return name.strip(), json.loads(value)
    except ValueError:
        return name.strip(), value


def _storage_options(text: str) -> dict[str, Any]:
    try:
        found = json.loads(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(
            f'not JSON ({type(e).__name__} at character '
            f'{getattr(e, "pos", "?")})') from None
    if not isinstance(found, dict):
        raise argparse.ArgumentTypeError(
            f'expected a JSON object, got {type(found).__name__}')
    return found


def _secrets(options: Mapping[str, Any]) -> list[str]:
    """The text values of ``options`` that may be secret: every one but
    those of public options (:data:`hutch._urls.PUBLIC_OPTIONS`, whose
    nested options follow the same rule)."""
    from .._urls import PUBLIC_OPTIONS

    found = []
    for name, value in options.items():
        if name not in PUBLIC_OPTIONS:
            found.extend(_texts(value))
        elif isinstance(value, Mapping):
            found.extend(_secrets(value))
    return found


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _texts(v)]
    return []


def _hidden(text: str, secrets: Sequence[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, '***')
    return text


def _one_line(e: BaseException) -> str:
    if isinstance(e, PersistableError) and e.path is not None \
            and e.key is None:
        return f'{os.fspath(e.path)}: {e.msg}'
    if isinstance(e, OSError) and e.filename is not None:
        return f'{e.filename}: {e.strerror}'
    if isinstance(e, (PersistableError, UsageError, Declined)):
        return str(e)
    return f'{type(e).__name__}: {e}'


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``hutch`` command; return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.func(args)  # type: ignore[no-any-return]
    except KeyboardInterrupt:
        print('hutch: interrupted', file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (``hutch ls big | head``): not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as e:
        # a secret of the storage options never reaches the output
        secrets = _secrets(storage_options(args) or {})
        if args.traceback:
            if not secrets:
                raise
            shown = traceback.format_exception(type(e), e, e.__traceback__)
            print(_hidden(''.join(shown), secrets), end='', file=sys.stderr)
            return 1
        message = _hidden(_one_line(e), secrets).replace('\n', ' ')
        print(f'hutch: {message}', file=sys.stderr)
        return 2 if isinstance(e, UsageError) else 1

