"""The independent archive reader (archive_reader.py) against archives
built here by hand, byte by byte, from the format's description (mongo-tools'
common/archive/spec.md and docs/backup-format.md): a good archive reads back
exactly, and each kind of damage is refused with its offset and reason.

No server and no silo binary are needed; the reader is then used by the
backup tests on silo's own archives."""

import gzip
import io
import struct

import bson
import pytest
from bson.int64 import Int64

import archive_reader as ar

TERM = b"\xff\xff\xff\xff"
MAGIC = bytes.fromhex("6de29981")


def header(**over):
    h = {"concurrent_collections": 1, "version": "0.1",
         "server_version": "7.0.42", "tool_version": "test"}
    h.update(over)
    return bson.encode(h)


def meta(db, coll, **over):
    m = {"db": db, "collection": coll,
         "metadata": ar.metadata_document(
             db, coll, indexes=[{"v": 2, "key": {"_id": 1},
                                 "name": "_id_"}]),
         "size": 0, "type": "collection"}
    m.update(over)
    return bson.encode(m)


def nsh(db, coll, eof=False, crc=0, **over):
    h = {"db": db, "collection": coll, "EOF": eof, "CRC": Int64(crc)}
    h.update(over)
    return bson.encode(h)


def crc_of(docs):
    return ar.crc64_ecma(b"".join(docs))


def signed(crc):
    """The int64 that holds an unsigned CRC (the BSON type is signed)."""
    return crc - (1 << 64) if crc >= 1 << 63 else crc


class Built:
    """An archive as a list of named parts, so a test can ask where one
    starts."""

    def __init__(self):
        self.parts = []

    def add(self, name, data):
        self.parts.append((name, data))
        return self

    def offset(self, name):
        off = 0
        for n, data in self.parts:
            if n == name:
                return off
            off += len(data)
        raise KeyError(name)

    def bytes(self):
        return b"".join(d for _, d in self.parts)


DOCS_A = [bson.encode({"_id": i, "name": f"a{i}"}) for i in range(3)]
DOCS_B = [bson.encode({"_id": bson.ObjectId(), "n": Int64(i), "x": 1.5})
          for i in range(2)]


def good():
    """Two collections interleaved (a: two segments), an empty one the
    way mongodump writes it (an empty segment, then EOF) and an empty one
    with just its EOF."""
    b = Built()
    b.add("magic", MAGIC).add("header", header())
    b.add("meta a", meta("d", "a")).add("meta b", meta("d", "b"))
    b.add("meta e", meta("d", "e")).add("meta f", meta("d", "f"))
    b.add("prelude end", TERM)
    b.add("seg a1", nsh("d", "a")).add("a0", DOCS_A[0])
    b.add("a1", DOCS_A[1]).add("end a1", TERM)
    b.add("seg b", nsh("d", "b")).add("b0", DOCS_B[0])
    b.add("b1", DOCS_B[1]).add("end b", TERM)
    b.add("seg a2", nsh("d", "a")).add("a2", DOCS_A[2]).add("end a2", TERM)
    b.add("eof b", nsh("d", "b", True, signed(crc_of(DOCS_B))))
    b.add("end eof b", TERM)
    b.add("seg e", nsh("d", "e")).add("end e", TERM)
    b.add("eof e", nsh("d", "e", True, 0)).add("end eof e", TERM)
    b.add("eof a", nsh("d", "a", True, signed(crc_of(DOCS_A))))
    b.add("end eof a", TERM)
    b.add("eof f", nsh("d", "f", True, 0)).add("end eof f", TERM)
    return b


def replace(b, name, data):
    b.parts = [(n, data if n == name else d) for n, d in b.parts]
    return b


def remove(b, *names):
    b.parts = [(n, d) for n, d in b.parts if n not in names]
    return b


def insert_after(b, after, name, data):
    i = [n for n, _ in b.parts].index(after)
    b.parts.insert(i + 1, (name, data))
    return b


def refused(data, offset, reason, **kw):
    with pytest.raises(ar.ArchiveError) as e:
        ar.read_archive(data, **kw)
    assert e.value.offset == offset, str(e.value)
    assert reason in e.value.reason, str(e.value)
    assert isinstance(e.value, ValueError)
    assert str(e.value).startswith(f"archive offset {offset}: ")
    return e.value


# -- the CRC ---------------------------------------------------------------

def test_crc64_is_go_ecma():
    # CRC-64/XZ (Go's crc64 with the ECMA table): its catalogued check
    # value, and the empty input.
    assert ar.crc64_ecma(b"123456789") == 0x995DC9BBDF1939FA
    assert ar.crc64_ecma(b"") == 0


def test_crc64_matches_a_real_mongodump():
    # {_id: ObjectId("6b0e211fa69469aad67a015d"), a: 1} and the CRC that
    # mongodump 100.x wrote in its EOF header for a collection holding
    # just that document (read from a real archive, by hand).
    doc = bytes.fromhex("1d000000075f6964006b0e211fa69469aad67a015d"
                        "1061000100000000")
    assert len(doc) == 29
    stored = bytes.fromhex("6e1fd3d73b11f08c")
    assert ar.crc64_ecma(doc) == struct.unpack("<Q", stored)[0]


def test_fast_crc64_agrees_with_the_table():
    for data in (b"", b"123456789", b"".join(DOCS_A + DOCS_B),
                 bytes(range(256)) * 300):
        c = ar.Crc64()
        for i in range(0, len(data), 1000):
            c.update(data[i:i + 1000])
        assert c.value() == ar.crc64_ecma(data)


def test_crc64_update_is_incremental():
    data = b"".join(DOCS_A)
    crc = 0
    for d in DOCS_A:
        crc = ar.crc64_update(crc, d)
    assert crc == ar.crc64_ecma(data)


# -- good archives -----------------------------------------------------------

def test_good_archive_reads_back():
    b = good()
    a = ar.read_archive(b.bytes())
    assert a.header == {"concurrent_collections": 1, "version": "0.1",
                        "server_version": "7.0.42", "tool_version": "test"}
    assert [(n.db, n.collection) for n in a.namespaces] == [
        ("d", "a"), ("d", "b"), ("d", "e"), ("d", "f")]
    assert a.docs == {("d", "a"): DOCS_A, ("d", "b"): DOCS_B,
                      ("d", "e"): [], ("d", "f"): []}
    assert a.counts == {("d", "a"): 3, ("d", "b"): 2, ("d", "e"): 0,
                        ("d", "f"): 0}
    assert a.segments == {("d", "a"): 2, ("d", "b"): 1, ("d", "e"): 1,
                          ("d", "f"): 0}
    assert a.crc == {("d", "a"): crc_of(DOCS_A), ("d", "b"): crc_of(DOCS_B),
                     ("d", "e"): 0, ("d", "f"): 0}
    assert a.data_bytes[("d", "a")] == sum(map(len, DOCS_A))
    assert a.order == [("d", "a"), ("d", "b"), ("d", "a"), ("d", "b"),
                       ("d", "e"), ("d", "e"), ("d", "a"), ("d", "f")]
    assert a.gzipped is False
    assert a.length == len(b.bytes())
    ns = a.namespace("d", "a")
    assert ns.metadata == {"indexes": [{"v": 2, "key": {"_id": 1},
                                        "name": "_id_"}],
                           "collectionName": "a", "type": "collection"}
    assert ns.type == "collection" and ns.size == 0
    assert ns.offset == b.offset("meta a")


def test_metadata_document_is_canonical_extended_json():
    s = ar.metadata_document("d", "c", indexes=[{"v": 2, "key": {"x": 1},
                                                 "name": "x_1"}],
                             options={"capped": True}, uuid="00ff")
    assert s == ('{"options":{"capped":true},"indexes":[{"v":'
                 '{"$numberInt":"2"},"key":{"x":{"$numberInt":"1"}},'
                 '"name":"x_1"}],"uuid":"00ff","collectionName":"c",'
                 '"type":"collection"}')


def test_empty_prelude_and_no_blocks():
    a = ar.read_archive(MAGIC + header() + TERM)
    assert a.namespaces == [] and a.docs == {} and a.order == []


def test_empty_metadata_string_is_accepted():
    b = replace(good(), "meta f", meta("d", "f", metadata=""))
    a = ar.read_archive(b.bytes())
    assert a.namespace("d", "f").metadata == {}
    assert a.namespace("d", "f").metadata_json == ""


def test_int64_crc_with_the_high_bit_set():
    # The CRC is a uint64 stored in BSON's signed int64: find documents
    # whose CRC is >= 2^63 and check the reader compares it unsigned.
    docs = []
    i = 0
    while not docs or crc_of(docs) < 1 << 63:
        docs = [bson.encode({"_id": i})]
        i += 1
    b = Built().add("m", MAGIC).add("h", header()).add("p", meta("d", "a"))
    b.add("t", TERM).add("s", nsh("d", "a")).add("x", docs[0]).add("u", TERM)
    b.add("e", nsh("d", "a", True, signed(crc_of(docs)))).add("v", TERM)
    assert ar.read_archive(b.bytes()).crc[("d", "a")] == crc_of(docs)


def test_gzipped_whole_stream():
    raw = good().bytes()
    gz = gzip.compress(raw)
    for kw in ({}, {"gzip": True}):
        a = ar.read_archive(gz, **kw)
        assert a.gzipped is True
        assert a.docs[("d", "a")] == DOCS_A
        assert a.length == len(raw)


def test_gzip_several_members_like_go():
    # Go's gzip.Reader (mongorestore) reads concatenated members as one
    # stream; so does the reader.
    raw = good().bytes()
    gz = gzip.compress(raw[:100]) + gzip.compress(raw[100:])
    assert ar.read_archive(gz).docs[("d", "b")] == DOCS_B


def test_file_objects_and_keep_docs():
    raw = good().bytes()
    a = ar.read_archive(io.BytesIO(gzip.compress(raw)), keep_docs=False)
    assert a.docs == {}
    assert a.counts[("d", "a")] == 3
    assert a.crc[("d", "b")] == crc_of(DOCS_B)


def test_timeseries_data_is_read_from_system_buckets():
    docs = [bson.encode({"_id": 1, "control": {"version": 1}})]
    b = Built().add("m", MAGIC).add("h", header())
    b.add("p", meta("d", "ts", type="timeseries")).add("t", TERM)
    b.add("s", nsh("d", "system.buckets.ts")).add("x", docs[0])
    b.add("u", TERM)
    b.add("e", nsh("d", "system.buckets.ts", True, signed(crc_of(docs))))
    b.add("v", TERM)
    a = ar.read_archive(b.bytes())
    assert a.namespace("d", "ts").data_collection == "system.buckets.ts"
    assert a.docs[("d", "system.buckets.ts")] == docs


# -- damaged archives: each names its offset and reason -------------------

def test_bad_magic():
    data = bytes.fromhex("6de29982") + good().bytes()[4:]
    refused(data, 0, "magic number is 6de29982, expected 6de29981")


def test_empty_input():
    refused(b"", 0, "stream ends inside the magic number (0 of 4 bytes)")


def test_plain_data_said_to_be_gzip():
    refused(good().bytes(), 0, "expected gzip data (1f8b), found 6de2",
            gzip=True)


def test_truncated_inside_a_document():
    b = good()
    cut = b.offset("a1") + 7
    refused(b.bytes()[:cut], cut, "stream ends inside a document of d.a or "
            "a terminator")


def test_truncated_at_a_block_boundary():
    # Everything before e's segment: b closed; a, e and f never.
    b = good()
    cut = b.offset("seg e")
    e = refused(b.bytes()[:cut], cut, "archive ends before the EOF header "
                "of d.a, d.e, d.f")
    assert "d.b" not in e.reason


def test_truncated_gzip():
    # cut inside the gzip trailer: every byte of the archive came out, but
    # the stream is not whole
    raw = good().bytes()
    gz = gzip.compress(raw)
    refused(gz[:-4], len(raw), "gzip: Compressed file ended before the "
            "end-of-stream marker was reached")


def test_gzip_trailer_crc():
    raw = good().bytes()
    gz = bytearray(gzip.compress(raw))
    gz[-8] ^= 1
    refused(bytes(gz), len(raw), "gzip: CRC check failed")


def test_no_prelude_terminator():
    b = remove(good(), "prelude end")
    # the first segment header is then read as collection metadata
    refused(b.bytes(), b.offset("seg a1"), "collection metadata lacks "
            "'metadata'")


def test_crc_mismatch():
    b = replace(good(), "eof a", nsh("d", "a", True, 12345))
    refused(b.bytes(), b.offset("eof a"), f"CRC mismatch for d.a: the EOF "
            f"header says 12345, the documents give {crc_of(DOCS_A)}")


def test_crc_of_a_changed_document():
    changed = bson.encode({"_id": 1, "name": "A1"})
    assert len(changed) == len(DOCS_A[1])
    b = replace(good(), "a1", changed)
    refused(b.bytes(), b.offset("eof a"), "CRC mismatch for d.a")


def test_block_of_an_unknown_namespace():
    b = replace(good(), "seg b", nsh("d", "zz"))
    refused(b.bytes(), b.offset("seg b"), "block for d.zz, which the "
            "prelude does not list")


def test_block_after_eof():
    b = good()
    insert_after(b, "end eof b", "late b", nsh("d", "b") + DOCS_B[0] + TERM)
    refused(b.bytes(), b.offset("late b"), "block for d.b after its EOF "
            "header")


def test_document_after_an_eof_header():
    b = good()
    insert_after(b, "eof f", "stray", DOCS_A[0])
    refused(b.bytes(), b.offset("stray"), "document after d.f's EOF header")


def test_consecutive_terminators():
    b = good()
    insert_after(b, "end b", "extra", TERM)
    refused(b.bytes(), b.offset("extra"), "terminator where a namespace "
            "header was expected")


def test_length_neither_bson_nor_terminator():
    b = good()
    insert_after(b, "a0", "junk", struct.pack("<I", 3))
    refused(b.bytes(), b.offset("junk"), "3 (0x00000003) is neither a valid "
            "BSON length nor a terminator")


def test_length_over_16_mib():
    b = good()
    insert_after(b, "a0", "junk", struct.pack("<I", 16 * 1024 * 1024 + 1))
    refused(b.bytes(), b.offset("junk"), "16777217 (0x01000001) is neither")


def test_document_without_its_final_zero():
    bad = DOCS_A[1][:-1] + b"\x01"
    b = replace(good(), "a1", bad)
    refused(b.bytes(), b.offset("a1") + len(bad) - 1,
            f"({len(bad)} bytes) does not end with a 0 byte")


def test_document_that_is_not_bson():
    # right length and final 0, but the element type 0x77 does not exist
    bad = struct.pack("<I", 9) + b"\x77x\x00\x00\x00"
    b = replace(good(), "a1", bad)
    refused(b.bytes(), b.offset("a1"), "document 1 of d.a is not valid BSON")


def test_header_format_version():
    b = replace(good(), "header", header(version="0.2"))
    refused(b.bytes(), 4, "format version '0.2', expected '0.1'")


def test_header_server_version_mongorestore_cannot_parse():
    b = replace(good(), "header", header(server_version="FerretDB 1.24"))
    refused(b.bytes(), 4, "server_version 'FerretDB 1.24' is not X.Y.Z")


def test_header_server_version_with_a_build_suffix():
    b = replace(good(), "header", header(server_version="7.0.42-ferretdb"))
    assert ar.read_archive(b.bytes()).header["server_version"] == \
        "7.0.42-ferretdb"


def test_header_missing_field():
    h = bson.encode({"concurrent_collections": 1, "version": "0.1",
                     "server_version": "7.0.42"})
    refused(replace(good(), "header", h).bytes(), 4,
            "the archive header lacks 'tool_version'")


def test_header_unknown_field():
    b = replace(good(), "header", header(extra=1))
    refused(b.bytes(), 4, "the archive header has unknown field(s) 'extra'")


def test_header_concurrent_collections_int64():
    b = replace(good(), "header", header(concurrent_collections=Int64(1)))
    refused(b.bytes(), 4, "concurrent_collections is not an int32")


def test_prelude_namespace_twice():
    b = replace(good(), "meta b", meta("d", "a"))
    refused(b.bytes(), b.offset("meta b"), "namespace d.a is described "
            "twice in the prelude")


def test_prelude_metadata_not_json():
    b = replace(good(), "meta b", meta("d", "b", metadata="{indexes:"))
    refused(b.bytes(), b.offset("meta b"), "d.b: metadata is not Extended "
            "JSON")


def test_prelude_metadata_index_without_key():
    m = '{"indexes":[{"name":"x_1"}],"collectionName":"b"}'
    b = replace(good(), "meta b", meta("d", "b", metadata=m))
    refused(b.bytes(), b.offset("meta b"), "d.b: index 0 of the metadata "
            "lacks key or name")


def test_prelude_metadata_of_another_collection():
    m = ar.metadata_document("d", "zz")
    b = replace(good(), "meta b", meta("d", "b", metadata=m))
    refused(b.bytes(), b.offset("meta b"), "d.b: metadata collectionName "
            "is 'zz'")


def test_prelude_unknown_type():
    b = replace(good(), "meta b", meta("d", "b", type="table"))
    refused(b.bytes(), b.offset("meta b"), "d.b: unknown type 'table'")


def test_prelude_empty_collection_name():
    b = replace(good(), "meta b", meta("d", ""))
    refused(b.bytes(), b.offset("meta b"), "collection metadata with an "
            "empty collection name")


def test_namespace_header_crc_int32():
    h = bson.encode({"db": "d", "collection": "b", "EOF": False, "CRC": 0})
    b = replace(good(), "seg b", h)
    refused(b.bytes(), b.offset("seg b"), "the namespace header's CRC is "
            "not an int64")


def test_namespace_header_without_eof_field():
    h = bson.encode({"db": "d", "collection": "b", "CRC": Int64(0)})
    b = replace(good(), "seg b", h)
    refused(b.bytes(), b.offset("seg b"), "a namespace header lacks 'EOF'")


def test_namespace_header_unknown_field():
    b = replace(good(), "seg b", nsh("d", "b", extra="x"))
    refused(b.bytes(), b.offset("seg b"), "a namespace header has unknown "
            "field(s) 'extra'")


def test_segment_header_with_a_crc():
    b = replace(good(), "seg b", nsh("d", "b", crc=7))
    refused(b.bytes(), b.offset("seg b"), "segment header of d.b carries "
            "CRC 7, expected 0")


def test_the_example_of_backup_format_md():
    # docs/backup-format.md section 1.7, byte for byte: one namespace t.a
    # with the _id index and the document {_id: 1}, 477 bytes.
    m = ('{ "indexes" : [ { "v" : { "$numberInt" : "2" }, "key" : '
         '{ "_id" : { "$numberInt" : "1" } }, "name" : "_id_" } ], '
         '"collectionName" : "a", "type" : "collection" }')
    doc = bytes.fromhex("0e000000105f6964000100000000")
    eof = nsh("t", "a", True, signed(0xf3ea61436a4459fe))
    data = (MAGIC + header(server_version="7.0.77", tool_version="silo 0.1")
            + meta("t", "a", metadata=m, type="collection") + TERM
            + nsh("t", "a") + doc + TERM + eof + TERM)
    assert len(data) == 477
    assert data[0x6c:0x70] == bytes.fromhex("ef000000")
    assert data[0x15b:0x15f] == TERM and data[0x1a1:0x1a5] == TERM
    assert data[0x193:0x1a1] == doc
    assert data[0x1d9:] == TERM
    assert eof[-9:-1] == bytes.fromhex("fe59446a4361eaf3")
    a = ar.read_archive(data)
    assert a.docs == {("t", "a"): [doc]}
    assert a.crc == {("t", "a"): 0xf3ea61436a4459fe}
    assert a.namespace("t", "a").metadata == {
        "indexes": [{"v": 2, "key": {"_id": 1}, "name": "_id_"}],
        "collectionName": "a", "type": "collection"}
    assert a.namespace("t", "a").type == "collection"
