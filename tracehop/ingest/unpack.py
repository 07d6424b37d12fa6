"""Compressed call-record files, read as the plain files they hold.

Switches write plain text, but the files a provider keeps are rotated, and logrotate's
``compress`` (with ``delaycompress``) turns yesterday's ``Master.csv.1`` into
``Master.csv.2.gz``: the call asked about in a traceback is often in one. ``tracehop ingest``
takes gzip, bzip2, xz and zstd files (told by their magic bytes, not their names) and reads
what they hold, each decompressed once into a temporary directory beside the others of the run
(``$TMPDIR``; removed when the run ends), so every reader works on a plain file.

What the store records is the plain content: its sha256 is the file's identity, so
``Master.csv.1`` and the ``Master.csv.1.gz`` logrotate makes of it later are the same file
(the second ingest adds nothing), and a compressed copy of a file that was ingested while it
was still growing is read on from where that version ended (:func:`~.run.grown_from`). Legs,
rejects, warnings and errors name the compressed file, as given.

Archives (ZIP, tar) hold several files and are still refused with the command that unpacks
them (:func:`tracehop.ingest.detect.packed_or_wide`).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, Final

from tracehop.errors import TracehopError, UnreadableFileError

#: Magic bytes -> (codec, the command that tests a file of it). gzip: RFC 1952 §2.3.1; bzip2:
#: "BZh" and the block size digit; xz: the stream header magic (xz file format §2.1.1.1); zstd:
#: RFC 8878 §3.1.1.
MAGIC: Final[tuple[tuple[bytes, str, str], ...]] = (
    (b"\x1f\x8b", "gzip", "gzip -t"),
    (b"BZh", "bzip2", "bzip2 -t"),
    (b"\xfd7zXZ\x00", "xz", "xz -t"),
    (b"\x28\xb5\x2f\xfd", "zstd", "zstd -t"),
)
#: Name endings dropped from a decompressed file's name, so that detection and the rotated
#: name rules see the name the switch wrote (Master.csv.2.gz -> Master.csv.2).
SUFFIXES: Final = (".gz", ".gzip", ".z", ".bz2", ".bz", ".xz", ".zst", ".zstd")
_CHUNK: Final = 1 << 20


def compression_of(path: Path) -> str | None:
    """The codec ``path`` is compressed with (``gzip``, ``bzip2``, ``xz``, ``zstd``), or None
    (a plain file, or one that cannot be read: the reader then says why)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(6)
    except OSError:
        return None
    for magic, codec, _ in MAGIC:
        if head.startswith(magic) and (codec != "bzip2" or head[3:4].isdigit()):
            return codec
    return None


def _open(raw: BinaryIO, codec: str) -> Any:
    """A binary reader of what the compressed file ``raw`` holds (a GzipFile, BZ2File,
    LZMAFile or pyarrow stream: file-like, with ``read`` and a context manager). ``raw``'s
    position tells how much of the compressed file has been read (the progress bar's)."""
    if codec == "gzip":
        # every member of a concatenated gzip (RFC 1952 §2.2)
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if codec == "bzip2":
        return bz2.BZ2File(raw, "rb")
    if codec == "xz":
        return lzma.LZMAFile(raw, "rb")
    import pyarrow as pa  # zstd is not in this Python's standard library; pyarrow has it

    return pa.CompressedInputStream(pa.PythonFile(raw, mode="r"), "zstd")


class Unpacked:
    """The plain copies of one ingest run's compressed files. Use as a context manager: the
    copies are removed on exit. ``original`` maps each copy back to the file as named."""

    def __init__(self) -> None:
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self.original: dict[Path, Path] = {}
        self.errors: dict[Path, TracehopError] = {}
        self._dirs: dict[Path, Path] = {}  # an original's directory -> its copies' directory
        self._made = 0

    def __enter__(self) -> Unpacked:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def plain(self, path: Path, grew: Callable[[int], None] | None = None,
              advance: Callable[[int], None] | None = None) -> Path:
        """``path`` itself when it is not compressed, else a plain copy of what it holds.
        A file that cannot be decompressed is returned as it is, its error kept in
        :attr:`errors` (the run reports it as that file's).

        Progress (a bar's total and position, in bytes): decompressing is work of its own,
        counted in compressed bytes, so ``grew(size of the compressed file)`` is called first
        and ``advance(n)`` as its bytes are read (a GB of gzip takes seconds); then
        ``grew(n)`` once more, the copy being ``n`` bytes larger than the compressed file,
        for the reading of the copy."""
        codec = compression_of(path)
        if codec is None:
            return path
        try:
            return self._unpack(path, codec, grew, advance)
        except _NoRoom as e:
            self.errors[path] = UnreadableFileError(
                f"cannot decompress it into {e.where} ({e.cause.strerror or e.cause})",
                path=path, hint="Point TMPDIR at a directory with room for the plain file, or "
                "decompress it yourself and ingest the plain file")
            return path

    def _unpack(self, path: Path, codec: str, grew: Callable[[int], None] | None,
                advance: Callable[[int], None] | None) -> Path:
        try:
            if self._dir is None:
                self._dir = tempfile.TemporaryDirectory(prefix="tracehop-unpacked-")
        except OSError as e:
            raise _NoRoom(e, tempfile.gettempdir()) from e
        name = path.name
        for suffix in SUFFIXES:
            if name.lower().endswith(suffix) and len(name) > len(suffix):
                name = name[: -len(suffix)]
                break
        # The copies of one directory's files share a directory, as rotated captures read as
        # one group must (run._group_of); a name met twice there (a.gz and a.bz2) gets one
        # of its own, as do files of the same name from different directories.
        where = self._dirs.get(path.parent)
        if where is None or (where / name).exists():
            where = Path(self._dir.name) / str(self._made)
            self._made += 1
            try:
                where.mkdir()
            except OSError as e:
                raise _NoRoom(e, self._dir.name) from e
            self._dirs.setdefault(path.parent, where)
        out = where / name
        try:
            try:
                dst = out.open("wb")
            except OSError as e:
                raise _NoRoom(e, self._dir.name) from e
            with dst, path.open("rb") as raw, _open(raw, codec) as src:
                if grew is not None and advance is not None:
                    grew(path.stat().st_size)
                done = 0
                while block := src.read(_CHUNK):
                    try:
                        dst.write(block)
                    except OSError as e:  # the temporary directory's fault, not the file's
                        raise _NoRoom(e, self._dir.name) from e
                    if advance is not None:
                        at = raw.tell()
                        advance(at - done)
                        done = at
        except _NoRoom:
            out.unlink(missing_ok=True)
            raise
        except Exception as e:
            import pyarrow as pa  # its errors for a damaged zstd stream

            if not isinstance(e, (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError,
                                  pa.ArrowException)):
                raise
            out.unlink(missing_ok=True)
            self.errors[path] = _damaged(path, codec, e)
            return path
        if grew is not None:
            grew(out.stat().st_size - path.stat().st_size)
        self.original[out] = path
        return out

    def shown(self, path: Path) -> Path:
        """The file as named for ``path`` (a plain copy's compressed original)."""
        return self.original.get(path, path)

    def rename(self, text: str) -> str:
        """``text`` with every plain copy's path replaced by its compressed original's."""
        for copy, orig in self.original.items():
            text = text.replace(str(copy), str(orig))
        return text


class _NoRoom(Exception):
    """Writing the plain copy failed (a full, missing or read-only temporary directory)."""

    def __init__(self, cause: OSError, where: str) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.where = where


def _damaged(path: Path, codec: str, e: BaseException) -> UnreadableFileError:
    test = next(t for _, c, t in MAGIC if c == codec)
    cut = isinstance(e, EOFError) or "end-of-stream" in str(e) or "truncated" in str(e).lower()
    what = ("ends before its end marker: it is cut short (still being written, or a partial "
            "copy)") if cut else f"cannot be decompressed ({str(e).strip() or type(e).__name__})"
    return UnreadableFileError(
        f"this {codec} file {what}", path=path,
        hint=f"Check it with {test} {path}; ingest it once it is whole, or ingest the plain "
        "file it was made from")
