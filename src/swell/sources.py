"""Input files: compression and layout told from the content (not the name), records streamed.

Layouts:
- `jsonl`: one JSON value per line (twarc, twarc2, Jetstream captures, most exports);
- `json`: JSON documents, possibly pretty-printed or concatenated, or one top-level array
  (an API response saved to a file); streamed item by item with ijson, never loaded whole;
- `text`: anything else: CSV when a column mapping fits it, otherwise lines that are rejected.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import ijson
import orjson
import zstandard

# What a compressed file cut short (a collection killed mid-write) or damaged raises when read.
TRUNCATED_INPUT = (EOFError, gzip.BadGzipFile, zlib.error, zstandard.ZstdError)

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_BOM = b"\xef\xbb\xbf"


_SNIFF_LINES = 20
_SNIFF_LINE_LIMIT = 16 << 20  # a twarc2 page of 100 tweets with includes is ~0.5 MB on one line


def _decompressed(raw: BinaryIO) -> tuple[BinaryIO, str | None]:
    magic = raw.read(4)
    raw.seek(0)
    if magic.startswith(_GZIP_MAGIC):
        return gzip.GzipFile(fileobj=raw), "gzip"
    if magic == _ZSTD_MAGIC:
        return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True), "zstd"
    return raw, None


def sniff_layout(stream: BinaryIO) -> tuple[str, bytes]:
    """`jsonl`, `json` or `text` (CSV, or something unknown) from the first lines of a stream,
    and the first non-blank line (a CSV header, if it is CSV)."""
    lines = []
    for _ in range(_SNIFF_LINES):
        line = stream.readline(_SNIFF_LINE_LIMIT)
        if not line:
            break
        if line.strip():
            lines.append(line.removeprefix(_BOM).strip())
    if not lines:
        return "jsonl", b""  # empty: nothing to read either way
    first = lines[0]
    if first in (b"{", b"[") or (first.startswith(b"[") and not _whole_json(first)):
        return "json", first  # a document over many lines: pretty-printed, or an array one item a line
    if first.startswith((b"{", b"[")):
        return "jsonl", first  # a JSON value a line; a broken line is rejected on its own
    if any(line.startswith(b"{") and _whole_json(line) for line in lines[1:]):
        return "jsonl", first  # JSON lines after a line of something else
    return "text", first


def _whole_json(line: bytes) -> bool:
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True


class _EndAtDamage(io.RawIOBase):
    """A decompressed stream that ends where the compressed data is cut short or damaged, instead of
    raising: what was decompressed up to there is read as usual, and `damage` says why it ended."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        self.damage: Exception | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.damage is not None:
            return 0
        try:
            # Small reads: a decompressor that meets the damage drops what it decoded in that call.
            data = self._stream.read(min(len(buffer), 16384))
        except TRUNCATED_INPUT as exc:
            self.damage = exc
            return 0
        buffer[: len(data)] = data
        return len(data)


class InputFile:
    """An open input: `stream` gives the decompressed bytes, `position()` the bytes read from disk."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        with open(self.path, "rb") as raw:
            sniffed, _ = _decompressed(raw)
            self.layout, self.first_line = sniff_layout(io.BufferedReader(_EndAtDamage(sniffed)))
        self.raw: BinaryIO = open(self.path, "rb")  # noqa: SIM115 - closed by close()
        decompressed, self.compression = _decompressed(self.raw)
        self._decompressed = _EndAtDamage(decompressed) if self.compression else decompressed
        self.stream = io.BufferedReader(self._decompressed, buffer_size=1 << 20)

    @property
    def damage(self) -> Exception | None:
        """Why the compressed data ended before its end marker, if it did."""
        return getattr(self._decompressed, "damage", None)

    def position(self) -> int:
        return self.raw.tell()

    def size(self) -> int:
        return self.path.stat().st_size

    def close(self) -> None:
        self.stream.close()
        self.raw.close()

    def __enter__(self) -> InputFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def lines(self) -> Iterator[bytes]:
        """The raw lines of a `jsonl` input (a leading byte-order mark removed)."""
        first = True
        for line in self.stream:
            if first:
                line = line.removeprefix(_BOM)
                first = False
            yield line

    def json_items(self) -> Iterator[object]:
        """The values of a `json` input: the items of a top-level array, or each top-level document.

        Raises ijson.JSONError where the document stops being valid JSON; what came before is kept.
        """
        prefix = "item" if self.first_line.startswith(b"[") else ""
        if self.stream.peek(3).startswith(_BOM):
            self.stream.read(3)
        yield from ijson.items(self.stream, prefix, multiple_values=True, use_float=True)

    def text(self) -> io.TextIOWrapper:
        """A text view for CSV: UTF-8 (a byte-order mark skipped), undecodable bytes replaced, not fatal."""
        # Kept on the object: a collected TextIOWrapper closes the stream under it.
        self._text = io.TextIOWrapper(self.stream, encoding="utf-8-sig", errors="replace", newline="")
        return self._text
