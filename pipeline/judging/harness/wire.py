"""Plain data across the harness/candidate socket, and its framing. Standard library only, and
only modules a bare interpreter has loaded or that cost nothing to load (struct): this file is
shipped into the sandbox, to both processes, and imported on every verification. (json alone
cost 8 ms of a 20 ms process start there, through re and enum: measured with -X importtime.)

Only None, bool, int, float, str, bytes, and lists, tuples, dicts, sets and frozensets of those
cross, by exact type (a subclass of int is not an int here: it could carry its own __eq__). A
value is one tag byte and its body; sizes and counts are u32, big-endian:

    N  None      T/F  True/False     I  int (u32 length | decimal ASCII)    D  float (8 bytes)
    S  str (u32 length | UTF-8, surrogates passed)     B  bytes (u32 length | raw)
    L/U/E/Z  list/tuple/set/frozenset (u32 count | items)     M  dict (u32 count | key, value...)

`decode` is strict: anything outside this grammar, or trailing bytes, raises NotPlainData, so
whatever the candidate's process sends, the harness gets builtin values of its own or an error.

    frame: u32 length | one encoded value
"""
import os
import select
import struct

MAX_FRAME = 16 << 20  # a larger reply is a failure, not an allocation
MAX_DEPTH = 64
MAX_INT_DIGITS = 4300  # CPython's own default limit for int <-> str
_U32 = struct.Struct(">I")
_F64 = struct.Struct(">d")
_CONTAINERS = {list: b"L", tuple: b"U", set: b"E", frozenset: b"Z"}
_BUILD = {b"L": list, b"U": tuple, b"E": set, b"Z": frozenset}


class NotPlainData(ValueError):
    """A value outside the plain-data grammar."""


class ChannelClosed(EOFError):
    """The other side closed the socket (exited, or was killed)."""


class ChannelTimeout(TimeoutError):
    """Nothing came before the deadline."""


def encode(value):
    out = []
    _encode(value, out, 0)
    return b"".join(out)


def _encode(value, out, depth):
    if depth > MAX_DEPTH:
        raise NotPlainData("nested deeper than %d levels" % MAX_DEPTH)
    kind = type(value)
    if value is None:
        out.append(b"N")
    elif kind is bool:
        out.append(b"T" if value else b"F")
    elif kind is int:
        _sized(out, b"I", str(value).encode("ascii"))
    elif kind is float:
        out.append(b"D" + _F64.pack(value))
    elif kind is str:
        _sized(out, b"S", value.encode("utf-8", "surrogatepass"))
    elif kind is bytes:
        _sized(out, b"B", value)
    elif kind in _CONTAINERS:
        out.append(_CONTAINERS[kind] + _U32.pack(len(value)))
        for item in value:
            _encode(item, out, depth + 1)
    elif kind is dict:
        out.append(b"M" + _U32.pack(len(value)))
        for key, item in value.items():
            _encode(key, out, depth + 1)
            _encode(item, out, depth + 1)
    else:
        raise NotPlainData("a %s is not plain data" % _type_name(value))


def _sized(out, tag, body):
    out.append(tag + _U32.pack(len(body)) + body)


def decode(data):
    reader = _Reader(data)
    value = reader.value(0)
    if reader.at != len(data):
        raise NotPlainData("trailing bytes after the value")
    return value


class _Reader:
    def __init__(self, data):
        self.data, self.at = data, 0

    def take(self, n):
        if self.at + n > len(self.data):
            raise NotPlainData("truncated value")
        chunk = self.data[self.at:self.at + n]
        self.at += n
        return chunk

    def count(self):
        return _U32.unpack(self.take(4))[0]

    def value(self, depth):
        if depth > MAX_DEPTH:
            raise NotPlainData("nested deeper than %d levels" % MAX_DEPTH)
        tag = self.take(1)
        if tag in (b"N", b"T", b"F"):
            return {b"N": None, b"T": True, b"F": False}[tag]
        if tag == b"D":
            return _F64.unpack(self.take(8))[0]
        if tag in (b"I", b"S", b"B"):
            return self.scalar(tag, self.take(self.count()))
        if tag in _BUILD:
            items = [self.value(depth + 1) for _ in range(self.count())]
            return self.build(tag, items)
        if tag == b"M":
            pairs = [(self.value(depth + 1), self.value(depth + 1)) for _ in range(self.count())]
            return self.build(b"M", pairs)
        raise NotPlainData("unknown tag %r" % tag)

    @staticmethod
    def scalar(tag, body):
        try:
            if tag == b"I":
                text = body.decode("ascii")
                if len(text) > MAX_INT_DIGITS or not text.lstrip("-").isdigit():
                    raise ValueError("not a decimal integer")
                return int(text)
            return body.decode("utf-8", "surrogatepass") if tag == b"S" else bytes(body)
        except ValueError as bad:
            raise NotPlainData("malformed %s: %s" % (tag.decode(), bad)) from None

    @staticmethod
    def build(tag, items):
        try:
            return dict(items) if tag == b"M" else _BUILD[tag](items)
        except TypeError as unhashable:
            raise NotPlainData("malformed %s: %s" % (tag.decode(), unhashable)) from None


def _type_name(value):
    try:
        return type(value).__qualname__
    except Exception:  # noqa: BLE001  (a hostile metaclass)
        return "object"


# ---------------------------------------------------------------- framing on a raw descriptor

def send(fd, message):
    """`message` is a plain value; the socket module is not needed (nor loaded: it costs enum)."""
    data = encode(message)
    view = memoryview(_U32.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def receive(fd, deadline=None, clock=None):
    """One message. ChannelClosed at EOF, ChannelTimeout once `deadline` (a `clock()` reading)
    passes, NotPlainData for a frame that is not ours."""
    (length,) = _U32.unpack(_read_exact(fd, 4, deadline, clock))
    if length > MAX_FRAME:
        raise NotPlainData("a reply of %d bytes is over the %d-byte limit" % (length, MAX_FRAME))
    return decode(_read_exact(fd, length, deadline, clock))


def _read_exact(fd, n, deadline, clock):
    chunks, left = [], n
    while left:
        if deadline is not None:
            wait = deadline - clock()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise ChannelTimeout()
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise ChannelClosed()
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
