"""Plain data across the harness/candidate socket, and its framing. Standard library only: this
file is also shipped into the sandbox, to both processes.

Only None, bool, int, float, str, bytes, and lists, tuples, dicts, sets and frozensets of those
cross, by exact type (a subclass of int is not an int here: it could carry its own __eq__). A
value is encoded as JSON, with containers other than lists tagged:

    (1, "a") -> {"tuple": [1, "a"]}     {1: 2} -> {"dict": [[1, 2]]}     b"x" -> {"bytes": "eA=="}

`decode` is strict: anything but this grammar raises NotPlainData, so whatever the candidate's
process sends, the harness gets back builtin values of its own or an error.

    frame: u32 length (big-endian) | UTF-8 JSON
"""
import base64
import json
import math
import struct

MAX_FRAME = 16 << 20  # a larger reply is a failure, not an allocation
MAX_DEPTH = 64
TAGS = ("tuple", "set", "frozenset", "dict", "bytes", "float")


class NotPlainData(ValueError):
    """A value outside the plain-data grammar."""


class ChannelClosed(EOFError):
    """The other side closed the socket (exited, or was killed)."""


def encode(value, depth=0):
    if depth > MAX_DEPTH:
        raise NotPlainData("nested deeper than %d levels" % MAX_DEPTH)
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        return value if math.isfinite(value) else {"float": repr(value)}
    if kind is list:
        return [encode(item, depth + 1) for item in value]
    if kind in (tuple, set, frozenset):
        items = [encode(item, depth + 1) for item in value]
        return {kind.__name__: items}
    if kind is dict:
        return {"dict": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]}
    if kind is bytes:
        return {"bytes": base64.b64encode(value).decode("ascii")}
    raise NotPlainData("a %s is not plain data" % _type_name(value))


def decode(data, depth=0):
    if depth > MAX_DEPTH:
        raise NotPlainData("nested deeper than %d levels" % MAX_DEPTH)
    kind = type(data)
    if data is None or kind in (bool, int, float, str):
        return data
    if kind is list:
        return [decode(item, depth + 1) for item in data]
    if kind is not dict or len(data) != 1:
        raise NotPlainData("malformed value")
    (tag, body), = data.items()
    try:
        return _decode_tagged(tag, body, depth)
    except (TypeError, ValueError) as bad:  # unhashable set member, bad base64, ...
        raise NotPlainData("malformed %s: %s" % (tag, bad)) from None


def _decode_tagged(tag, body, depth):
    if tag == "float" and body in ("nan", "inf", "-inf"):
        return float(body)
    if tag == "bytes" and type(body) is str:
        return base64.b64decode(body.encode("ascii"), validate=True)
    if type(body) is not list:
        raise NotPlainData("malformed %s" % tag)
    if tag == "dict":
        pairs = [_pair(item, depth) for item in body]
        return dict(pairs)
    items = [decode(item, depth + 1) for item in body]
    if tag == "tuple":
        return tuple(items)
    if tag == "set":
        return set(items)
    if tag == "frozenset":
        return frozenset(items)
    raise NotPlainData("unknown tag %r" % tag)


def _pair(item, depth):
    if type(item) is not list or len(item) != 2:
        raise NotPlainData("malformed dict item")
    return decode(item[0], depth + 1), decode(item[1], depth + 1)


def _type_name(value):
    try:
        return type(value).__qualname__
    except Exception:  # noqa: BLE001  (a hostile metaclass)
        return "object"


# ---------------------------------------------------------------- framing

def send(sock, message):
    raw = json.dumps(message, allow_nan=False).encode()
    sock.sendall(struct.pack(">I", len(raw)) + raw)


def receive(sock):
    """One message; raises ChannelClosed at EOF, NotPlainData on a frame that is not ours,
    socket.timeout when the socket's timeout passes."""
    (length,) = struct.unpack(">I", _read_exact(sock, 4))
    if length > MAX_FRAME:
        raise NotPlainData("a reply of %d bytes is over the %d-byte limit" % (length, MAX_FRAME))
    try:
        return json.loads(_read_exact(sock, length).decode())
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise NotPlainData("a reply that is not JSON") from None


def _read_exact(sock, n):
    chunks, left = [], n
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise ChannelClosed()
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
