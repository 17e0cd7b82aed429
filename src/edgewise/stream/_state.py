"""Versioned state: what a step has learned, saved as data that nothing can execute.

A state document is JSON: the format and its version, then a step's spec (its registered name
and parameters), the version of that step's state layout, its learned state, and the state of
each of its streams. Learned state is every instance attribute whose name ends in ``_``
(scikit-learn's convention); attributes that start with ``_`` are caches, rebuilt on demand and
never saved. Values are encoded by type::

    None, bool, int, str, list   as themselves
    float                        itself; nan / inf as {"$float": "nan"}
    dict                         an object when every key is a string not starting with "$",
                                 else {"$dict": [[key, value], ...]}
    tuple, set, deque            {"$tuple": [...]}, {"$set": [...]}, {"$deque": [...], "maxlen": n}
    numpy array                  {"$array": i, "dtype": "<f8", "shape": [...]} (member ``a<i>`` of
                                 the .npz file; in a .json file, "base64" holds the bytes inline)
    numpy random generator       {"$rng": <bit generator state>}
    an edgewise helper object    {"$object": "module.Class", "fields": {...}}: only classes
                                 registered with :func:`state_type` are rebuilt, by setting their
                                 fields; nothing is called

Two files hold a document: ``.npz`` (the JSON in a string member ``header``, arrays as members,
read with ``np.load(allow_pickle=False)``) and ``.json`` (arrays inline). Pickle is never used.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import zipfile
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

__all__ = [
    "STATE_FORMAT",
    "STATE_FORMAT_VERSION",
    "StateError",
    "decode",
    "dump_document",
    "encode",
    "load_document",
    "state_type",
]

STATE_FORMAT = "edgewise-state"
STATE_FORMAT_VERSION = 1

T = TypeVar("T", bound=type)

_TYPES: dict[str, type] = {}
_BIT_GENERATORS: dict[str, Callable[[], np.random.BitGenerator]] = {
    "PCG64": np.random.PCG64,
    "PCG64DXSM": np.random.PCG64DXSM,
    "MT19937": np.random.MT19937,
    "Philox": np.random.Philox,
    "SFC64": np.random.SFC64,
}


class StateError(ValueError):
    """A state file or document that cannot be loaded; the message is one line for the user."""


def state_type(cls: T) -> T:
    """Class decorator: objects of ``cls`` may appear in saved state (rebuilt field by field)."""
    _TYPES[_type_key(cls)] = cls
    return cls


def _type_key(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _fields(obj: object) -> dict[str, Any]:
    fields = dict(getattr(obj, "__dict__", {}))
    for klass in type(obj).__mro__:
        for name in getattr(klass, "__slots__", ()):
            if name not in ("__dict__", "__weakref__") and hasattr(obj, name):
                fields[name] = getattr(obj, name)
    return fields


ArraySink = Callable[[np.ndarray[Any, Any]], dict[str, Any]]


def _inline(array: np.ndarray[Any, Any]) -> dict[str, Any]:
    data = np.ascontiguousarray(array)
    return {
        "$array": -1,
        "dtype": data.dtype.str,
        "shape": list(data.shape),
        "base64": base64.b64encode(data.tobytes()).decode("ascii"),
    }


def encode(value: Any, sink: ArraySink = _inline, where: str = "state") -> Any:
    """``value`` as a JSON-ready tree; arrays go to ``sink`` (default: inline base64)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise StateError(f"cannot save {where}: an array of Python objects")
        return sink(value)
    if isinstance(value, np.generic):
        return encode(value.item(), sink, where)
    if isinstance(value, list):
        return [encode(v, sink, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, deque):
        items = [encode(v, sink, f"{where}[{i}]") for i, v in enumerate(value)]
        return {"$deque": items, "maxlen": value.maxlen}
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: encode(v, sink, f"{where}.{k}") for k, v in value.items()}
        return {
            "$dict": [
                [encode(k, sink, where), encode(v, sink, f"{where}[{k!r}]")]
                for k, v in value.items()
            ]
        }
    if isinstance(value, set | frozenset):
        items = sorted(value, key=repr)
        return {"$set": [encode(v, sink, where) for v in items]}
    if isinstance(value, np.random.Generator):
        return {"$rng": encode(value.bit_generator.state, sink, where)}
    key = _type_key(type(value))
    if key in _TYPES:
        if isinstance(value, tuple):  # a NamedTuple
            return {"$object": key, "items": [encode(v, sink, where) for v in value]}
        fields = _fields(value)
        return {
            "$object": key,
            "fields": {k: encode(v, sink, f"{where}.{k}") for k, v in fields.items()},
        }
    if isinstance(value, tuple):
        return {"$tuple": [encode(v, sink, f"{where}[{i}]") for i, v in enumerate(value)]}
    raise StateError(
        f"cannot save {where}: a {type(value).__module__}.{type(value).__qualname__} is not a "
        "value edgewise knows how to save (register it with edgewise.stream.state_type)"
    )


ArraySource = Callable[[Mapping[str, Any]], np.ndarray[Any, Any]]


def _from_inline(ref: Mapping[str, Any]) -> np.ndarray[Any, Any]:
    try:
        raw = base64.b64decode(ref["base64"], validate=True)
        return np.frombuffer(raw, dtype=np.dtype(ref["dtype"])).reshape(ref["shape"]).copy()
    except (KeyError, TypeError, ValueError, binascii.Error) as error:
        raise StateError(f"an inline array is damaged ({error})") from None


def decode(tree: Any, source: ArraySource = _from_inline) -> Any:
    """The value :func:`encode` made ``tree`` from."""
    if tree is None or isinstance(tree, bool | int | float | str):
        return tree
    if isinstance(tree, list):
        return [decode(v, source) for v in tree]
    if not isinstance(tree, dict):
        raise StateError(f"unexpected {type(tree).__name__} in a state document")
    if not any(k.startswith("$") for k in tree):
        return {k: decode(v, source) for k, v in tree.items()}
    if "$float" in tree:
        return float(tree["$float"])
    if "$array" in tree:
        array = source(tree)
        expected = (np.dtype(tree["dtype"]), tuple(tree["shape"]))
        if (array.dtype, array.shape) != expected:
            raise StateError(
                f"state array {tree['$array']} is {array.dtype} {array.shape}, but the state says "
                f"{expected[0]} {expected[1]}"
            )
        return array
    if "$dict" in tree:
        return {_hashable(decode(k, source)): decode(v, source) for k, v in tree["$dict"]}
    if "$tuple" in tree:
        return tuple(decode(v, source) for v in tree["$tuple"])
    if "$set" in tree:
        return {_hashable(decode(v, source)) for v in tree["$set"]}
    if "$deque" in tree:
        return deque((decode(v, source) for v in tree["$deque"]), maxlen=tree["maxlen"])
    if "$rng" in tree:
        state = decode(tree["$rng"], source)
        bit_generator = _BIT_GENERATORS.get(state.get("bit_generator"))
        if bit_generator is None:
            raise StateError(f"unknown random generator {state.get('bit_generator')!r}")
        generator = np.random.Generator(bit_generator())
        generator.bit_generator.state = state
        return generator
    if "$object" in tree:
        return _rebuild(tree, source)
    raise StateError(f"unknown entry {sorted(tree)} in a state document")


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value


def _rebuild(tree: Mapping[str, Any], source: ArraySource) -> Any:
    cls = _TYPES.get(tree["$object"])
    if cls is None:
        raise StateError(f"the state holds an unknown kind of object {tree['$object']!r}")
    if "items" in tree:
        return cls(*(decode(v, source) for v in tree["items"]))
    obj: Any = object.__new__(cls)
    for name, value in tree["fields"].items():
        object.__setattr__(obj, name, decode(value, source))
    return obj


# -- files -----------------------------------------------------------------------------------------


def _check_header(document: Any, origin: str) -> dict[str, Any]:
    if not isinstance(document, dict) or document.get("format") != STATE_FORMAT:
        raise StateError(f"{origin}: not an edgewise state file")
    version = document.get("version")
    if version != STATE_FORMAT_VERSION:
        raise StateError(
            f"{origin}: state format version {version!r}; this edgewise reads version "
            f"{STATE_FORMAT_VERSION} (the file was written by another release: rebuild it)"
        )
    return document


def dump_document(body: Mapping[str, Any], path: Path | None = None, *, kind: str = "npz") -> bytes:
    """Write a state document whose body ``body`` was encoded lazily here; return its bytes.

    ``body`` values are encoded with :func:`encode`. ``kind`` is ``"npz"`` or ``"json"``.
    """
    arrays: dict[str, np.ndarray[Any, Any]] = {}

    def to_member(array: np.ndarray[Any, Any]) -> dict[str, Any]:
        index = len(arrays)
        arrays[f"a{index}"] = array
        return {"$array": index, "dtype": array.dtype.str, "shape": list(array.shape)}

    sink: ArraySink = to_member if kind == "npz" else _inline
    document = {"format": STATE_FORMAT, "version": STATE_FORMAT_VERSION}
    document.update({k: encode(v, sink, k) for k, v in body.items()})
    text = json.dumps(document, allow_nan=False, separators=(",", ":"))
    if kind == "json":
        data = text.encode("utf-8")
    elif kind == "npz":
        buffer = io.BytesIO()
        np.savez(buffer, header=np.array(text), **arrays)  # type: ignore[arg-type]
        data = buffer.getvalue()
    else:
        raise ValueError(f"kind must be 'npz' or 'json', got {kind!r}")
    if path is not None:
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(data)
        partial.replace(path)  # never leave a half-written state behind
    return data


def load_document(data: bytes, origin: str = "state") -> dict[str, Any]:
    """The decoded body of a state document in ``data`` (npz or JSON), checked."""
    if data[:1] == b"\x80":
        raise StateError(
            f"{origin}: a pickled state file from an older edgewise; pickles are no longer "
            "loaded (they can run code): delete the file to start afresh"
        )
    if data[:2] == b"PK":
        return _load_npz(data, origin)
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise StateError(f"{origin}: not an edgewise state file (neither .npz nor JSON)") from None
    header = _check_header(document, origin)
    return _decoded(header, _from_inline, origin)


def _load_npz(data: bytes, origin: str) -> dict[str, Any]:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as members:
            arrays = {name: members[name] for name in members.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise StateError(f"{origin}: a damaged state file ({error})") from None
    header = arrays.pop("header", None)
    if header is None or header.dtype.kind != "U" or header.shape != ():
        raise StateError(f"{origin}: not an edgewise state file (no header)")
    try:
        document = json.loads(str(header))
    except json.JSONDecodeError as error:
        raise StateError(f"{origin}: a damaged state header ({error})") from None

    def member(ref: Mapping[str, Any]) -> np.ndarray[Any, Any]:
        array: np.ndarray[Any, Any] | None = arrays.get(f"a{ref['$array']}")
        if array is None:
            raise StateError(f"{origin}: state array {ref['$array']} is missing")
        return array

    return _decoded(_check_header(document, origin), member, origin)


def _decoded(document: dict[str, Any], source: ArraySource, origin: str) -> dict[str, Any]:
    try:
        return {k: decode(v, source) for k, v in document.items() if k not in ("format", "version")}
    except StateError as error:
        raise StateError(f"{origin}: {error}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise StateError(f"{origin}: a damaged state document ({error})") from None
