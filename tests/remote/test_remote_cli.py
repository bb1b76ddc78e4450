"""The ``hutch`` command on a folder stash given by URL: ``memory://``
in-process (its store lives in one process) and the moto S3 server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hutch import DirectoryStash
from hutch.cli import main
from hutch.cli.kinds import open_target
from hutch.cli.render import SHOW_BYTES
from hutch.cli.targets import Options

from .conftest import BUCKET, SECRET, S3Server


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str,
                                                                  str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def s3_args(server: S3Server) -> list[str]:
    return ['--storage-option', f'key={json.dumps("testing-key-id")}',
            '--storage-option', f'secret={SECRET}',
            '--storage-option', 'client_kwargs=' + json.dumps(
                {'endpoint_url': server.endpoint})]


def test_ls_lists_the_keys_under_the_url(
        memory_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    stash = DirectoryStash(memory_url)
    for key in ('doc-10', 'doc-2', 'a/b'):
        stash.dump(key, key)
    DirectoryStash(memory_url + '2').dump('sibling', 1)
    assert run(capsys, 'ls', memory_url) == (0, 'a/b\ndoc-2\ndoc-10\n', '')


def test_ls_long_shows_sizes_from_the_listing(
        memory_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    DirectoryStash(memory_url, serializer='bytes').dump('k', b'12345')
    code, out, _ = run(capsys, 'ls', '-l', memory_url)
    size, _, rest = out.strip().partition('  ')
    assert code == 0 and size.strip() == '5' and rest.rstrip().endswith('k')
    assert rest.split()[0] != '-'  # a time was shown


def test_info_shows_the_url_keys_and_stored_bytes(
        memory_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    stash = DirectoryStash(memory_url, serializer='bytes')
    stash.dump('a', b'x' * 10)
    stash.dump('b', b'y' * 20)
    code, out, _ = run(capsys, 'info', memory_url,
                       '--storage-option', 'secret=NOT-TO-SHOW')
    rows = dict(line.split(None, 1) for line in out.splitlines())
    assert code == 0 and rows['url'].endswith(memory_url[len('memory://'):])
    assert rows['keys'] == '2'
    assert rows['stored'] == '30 B (30 bytes in 2 objects)'
    assert 'NOT-TO-SHOW' not in out and "'secret': '***'" in rows['options']


def test_the_pattern_is_worked_out_from_the_object_names(
        memory_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    stash = DirectoryStash(memory_url, pattern='{name}.json',
                           serializer='json')
    stash.dump('k', {'n': 1})
    assert run(capsys, 'show', memory_url, 'k') == (0, "{'n': 1}\n", '')
    code, out, _ = run(capsys, 'info', memory_url)
    assert "{name}.json (worked out from the file names)" in out


def test_shard_folders_and_count_are_worked_out(
        memory_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    stash = DirectoryStash(memory_url, shard=16)
    for i in range(40):
        stash.dump(str(i), i)
    code, out, _ = run(capsys, 'info', memory_url)
    rows = dict(line.split(None, 1) for line in out.splitlines())
    assert code == 0 and rows['keys'] == '40' and rows['shards'] == '16'
    assert run(capsys, 'show', memory_url, '33') == (0, '33\n', '')


def test_show_reads_without_unpickling(
        memory_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    DirectoryStash(memory_url).dump('p', Path('/x'))
    code, out, _ = run(capsys, 'show', memory_url, 'p')
    assert (code, out) == (0, "pathlib.PosixPath('/', 'x')\n")


def test_show_of_a_long_key_reads_past_its_header(
        memory_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    key = 'k' * 400
    DirectoryStash(memory_url, serializer='json').dump(key, [1, 2])
    assert run(capsys, 'show', memory_url, key) == (0, '[1, 2]\n', '')


def test_rm_removes_only_that_key(
        memory_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    stash = DirectoryStash(memory_url)
    stash.dump('a', 1)
    stash.dump('b', 2)
    assert run(capsys, 'rm', memory_url, 'a')[0] == 0
    assert stash.keys() == ['b']
    code, _, err = run(capsys, 'rm', memory_url, 'gone')
    assert code == 1 and "no key 'gone'" in err


def test_clear_asks_unless_yes_and_stays_under_the_prefix(
        memory_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    stash = DirectoryStash(memory_url)
    sibling = DirectoryStash(memory_url + '-sibling')
    stash.dump('a', 1)
    sibling.dump('a', 1)
    code, _, err = run(capsys, 'clear', memory_url)
    assert code == 2 and '--yes' in err and stash.keys() == ['a']
    assert run(capsys, 'clear', '--yes', memory_url) == (
        0, 'removed 1 key\n', '')
    assert stash.keys() == [] and sibling.keys() == ['a']


def test_a_shelf_beside_the_objects_is_never_a_key(
        memory_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    raw = DirectoryStash(memory_url, pattern='{name}', serializer='bytes')
    raw.dump('meta.dat', b'shelf data')
    raw.dump('meta.dir', b"'k', (0, 10)\n")
    raw.dump('k.dat', b'\x80\x05K\x01.')
    assert run(capsys, 'ls', memory_url) == (0, 'k\n', '')
    code, out, _ = run(capsys, 'info', memory_url)
    assert 'meta, a dbm shelf, not a key' in out
    assert run(capsys, 'clear', '--yes', memory_url)[1] == 'removed 1 key\n'
    assert sorted(raw.keys()) == ['meta.dat', 'meta.dir']


def test_check_reports_the_remote_stash_check(
        memory_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    stash = DirectoryStash(memory_url, serializer='bytes')
    stash.dump('good', b'\x80\x05K\x01.')  # pickle of 1
    stash.dump('bad', b'\x80\x05junk')
    assert run(capsys, 'check', memory_url)[:2] == (
        0, 'DirectoryStash: 2 items, no problems\n')
    code, out, _ = run(capsys, 'check', '--values', memory_url)
    assert code == 1 and 'bad' in out and '1 problem' in out


def test_storage_options_for_a_local_path_are_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, 'ls', str(tmp_path), '--storage-option',
                       'anon=true')
    assert code == 1 and 'storage options are for a URL' in err


def test_a_url_is_no_other_kind(
        memory_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, 'ls', '--kind', 'sqlite', memory_url)
    assert code == 1 and memory_url[len('memory://'):] in err


def test_a_malformed_storage_option_is_not_repeated(
        memory_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(['ls', memory_url, '--storage-option', 'SECRETWORD'])
    out, err = capsys.readouterr()
    assert info.value.code == 2 and 'NAME=VALUE' in err
    assert 'SECRETWORD' not in out + err


def test_storage_option_values_are_json_when_they_parse() -> None:
    from hutch.cli.main import build_parser, storage_options

    args = build_parser().parse_args([
        'ls', 's3://b/p', '--storage-options', '{"anon": false, "x": 1}',
        '--storage-option', 'anon=true', '--storage-option', 'name=text',
        '--storage-option', 'client_kwargs={"endpoint_url": "http://h:1"}'])
    assert storage_options(args) == {
        'anon': True, 'x': 1, 'name': 'text',
        'client_kwargs': {'endpoint_url': 'http://h:1'}}


# -- S3 ------------------------------------------------------------------


def _bucket(server: S3Server) -> dict[str, Any]:
    fs = server.raw_fs()
    fs.invalidate_cache()
    found: dict[str, Any] = fs.find(BUCKET, detail=True)
    return {path: (info['size'], info.get('ETag')) for path, info in
            found.items()}


def test_read_commands_write_nothing_to_the_bucket(
        s3_server: S3Server, s3_url: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    stash = DirectoryStash(s3_url, storage_options=s3_server.storage_options)
    stash.dump('a', {'n': 1})
    stash.dump('b', [2])
    before = _bucket(s3_server)
    for argv in (['ls', '-l'], ['show'], ['info'], ['check', '--values']):
        tail = ['a'] if argv == ['show'] else []
        code, out, err = run(capsys, *argv, s3_url, *tail,
                             *s3_args(s3_server))
        assert code == 0, (argv, out, err)
    assert _bucket(s3_server) == before


def test_s3_ls_info_rm_clear(s3_server: S3Server, s3_url: str,
                             capsys: pytest.CaptureFixture[str]) -> None:
    stash = DirectoryStash(s3_url, storage_options=s3_server.storage_options)
    stash.dump('a', 1)
    stash.dump('b', 2)
    options = ['--storage-options', json.dumps(s3_server.storage_options)]
    assert run(capsys, 'ls', s3_url, *options) == (0, 'a\nb\n', '')
    code, out, _ = run(capsys, 'ls', '-l', s3_url, *options)
    sizes_times = [line.split()[:2] for line in out.splitlines()]
    assert code == 0 and all(size.isdigit() and day[:2] == '20'
                             for size, day in sizes_times), out
    code, out, _ = run(capsys, 'info', s3_url, *options)
    assert code == 0 and f'url         {s3_url}\n' in out
    assert SECRET not in out
    assert run(capsys, 'rm', s3_url, 'a', *options)[0] == 0
    assert run(capsys, 'clear', '-y', s3_url, *options)[1] == \
        'removed 1 key\n'
    assert stash.keys() == []


def test_a_large_object_is_read_by_a_bounded_range(
        s3_server: S3Server, s3_url: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    stash = DirectoryStash(s3_url, serializer='bytes',
                           storage_options=s3_server.storage_options)
    stash.dump('big', b'\x00' * (SHOW_BYTES + 1000))
    options = Options(storage_options=s3_server.storage_options)
    with open_target(s3_url, options) as target:
        assert len(target.raw('big', 100) or b'') == 101
    code, _, err = run(capsys, 'show', s3_url, 'big', *s3_args(s3_server))
    assert code == 1 and 'larger than' in err and 'big' in err


@pytest.mark.parametrize('traceback', [False, True])
def test_no_secret_in_any_output_when_the_server_is_unreachable(
        capsys: pytest.CaptureFixture[str], traceback: bool) -> None:
    secret = 'A-SECRET-NEVER-TO-SHOW'
    argv = ['ls', f's3://{BUCKET}/x', '--storage-option', f'secret={secret}',
            '--storage-option', 'key=AKIA-NEVER-TO-SHOW',
            '--storage-option',
            'client_kwargs={"endpoint_url": "http://127.0.0.1:9"}',
            '--storage-option',
            'config_kwargs={"retries": {"max_attempts": 1}}']
    code = main((['--traceback'] if traceback else []) + argv)
    out, err = capsys.readouterr()
    assert code == 1 and err.startswith('hutch: ') or traceback
    assert f's3://{BUCKET}/x' in err or traceback
    assert secret not in out + err and 'AKIA-NEVER' not in out + err
    if not traceback:
        assert len(err.strip().splitlines()) == 1


def test_no_secret_in_the_error_of_an_unreadable_value(
        s3_server: S3Server, s3_url: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    s3_server.raw_fs().pipe_file(f'{s3_url}/bad.dat', b'\x80\x05junk')
    code, out, err = run(capsys, 'show', s3_url, 'bad', *s3_args(s3_server))
    assert code == 1 and 'bad' in err and SECRET not in out + err


def test_the_command_honours_fsspec_configuration(
        s3_server: S3Server, s3_url: str) -> None:
    """With no options given, fsspec's own configuration applies (here its
    environment variables), and s3fs finds the credentials in the
    environment."""
    DirectoryStash(s3_url, storage_options=s3_server.storage_options).dump(
        'k', 'v')
    env = {**os.environ, 'FSSPEC_S3_ENDPOINT_URL': s3_server.endpoint,
           'AWS_ACCESS_KEY_ID': 'testing-key-id',
           'AWS_SECRET_ACCESS_KEY': SECRET}
    done = subprocess.run([sys.executable, '-m', 'hutch', 'show', s3_url, 'k'],
                          capture_output=True, text=True, env=env,
                          timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (0, "'v'\n", '')


def test_local_use_of_the_command_loads_no_fsspec(tmp_path: Path) -> None:
    DirectoryStash(tmp_path).dump('k', 1)
    code = ('import sys; from hutch.cli import main\n'
            f'main(["info", {os.fspath(tmp_path)!r}])\n'
            'print("fsspec" in sys.modules, file=sys.stderr)')
    done = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, check=True)
    assert done.stderr.strip() == 'False'
