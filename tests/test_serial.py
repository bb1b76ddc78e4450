"""Serializers: each round-trips its values, refuses others, and pickles."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from hutch import (
    BytesSerializer,
    Compressed,
    JsonSerializer,
    PickleSerializer,
    Serializer,
    TextSerializer,
    get_serializer,
)
from hutch.serial import CODECS

VALUES: dict[str, Any] = {
    'pickle': {'set': {1, 2}, 'tuple': (1, 'a'), 'none': None, 'bytes': b'\0'},
    'json': {'list': [1, 2.5, 'x'], 'none': None, 'flag': True, 'é': 'ü'},
    'bytes': b'\x00\xffraw bytes' * 10,
    'text': 'héllo wörld, ✓' * 10,
}

NAMES = [f'{base}+{codec}' if codec else base
         for base in VALUES for codec in ['', *CODECS]]


def _base(name: str) -> str:
    return name.partition('+')[0]


@pytest.mark.parametrize('name', NAMES)
def test_every_named_serializer_round_trips_its_values(name: str) -> None:
    ser = get_serializer(name)
    value = VALUES[_base(name)]
    data = ser.dumps(value)
    assert isinstance(data, bytes)
    assert ser.loads(data) == value


@pytest.mark.parametrize('name', NAMES)
def test_serializer_name_is_the_spec_it_came_from(name: str) -> None:
    assert get_serializer(name).name == name


@pytest.mark.parametrize('name', NAMES)
def test_serializers_survive_pickling_and_still_work(name: str) -> None:
    ser = get_serializer(name)
    copy = pickle.loads(pickle.dumps(ser))
    assert copy == ser
    assert hash(copy) == hash(ser)
    value = VALUES[_base(name)]
    assert copy.loads(ser.dumps(value)) == value


@pytest.mark.parametrize('codec', sorted(CODECS))
def test_compression_shrinks_repetitive_data(codec: str) -> None:
    value = 'the same words ' * 500
    plain = get_serializer('text').dumps(value)
    assert len(get_serializer(f'text+{codec}').dumps(value)) < len(plain) / 5


def test_zstd_output_is_a_zstandard_frame() -> None:
    import zstandard

    data = get_serializer('bytes+zstd').dumps(b'abc' * 100)
    assert zstandard.ZstdDecompressor().decompress(data) == b'abc' * 100


def test_none_means_pickle_at_the_highest_protocol() -> None:
    ser = get_serializer(None)
    assert ser == PickleSerializer()
    assert ser.dumps([1])[1] == pickle.HIGHEST_PROTOCOL


def test_pickle_protocol_can_be_chosen() -> None:
    assert PickleSerializer(2).dumps(None)[:2] == b'\x80\x02'


def test_a_serializer_object_is_used_as_given() -> None:
    ser = JsonSerializer(sort_keys=True)
    assert get_serializer(ser) is ser


def test_json_loading_runs_no_code() -> None:
    evil = b'{"__reduce__": "os.system", "args": ["false"]}'
    assert JsonSerializer().loads(evil) == {
        '__reduce__': 'os.system', 'args': ['false']}


def test_json_sort_keys_orders_the_output() -> None:
    assert JsonSerializer(sort_keys=True).dumps({'b': 1, 'a': 2}) == \
        b'{"a":2,"b":1}'


def test_text_serializer_uses_its_encoding() -> None:
    ser = TextSerializer('latin-1')
    assert ser.dumps('é') == b'\xe9'
    assert ser.loads(b'\xe9') == 'é'


@pytest.mark.parametrize('spec', ['yaml', 'pickle+gzip', 'pickle+', '+zlib',
                                  'pickle+zlib+lzma', ''])
def test_an_unknown_name_raises_valueerror(spec: str) -> None:
    with pytest.raises(ValueError):
        get_serializer(spec)


@pytest.mark.parametrize('spec', [3, b'pickle', PickleSerializer, ['json']])
def test_a_spec_of_the_wrong_type_raises_typeerror(spec: Any) -> None:
    with pytest.raises(TypeError):
        get_serializer(spec)


def test_unknown_text_encoding_raises_valueerror_at_construction() -> None:
    with pytest.raises(ValueError, match='no-such-codec'):
        TextSerializer('no-such-codec')


def test_bad_pickle_protocol_is_refused_at_construction() -> None:
    with pytest.raises(ValueError):
        PickleSerializer(pickle.HIGHEST_PROTOCOL + 1)
    with pytest.raises(TypeError):
        PickleSerializer('5')  # type: ignore[arg-type]


def test_compressed_refuses_bad_arguments_at_construction() -> None:
    with pytest.raises(TypeError):
        Compressed('pickle', 'zlib')  # type: ignore[arg-type]
    with pytest.raises(ValueError, match='codec'):
        Compressed(PickleSerializer(), 'snappy')
    with pytest.raises(TypeError, match='level'):
        Compressed(PickleSerializer(), 'zlib', level='9')  # type: ignore[arg-type]


def test_compressed_level_is_kept() -> None:
    fast = Compressed(BytesSerializer(), 'zlib', level=1)
    assert fast.level == 1
    assert fast != Compressed(BytesSerializer(), 'zlib', level=9)
    assert fast.loads(fast.dumps(b'x' * 100)) == b'x' * 100


@pytest.mark.parametrize('name,value', [
    ('bytes', 'not bytes'), ('text', b'not text'), ('json', {1, 2}),
])
def test_a_value_of_the_wrong_type_raises_typeerror(
        name: str, value: Any) -> None:
    with pytest.raises(TypeError):
        get_serializer(name).dumps(value)


@pytest.mark.parametrize('name', [n for n in NAMES if n != 'bytes'])
def test_garbage_bytes_raise_on_load(name: str) -> None:
    # (raw bytes are the one format where every input is valid)
    with pytest.raises(Exception):  # noqa: B017 - each format raises its own
        get_serializer(name).loads(b'\xff\xfe not valid \x00')


def test_bytes_serializer_accepts_bytearray_and_memoryview() -> None:
    ser = BytesSerializer()
    assert ser.dumps(bytearray(b'ab')) == b'ab'
    assert ser.dumps(memoryview(b'cd')) == b'cd'


def test_serializer_is_abstract() -> None:
    with pytest.raises(TypeError):
        Serializer()  # type: ignore[abstract]


def test_repr_shows_the_name() -> None:
    assert repr(get_serializer('json+lzma')) == "Compressed('json+lzma')"
