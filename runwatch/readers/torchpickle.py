"""What a ``torch.save`` file says, read without torch: a data reader, never an unpickler of code.

HF's ``training_args.bin`` and Lightning's ``*.ckpt`` are zip archives (torch's format
since 1.6) holding ``<name>/data.pkl`` and one entry per tensor storage. This reads
``data.pkl`` with an unpickler whose every global is a ``Stub`` (a plain record of the
class name, constructor arguments and state): no class of the file is ever imported or
run. Scalar tensors (a callback's ``best_score``) are decoded from their storage bytes;
larger tensors stay ``Tensor`` stubs (shape and dtype only). Legacy (non-zip) files are
not read: the answer is ``None`` with a problem saying so.

Bounded against crafted files: the file is opened through the checked opener (a regular
file inside the project; a FIFO never blocks); the zip's central directory is sized from
its end record before ``zipfile`` parses it (``MAX_DIRECTORY_BYTES``); ``data.pkl`` is read
through the member's inflater up to ``MAX_PICKLE_BYTES`` whatever its header declares;
a scalar's storage is read only up to the bytes it needs (a 2 GiB storage is never
inflated); and the decoded object is refused past ``MAX_EXPANDED`` values once its
shared references are expanded (a pickle memo makes ``a = [a, a]`` sixty times cheap to
decode and 2^60 values to walk), so ``plain`` never walks more than that.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import zipfile
from typing import Any, BinaryIO

from cachetools import LRUCache

from runwatch.readers.budgets import BudgetExceeded, expanded_size
from runwatch.readers.safe_open import FileTooLarge, NotRegularFile, open_regular
from runwatch.state import STATE

# data.pkl holds the object structure only (tensors are separate members): a few MB for big models.
MAX_PICKLE_BYTES = 32 * 1024 * 1024
# The zip's central directory: about 100 bytes per member, one member per tensor storage.
MAX_DIRECTORY_BYTES = 32 * 1024 * 1024
# A scalar's value is read from at most this far into its storage.
MAX_STORAGE_PREFIX = 16 * 1024 * 1024
# Values a checkpoint's object may hold once shared references are expanded.
MAX_EXPANDED = 1_000_000

_DTYPES = {  # storage class name -> (struct format, item size)
    "FloatStorage": ("<f", 4),
    "DoubleStorage": ("<d", 8),
    "HalfStorage": ("<e", 2),
    "LongStorage": ("<q", 8),
    "IntStorage": ("<i", 4),
    "ShortStorage": ("<h", 2),
    "CharStorage": ("<b", 1),
    "ByteStorage": ("<B", 1),
    "BoolStorage": ("<?", 1),
}


class Stub:
    """A class named in the file: its name, the arguments it was built with, its state."""

    name = "?"
    args: tuple[Any, ...]
    state: Any

    def __new__(cls, *args: Any, **kwargs: Any) -> Stub:
        obj = object.__new__(cls)
        obj.args = args
        obj.state = None
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __setitem__(self, key: Any, value: Any) -> None:  # dict subclasses (OrderedDict-likes)
        if not isinstance(self.state, dict):
            self.state = {}
        self.state[key] = value

    @property
    def fields(self) -> dict[str, Any]:
        """The object's attributes (pickled state), or {}."""
        s = self.state
        if isinstance(s, tuple) and len(s) == 2 and isinstance(s[1], dict):  # (dict, slots)
            s = {**(s[0] or {}), **s[1]}
        return s if isinstance(s, dict) else {}

    def __repr__(self) -> str:
        return f"Stub({self.name})"


_STUB_CLASSES: LRUCache[str, type[Stub]] = STATE.table("readers.torchpickle.stub_classes", lambda: LRUCache(maxsize=4096))


def _stub_class(name: str) -> type[Stub]:
    """A Stub subclass standing for the class ``name`` (pickle's NEWOBJ needs a real type)."""
    cls = _STUB_CLASSES.get(name)
    if cls is None:
        cls = _STUB_CLASSES[name] = type("Stub", (Stub,), {"name": name, "__slots__": ()})
    return cls


class Tensor:
    """A tensor's dtype, shape and, for a single element, its value."""

    def __init__(self, dtype: str, shape: tuple[int, ...], value: Any) -> None:
        self.dtype, self.shape, self.value = dtype, shape, value

    def __repr__(self) -> str:
        return f"Tensor({self.dtype}, {self.shape}, {self.value!r})"


class _OrderedDict(dict[Any, Any]):
    """An OrderedDict of the file: a dict that also takes the attribute state pickle gives it."""


def _bytearray(*args: Any) -> bytearray:
    """``bytearray`` of the bytes a pickle holds; never of a size (``bytearray(10 ** 10)`` would take 10 GB)."""
    if args and isinstance(args[0], int):
        raise ValueError("a bytearray built from a size; not read")
    return bytearray(*args)


def _plain_new(cls: Any) -> Any:
    return cls.__new__(cls) if isinstance(cls, type) and issubclass(cls, Stub) else _stub_class(str(cls))()


class _Reader(pickle.Unpickler):
    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(io.BytesIO(data))
        self._archive, self._prefix = archive, prefix

    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name == "OrderedDict":
            return _OrderedDict
        if module == "builtins" and name in ("set", "frozenset", "tuple", "list", "dict", "bytearray"):
            return {"set": set, "frozenset": frozenset, "tuple": tuple, "list": list, "dict": dict, "bytearray": _bytearray}[name]
        if module == "copyreg" and name == "_reconstructor":
            return lambda cls, base, state=None: _plain_new(cls)
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return self._rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return lambda data, *a, **k: data
        return _stub_class(f"{module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        # ('storage', storage_type, key, location, numel)
        if isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage":
            kind = pid[1].name.rsplit(".", 1)[-1] if isinstance(pid[1], type) and issubclass(pid[1], Stub) else str(pid[1])
            return ("storage", kind, str(pid[2]), pid[4])
        return None

    def _rebuild_tensor(self, storage: Any, offset: int, size: Any, *_: Any) -> Tensor:
        shape = tuple(size) if isinstance(size, tuple | list) else ()
        kind = storage[1] if isinstance(storage, tuple) and len(storage) == 4 else "?"
        numel = 1
        for n in shape:
            numel *= n
        value = None
        fmt = _DTYPES.get(kind)
        if numel == 1 and fmt is not None:
            try:
                at = int(offset) * fmt[1]
                if 0 <= at <= MAX_STORAGE_PREFIX:
                    with self._archive.open(f"{self._prefix}data/{storage[2]}") as m:
                        raw = m.read(at + fmt[1])  # only the bytes needed, never the whole storage
                    value = struct.unpack_from(fmt[0], raw, at)[0]
            except (KeyError, struct.error, ValueError, OSError, zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError):
                value = None
        return Tensor(kind.removesuffix("Storage").lower(), shape, value)


def _directory_size(f: BinaryIO) -> int | None:
    """The size in bytes of a zip's central directory, from its end record (None: no end record)."""
    end = f.seek(0, os.SEEK_END)
    tail_len = min(end, 22 + 65535)
    f.seek(end - tail_len)
    tail = f.read(tail_len)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) < at + 22:
        return None
    size = struct.unpack_from("<I", tail, at + 12)[0]
    if size == 0xFFFFFFFF and at >= 20 and tail[at - 20 : at - 16] == b"PK\x06\x07":  # zip64: the locator before it
        (z64_at,) = struct.unpack_from("<Q", tail, at - 20 + 8)
        f.seek(z64_at)
        rec = f.read(56)
        if len(rec) == 56 and rec[:4] == b"PK\x06\x06":
            size = struct.unpack_from("<Q", rec, 40)[0]
    return int(size)


def _object_children(obj: Any) -> Any:
    if isinstance(obj, Stub):
        return (obj.args, obj.state)
    if isinstance(obj, dict):
        return [*obj.keys(), *obj.values()]
    if isinstance(obj, list | tuple | set | frozenset):
        return obj
    return None


_MEMO_PUTS = frozenset(("PUT", "BINPUT", "LONG_BINPUT"))


def _check_memo_indices(data: bytes) -> None:
    """Refuse a pickle that stores into a memo slot no honest pickle of its length could reach.

    The C unpickler sizes its memo table to the largest index it is given, so one
    ``LONG_BINPUT 0x2e4eabe2`` in a 20-byte pickle allocates gigabytes and takes seconds; every
    honest memo index is smaller than the number of opcodes, hence than the pickle's length.
    """
    limit = len(data)
    import pickletools  # (on first use: most processes read no torch file)

    for op, arg, _ in pickletools.genops(data):
        if op.name in _MEMO_PUTS and isinstance(arg, int) and arg > limit:
            raise pickle.UnpicklingError(f"memo index {arg} beyond what a pickle of {limit} bytes can hold")
        if op.name == "STOP":
            return


def read_torch_file(path: str) -> tuple[Any, str | None]:
    """The object a ``torch.save`` zip file holds, with Stubs for classes; (None, problem) when unreadable."""
    try:
        with open_regular(path) as f:
            size = _directory_size(f)
            if size is None:
                return None, f"{path}: not a zip-format torch file (legacy or partly written); not read"
            if size > MAX_DIRECTORY_BYTES:
                return None, f"{path}: zip directory of {size} bytes, larger than {MAX_DIRECTORY_BYTES}; not read"
            f.seek(0)
            with zipfile.ZipFile(f) as z:
                names = [n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
                if not names:
                    return None, f"{path}: no data.pkl inside (not a torch.save file)"
                info = z.getinfo(names[0])
                if info.file_size > MAX_PICKLE_BYTES:
                    return None, f"{path}: data.pkl larger than {MAX_PICKLE_BYTES} bytes, not read"
                with z.open(info) as m:
                    data = m.read(MAX_PICKLE_BYTES + 1)  # the inflated bytes counted, whatever the header says
                if len(data) > MAX_PICKLE_BYTES:
                    return None, f"{path}: data.pkl inflates past {MAX_PICKLE_BYTES} bytes, not read"
                prefix = names[0][: -len("data.pkl")]
                _check_memo_indices(data)
                value = _Reader(data, z, prefix).load()
                del data
                expanded_size(value, MAX_EXPANDED, _object_children)
                return value, None
    except FileNotFoundError:
        return None, f"{path}: missing"
    except zipfile.BadZipFile:
        return None, f"{path}: not a zip-format torch file (legacy or partly written); not read"
    except BudgetExceeded as e:
        return None, f"{path}: too large to use ({e}); not read"
    except (FileTooLarge, NotRegularFile) as e:
        return None, f"{path}: {e.strerror}"
    except MemoryError:
        return None, f"{path}: decoding it ran out of memory; not read"
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
        struct.error,
        RecursionError,
        NotImplementedError,
        RuntimeError,
    ) as e:
        return None, f"{path}: cannot decode ({type(e).__name__}: {str(e)[:200]})"
    except OSError as e:
        return None, f"{path}: cannot read ({e.strerror or e})"


def plain(value: Any) -> Any:
    """Stubs and tensors as plain data: a Stub is its fields, a scalar tensor its value (None when nested too deeply)."""
    try:
        return _plain(value)
    except RecursionError:
        return None


def _plain(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.value
    if isinstance(value, Stub):
        if value.state is None and len(value.args) == 1:  # an enum member: its value
            return _plain(value.args[0])
        return {k: _plain(v) for k, v in value.fields.items()}
    if isinstance(value, dict):
        return {k if isinstance(k, str) else str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
