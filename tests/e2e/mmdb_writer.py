"""A small writer of MaxMind DB files (format 2.0), for tests that need a GeoIP database.

Written from the public specification (https://maxmind.github.io/MaxMind-DB/): a binary search
tree over address bits whose records point to other nodes or into the data section, 16 zero
bytes, the data section, then "\\xab\\xcd\\xefMaxMind.com" and the metadata map. Only what a
country database needs is encoded: maps, UTF-8 strings, unsigned integers and arrays. The tree is
an IPv6 one with 24-bit records; IPv4 networks live under ::/96, where readers look them up.

    write_mmdb(path, {"192.0.2.0/24": "FR", "2001:db8::/32": "DE"})

A value that is a dict is written as the record as it stands (for hostile records: a country
without iso_code, a three-letter code).
"""

import ipaddress
import struct

METADATA_MARKER = b"\xab\xcd\xefMaxMind.com"


def _control(type_number, size):
    """Control byte(s) for a value of `type_number` (1..15) and payload `size`."""
    if size < 29:
        first, extra = size, b""
    elif size < 29 + 256:
        first, extra = 29, bytes([size - 29])
    elif size < 285 + 65536:
        first, extra = 30, struct.pack(">H", size - 285)
    else:
        first, extra = 31, struct.pack(">I", size - 65821)[1:]
    if type_number <= 7:
        return bytes([(type_number << 5) | first]) + extra
    return bytes([first, type_number - 7]) + extra


def _uint(type_number, value):
    payload = value.to_bytes((value.bit_length() + 7) // 8, "big") if value else b""
    return _control(type_number, len(payload)) + payload


def encode(value):
    """The data-section bytes of a Python value."""
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return _control(2, len(raw)) + raw
    if isinstance(value, bool):
        return bytes([0 | (1 if value else 0), 14 - 7])
    if isinstance(value, int):
        if value < 0:
            raise ValueError("negative integers are not needed here")
        return _uint(6 if value < 2**32 else 9, value)
    if isinstance(value, dict):
        out = _control(7, len(value))
        for k, v in value.items():
            out += encode(str(k)) + encode(v)
        return out
    if isinstance(value, (list, tuple)):
        out = _control(11, len(value))
        for v in value:
            out += encode(v)
        return out
    raise TypeError(f"cannot encode {type(value).__name__}")


def _uint16(value):
    return _uint(5, value)


class _Node:
    __slots__ = ("children", "number")

    def __init__(self):
        self.children = [None, None]  # None, a _Node, or ("data", offset)
        self.number = 0


def _bits_of(network):
    net = ipaddress.ip_network(network, strict=True)
    if net.version == 4:
        value, length = int(net.network_address), 96 + net.prefixlen
    else:
        value, length = int(net.network_address), net.prefixlen
    return [(value >> (127 - i)) & 1 for i in range(length)]


def build(networks, build_epoch=1700000000, database_type="Shortlink-Test-Country",
          corrupt_tree=False):
    """The bytes of a database mapping each network of `networks` (text -> country code or a
    record dict). `corrupt_tree`: the root's records point past the data section (a sound file
    whose every lookup fails)."""
    root = _Node()
    data = b""
    offsets = {}
    for network, record in networks.items():
        if not isinstance(record, dict):
            record = {"country": {"iso_code": record}}
        key = repr(sorted(record.items(), key=lambda kv: kv[0])) if record else "{}"
        if key not in offsets:
            offsets[key] = len(data)
            data += encode(record)
        bits = _bits_of(network)
        if not bits:
            raise ValueError("a /0 network is not needed here")
        node = root
        for bit in bits[:-1]:
            child = node.children[bit]
            if not isinstance(child, _Node):
                child = _Node()
                node.children[bit] = child
            node = child
        node.children[bits[-1]] = ("data", offsets[key])
    nodes = []
    queue = [root]
    while queue:
        node = queue.pop(0)
        node.number = len(nodes)
        nodes.append(node)
        queue.extend(c for c in node.children if isinstance(c, _Node))
    count = len(nodes)

    def record_value(child):
        if child is None:
            return count
        if isinstance(child, _Node):
            return child.number
        return count + 16 + child[1]

    tree = bytearray()
    for node in nodes:
        for child in node.children:
            value = record_value(child)
            if corrupt_tree and node is root:
                value = count + 16 + len(data) + 1000
            tree += value.to_bytes(3, "big")
    metadata = {
        "binary_format_major_version": 2,
        "binary_format_minor_version": 0,
        "build_epoch": build_epoch,
        "database_type": database_type,
        "description": {"en": "shortlink test database"},
        "ip_version": 6,
        "languages": ["en"],
        "node_count": count,
        "record_size": 24,
    }
    meta = _control(7, len(metadata))
    for k, v in metadata.items():
        if k in ("binary_format_major_version", "binary_format_minor_version", "ip_version", "record_size"):
            meta += encode(k) + _uint16(v)
        elif k == "build_epoch":
            meta += encode(k) + _uint(9, v)
        else:
            meta += encode(k) + encode(v)
    return bytes(tree) + b"\x00" * 16 + data + METADATA_MARKER + meta


def write_mmdb(path, networks, **kwargs):
    """Writes the database atomically (a temporary file renamed into place, as geoipupdate
    does), so a server watching `path` never maps half a file."""
    import os
    blob = build(networks, **kwargs)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(blob)
    os.replace(tmp, path)
    return path
