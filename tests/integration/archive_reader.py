"""An independent reader of the mongodump archive format.

Written from mongo-tools' own description of the format (its
common/archive package: spec.md, parser.go, prelude.go, multiplexer.go and
demultiplexer.go) and docs/backup-format.md, never from silo's C code, so
that the tests can check what silo writes with a second implementation.

The format, as `mongodump --archive` writes it and `mongorestore --archive`
reads it:

    archive    = magic header metadata* terminator block*
    magic      = 6d e2 99 81         (0x8199e26d, little-endian)
    header     = {concurrent_collections: int32, version: "0.1",
                  server_version: "X.Y.Z", tool_version: string}
    metadata   = {db, collection, metadata: canonical Extended JSON string
                  (options, indexes, uuid, collectionName, type) or "",
                  size: int, type: "collection" | "view" | "timeseries" | ""}
    terminator = ff ff ff ff
    block      = segment | eof
    segment    = {db, collection, EOF: false, CRC: int64 0} document*
                 terminator
    eof        = {db, collection, EOF: true, CRC: int64 crc} terminator

spec.md says document+ in a segment, but mongodump writes a segment with
no documents for an empty collection (MuxIn.Close always flushes its
buffer, even an empty one, and the multiplexer writes a header for it), so
an empty segment is accepted.

Every BSON value is a document (int32 little-endian length, at least 5 and
at most 16 MiB, ending in a 0 byte).  A collection's documents may be split
over several segments, interleaved with other collections'.  Its EOF
header carries the CRC-64 (ECMA polynomial, as Go's hash/crc64 computes it:
reflected, initial value and final xor all ones -- "CRC-64/XZ") of the
concatenated raw bytes of all its documents; mongorestore refuses the
archive when it differs.  Every collection of the prelude must be closed by
an EOF header before the stream ends, and a collection's data never comes
after its EOF.  mongorestore parses server_version as X.Y.Z (a -build or
+build suffix is cut off first).

`mongodump --archive --gzip` gzips the whole stream (mongodump wraps its
output file in one gzip.Writer; mongorestore wraps its input in one
gzip.Reader, which also accepts several concatenated gzip members).

This reader is stricter than mongorestore where the specification is
precise (unknown fields in the header, the prelude or a namespace header; a
non-zero CRC in a segment header), because its purpose is to show that a
writer produces exactly the format.  Every failure is a ValueError
(ArchiveError) naming the offset in the (decompressed) archive stream and
what was wrong.

    >>> a = read_archive(open("dump.archive.gz", "rb"))
    >>> a.header["server_version"], [ns.collection for ns in a.namespaces]
    >>> len(a.docs[("aesthetic", "users")]), a.crc[("aesthetic", "users")]
"""

import gzip as _gzip
import io
import json
import lzma
import re
import struct
import zlib
from dataclasses import dataclass, field

import bson
from bson import json_util
from bson.int64 import Int64

MAGIC = 0x8199E26D
MAGIC_BYTES = struct.pack("<I", MAGIC)
TERMINATOR = 0xFFFFFFFF
TERMINATOR_BYTES = struct.pack("<I", TERMINATOR)
FORMAT_VERSION = "0.1"
MIN_BSON = 5                    # an empty document
MAX_BSON = 16 * 1024 * 1024     # mongo-tools' db.MaxBSONSize
GZIP_MAGIC = b"\x1f\x8b"

# Go's crc64.MakeTable(crc64.ECMA): the ECMA-182 polynomial, reflected.
_ECMA_POLY = 0xC96C5795D7870F42
_MASK64 = 0xFFFFFFFFFFFFFFFF


def _make_table():
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ _ECMA_POLY if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _make_table()


def crc64_update(crc, data):
    """Continue a CRC-64-ECMA over data, exactly as Go's hash/crc64 Update
    with the ECMA table does (crc is the previous Sum64, 0 to start)."""
    table = _TABLE
    crc ^= _MASK64
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ _MASK64


def crc64_ecma(data):
    """The CRC-64 that mongodump puts in a namespace's EOF header, of
    data (the concatenated raw documents)."""
    return crc64_update(0, data)


class Crc64:
    """A running CRC-64-ECMA, fast: CRC-64/XZ is the integrity check of
    the xz format, so liblzma (C) computes it while it compresses into an
    .xz stream we throw away, and the check is read back from the stream's
    end: ... block | check (8 bytes) | index | footer (12 bytes, whose
    bytes 4-7 give the index size / 4 - 1).  About 4 times faster than
    crc64_update in Python; the tests check that both agree."""

    def __init__(self):
        self.fed = False
        self.lz = lzma.LZMACompressor(
            format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64,
            filters=[{"id": lzma.FILTER_LZMA2, "preset": 0}])

    def update(self, data):
        if data:
            self.fed = True
            self.lz.compress(data)

    def value(self):
        tail = self.lz.flush()
        if not self.fed:
            return 0    # an .xz stream without blocks has no check
        (backward,) = struct.unpack_from("<I", tail, len(tail) - 8)
        end = len(tail) - 12 - (backward + 1) * 4
        return struct.unpack_from("<Q", tail, end - 8)[0]


class ArchiveError(ValueError):
    """The archive is not what mongodump writes: offset is where in the
    (decompressed) stream the problem was found."""

    def __init__(self, offset, message):
        super().__init__(f"archive offset {offset}: {message}")
        self.offset = offset
        self.reason = message


@dataclass
class Namespace:
    """One collection as the prelude describes it."""
    db: str
    collection: str
    metadata: dict          # the parsed metadata ({} when it was "")
    metadata_json: str      # the metadata string exactly as stored
    size: int
    type: str
    data_collection: str    # the collection its blocks are tagged with
    offset: int             # where its prelude document starts


@dataclass
class Archive:
    """What read_archive found."""
    header: dict
    namespaces: list
    docs: dict = field(default_factory=dict)      # (db, coll) -> [bytes]
    counts: dict = field(default_factory=dict)    # (db, coll) -> int
    crc: dict = field(default_factory=dict)       # (db, coll) -> int
    segments: dict = field(default_factory=dict)  # (db, coll) -> int
    data_bytes: dict = field(default_factory=dict)  # (db, coll) -> int
    order: list = field(default_factory=list)     # (db, coll) per block
    gzipped: bool = False
    length: int = 0          # bytes of the decompressed stream

    def namespace(self, db, collection):
        for ns in self.namespaces:
            if (ns.db, ns.collection) == (db, collection):
                return ns
        raise KeyError(f"{db}.{collection}")


class _Stream:
    """A binary stream that knows its offset and reports a short read as
    an ArchiveError."""

    def __init__(self, f):
        self.f = f
        self.offset = 0

    def read(self, n, what):
        data = self.f.read(n)
        if len(data) != n:
            raise ArchiveError(self.offset + len(data),
                               f"stream ends inside {what} "
                               f"({len(data)} of {n} bytes)")
        self.offset += n
        return data


def _server_version_ok(v):
    """mongorestore parses server_version with db.StrToVersion: three
    dot-separated integers, after cutting a -build or +build suffix."""
    core = v.split("-", 1)[0].split("+", 1)[0]
    return re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", core) is not None


def _version_tuple(v):
    core = v.split("-", 1)[0].split("+", 1)[0]
    return tuple(int(p) for p in core.split("."))


class _Reader:
    def __init__(self, f, keep_docs, check_bson):
        self.s = _Stream(f)
        self.buf = b""
        self.keep_docs = keep_docs
        self.check_bson = check_bson

    # -- low level: one length word, one document ------------------------

    def _take(self, n, what):
        if self.buf:
            head, self.buf = self.buf[:n], self.buf[n:]
            self.s.offset += len(head)
            if len(head) == n:
                return head
            return head + self.s.read(n - len(head), what)
        return self.s.read(n, what)

    def _eof(self):
        if self.buf:
            return False
        data = self.s.f.read(1)
        if not data:
            return True
        self.buf = data
        return False

    def word_or_doc(self, what):
        """(offset, None) for a terminator, (offset, raw bytes) for a BSON
        document, as parser.go's readBSONOrTerminator."""
        start = self.s.offset
        lb = self._take(4, f"the length of {what}")
        (size,) = struct.unpack("<I", lb)
        if size == TERMINATOR:
            return start, None
        if size < MIN_BSON or size > MAX_BSON:
            raise ArchiveError(start, f"{size} (0x{size:08x}) is neither a "
                               f"valid BSON length nor a terminator, where "
                               f"{what} was expected")
        body = self._take(size - 4, f"{what} ({size} bytes)")
        raw = lb + body
        if raw[-1] != 0:
            raise ArchiveError(start + size - 1, f"{what} ({size} bytes) "
                               f"does not end with a 0 byte")
        return start, raw

    def decode(self, raw, start, what):
        try:
            return bson.decode(raw)
        except Exception as e:  # bson raises several types
            raise ArchiveError(start, f"{what} is not valid BSON: {e}")

    # -- the prelude -----------------------------------------------------

    def magic(self):
        m = self._take(4, "the magic number")
        if m != MAGIC_BYTES:
            raise ArchiveError(0, f"magic number is {m.hex()}, expected "
                               f"{MAGIC_BYTES.hex()}: not a mongodump "
                               f"archive")

    def header(self):
        start, raw = self.word_or_doc("the archive header")
        if raw is None:
            raise ArchiveError(start, "terminator where the archive header "
                               "was expected")
        h = self.decode(raw, start, "the archive header")
        _fields(h, start, "the archive header", {
            "concurrent_collections": int, "version": str,
            "server_version": str, "tool_version": str})
        if type(h["concurrent_collections"]) is not int:
            raise ArchiveError(start, "concurrent_collections is not an "
                               "int32")
        if h["version"] != FORMAT_VERSION:
            raise ArchiveError(start, f"format version {h['version']!r}, "
                               f"expected {FORMAT_VERSION!r}")
        if not _server_version_ok(h["server_version"]):
            raise ArchiveError(start, f"server_version "
                               f"{h['server_version']!r} is not X.Y.Z "
                               f"(mongorestore cannot parse it)")
        if h["concurrent_collections"] < 0:
            raise ArchiveError(start, "concurrent_collections is negative")
        return h

    def prelude(self, header):
        namespaces, seen = [], set()
        new_ts = _version_tuple(header["server_version"]) >= (8, 3, 0)
        while True:
            start, raw = self.word_or_doc("collection metadata or the "
                                          "prelude's terminator")
            if raw is None:
                return namespaces
            d = self.decode(raw, start, "collection metadata")
            _fields(d, start, "collection metadata", {
                "db": str, "collection": str, "metadata": str, "size": int,
                "type": str})
            if not d["collection"]:
                raise ArchiveError(start, "collection metadata with an "
                                   "empty collection name")
            key = (d["db"], d["collection"])
            if key in seen:
                raise ArchiveError(start, f"namespace {_ns(key)} is "
                                   f"described twice in the prelude")
            seen.add(key)
            if d["type"] not in ("", "collection", "view", "timeseries"):
                raise ArchiveError(start, f"{_ns(key)}: unknown type "
                                   f"{d['type']!r}")
            meta = {}
            if d["metadata"]:
                try:
                    meta = json_util.loads(d["metadata"])
                except Exception as e:  # json or bson's own errors
                    raise ArchiveError(start, f"{_ns(key)}: metadata is not "
                                       f"Extended JSON: {e}")
                if not isinstance(meta, dict):
                    raise ArchiveError(start, f"{_ns(key)}: metadata is not "
                                       f"a JSON object")
                _check_metadata(meta, d, start)
            data_coll = d["collection"]
            if d["type"] == "timeseries" and not new_ts:
                data_coll = "system.buckets." + data_coll
            namespaces.append(Namespace(
                db=d["db"], collection=d["collection"], metadata=meta,
                metadata_json=d["metadata"], size=d["size"], type=d["type"],
                data_collection=data_coll, offset=start))

    # -- the blocks ------------------------------------------------------

    def blocks(self, archive):
        by_data = {(ns.db, ns.data_collection): ns
                   for ns in archive.namespaces}
        state = {k: "unopened" for k in by_data}
        crcs = {k: Crc64() for k in by_data}
        for k in by_data:
            archive.counts[k] = 0
            archive.segments[k] = 0
            archive.data_bytes[k] = 0
            if self.keep_docs:
                archive.docs[k] = []
        while not self._eof():
            start, raw = self.word_or_doc("a namespace header")
            if raw is None:
                raise ArchiveError(start, "terminator where a namespace "
                                   "header was expected (consecutive "
                                   "terminators / headerless block)")
            h = self.decode(raw, start, "a namespace header")
            _fields(h, start, "a namespace header", {
                "db": str, "collection": str, "EOF": bool, "CRC": int})
            if not isinstance(h["CRC"], Int64):
                raise ArchiveError(start, "the namespace header's CRC is not "
                                   "an int64")
            key = (h["db"], h["collection"])
            if not h["collection"]:
                raise ArchiveError(start, "namespace header without a "
                                   "collection")
            if key not in by_data:
                raise ArchiveError(start, f"block for {_ns(key)}, which the "
                                   f"prelude does not list")
            if state[key] == "closed":
                raise ArchiveError(start, f"block for {_ns(key)} after its "
                                   f"EOF header")
            archive.order.append(key)
            if h["EOF"]:
                got = h["CRC"] & _MASK64
                want = crcs[key].value()
                if got != want:
                    raise ArchiveError(start, f"CRC mismatch for {_ns(key)}:"
                                       f" the EOF header says {got}, the "
                                       f"documents give {want}")
                state[key] = "closed"
                archive.crc[key] = got
                end, raw = self.word_or_doc(f"the terminator after "
                                            f"{_ns(key)}'s EOF header")
                if raw is not None:
                    raise ArchiveError(end, f"document after {_ns(key)}'s "
                                       f"EOF header (collection data without "
                                       f"a collection header)")
                continue
            if h["CRC"] != 0:
                raise ArchiveError(start, f"segment header of {_ns(key)} "
                                   f"carries CRC {h['CRC']}, expected 0")
            state[key] = "open"
            archive.segments[key] += 1
            while True:
                dstart, raw = self.word_or_doc(f"a document of {_ns(key)} "
                                               f"or a terminator")
                if raw is None:
                    break
                if self.check_bson:
                    self.decode(raw, dstart, f"document {archive.counts[key]}"
                                f" of {_ns(key)}")
                crcs[key].update(raw)
                archive.counts[key] += 1
                archive.data_bytes[key] += len(raw)
                if self.keep_docs:
                    archive.docs[key].append(raw)
        missing = [k for k, v in state.items() if v != "closed"]
        if missing:
            raise ArchiveError(self.s.offset, "archive ends before the EOF "
                               "header of " + ", ".join(map(_ns, missing)))
        archive.length = self.s.offset


def _ns(key):
    return f"{key[0]}.{key[1]}"


def _fields(doc, offset, what, spec):
    """doc has exactly spec's keys, each of its Python type."""
    for k, typ in spec.items():
        if k not in doc:
            raise ArchiveError(offset, f"{what} lacks {k!r}")
        v = doc[k]
        ok = isinstance(v, typ) and not (typ is int and isinstance(v, bool))
        if not ok:
            raise ArchiveError(offset, f"{what}: {k!r} is "
                               f"{type(v).__name__}, expected "
                               f"{typ.__name__}")
    extra = [k for k in doc if k not in spec]
    if extra:
        raise ArchiveError(offset, f"{what} has unknown field(s) "
                           f"{', '.join(map(repr, extra))}")


def _check_metadata(meta, d, offset):
    """What mongorestore needs of the metadata: indexes a list of index
    specs with key and name; options a document; collectionName, when
    present, the collection."""
    key = (d["db"], d["collection"])
    idx = meta.get("indexes", [])
    if not isinstance(idx, list):
        raise ArchiveError(offset, f"{_ns(key)}: metadata indexes is not a "
                           f"list")
    for i, spec in enumerate(idx):
        if not isinstance(spec, dict) or "key" not in spec \
                or "name" not in spec:
            raise ArchiveError(offset, f"{_ns(key)}: index {i} of the "
                               f"metadata lacks key or name")
    if "options" in meta and not isinstance(meta["options"], dict):
        raise ArchiveError(offset, f"{_ns(key)}: metadata options is not a "
                           f"document")
    name = meta.get("collectionName")
    if name is not None and name != d["collection"]:
        raise ArchiveError(offset, f"{_ns(key)}: metadata collectionName is "
                           f"{name!r}")


def _open(src, gz):
    """A binary file object over the archive stream, gunzipped when gz is
    True (or, with gz None, when the data starts with gzip's magic)."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        f = io.BytesIO(bytes(src))
    else:
        f = src
    if not hasattr(f, "peek"):
        f = io.BufferedReader(f) if hasattr(f, "readinto") else f
    head = f.peek(2)[:2] if hasattr(f, "peek") else b""
    if gz is None:
        gz = head == GZIP_MAGIC
    if gz:
        if head != GZIP_MAGIC:
            raise ArchiveError(0, f"expected gzip data (1f8b), found "
                               f"{head.hex() or 'nothing'}")
        return _gzip.GzipFile(fileobj=f, mode="rb"), True
    return f, False


def read_archive(src, gzip=None, keep_docs=True, check_bson=True):
    """Parse and validate a mongodump archive.

    src: bytes, or a binary file object.  gzip: True (the stream is
    gzipped, as `--archive --gzip` writes it), False (plain), None (decide
    from the first two bytes).  keep_docs: keep every document's raw bytes
    in Archive.docs (otherwise only counts, CRCs and sizes).  check_bson:
    decode every document to check it is valid BSON.

    Returns an Archive; raises ArchiveError (a ValueError) naming the offset
    in the decompressed stream and what was wrong."""
    f, gz = _open(src, gzip)
    r = _Reader(f, keep_docs, check_bson)
    try:
        r.magic()
        header = r.header()
        archive = Archive(header=header, namespaces=r.prelude(header),
                          gzipped=gz)
        r.blocks(archive)
    except (OSError, EOFError, zlib.error) as e:
        # gzip: a truncated or corrupt compressed stream
        raise ArchiveError(r.s.offset, f"gzip: {e}") from e
    return archive


def metadata_document(db, collection, indexes=None, options=None,
                      uuid=None, type_="collection"):
    """The metadata string mongodump writes for a collection: canonical
    Extended JSON of {options?, indexes, uuid?, collectionName, type}."""
    meta = {}
    if options:
        meta["options"] = options
    meta["indexes"] = indexes or []
    if uuid:
        meta["uuid"] = uuid
    meta["collectionName"] = collection
    if type_:
        meta["type"] = type_
    return json_util.dumps(
        meta, json_options=json_util.CANONICAL_JSON_OPTIONS,
        separators=(",", ":"))


def describe(archive):
    """A short human summary (for a manual check)."""
    lines = [json.dumps(archive.header)]
    for ns in archive.namespaces:
        k = (ns.db, ns.data_collection)
        lines.append(f"{_ns(k)}: {archive.counts[k]} docs in "
                     f"{archive.segments[k]} segment(s), "
                     f"{archive.data_bytes[k]} bytes, crc {archive.crc[k]}, "
                     f"{len(ns.metadata.get('indexes', []))} index(es)")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys
    with open(sys.argv[1], "rb") as fh:
        print(describe(read_archive(fh, keep_docs=False)))
