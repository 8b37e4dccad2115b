"""A pickle-free format for plain data crossing between the judge and the worker.

frame  = b"CGW1" | u32 header length | header (UTF-8 JSON) | blob bytes, back to back
header = {"v": value, "b": [length of each blob]}

A value is JSON null, a bool, an int, a float, a str, or an object tagged by "$":
  {"$": "list"|"tuple", "v": [...]}      {"$": "dict", "v": [[key, value], ...]} (str or int keys)
  {"$": "tensor", "i": blob, "d": dtype, "s": shape}   {"$": "bytes", "i": blob}
  {"$": "float", "v": "nan"|"inf"|"-inf"}             {"$": "unsupported", "type": name}

Reading a frame never runs code: the decoder builds only these types, checks every tensor's
dtype against an allow-list and its blob length against numel * itemsize, and caps the frame
size, nesting depth and number of nodes. Only exact torch.Tensor (or nn.Parameter, sent as its
data) crosses as a tensor; a numpy number or array crosses as the plain value it holds (its tolist(): a
numpy.int64 as an int, a numpy.float32 as a float, an array as nested lists), the way a student's
np.prod(shape) or np.mean(losses) is meant; anything else becomes an "unsupported" marker naming its type.
"""
from __future__ import annotations

import json
import math
import struct

import torch

from course.limits import LIMITS

MAGIC = b"CGW1"
MAX_FRAME = LIMITS.answer_bytes
MAX_DEPTH = LIMITS.wire_depth
MAX_NODES = LIMITS.wire_nodes
DTYPES = {
    name: getattr(torch, name)
    for name in ("float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool")
}
_DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}


class WireError(ValueError):
    """A frame that is malformed, too big or holds a type outside the allow-list."""


class Unsupported:
    """Stands in, on the reading side, for a value the sender could not encode."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<{self.type_name}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unsupported) and other.type_name == self.type_name


def _type_name(value: object) -> str:
    t = type(value)
    return f"{t.__module__}.{t.__qualname__}"[:200]


def dumps(value: object) -> bytes:
    """Encode plain data into one frame."""
    blobs: list[bytes] = []

    def enc(v: object, depth: int) -> object:
        if depth > MAX_DEPTH:
            raise WireError("value nested too deeply")
        t = type(v)
        if v is None or t is bool or t is str:
            return v
        if t is int:
            return v
        if t is float:
            return v if math.isfinite(v) else {"$": "float", "v": repr(v)}
        if t is torch.Tensor or t is torch.nn.Parameter:
            return enc_tensor(v)
        if t is bytes:
            blobs.append(v)
            return {"$": "bytes", "i": len(blobs) - 1}
        if t is list or t is tuple or t is torch.Size:  # a torch.Size is a tuple of ints
            return {"$": "list" if t is list else "tuple", "v": [enc(x, depth + 1) for x in v]}
        if t is dict:
            items = []
            for k, x in v.items():
                if type(k) not in (str, int):
                    raise WireError(f"dict key of type {type(k).__name__}")
                items.append([k, enc(x, depth + 1)])
            return {"$": "dict", "v": items}
        if t.__module__ == "numpy" and hasattr(v, "tolist"):  # a numpy number or array: the plain values it holds
            plain = v.tolist()
            if type(plain) in (bool, int, float, list):
                return enc(plain, depth + 1)
        return {"$": "unsupported", "type": _type_name(v)}

    def enc_tensor(t: torch.Tensor) -> object:
        try:
            t = t.detach()
            if t.layout != torch.strided or t.dtype not in _DTYPE_NAMES or t.device.type != "cpu":
                raise TypeError
            flat = t.resolve_neg().resolve_conj().contiguous().reshape(-1)
            data = flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b""
        except Exception:  # meta, sparse, complex, odd views: described, not sent
            return {"$": "unsupported", "type": f"torch.Tensor[{str(t.dtype)[6:]}, {t.layout}, {t.device}]"}
        blobs.append(data)
        return {"$": "tensor", "i": len(blobs) - 1, "d": _DTYPE_NAMES[t.dtype], "s": list(t.shape)}

    header = json.dumps({"v": enc(value, 0), "b": [len(b) for b in blobs]}, allow_nan=False).encode()
    frame = b"".join([MAGIC, struct.pack("<I", len(header)), header, *blobs])
    if len(frame) > MAX_FRAME:
        raise WireError(f"frame of {len(frame)} bytes is over the {MAX_FRAME}-byte cap")
    return frame


def _reject_constant(name: str) -> object:
    raise WireError(f"bare {name} in header")


def loads(frame: bytes) -> object:
    """Decode one frame; raise WireError for anything outside the format."""
    if len(frame) > MAX_FRAME:
        raise WireError("frame over the size cap")
    if frame[:4] != MAGIC or len(frame) < 8:
        raise WireError("not a frame (bad magic)")
    (hlen,) = struct.unpack("<I", frame[4:8])
    if 8 + hlen > len(frame):
        raise WireError("truncated header")
    try:
        header = json.loads(frame[8 : 8 + hlen].decode("utf-8"), parse_constant=_reject_constant)
        lengths = header["b"]
        root = header["v"]
    except WireError:
        raise
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError) as e:
        raise WireError(f"bad header: {type(e).__name__}") from None
    if type(lengths) is not list or not all(type(n) is int and n >= 0 for n in lengths):
        raise WireError("bad blob table")
    if 8 + hlen + sum(lengths) != len(frame):
        raise WireError("blob lengths do not add up to the frame size")
    offsets, pos = [], 8 + hlen
    for n in lengths:
        offsets.append((pos, n))
        pos += n
    nodes = 0

    def blob(i: object) -> bytes:
        if type(i) is not int or not 0 <= i < len(offsets):
            raise WireError("bad blob index")
        start, n = offsets[i]
        return frame[start : start + n]

    def dec(v: object, depth: int) -> object:
        nonlocal nodes
        nodes += 1
        if nodes > MAX_NODES or depth > MAX_DEPTH:
            raise WireError("value too large or nested too deeply")
        t = type(v)
        if v is None or t in (bool, int, float, str):
            return v
        if t is not dict or type(v.get("$")) is not str:
            raise WireError(f"untagged {t.__name__} in value")
        tag = v["$"]
        if tag in ("list", "tuple"):
            items = v.get("v")
            if type(items) is not list:
                raise WireError("bad sequence")
            out = [dec(x, depth + 1) for x in items]
            return out if tag == "list" else tuple(out)
        if tag == "dict":
            items = v.get("v")
            if type(items) is not list:
                raise WireError("bad dict")
            result = {}
            for pair in items:
                if type(pair) is not list or len(pair) != 2 or type(pair[0]) not in (str, int):
                    raise WireError("bad dict item")
                result[pair[0]] = dec(pair[1], depth + 1)
            return result
        if tag == "tensor":
            return dec_tensor(v)
        if tag == "bytes":
            return blob(v.get("i"))
        if tag == "float":
            if v.get("v") not in ("nan", "inf", "-inf"):
                raise WireError("bad float")
            return float(v["v"])
        if tag == "unsupported":
            return Unsupported(str(v.get("type"))[:200])
        raise WireError(f"unknown tag {tag[:40]!r}")

    def dec_tensor(v: dict) -> torch.Tensor:
        dtype = DTYPES.get(v.get("d")) if type(v.get("d")) is str else None
        shape = v.get("s")
        if dtype is None:
            raise WireError("tensor dtype outside the allow-list")
        if type(shape) is not list or len(shape) > 16 or not all(type(n) is int and 0 <= n <= MAX_FRAME for n in shape):
            raise WireError("bad tensor shape")
        data = blob(v.get("i"))
        numel = math.prod(shape)
        itemsize = torch.empty((), dtype=dtype).element_size()
        if numel * itemsize != len(data):
            raise WireError("tensor data does not match its shape and dtype")
        try:
            if numel == 0:
                return torch.empty(shape, dtype=dtype)
            return torch.frombuffer(bytearray(data), dtype=torch.uint8).view(dtype).reshape(shape)
        except (RuntimeError, TypeError, ValueError, OverflowError) as e:
            raise WireError(f"tensor cannot be built: {type(e).__name__}") from None

    return dec(root, 0)
