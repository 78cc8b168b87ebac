"""Backup files forged in Python for the end-to-end tests (formats/SPEC.md "Backups"): the
header with its checksums, and zstd frames of raw or RLE blocks, which need no compressor, so a
test can wrap any bytes in a frame that declares any size."""
import hashlib
import struct

MAGIC = b"\x89SLBACK\n"
HEADER_SIZE = 104
ZSTD_MAGIC = 0xFD2FB528
BLOCK_MAX = 128 * 1024


def header(database_bytes, payload_bytes, database_sha256, version=1, schema_version=0, created_at=0):
    """A header whose own checksum fits."""
    head = MAGIC + struct.pack("<IIQQq", version, schema_version, database_bytes, payload_bytes, created_at)
    head += database_sha256
    return head + hashlib.sha256(head).digest()


def _frame_header(content_size):
    # Frame header descriptor: Single_Segment (bit 5), an 8-byte content size (bits 6-7 = 3).
    return struct.pack("<IBQ", ZSTD_MAGIC, 0xE0, content_size)


def _block(block_type, size, body, last):
    value = (1 if last else 0) | (block_type << 1) | (size << 3)
    return struct.pack("<I", value)[:3] + body


def raw_frame(data):
    """A zstd frame storing `data` in raw blocks."""
    out = bytearray(_frame_header(len(data)))
    chunks = [data[i:i + BLOCK_MAX] for i in range(0, len(data), BLOCK_MAX)] or [b""]
    for n, chunk in enumerate(chunks):
        out += _block(0, len(chunk), chunk, n == len(chunks) - 1)
    return bytes(out)


def rle_frame(byte, size):
    """A zstd frame of `size` copies of `byte` in RLE blocks: 4 bytes per 128 KiB."""
    out = bytearray(_frame_header(size))
    remaining = size
    while True:
        n = min(remaining, BLOCK_MAX)
        remaining -= n
        out += _block(1, n, bytes([byte]), remaining == 0)
        if remaining == 0:
            return bytes(out)


def backup_of(data, **fields):
    """A complete, valid backup holding `data` (raw blocks)."""
    payload = raw_frame(data)
    return header(len(data), len(payload), hashlib.sha256(data).digest(), **fields) + payload
