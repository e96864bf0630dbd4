"""Input files: compression and layout told from the content (not the name), records streamed.

Layouts:
- `jsonl`: one JSON value per line (twarc, twarc2, Jetstream captures, most exports);
- `json`: JSON documents, possibly pretty-printed or concatenated, or one top-level array
  (an API response saved to a file); streamed item by item with ijson, never loaded whole;
- `csv`: anything else, read as CSV with a header and a column mapping.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import ijson
import zstandard

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_BOM = b"\xef\xbb\xbf"


class InputFile:
    """An open input: `stream` gives the decompressed bytes, `position()` the bytes read from disk."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.raw: BinaryIO = open(self.path, "rb")  # noqa: SIM115 - closed by close()
        magic = self.raw.read(4)
        self.raw.seek(0)
        if magic.startswith(_GZIP_MAGIC):
            self.compression = "gzip"
            decompressed: BinaryIO = gzip.GzipFile(fileobj=self.raw)
        elif magic == _ZSTD_MAGIC:
            self.compression = "zstd"
            decompressed = zstandard.ZstdDecompressor().stream_reader(self.raw, read_across_frames=True)
        else:
            self.compression = None
            decompressed = self.raw
        self.stream = io.BufferedReader(decompressed, buffer_size=1 << 20)
        self.layout = self._sniff_layout()

    def _sniff_layout(self) -> str:
        head = self.stream.peek(1 << 16)[: 1 << 16]
        head = head.removeprefix(_BOM).lstrip()
        if head.startswith(b"["):
            return "json"
        if head.startswith(b"{"):
            first_line = head.split(b"\n", 1)[0].strip()
            # A pretty-printed document opens with a line holding only "{"; a JSON-lines file never does.
            return "json" if first_line == b"{" else "jsonl"
        return "csv"

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
        head = self.stream.peek(1 << 16).removeprefix(_BOM).lstrip()
        prefix = "item" if head.startswith(b"[") else ""
        if self.stream.peek(3).startswith(_BOM):
            self.stream.read(3)
        yield from ijson.items(self.stream, prefix, multiple_values=True, use_float=True)

    def text(self) -> io.TextIOWrapper:
        """A text view for CSV: UTF-8 (a byte-order mark skipped), undecodable bytes replaced, not fatal."""
        return io.TextIOWrapper(self.stream, encoding="utf-8-sig", errors="replace", newline="")
