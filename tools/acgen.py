#!/usr/bin/env python3
"""acgen: a deterministic, made-up Aesthetic Computer data set.

    acgen.py backup OUTDIR [--scale 0.01] [--seed 1] [--layout array|ndjson]
                           [--ejson canonical|relaxed]
    acgen.py spaces OUTDIR [--scale 0.01] [--seed 1] [--huge]
    acgen.py counts [--scale 1]

`backup` writes AC's MongoDB JSON backup as the migration report describes
it (docs: mongodb-migration-report.md §6): `_manifest.json` plus one
`<collection>.json` per collection, in any of the plausible formats (a JSON
array or NDJSON; canonical or relaxed Extended JSON v2).  `spaces` writes
the matching DigitalOcean Spaces objects (ac-platform.md §7) as files plus
`_objects.ndjson`, derived from the same user pool.

Standard library only.  Nothing here is real: subs, DIDs, handles, texts,
secrets and bytes are invented; e-mail addresses use example.invalid.

Determinism: every random choice comes from a random.Random seeded with a
string derived from (seed, collection or purpose); string seeds go through
SHA-512, so PYTHONHASHSEED does not matter.  No wall clock is read: all
times lie in a fixed window ending at the report's date.  The same
arguments give byte-identical output.

Memory: documents are generated and written one at a time.  Only small
key lists (user pool, kidlisp codes, tape and news keys) are held.

Importable: `collection_counts(scale)`, `generate_backup(...)`,
`iter_collection(...)`, `generate_spaces(...)`, `build_world(...)`.
"""

import argparse
import hashlib
import json
import os
import random
import sys
import time

VERSION = 1
DATABASE = "aesthetic"

# ------------------------------------------------------------------ counts
#
# Document counts at scale 1.  Source: the MongoDB migration report
# (mongodb-migration-report.md, 2026-02-10), §1 "What's Actually Stored"
# and §4 "Collections to DROP"; its §6 backup listing repeats the named
# counts.  The report names these counts outright:
#   boots 25,513 · logs 2,320 · bundle-telemetry 440 · oven-grabs 30,560
#   oven-bakes 30 · oven-cache 1,362 · oven-frozen-pieces 307
#   chat-system 17,853 · chat-clock 13,465 · kidlisp 14,189 · moods 2,874
#   paintings 4,358 · users 4,217 · @handles 2,773 · verifications 3,876
#   false.work-builds 23 · false.work-reports 2 · jas-tags 10
#   jas-stretched-paintings 1
# and these category totals (§1 table):
#   logs/telemetry 60,225 (boots, logs, bundle-telemetry, oven-grabs,
#                          oven-bakes, oven-cache: exactly the named sum)
#   chat 31,612 (chat-system, chat-clock, chat-sotce + 3 mute tables)
#   user content 22,083 (kidlisp, paintings, pieces, moods, tapes, clocks)
#   users/auth 10,872 (users, @handles, verifications, secrets)
#   social/misc 4,284 (sotce-*, news-*, piece-hits, tickets, products, etc.)
# Every count below not in the first list is invented so that each
# category total holds exactly and there are 38 collections.  The report's
# §4 schema names the remaining tables (sotce_pages/touches/asks,
# news_posts/comments/votes, piece_hits, piece_user_hits, tickets,
# products, the three chat_mutes instances).  oven-frozen-pieces, the
# false.work-* and jas-* tables and kidlisp-logs (ac-platform.md §6, TTL
# 30 d) are counted in social/misc's "etc.": the logs/telemetry total is
# exactly its six named collections, so they cannot be there.
#
# Note: the five category totals add up to 129,076, which the report
# rounds to "~128,000".  With the named counts exact that is the total.
COUNTS = {
    # logs/telemetry: 60,225
    "boots": 25513,
    "logs": 2320,
    "bundle-telemetry": 440,
    "oven-grabs": 30560,
    "oven-bakes": 30,
    "oven-cache": 1362,
    # chat: 31,612
    "chat-system": 17853,
    "chat-clock": 13465,
    "chat-sotce": 241,          # invented
    "chat-system-mutes": 38,    # invented
    "chat-clock-mutes": 9,      # invented
    "chat-sotce-mutes": 6,      # invented
    # user content: 22,083
    "kidlisp": 14189,
    "paintings": 4358,
    "moods": 2874,
    "pieces": 263,              # invented
    "tapes": 318,               # invented
    "clocks": 81,               # invented
    # users/auth: 10,872
    "users": 4217,
    "@handles": 2773,
    "verifications": 3876,
    "secrets": 6,               # invented (10,872 - the three named)
    # social/misc: 4,284
    "oven-frozen-pieces": 307,
    "false.work-builds": 23,
    "false.work-reports": 2,
    "jas-tags": 10,
    "jas-stretched-paintings": 1,
    "kidlisp-logs": 52,         # invented
    "sotce-pages": 612,         # invented
    "sotce-touches": 1105,      # invented
    "sotce-asks": 74,           # invented
    "news-posts": 96,           # invented
    "news-comments": 181,       # invented
    "news-votes": 402,          # invented
    "piece-hits": 318,          # invented
    "piece-user-hits": 1072,    # invented
    "tickets": 17,              # invented
    "products": 12,             # invented
}

# The report's five categories (§1 table), as the report counts them.
CATEGORIES = {
    "logs/telemetry": ["boots", "logs", "bundle-telemetry", "oven-grabs",
                       "oven-bakes", "oven-cache"],
    "chat": ["chat-system", "chat-clock", "chat-sotce", "chat-system-mutes",
             "chat-clock-mutes", "chat-sotce-mutes"],
    "user content": ["kidlisp", "paintings", "moods", "pieces", "tapes",
                     "clocks"],
    "users/auth": ["users", "@handles", "verifications", "secrets"],
    "social/misc": ["oven-frozen-pieces", "false.work-builds",
                    "false.work-reports", "jas-tags",
                    "jas-stretched-paintings", "kidlisp-logs", "sotce-pages",
                    "sotce-touches", "sotce-asks", "news-posts",
                    "news-comments", "news-votes", "piece-hits",
                    "piece-user-hits", "tickets", "products"],
}
CATEGORY_TOTALS = {"logs/telemetry": 60225, "chat": 31612,
                   "user content": 22083, "users/auth": 10872,
                   "social/misc": 4284}

# Exceptions to max(1, round(count * scale)): secrets are named documents
# (the three the reference names, at least; never more than the six).
MIN_COUNTS = {"secrets": 3}
MAX_COUNTS = {"secrets": 6}


def collection_counts(scale=1.0):
    """{collection: count} at this scale: max(1, round(count * scale)),
    except secrets (between 3 and 6)."""
    out = {}
    for name, n in COUNTS.items():
        c = max(MIN_COUNTS.get(name, 1), int(round(n * scale)))
        out[name] = min(c, MAX_COUNTS.get(name, c))
    return out


# ------------------------------------------------------------------ indexes
#
# As listIndexes gives them (minus "v").  AC's real indexes where the
# reference names them (ac-platform.md §6); the rest are what the reads
# in AC's code would need.  Every unique index holds in the generated data.


def _ix(*fields, unique=False, sparse=False, ttl=None):
    key = {}
    for f in fields:
        if f.startswith("-"):
            key[f[1:]] = -1
        else:
            key[f] = 1
    spec = {"name": "_".join(f"{k}_{v}" for k, v in key.items()),
            "key": key}
    if unique:
        spec["unique"] = True
    if sparse:
        spec["sparse"] = True
    if ttl is not None:
        spec["expireAfterSeconds"] = ttl
    return spec


THIRTY_DAYS = 30 * 86400

INDEXES = {
    "boots": [_ix("bootId", unique=True), _ix("-createdAt")],
    "logs": [_ix("when")],
    "bundle-telemetry": [_ix("-createdAt")],
    "oven-grabs": [_ix("grabId", unique=True), _ix("piece", "-completedAt")],
    "oven-bakes": [_ix("code"), _ix("-createdAt")],
    "oven-cache": [_ix("key", unique=True)],
    "chat-system": [_ix("when")],
    "chat-clock": [_ix("when")],
    "chat-sotce": [_ix("when")],
    "chat-system-mutes": [_ix("user", unique=True)],
    "chat-clock-mutes": [_ix("user", unique=True)],
    "chat-sotce-mutes": [_ix("user", unique=True)],
    "kidlisp": [_ix("code", unique=True), _ix("hash", unique=True),
                _ix("user"), _ix("-when")],
    "paintings": [_ix("code", unique=True, sparse=True), _ix("user"),
                  _ix("when"), _ix("slug"),
                  _ix("slug", "user", unique=True)],
    "moods": [_ix("user"), _ix("-when")],
    "pieces": [_ix("code", unique=True, sparse=True), _ix("user"),
               _ix("when"), _ix("slug", "user", unique=True)],
    "tapes": [_ix("code", unique=True), _ix("user"), _ix("when")],
    "clocks": [_ix("code", unique=True), _ix("hash", unique=True)],
    "users": [_ix("code", unique=True, sparse=True),
              _ix("atproto.did", sparse=True)],
    "@handles": [_ix("handle", unique=True)],
    "verifications": [],
    "secrets": [],
    "oven-frozen-pieces": [_ix("code", unique=True)],
    "false.work-builds": [],
    "false.work-reports": [],
    "jas-tags": [],
    "jas-stretched-paintings": [],
    "kidlisp-logs": [_ix("createdAt", ttl=THIRTY_DAYS)],
    "sotce-pages": [_ix("user")],
    "sotce-touches": [_ix("user", "page", unique=True)],
    "sotce-asks": [],
    "news-posts": [_ix("code", unique=True), _ix("-when")],
    "news-comments": [_ix("postCode", "when")],
    "news-votes": [_ix("itemType", "itemId", "user", unique=True)],
    "piece-hits": [_ix("piece", unique=True)],
    "piece-user-hits": [_ix("piece", "user", unique=True)],
    "tickets": [],
    "products": [],
}


def indexes_for(name):
    return [{"name": "_id_", "key": {"_id": 1}}] + INDEXES[name]


# ------------------------------------------------------------------ EJSON
#
# Documents are built directly in their Extended JSON form, through a
# codec that knows the mode, so json's C encoder writes each one in a
# single call.  The codec never draws random numbers, so both modes see
# the same random stream and decode to the same BSON.


def _iso(ms):
    s, m = divmod(ms, 1000)
    t = time.gmtime(s)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (
        t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, m)


MIN_RELAXED_MS = 0                       # 1970-01-01T00:00:00.000Z
MAX_RELAXED_MS = 253402300799999         # 9999-12-31T23:59:59.999Z


class Canonical:
    name = "canonical"

    @staticmethod
    def i32(n):
        return {"$numberInt": str(n)}

    @staticmethod
    def i64(n):
        return {"$numberLong": str(n)}

    @staticmethod
    def dbl(x):
        return {"$numberDouble": repr(float(x))}

    @staticmethod
    def date(ms):
        return {"$date": {"$numberLong": str(ms)}}

    @staticmethod
    def oid(h):
        return {"$oid": h}


class Relaxed:
    name = "relaxed"

    @staticmethod
    def i32(n):
        return n

    @staticmethod
    def i64(n):
        # Kept as $numberLong: a plain number would come back as an Int32
        # when it fits, and the relaxed and canonical files would differ.
        return {"$numberLong": str(n)}

    @staticmethod
    def dbl(x):
        # json writes float repr: 2.0 stays "2.0", so it stays a double.
        return float(x)

    @staticmethod
    def date(ms):
        if MIN_RELAXED_MS <= ms <= MAX_RELAXED_MS:
            return {"$date": _iso(ms)}
        return {"$date": {"$numberLong": str(ms)}}

    @staticmethod
    def oid(h):
        return {"$oid": h}


CODECS = {"canonical": Canonical, "relaxed": Relaxed}

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"),
                            check_circular=False, allow_nan=False)
encode_document = _encoder.encode


# ------------------------------------------------------------------ time

def _ms(y, mo, d, h=0, mi=0, s=0):
    import calendar
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) * 1000


END = _ms(2026, 2, 10)          # the report's date: nothing is later
DAY = 86400000


def timeline(rng, n, start, end, power=0.6):
    """n strictly increasing ms times in [start, end), denser recently."""
    span = end - start
    prev = start - 1
    for i in range(n):
        x = (i + rng.random()) / n
        # 1 - (1-x)^(1/power): with power < 1, denser towards `end`.
        t = start + int(span * (1.0 - (1.0 - x) ** (1.0 / power)))
        if t <= prev:
            t = prev + 1
        prev = t
        yield t


def ac_slug(ms):
    """AC's painting/tape slug: 2023.8.24.16.22.54.193 (no zero padding)."""
    s, m = divmod(ms, 1000)
    t = time.gmtime(s)
    return "%d.%d.%d.%d.%d.%d.%d" % (t.tm_year, t.tm_mon, t.tm_mday,
                                     t.tm_hour, t.tm_min, t.tm_sec, m)


# ------------------------------------------------------------------ ids

B32S = "234567abcdefghijklmnopqrstuvwxyz"          # ATProto sortable base32
B32 = "abcdefghijklmnopqrstuvwxyz234567"           # did:plc alphabet
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
NANO = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-"
HEX = "0123456789abcdef"


def rstr(rng, alphabet, n):
    return "".join(rng.choice(alphabet) for _ in range(n))


def tid(ms, rng):
    """An ATProto TID (record key) for a time: 53-bit µs + 10-bit clock."""
    v = ((ms * 1000 + rng.randrange(1000)) << 10) | rng.randrange(1024)
    out = []
    for _ in range(13):
        out.append(B32S[v & 31])
        v >>= 5
    return "".join(reversed(out))


def cid(rng):
    return "bafyrei" + rstr(rng, B32, 52)


class ObjectIds:
    """ObjectIds as a few long-running writers would make them: the time
    of the document, a 5-byte per-process value and a 3-byte counter."""

    def __init__(self, rng):
        self.rng = rng
        self.proc = rng.getrandbits(40)
        self.counter = rng.getrandbits(24)
        self.left = rng.randrange(200, 3000)

    def __call__(self, ms):
        self.left -= 1
        if self.left <= 0:          # a redeploy: a new process value
            self.proc = self.rng.getrandbits(40)
            self.left = self.rng.randrange(200, 3000)
        self.counter = (self.counter + 1) & 0xFFFFFF
        return "%08x%010x%06x" % (ms // 1000, self.proc, self.counter)


def unique_code(rng, seen, alphabet=ALNUM, length=3, tries=6):
    """A short code not in `seen` (added to it); longer when crowded."""
    while True:
        for _ in range(tries):
            c = rstr(rng, alphabet, length)
            if c not in seen:
                seen.add(c)
                return c
        length += 1


def _rng(seed, *parts):
    return random.Random("acgen/%s/%s" % (seed, "/".join(map(str, parts))))


# ------------------------------------------------------------------ vocab

SYL = ["ka", "ri", "mo", "tu", "ne", "la", "zo", "pi", "ve", "da", "shi",
       "ro", "mi", "ku", "be", "ta", "no", "fe", "lu", "ja", "wen", "bo",
       "sa", "ti", "gu", "or", "el", "an", "ix", "yo", "pa", "qu"]
UNICODE_HANDLES = ["müller", "日本", "café", "zoë", "ñandú", "ひかり",
                   "øystein", "straße", "niño", "ålesund", "söze", "łukasz",
                   "şeker", "дима", "λambda", "한글"]
TLDS = ["com", "net", "org", "io", "art", "xyz"]
COUNTRIES = [("US", "CA", "Los Angeles"), ("US", "NY", "New York"),
             ("US", "IL", "Chicago"), ("US", "TX", "Austin"),
             ("GB", "ENG", "London"), ("DE", "BE", "Berlin"),
             ("JP", "13", "Tokyo"), ("FR", "IDF", "Paris"),
             ("BR", "SP", "São Paulo"), ("KR", "11", "Seoul"),
             ("CA", "ON", "Toronto"), ("NL", "NH", "Amsterdam"),
             ("MX", "CMX", "Ciudad de México"), ("AU", "NSW", "Sydney"),
             ("SE", "AB", "Stockholm"), ("PL", "14", "Warszawa"),
             ("TR", "34", "İstanbul"), ("IN", "KA", "Bengaluru")]
TIMEZONES = ["America/Los_Angeles", "America/New_York", "America/Chicago",
             "Europe/London", "Europe/Berlin", "Asia/Tokyo", "Europe/Paris",
             "America/Sao_Paulo", "Asia/Seoul", "America/Toronto"]
BROWSERS = [
    ("Chrome", "131.0.0.0", "Blink", "MacIntel",
     "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
     "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", False),
    ("Safari", "18.1", "WebKit", "iPhone",
     "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/"
     "605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
     True),
    ("Firefox", "133.0", "Gecko", "Linux x86_64",
     "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
     False),
    ("Chrome", "130.0.6723.102", "Blink", "Linux armv81",
     "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, "
     "like Gecko) Chrome/130.0.6723.102 Mobile Safari/537.36", True),
    ("Edge", "131.0.2903.51", "Blink", "Win32",
     "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, "
     "like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.51", False),
    ("Safari", "17.6", "WebKit", "iPad",
     "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1", True),
]
GPUS = ["ANGLE (Apple, ANGLE Metal Renderer: Apple M1, Unspecified Version)",
        "ANGLE (Apple, ANGLE Metal Renderer: Apple M2 Pro, Unspecified "
        "Version)", "Apple GPU",
        "ANGLE (NVIDIA, NVIDIA GeForce RTX 3070 (0x00002484) Direct3D11 "
        "vs_5_0 ps_5_0, D3D11)", "Mali-G715", "Adreno (TM) 740",
        "ANGLE (Intel, Mesa Intel(R) UHD Graphics 620 (KBL GT2), OpenGL 4.6)"]
PIECES = ["prompt", "wand", "line", "rect", "oval", "smear", "paint", "chat",
          "mood", "moods", "clock", "notepat", "whistlegraph", "tape",
          "video", "painting", "paintings", "list", "handle", "profile",
          "kidlisp", "sotce", "camera", "bleep", "sign", "ff", "wipe",
          "ink", "fill", "spray", "shape", "word", "metronome", "sfx",
          "tone", "bubble", "starfield", "ptt", "balls", "blank", "colors",
          "freaky-flowers", "liney", "sno", "rain", "crawl", "crt", "dync",
          "pull", "stample", "baktok", "boyfriend", "laer-klokken", "mugs",
          "hw", "gargoyle", "wipppps", "squaresong", "docs", "news", "pals",
          "nopaint", "botce", "decay", "plot", "cards", "zzzZzZzzz"]
BOOT_PHASES = ["boot:start", "bios:load", "bios:ready", "net:preload",
               "disk:fetch", "disk:parse", "disk:loaded", "fonts:load",
               "fonts:ready", "worker:spawn", "worker:ready", "wasm:init",
               "gpu:init", "gpu:ready", "audio:context", "audio:worklet",
               "session:connect", "session:open", "udp:connect",
               "auth:check", "auth:ok", "handle:resolve", "piece:load",
               "piece:boot", "piece:paint", "first-paint", "store:restore",
               "kidlisp:parse", "kidlisp:eval", "cache:hit", "cache:miss"]
CHAT_LINES = [
    "hi", "hello everyone", "gm", "gn ✨", "what's up", "lol", "😂😂",
    "making a painting rn", "check out my new piece", "who's here?",
    "try `notepat`", "this is so cool", "how do I save a painting?",
    "type `paint` then hit enter", "🌈🌈🌈", "haha", "brb", "ok",
    "I love the new brush", "anyone on discord?", "🎹 notepat jam at 8",
    "is chat slow for anyone else", "new kidlisp: $cow", "wow",
    "thank you!!", "it says \"handle taken\"", "use C:\\Users\\me\\art?",
    "line one\nline two", "multi\nline\nmessage", "tab\tseparated",
    "日本語もOK", "ça marche 👍", "¿qué tal?", "привет", "안녕하세요",
    "mood: sleepy 😴", "🫠", "the \\n thing is weird", "quote: \"hey\"",
    "emoji test 👩‍💻🏳️‍🌈", "a\r\nb", "'single' and \"double\"",
    "ok\u2028next line separator", "👾 👾 👾", "100% yes", "<b>not html</b>",
    "&amp; stuff", "path/with/slashes", "{\"json\": true}", "$ ls -la",
]
MOODS = ["sleepy", "making a painting", "hungry", "calm", "excited",
         "sad", "happy 😊", "tired\\nbut happy", "🌧️", "in the zone",
         "coding", "listening to music 🎧", "ok", "lost", "grateful",
         "thinking about pixels", "café au lait ☕", "日曜日", "meh",
         "\"quoted mood\"", "back\\slash", "✨✨✨", "on a train 🚆",
         "ready", "weird", "zzz", "focused\\nno distractions"]
WORDS = ("the a pixel paint line color brush wand ink blue red green "
         "yellow piece chat mood clock tape sound note beat loop song "
         "screen frame draw make play today night morning friend art "
         "computer aesthetic small big soft loud quiet new old").split()
KL_FORMS = ["(wipe {c})", "(ink {c})", "(line {a} {b} {x} {y})",
            "(box {a} {b} {x} {y})", "(circle {a} {b} {r})",
            "(repeat {n} i\n  (ink {c} {a})\n  (point (wiggle {r}) i))",
            "(def speed {n})", "(scroll {a} {b})", "(blur {r})",
            "(zoom 1.{n})", "(spin (* 0.{n} frame))", "(contrast 1.{r})",
            "({n}s... {c} {c2})", "(later wave (+ {a} (* 2 {b})))",
            "(tap (ink {c2}) (box 0 0 w h))", "; {word} {word2}",
            "; 🌈 {word}", "(write \"{word}\" {a} {b})",
            "(mask {a} {b} {x} {y})", "(flood {a} {b})"]
KL_COLORS = ["red", "blue", "green", "yellow", "black", "white", "purple",
             "orange", "pink", "cyan", "lime", "rainbow", "zebra", "gray",
             "fade:red-blue", "fade:black-white-black"]
MELODIES = ["cdefgab", "c e g", "{d} d d c", "ccggaag ffeeddc", "e-d-c",
            "^c ^d ^e", "(ceg) (dfa)", "5c 5e 5g", "cdef {s} gab",
            "a a a f c", "g__e__c", "c.d.e.f."]
CLOCK_SYL_C = "bcdfghjklmnprstvwxz"
CLOCK_SYL_V = "aeiou"


def words(rng, n):
    return " ".join(rng.choice(WORDS) for _ in range(n))


def fake_ip(rng):
    if rng.random() < 0.15:
        return "2001:db8:%x:%x::%x" % (rng.getrandbits(16),
                                      rng.getrandbits(16), rng.getrandbits(16))
    # Documentation and private ranges only.
    return rng.choice(("192.0.2.%d", "198.51.100.%d", "203.0.113.%d",
                       "10.0.%d.1")) % rng.randrange(1, 255)


def git_sha(rng):
    return rstr(rng, HEX, 40)


# ------------------------------------------------------------------ world


class User:
    __slots__ = ("id", "sub", "did", "migrated", "handle", "created",
                 "code", "email", "atproto", "idx")

    def __init__(self):
        self.did = None
        self.migrated = False
        self.handle = None
        self.atproto = False
        self.email = None


def atproto_handle(handle):
    return handle.replace(".", "-").replace("_", "-") + \
        ".at.aesthetic.computer"


class World:
    """The shared, precomputed keys every collection refers to: the user
    pool, sotce's users, kidlisp codes, tapes and news posts."""

    def __init__(self, seed, scale):
        self.seed = seed
        self.scale = scale
        self.counts = collection_counts(scale)
        self._users()
        self._sotce()
        self._keys()

    def _users(self):
        rng = _rng(self.seed, "users")
        n = self.counts["users"] - 1              # plus art-guest
        seen_ids, codes, dids = set(), set(), set()
        users = []
        times = list(timeline(rng, n, _ms(2021, 3, 1), END - DAY, 0.7))
        for i in range(n):
            u = User()
            u.idx = i
            while True:
                r = rng.random()
                if r < 0.83:
                    sub = "auth0|" + rstr(rng, HEX, 24)
                else:
                    sub = "google-oauth2|1" + rstr(rng, "0123456789", 20)
                if sub not in seen_ids:
                    seen_ids.add(sub)
                    break
            u.sub = sub
            u.id = sub
            u.created = times[i]
            yy = time.gmtime(u.created // 1000).tm_year % 100
            u.code = "ac%02d" % yy + unique_code(rng, codes, ALNUM, 5)
            r = rng.random()
            if r < 0.30:                          # migrated to a DID _id
                u.migrated = True
                u.atproto = True
            elif r < 0.70:                        # DID kept in atproto{}
                u.atproto = True
            if u.atproto:
                while True:
                    did = "did:plc:" + rstr(rng, B32, 24)
                    if did not in dids:
                        dids.add(did)
                        break
                u.did = did
                if u.migrated:
                    u.id = did
            if rng.random() < 0.4:
                u.email = "user%d@example.invalid" % (i + 1)
            users.append(u)
        self.users = users
        # Handles: a sample of users (AC's), plus sotce's own, below.
        n_sotce_h = max(1, int(round(self.counts["@handles"] * 0.03)))
        n_ac_h = min(n, self.counts["@handles"] - n_sotce_h)
        self.n_sotce_handles = self.counts["@handles"] - n_ac_h
        holders = sorted(rng.sample(range(n), n_ac_h))
        seen = set()
        self.handles_taken = seen
        # Two non-ASCII handles at any scale, then random ones.
        forced = ["müller", "日本"]
        seen.update(forced)
        for j, i in enumerate(holders):
            if 1 <= j <= len(forced):
                users[i].handle = forced[j - 1]
            else:
                users[i].handle = self._new_handle(rng, seen)
        self.handle_users = [users[i] for i in holders]
        # Creators: who makes content.  Mostly handle holders, some
        # without; heavy-tailed (a few make most of it).
        order = list(self.handle_users)
        rng.shuffle(order)
        extra = [u for u in users if u.handle is None]
        rng.shuffle(extra)
        order += extra[:max(1, len(extra) // 10)]
        self.creators = order
        # The one prolific user whose Spaces prefix holds > 1,000 objects:
        # make it an auth0 id with a plain handle.
        for k, u in enumerate(order):
            if not u.migrated and u.handle and u.handle.isascii():
                order[0], order[k] = order[k], order[0]
                break
        self.art_guest_did = "did:plc:" + rstr(rng, B32, 24)
        # Verifications: Auth0's log stream, for most users.
        nv = min(n, self.counts["verifications"])
        self.verified = sorted(rng.sample(range(n), nv))

    def _new_handle(self, rng, seen):
        while True:
            r = rng.random()
            if r < 0.012:
                h = rng.choice(UNICODE_HANDLES)
            else:
                h = "".join(rng.choice(SYL)
                            for _ in range(rng.choice((2, 2, 3, 3, 4))))
                r2 = rng.random()
                if r2 < 0.15:
                    h += str(rng.randrange(100))
                elif r2 < 0.2:
                    h += "_" + rng.choice(SYL)
                elif r2 < 0.24:
                    h += "." + rng.choice(SYL)
            if h in seen:
                h = h + str(rng.randrange(10, 1000))
            if h not in seen:
                seen.add(h)
                return h

    def _sotce(self):
        rng = _rng(self.seed, "sotce-users")
        n = max(5, int(round(300 * self.scale)), self.n_sotce_handles,
                self.counts["chat-sotce-mutes"])
        seen = set()
        subs = []
        while len(subs) < n:
            s = "auth0|" + rstr(rng, HEX, 24)
            if s not in seen:
                seen.add(s)
                subs.append(s)
        self.sotce_subs = subs
        self.sotce_handles = []
        for s in subs[:self.n_sotce_handles]:
            self.sotce_handles.append(
                (s, self._new_handle(rng, self.handles_taken)))

    def _keys(self):
        c = self.counts
        rng = _rng(self.seed, "kidlisp-codes")
        seen = set()
        self.kidlisp_codes = [unique_code(rng, seen, ALNUM, 3)
                              for _ in range(c["kidlisp"])]
        rng = _rng(self.seed, "tape-keys")
        seen = set()
        oids = ObjectIds(rng)
        self.tapes = []
        for t in timeline(rng, c["tapes"], _ms(2023, 6, 1), END - DAY, 0.6):
            self.tapes.append((oids(t), t, unique_code(rng, seen, ALNUM, 4),
                               ac_slug(t)))
        rng = _rng(self.seed, "news-keys")
        seen = set()
        oids = ObjectIds(rng)
        self.news = []
        for t in timeline(rng, c["news-posts"], _ms(2025, 9, 1), END - DAY,
                          0.8):
            self.news.append((oids(t), t, "n" + unique_code(rng, seen,
                                                            ALNUM, 3)))
        rng = _rng(self.seed, "news-comment-keys")
        oids = ObjectIds(rng)
        self.news_comments = []
        for t in timeline(rng, c["news-comments"], _ms(2025, 9, 2), END,
                          0.8):
            self.news_comments.append((oids(t), t))
        rng = _rng(self.seed, "sotce-page-keys")
        oids = ObjectIds(rng)
        self.sotce_pages = [(oids(t), t) for t in timeline(
            rng, c["sotce-pages"], _ms(2024, 1, 1), END - DAY, 0.7)]

    # -- picking
    def creator(self, rng):
        cr = self.creators
        return cr[int(len(cr) * rng.random() ** 3)]

    def chatter(self, rng):
        hu = self.handle_users
        return hu[int(len(hu) * rng.random() ** 2)]

    def any_user(self, rng):
        return self.users[rng.randrange(len(self.users))]


_world_cache = {}


def build_world(seed=1, scale=0.01):
    key = (seed, scale)
    w = _world_cache.get(key)
    if w is None:
        if len(_world_cache) > 4:
            _world_cache.clear()
        w = _world_cache[key] = World(seed, scale)
    return w


# ------------------------------------------------------------------ docs
#
# One generator per collection: gen(world, rng, n, E) yields n documents
# in EJSON form for codec E.


def atproto_ref(E, rng, u, nsid, t, guest_did):
    rk = tid(t + rng.randrange(1000, 600000), rng)
    did = u.did if (u is not None and u.did) else guest_did
    return {"rkey": rk, "uri": "at://%s/computer.aesthetic.%s/%s" % (
        did, nsid, rk)}


def g_users(w, rng, n, E):
    yield {"_id": "art-guest", "code": "acguest",
           "atproto": {"did": w.art_guest_did,
                       "handle": "art.at.aesthetic.computer",
                       "password": "FAKE-guest-" + rstr(rng, ALNUM, 16),
                       "created": E.date(_ms(2025, 1, 14, 9, 30)),
                       "syncedAt": E.date(END - 3 * DAY)}}
    for u in w.users[:n - 1]:
        d = {"_id": u.id, "code": u.code}
        if u.email:
            d["email"] = u.email
            d["email_verified"] = rng.random() < 0.8
        if rng.random() < 0.1:
            d["name"] = (u.handle or rng.choice(SYL)).title()
        if rng.random() < 0.04:
            d["tezosAddress"] = "tz1" + rstr(rng, B58, 33)
        if u.atproto:
            created = max(u.created, _ms(2025, 1, 10)) + rng.randrange(DAY)
            a = {"did": u.did}
            if u.handle and u.handle.isascii():
                h = atproto_handle(u.handle)
                if rng.random() < 0.03:               # handle drift
                    h = "old-" + h
                a["handle"] = h
            a["password"] = "FAKE-" + rstr(rng, ALNUM, 20)
            a["created"] = E.date(min(created, END - DAY))
            if rng.random() < 0.85:
                a["syncedAt"] = E.date(min(created + rng.randrange(90 * DAY),
                                           END - 1000))
            d["atproto"] = a
        if rng.random() < 0.02:
            d["stripeId"] = "cus_FAKE" + rstr(rng, NANO[:62], 14)
        yield d


def g_handles(w, rng, n, E):
    rows = [(u.id, u.handle, u.created) for u in w.handle_users]
    rows += [("sotce-" + s, h, None) for s, h in w.sotce_handles]
    for _id, h, created in rows[:n]:
        d = {"_id": _id, "handle": h}
        if created is None:
            created = _ms(2024, 1, 1) + rng.randrange(700) * DAY
        if rng.random() < 0.92:       # early handles have no timestamps
            c = created + rng.randrange(30 * DAY)
            c = min(c, END - DAY)
            d["createdAt"] = E.date(c)
            d["updatedAt"] = E.date(min(c + rng.randrange(200 * DAY),
                                        END - 1))
        if rng.random() < 0.1:
            d["colors"] = [E.i32(rng.randrange(256)) for _ in range(3)]
        yield d


def g_verifications(w, rng, n, E):
    for i in w.verified[:n]:
        u = w.users[i]
        c = 0 if rng.random() < 0.35 else int(1 + rng.random() ** 4 * 12)
        yield {"_id": u.id, "count": E.i32(c)}


def g_secrets(w, rng, n, E):
    docs = [
        {"_id": "instagram", "username": "aesthetic.computer.fake",
         "password": "FAKE-not-a-password", "sessionId":
         "FAKE%3A" + rstr(rng, ALNUM, 30), "updatedAt": E.date(END - 5 * DAY)},
        {"_id": "bluesky", "identifier": "aesthetic.computer",
         "appPassword": "fake-" + "-".join(rstr(rng, ALNUM, 4)
                                           for _ in range(3)),
         "service": "https://bsky.social",
         "mirrorHandles": [u.handle for u in w.handle_users[:3]]},
        {"_id": "pinata", "apiKey": "FAKE" + rstr(rng, HEX, 16),
         "apiSecret": "FAKE" + rstr(rng, HEX, 60),
         "jwt": "eyJGQUtFIjp0cnVlfQ.FAKE." + rstr(rng, NANO, 43)},
        {"_id": "tezos", "network": "mainnet",
         "keepsContract": "KT1" + rstr(rng, B58, 33),
         "adminSecretKey": "edskFAKE" + rstr(rng, B58, 90)},
        {"_id": "stripe", "secretKey": "sk_test_FAKE" + rstr(rng, ALNUM, 24),
         "webhookSecret": "whsec_FAKE" + rstr(rng, ALNUM, 24)},
        {"_id": "openai", "apiKey": "sk-FAKE-" + rstr(rng, ALNUM, 40),
         "limits": {"daily": E.i32(500), "perUser": E.i32(20)}},
    ]
    for d in docs[:n]:
        yield d


def media_fields(d, slug, t, u, E):
    """What track-media.mjs writes alike for paintings and pieces."""
    d["slug"] = slug
    d["when"] = E.date(t)
    d["bucket"] = ("user-aesthetic-computer" if u is not None
                   else "art-aesthetic-computer")
    if u is not None:
        d["user"] = u.id


def g_paintings(w, rng, n, E):
    oids = ObjectIds(rng)
    codes, guest_slugs = set(), set()
    for i, t in enumerate(timeline(rng, n, _ms(2021, 4, 1), END - DAY, 0.6)):
        u = w.creator(rng) if rng.random() < 0.8 else None
        d = {"_id": E.oid(oids(t))}
        legacy = t < _ms(2023, 1, 1) and rng.random() < 0.5
        if not legacy:
            d["code"] = unique_code(rng, codes, ALNUM, 3)
        if u is None:
            slug = unique_code(rng, guest_slugs, NANO, 10)
        else:
            slug = ac_slug(t)
            if rng.random() < 0.07:                 # with a recording
                slug += ":" + ac_slug(t + rng.randrange(5000, 600000))
        media_fields(d, slug, t, u, E)
        nuked = rng.random() < 0.05
        if nuked or rng.random() < 0.05:
            d["nuked"] = nuked
        if t > _ms(2025, 1, 10) and rng.random() < 0.6:
            d["atproto"] = atproto_ref(E, rng, u, "painting", t,
                                       w.art_guest_did)
        elif nuked and rng.random() < 0.5:
            d["atproto"] = atproto_ref(E, rng, u, "painting", t,
                                       w.art_guest_did)
        if legacy and u is not None and rng.random() < 0.3:
            d["owner"] = {"handle": u.handle or "anon"}
        yield d


# The first pieces: names that make awkward object keys.
FORCED_PIECE_SLUGS = ["café-日本", "my piece", "a+b=c"]


def g_pieces(w, rng, n, E):
    oids = ObjectIds(rng)
    codes, seen = set(), set()
    for i, t in enumerate(timeline(rng, n, _ms(2022, 1, 1), END - DAY, 0.7)):
        u = w.creator(rng) if (i < 3 or rng.random() < 0.85) else None
        if i < len(FORCED_PIECE_SLUGS):
            slug = FORCED_PIECE_SLUGS[i]
        else:
            r = rng.random()
            if r < 0.5:
                slug = "-".join(rng.choice(WORDS)
                                for _ in range(rng.choice((1, 2, 2, 3))))
            elif r < 0.9:
                slug = ac_slug(t)
            elif r < 0.95:
                slug = rng.choice(WORDS) + " " + rng.choice(WORDS)
            else:
                slug = rng.choice(UNICODE_HANDLES) + "+" + rng.choice(WORDS)
        uid = u.id if u is not None else None
        while (slug, uid) in seen:
            slug = slug + "-" + str(rng.randrange(2, 99))
        seen.add((slug, uid))
        d = {"_id": E.oid(oids(t))}
        if rng.random() < 0.9:
            d["code"] = unique_code(rng, codes, ALNUM, 4)
        media_fields(d, slug, t, u, E)
        if rng.random() < 0.06:
            d["nuked"] = True
        if t > _ms(2025, 1, 10) and rng.random() < 0.5:
            d["atproto"] = {"rkey": tid(t + 1000, rng)}
        yield d


def kidlisp_source(rng, k):
    n = 1 + int(rng.random() ** 2 * 14)
    lines = []
    for _ in range(n):
        f = rng.choice(KL_FORMS)
        lines.append(f.format(
            c=rng.choice(KL_COLORS), c2=rng.choice(KL_COLORS),
            a=rng.randrange(256), b=rng.randrange(256), x=rng.randrange(128),
            y=rng.randrange(128), r=rng.randrange(1, 64),
            n=rng.randrange(1, 30), word=rng.choice(WORDS),
            word2=rng.choice(WORDS)))
    if rng.random() < 0.3:
        lines.insert(0, "; #%d" % k)
    sep = "\n" if rng.random() < 0.85 else ", "
    src = sep.join(lines)
    if rng.random() < 0.1:
        src = "\n" + src + "\n  "            # hashed trimmed
    return src


def g_kidlisp(w, rng, n, E):
    oids = ObjectIds(rng)
    hashes = set()
    times = timeline(rng, n, _ms(2024, 6, 1), END - DAY, 0.6)
    for i, t in enumerate(times):
        code = w.kidlisp_codes[i]
        while True:
            src = kidlisp_source(rng, i)
            h = hashlib.sha256(src.strip().encode()).hexdigest()
            if h not in hashes:
                hashes.add(h)
                break
            src = src + "\n(ink %s)" % rng.choice(KL_COLORS)
            h = hashlib.sha256(src.strip().encode()).hexdigest()
            if h not in hashes:
                hashes.add(h)
                break
        u = w.creator(rng) if rng.random() < 0.55 else None
        hits = int(rng.random() ** 6 * 5000)
        d = {"_id": E.oid(oids(t)), "code": code, "source": src, "hash": h,
             "when": E.date(t),
             "lastAccessed": E.date(t + int((END - t) * rng.random())),
             "hits": E.i64(hits) if rng.random() < 0.1 else E.i32(hits)}
        if u is not None:
            d["user"] = u.id
            if rng.random() < 0.1 and u.handle:
                d["handle"] = "@" + u.handle
        if rng.random() < 0.03:
            d["name"] = words(rng, 2)
        if t > _ms(2025, 1, 10) and rng.random() < 0.25:
            d["atproto"] = {"rkey": tid(t + 2000, rng)}
        r = rng.random()
        if r < 0.02 and u is not None:
            kt = t + rng.randrange(DAY, 60 * DAY)
            kt = min(kt, END - 1000)
            d["kept"] = {
                "tokenId": E.i32(rng.randrange(1, 4000)),
                "network": rng.choice(("mainnet", "mainnet", "ghostnet")),
                "txHash": "o" + rstr(rng, B58, 50),
                "contractAddress": "KT1" + rstr(rng, B58, 33),
                "contractProfile": rng.choice(("keeps-v4", "keeps-v3")),
                "contractVersion": rng.choice(("4.2.0", "3.1.1")),
                "keptAt": E.date(kt), "keptBy": u.id,
                "walletAddress": "tz1" + rstr(rng, B58, 33),
                "artifactUri": "ipfs://Qm" + rstr(rng, B58, 44),
                "thumbnailUri": "ipfs://Qm" + rstr(rng, B58, 44),
                "metadataUri": "ipfs://Qm" + rstr(rng, B58, 44)}
            d["ipfsMedia"] = {"artifactUri": d["kept"]["artifactUri"],
                              "thumbnailUri": d["kept"]["thumbnailUri"]}
        elif r < 0.025 and u is not None:
            d["pendingKeep"] = {"by": u.id,
                                "walletAddress": "tz1" + rstr(rng, B58, 33),
                                "startedAt": E.date(min(t + DAY, END - 1)),
                                "stage": rng.choice(("upload", "mint"))}
        elif r < 0.03:
            addr = "KT1" + rstr(rng, B58, 33)
            d["tezos"] = {"minted": rng.random() < 0.7,
                          "tokenId": E.i32(rng.randrange(1, 900)),
                          "contractAddress": addr,
                          "contracts": {addr: {
                              "tokenId": E.i32(rng.randrange(1, 900)),
                              "mintedAt": E.date(min(t + DAY, END - 1))}}}
        yield d


def g_moods(w, rng, n, E):
    oids = ObjectIds(rng)
    mirror = set(u.id for u in w.handle_users[:3])
    nuked_users = set(u.id for u in w.creators if rng.random() < 0.01)
    for t in timeline(rng, n, _ms(2022, 6, 1), END - DAY, 0.7):
        u = w.creator(rng)
        m = rng.choice(MOODS)
        if rng.random() < 0.3:
            m = m + " " + words(rng, rng.randrange(1, 6))
        d = {"_id": E.oid(oids(t)), "user": u.id, "mood": m, "when": E.date(t)}
        deleted = u.id in nuked_users or rng.random() < 0.04
        if deleted or rng.random() < 0.3:
            d["deleted"] = deleted
        if t > _ms(2025, 1, 10) and u.did and rng.random() < 0.7:
            d["atproto"] = {"rkey": tid(t + 500, rng)}
        if u.id in mirror and rng.random() < 0.8:
            rk = tid(t + 900, rng)
            d["bluesky"] = {"uri": "at://did:plc:aestheticcomputerfake0/"
                            "app.bsky.feed.post/" + rk,
                            "cid": cid(rng), "rkey": rk}
        yield d


def g_tapes(w, rng, n, E):
    for i, (oid, t, code, slug) in enumerate(w.tapes[:n]):
        u = w.creator(rng) if (i == 0 or rng.random() < 0.75) else None
        d = {"_id": E.oid(oid), "code": code, "slug": slug, "when": E.date(t),
             "bucket": ("user-aesthetic-computer" if u is not None
                        else "art-aesthetic-computer")}
        if u is not None:
            d["user"] = u.id
        d["nuked"] = rng.random() < 0.04
        r = rng.random()
        status = ("complete" if (i == 0 or r < 0.85) else
                  "failed" if r < 0.93 else
                  "processing" if r < 0.97 else "pending")
        d["mp4Status"] = status
        if status == "complete":
            d["mp4Url"] = ("https://at-blobs.aesthetic.computer/tapes/%s.mp4"
                           % code)
            d["thumbnailUrl"] = ("https://at-blobs.aesthetic.computer/tapes/"
                                 "%s-thumb.jpg" % code)
            d["mp4CompletedAt"] = E.date(t + rng.randrange(20000, 900000))
            if t > _ms(2025, 1, 10) and rng.random() < 0.6:
                d["atproto"] = {"rkey": tid(t + 60000, rng)}
        elif status == "failed":
            d["mp4Error"] = rng.choice(("ffmpeg exited with code 1",
                                        "zip not found", "timeout after 300s"))
        yield d


def clock_code(rng, seen):
    while True:
        parts = 2
        for _ in range(20):
            c = "".join(rng.choice(CLOCK_SYL_C) + rng.choice(CLOCK_SYL_V)
                        for _ in range(parts))
            if c not in seen:
                seen.add(c)
                return c
        parts += 1


def g_clocks(w, rng, n, E):
    oids = ObjectIds(rng)
    codes, hashes = set(), set()
    for i, t in enumerate(timeline(rng, n, _ms(2025, 3, 1), END - DAY)):
        while True:
            src = " ".join(rng.choice(MELODIES).format(
                d=rng.choice("cdefgab"), s=rng.choice("_-."))
                for _ in range(rng.randrange(1, 5)))
            src += " #%d" % rng.randrange(10 ** 6) if rng.random() < 0.5 \
                else ""
            h = hashlib.sha256(src.strip().encode()).hexdigest()
            if h not in hashes:
                hashes.add(h)
                break
        u = w.creator(rng) if rng.random() < 0.6 else None
        d = {"_id": E.oid(oids(t)), "code": clock_code(rng, codes),
             "source": src, "hash": h, "when": E.date(t),
             "lastAccessed": E.date(t + int((END - t) * rng.random())),
             "hits": E.i64(int(rng.random() ** 5 * 3000))}
        if u is not None:
            d["user"] = u.id
        yield d


def _chat(w, rng, n, E, start, power, who, fonts):
    oids = ObjectIds(rng)
    for t in timeline(rng, n, start, END - 1000, power):
        uid = who(rng)
        text = rng.choice(CHAT_LINES)
        r = rng.random()
        if r < 0.3:
            text = words(rng, rng.randrange(2, 14))
        elif r < 0.35:
            text = text + " " + text
        d = {"_id": E.oid(oids(t)), "user": uid, "text": text,
             "when": E.date(t), "font": rng.choice(fonts)}
        if rng.random() < 0.01:
            d["deleted"] = True
            d["redactedText"] = text
            d["text"] = ""
        yield d


def g_chat_system(w, rng, n, E):
    return _chat(w, rng, n, E, _ms(2023, 8, 1), 0.6,
                 lambda r: w.chatter(r).id,
                 ("font_1", "font_1", "font_1", "unifont", "MatrixChunky8"))


def g_chat_clock(w, rng, n, E):
    return _chat(w, rng, n, E, _ms(2024, 11, 1), 0.7,
                 lambda r: w.chatter(r).id, ("font_1",))


def g_chat_sotce(w, rng, n, E):
    subs = w.sotce_subs
    return _chat(w, rng, n, E, _ms(2024, 3, 1), 0.8,
                 lambda r: subs[int(len(subs) * r.random() ** 2)],
                 ("font_1",))


def _mutes(pool, rng, n, E):
    picked = rng.sample(range(len(pool)), min(n, len(pool)))
    oids = ObjectIds(rng)
    for i in picked:
        t = END - rng.randrange(1, 700) * DAY
        yield {"_id": E.oid(oids(t)), "user": pool[i],
               "when": E.date(t)}


def g_chat_system_mutes(w, rng, n, E):
    return _mutes([u.id for u in w.handle_users], rng, n, E)


def g_chat_clock_mutes(w, rng, n, E):
    return _mutes([u.id for u in w.handle_users], rng, n, E)


def g_chat_sotce_mutes(w, rng, n, E):
    return _mutes(w.sotce_subs, rng, n, E)


LOG_ACTIONS = ["handle:create", "handle:update", "handle:strip",
               "handle:inherit", "chat-system:mute", "chat-system:unmute",
               "mood:nuke", "painting:nuke", None, None]


def g_logs(w, rng, n, E):
    oids = ObjectIds(rng)
    for t in timeline(rng, n, _ms(2023, 3, 1), END - 1000, 0.7):
        u = w.chatter(rng)
        a = rng.choice(LOG_ACTIONS)
        h = "@" + u.handle
        if a == "handle:create":
            text = "%s joined aesthetic.computer! 🎉" % h
        elif a == "handle:update":
            text = "%s is now %s" % ("@" + rng.choice(SYL) + rng.choice(SYL),
                                     h)
        elif a and a.startswith("chat"):
            text = "%s was %sd" % (h, a.split(":")[1])
        elif a:
            text = "%s: %s" % (a, h)
        else:
            text = "%s %s" % (h, words(rng, rng.randrange(3, 9)))
        d = {"_id": E.oid(oids(t)), "from": "log", "text": text,
             "when": E.date(t), "users": [u.id]}
        if a:
            d["action"] = a
            d["value"] = u.handle
        yield d


def _boot_events(rng, E, start, n):
    ev = []
    t = rng.random() * 40
    host_path = rng.choice(PIECES)
    for k in range(n):
        t += rng.random() ** 2 * 400
        ph = BOOT_PHASES[k % len(BOOT_PHASES)] if k < len(BOOT_PHASES) \
            else rng.choice(BOOT_PHASES)
        e = {"t": E.dbl(round(t, 4)), "label": ph, "at": E.i64(start +
                                                               int(t))}
        r = rng.random()
        if r < 0.35:
            e["detail"] = ("https://aesthetic.computer/aesthetic.computer/"
                           "disks/%s.mjs?v=%s" % (host_path,
                                                  rstr(rng, HEX, 8)))
        elif r < 0.55:
            e["detail"] = {"bytes": E.i32(rng.randrange(2000, 900000)),
                           "cached": rng.random() < 0.5,
                           "ms": E.dbl(round(rng.random() * 300, 3))}
        elif r < 0.65:
            e["detail"] = None
        else:
            e["detail"] = "%s %s" % (ph.split(":")[0],
                                     words(rng, rng.randrange(3, 10)))
        ev.append(e)
    return ev


def fresh(seen, draw):
    """draw() until it gives a value not in seen; record and return it."""
    while True:
        value = draw()
        if value not in seen:
            seen.add(value)
            return value


def g_boots(w, rng, n, E):
    oids = ObjectIds(rng)
    seen = set()
    for t in timeline(rng, n, _ms(2025, 8, 15), END - 60000, 0.9):
        bid = fresh(seen, lambda: "%s-%s" % (rstr(rng, ALNUM, 8),
                                             rstr(rng, ALNUM, 6)))
        br = rng.choice(BROWSERS)
        cc, region, city = rng.choice(COUNTRIES)
        piece = rng.choice(PIECES)
        w_, h_ = rng.choice(((390, 844), (1512, 982), (1920, 1080),
                             (820, 1180), (412, 915), (2560, 1440)))
        u = w.chatter(rng) if rng.random() < 0.3 else None
        meta = {"host": rng.choice(("aesthetic.computer", "aesthetic.computer",
                                    "kidlisp.com", "prompt.ac",
                                    "localhost:8888", "sotce.net")),
                "path": "/" + piece, "query": ("?" + words(rng, 1)
                                               if rng.random() < 0.1 else ""),
                "version": git_sha(rng)[:7],
                "browser": {"name": br[0], "version": br[1], "engine": br[2]},
                "userAgent": br[4], "platform": br[3], "mobile": br[5],
                "touch": br[5], "language": rng.choice(("en-US", "en-GB",
                                                        "ja-JP", "de-DE",
                                                        "pt-BR", "es-MX")),
                "timezone": rng.choice(TIMEZONES),
                "screen": {"width": E.i32(w_), "height": E.i32(h_),
                           "dpr": E.dbl(rng.choice((1.0, 2.0, 3.0, 1.5,
                                                    2.625)))},
                "viewport": {"width": E.i32(w_ - rng.randrange(0, 40)),
                             "height": E.i32(h_ - rng.randrange(60, 200))},
                "referrer": rng.choice(("", "", "https://www.google.com/",
                                        "https://bsky.app/",
                                        "https://t.co/" + rstr(rng, ALNUM,
                                                                10),
                                        "https://kidlisp.com/")),
                "connection": {"effectiveType": rng.choice(("4g", "4g",
                                                            "3g", "wifi")),
                               "rtt": E.i32(rng.randrange(0, 400, 25)),
                               "downlink": E.dbl(rng.choice((10.0, 1.45,
                                                             3.3, 0.75)))},
                "hardwareConcurrency": E.i32(rng.choice((4, 8, 8, 10, 12))),
                "deviceMemory": E.i32(rng.choice((4, 8, 8))),
                "webgl": {"vendor": "WebKit", "renderer": rng.choice(GPUS)}}
        if u is not None:
            if rng.random() < 0.7:
                meta["user"] = {"sub": u.id, "handle": "@" + u.handle}
            else:
                meta["handle"] = "@" + u.handle
        d = {"_id": E.oid(oids(t)), "bootId": bid, "createdAt": E.date(t)}
        r = rng.random()
        status = "success" if r < 0.8 else "error" if r < 0.9 else "started"
        dur = int(300 + rng.random() ** 2 * 9000)
        d["updatedAt"] = E.date(t + (dur if status != "started"
                                     else rng.randrange(50, 400)))
        d["meta"] = meta
        d["server"] = {"ip": fake_ip(rng), "country": cc,
                       "region": region if rng.random() < 0.9 else None,
                       "city": city if rng.random() < 0.8 else None,
                       "referer": (meta["referrer"] or None)}
        d["status"] = status
        ne = 0 if rng.random() < 0.03 else rng.randrange(17, 28)
        if status == "started":
            ne = min(ne, rng.randrange(0, 6))
        d["events"] = _boot_events(rng, E, t, ne)
        if status == "error":
            d["error"] = {"message": rng.choice((
                "Failed to fetch dynamically imported module",
                "WebGL context lost", "Cannot read properties of undefined "
                "(reading 'paint')", "NetworkError when attempting to fetch "
                "resource.")), "phase": rng.choice(BOOT_PHASES),
                "stack": "\n".join(
                    "    at %s (https://aesthetic.computer/aesthetic.computer/"
                    "%s.mjs:%d:%d)" % (rng.choice(WORDS), rng.choice(
                        ("bios", "boot", "lib/disk", "lib/graph")),
                        rng.randrange(1, 9000), rng.randrange(1, 80))
                    for _ in range(rng.randrange(2, 8)))}
        elif status == "success":
            d["completedAt"] = E.date(t + dur)
            if rng.random() < 0.05:
                d["summary"] = {}
            else:
                d["summary"] = {"totalMs": E.dbl(dur + round(rng.random(), 3)),
                                "piece": piece,
                                "firstPaintMs": E.dbl(round(
                                    dur * rng.random(), 2)),
                                "phases": E.i32(ne), "cached":
                                rng.random() < 0.4}
        yield d


def g_bundle_telemetry(w, rng, n, E):
    oids = ObjectIds(rng)
    for t in timeline(rng, n, _ms(2025, 10, 1), END - 1000):
        code = rng.choice(w.kidlisp_codes)
        raw = rng.randrange(200000, 4000000)
        d = {"_id": E.oid(oids(t)), "createdAt": E.date(t),
             "type": rng.choice(("kidlisp", "piece")),
             "piece": "$" + code, "format": rng.choice(("html", "zip")),
             "bytes": E.i64(raw), "gzipBytes": E.i64(int(raw * 0.31)),
             "ms": E.dbl(round(200 + rng.random() * 3000, 2)),
             "cache": rng.choice(("hit", "miss")),
             "gitVersion": git_sha(rng)[:9],
             "client": {"ua": rng.choice(BROWSERS)[4][:60],
                        "country": rng.choice(COUNTRIES)[0]}}
        yield d


def g_oven_grabs(w, rng, n, E):
    oids = ObjectIds(rng)
    seen = set()
    for t in timeline(rng, n, _ms(2025, 9, 1), END - 60000, 0.8):
        gid = fresh(seen, lambda: rstr(rng, NANO[:62], 12))
        kl = rng.random() < 0.8
        piece = "$" + rng.choice(w.kidlisp_codes) if kl else \
            rng.choice(PIECES)
        fmt = rng.choice(("webp", "webp", "png", "gif"))
        wd = rng.choice((128, 256, 512, 1200))
        ht = wd if rng.random() < 0.8 else 630
        r = rng.random()
        status = "complete" if r < 0.93 else "failed"
        dur = rng.randrange(800, 40000)
        fname = "%s-%dx%d-%s.%s" % (piece.lstrip("$"), wd, ht, gid[:6], fmt)
        d = {"_id": E.oid(oids(t)), "grabId": gid, "piece": piece,
             "format": fmt, "status": status, "startTime": E.date(t),
             "completedAt": E.date(t + dur), "duration": E.i32(dur)}
        if status == "complete":
            d["size"] = E.i64(rng.randrange(3000, 400000))
        d["dimensions"] = {"width": E.i32(wd), "height": E.i32(ht)}
        d["captureKey"] = "%s-%dx%d-%s" % (piece, wd, ht, fmt)
        d["source"] = rng.choice(("keep", "manual", "og", "icon", "keep"))
        if d["source"] == "keep" and rng.random() < 0.35:
            d["keepId"] = E.i32(rng.randrange(1, 4000))
            d["ipfsCid"] = "Qm" + rstr(rng, B58, 44)
            d["ipfsUri"] = "ipfs://" + d["ipfsCid"]
        if status == "complete":
            d["cdnUrl"] = "https://art.aesthetic.computer/oven/grabs/" + fname
        d["gitVersion"] = git_sha(rng)[:7]
        if status == "failed":
            d["error"] = rng.choice(("Navigation timeout of 30000 ms exceeded",
                                     "Target closed", "kidlisp: parse error"))
        yield d


def g_oven_bakes(w, rng, n, E):
    tapes = w.tapes
    oids = ObjectIds(rng)
    for t in timeline(rng, n, _ms(2025, 11, 1), END - 60000):
        oid, tt, code, slug = tapes[rng.randrange(len(tapes))]
        ok = rng.random() < 0.85
        dur = rng.randrange(8000, 240000)
        # startTime/completedAt are Date.now() numbers: the Node driver
        # stores them as doubles (integral), not Int64.
        d = {"_id": E.oid(oids(t)), "code": code, "slug": slug,
             "mongoId": oid, "zipUrl": "https://user.aesthetic.computer/"
             "%s.zip" % slug, "callbackUrl":
             "https://aesthetic.computer/api/oven-complete",
             "startTime": E.dbl(float(t)), "status":
             "complete" if ok else "failed", "success": ok,
             "completedAt": E.dbl(float(t + dur)), "duration": E.i32(dur)}
        if ok:
            d["mp4Url"] = ("https://at-blobs.aesthetic.computer/tapes/%s.mp4"
                           % code)
            d["thumbnailUrl"] = ("https://at-blobs.aesthetic.computer/tapes/"
                                 "%s-thumb.jpg" % code)
            if rng.random() < 0.5:
                d["atprotoRkey"] = tid(t + dur, rng)
        else:
            d["error"] = "ffmpeg exited with code 1\nframe=  12 fps=0.0"
        if rng.random() < 0.6:
            d["userHandle"] = "@" + w.chatter(rng).handle
        d["createdAt"] = E.date(t + dur)
        yield d


def g_oven_cache(w, rng, n, E):
    oids = ObjectIds(rng)
    seen = set()

    def draw():
        kind = rng.choice(("icons", "icons", "previews"))
        p = ("$" + rng.choice(w.kidlisp_codes) if rng.random() < 0.7
             else rng.choice(PIECES))
        sz = (rng.choice(((128, 128), (256, 256), (512, 512)))
              if kind == "icons" else (1200, 630))
        return "%s/%s-%dx%d.png" % (kind, p, sz[0], sz[1])
    for t in timeline(rng, n, END - 7 * DAY, END - 1000, 1.0):
        key = fresh(seen, draw)
        yield {"_id": E.oid(oids(t)), "key": key, "spacesKey": "oven/" + key,
               "cdnUrl": "https://art.aesthetic.computer/oven/" + key,
               "contentType": "image/png",
               "size": E.i64(rng.randrange(1500, 90000)),
               "generatedAt": E.date(t), "expiresAt": E.date(t + 7 * DAY)}


def g_oven_frozen(w, rng, n, E):
    oids = ObjectIds(rng)
    codes = rng.sample(w.kidlisp_codes, min(n, len(w.kidlisp_codes)))
    for code, t in zip(codes, timeline(rng, n, _ms(2025, 10, 1), END - DAY)):
        h = rstr(rng, HEX, 8)
        yield {"_id": E.oid(oids(t)), "code": code, "hash": h,
               "frozenAt": E.date(t), "frames": E.i32(rng.randrange(1, 240)),
               "fps": E.i32(rng.choice((12, 24, 30, 60))),
               "width": E.i32(256), "height": E.i32(256),
               "spacesKey": "oven/frozen/%s-%s.webp" % (code, h),
               "bytes": E.i64(rng.randrange(20000, 2000000))}


def g_kidlisp_logs(w, rng, n, E):
    oids = ObjectIds(rng)
    for t in timeline(rng, n, END - 30 * DAY, END - 1000, 1.0):
        br = rng.choice(BROWSERS)
        d = {"_id": E.oid(oids(t)),
             "type": rng.choice(("gpu", "effect", "error")),
             "effect": rng.choice(("blur", "zoom", "spin", "contrast",
                                   "scroll")),
             "detail": rng.choice(("fallback to cpu", "slow frame: 48ms",
                                   "shader compile failed", "ok")),
             "device": {"userAgent": br[4], "mobile": br[5],
                        "gpu": {"renderer": rng.choice(GPUS)}},
             "gpuStatus": {"disabled": {"blur": rng.random() < 0.2,
                                        "zoom": False}},
             "server": {"ip": fake_ip(rng),
                        "country": rng.choice(COUNTRIES)[0]},
             "createdAt": E.date(t)}
        yield d


def g_false_work_builds(w, rng, n, E):
    oids = ObjectIds(rng)
    for i, t in enumerate(timeline(rng, n, _ms(2025, 4, 1), END - DAY)):
        yield {"_id": E.oid(oids(t)), "platform":
               rng.choice(("windows", "mac", "linux")),
               "version": "0.%d.%d" % (i // 8, i % 8), "branch": "main",
               "commit": git_sha(rng), "builtAt": E.date(t),
               "size": E.i64(rng.randrange(300 * 2**20, 3 * 2**30)),
               "status": rng.choice(("ok", "ok", "ok", "failed")),
               "url": "https://releases.aesthetic.computer/false.work/%d.zip"
               % i}


def g_false_work_reports(w, rng, n, E):
    oids = ObjectIds(rng)
    for t in timeline(rng, n, _ms(2025, 6, 1), END - DAY):
        yield {"_id": E.oid(oids(t)), "title": words(rng, 4),
               "body": words(rng, 40) + "\n\n" + words(rng, 20),
               "createdAt": E.date(t)}


def g_jas_tags(w, rng, n, E):
    oids = ObjectIds(rng)
    for i, t in enumerate(timeline(rng, n, _ms(2024, 2, 1), END - DAY)):
        yield {"_id": E.oid(oids(t)), "tag": WORDS[i % len(WORDS)],
               "count": E.i32(rng.randrange(1, 60))}


def g_jas_stretched(w, rng, n, E):
    oids = ObjectIds(rng)
    for t in timeline(rng, n, _ms(2024, 5, 1), END - DAY):
        yield {"_id": E.oid(oids(t)), "code": rstr(rng, ALNUM, 4),
               "width": E.i32(4096), "height": E.i32(2048),
               "ratio": E.dbl(2.0), "when": E.date(t)}


def g_sotce_pages(w, rng, n, E):
    subs = w.sotce_subs
    for oid, t in w.sotce_pages[:n]:
        d = {"_id": E.oid(oid), "user": subs[int(len(subs) *
                                                rng.random() ** 2)],
             "words": "\n".join(words(rng, rng.randrange(5, 16))
                                for _ in range(rng.randrange(1, 8))),
             "state": rng.choice(("published", "published", "draft")),
             "when": E.date(t), "updated": E.date(t + rng.randrange(DAY))}
        if rng.random() < 0.5:
            d["number"] = E.i32(rng.randrange(1, 400))
        yield d


def g_sotce_touches(w, rng, n, E):
    oids = ObjectIds(rng)
    subs, pages = w.sotce_subs, w.sotce_pages
    seen = set()
    cap = len(subs) * len(pages)
    for t in timeline(rng, min(n, cap), _ms(2024, 1, 2), END - 1000):
        while True:
            pair = (rng.randrange(len(subs)), rng.randrange(len(pages)))
            if pair not in seen:
                seen.add(pair)
                break
        yield {"_id": E.oid(oids(t)), "user": subs[pair[0]],
               "page": pages[pair[1]][0], "when": E.date(t)}


def g_sotce_asks(w, rng, n, E):
    oids = ObjectIds(rng)
    subs = w.sotce_subs
    for t in timeline(rng, n, _ms(2024, 4, 1), END - 1000):
        d = {"_id": E.oid(oids(t)), "from": rng.choice(subs),
             "question": words(rng, rng.randrange(4, 20)) + "?",
             "state": rng.choice(("pending", "answered", "answered")),
             "when": E.date(t)}
        if d["state"] == "answered":
            d["answer"] = words(rng, rng.randrange(10, 60))
            d["answeredAt"] = E.date(t + rng.randrange(DAY, 20 * DAY))
        yield d


def g_news_posts(w, rng, n, E):
    for i, (oid, t, code) in enumerate(w.news[:n]):
        bsky = rng.random() < 0.6
        d = {"_id": E.oid(oid), "code": code, "title": words(rng, 6).title(),
             "url": "https://example.%s/%s" % (rng.choice(TLDS),
                                               rstr(rng, ALNUM, 8)),
             "text": words(rng, rng.randrange(0, 60))}
        if bsky:
            d["user"] = None
        else:
            d["user"] = w.chatter(rng).id
        d["when"] = E.date(t)
        d["updated"] = E.date(t + rng.randrange(DAY))
        d["score"] = E.i32(int(rng.random() ** 3 * 90))
        d["commentCount"] = E.i32(0)
        d["status"] = "live" if rng.random() < 0.95 else "removed"
        if bsky:
            did = "did:plc:" + rstr(rng, B32, 24)
            rk = tid(t - 3600000, rng)
            d["external"] = {"source": "bsky", "did": did,
                             "handle": rng.choice(SYL) + rng.choice(SYL) +
                             ".bsky.social",
                             "postUri": "at://%s/app.bsky.feed.post/%s" % (
                                 did, rk),
                             "postCid": cid(rng),
                             "postedAt": E.date(t - 3600000),
                             "fetchedAt": E.date(t)}
        if rng.random() < 0.4:
            rk = tid(t + 1000, rng)
            d["atproto"] = {"did": w.art_guest_did, "uri":
                            "at://%s/computer.aesthetic.news/%s" % (
                                w.art_guest_did, rk), "rkey": rk}
        yield d


def g_news_comments(w, rng, n, E):
    posts = w.news
    prev = []
    for oid, t in w.news_comments[:n]:
        p = posts[rng.randrange(len(posts))]
        d = {"_id": E.oid(oid), "postCode": p[2],
             "parent": (E.oid(rng.choice(prev)) if prev and rng.random() < 0.3
                        else None),
             "user": w.chatter(rng).id,
             "text": rng.choice(CHAT_LINES) if rng.random() < 0.4 else
             words(rng, rng.randrange(3, 40)),
             "score": E.i32(int(rng.random() ** 3 * 20)),
             "status": "live" if rng.random() < 0.97 else "removed",
             "when": E.date(max(t, p[1] + 1000))}
        prev.append(oid)
        if len(prev) > 50:
            prev.pop(0)
        yield d


def g_news_votes(w, rng, n, E):
    oids = ObjectIds(rng)
    items = [("post", c) for _, _, c in w.news] + \
        [("comment", o) for o, _ in w.news_comments]
    seen = set()
    cap = len(items) * len(w.handle_users)
    for t in timeline(rng, min(n, cap), _ms(2025, 9, 3), END - 1000):
        it, uid = fresh(seen, lambda: (items[rng.randrange(len(items))],
                                       w.chatter(rng).id))
        yield {"_id": E.oid(oids(t)), "itemType": it[0], "itemId": it[1],
               "user": uid, "when": E.date(t)}


def _piece_names(w, rng, n):
    names = list(PIECES)
    rng.shuffle(names)
    seen = set(names)
    while len(names) < n:
        if rng.random() < 0.7:
            p = "$" + rng.choice(w.kidlisp_codes)
        else:
            p = "@%s/%s" % (w.chatter(rng).handle, rng.choice(WORDS))
        if p not in seen:
            seen.add(p)
            names.append(p)
    return names[:n]


def _day(ms):
    t = time.gmtime(ms // 1000)
    return "%04d-%02d-%02d" % (t.tm_year, t.tm_mon, t.tm_mday)


def g_piece_hits(w, rng, n, E):
    oids = ObjectIds(rng)
    names = _piece_names(w, _rng(w.seed, "piece-names"),
                         max(n, COUNTS["piece-hits"]))
    for i, p in enumerate(names[:n]):
        first = _ms(2024, 1, 1) + rng.randrange(700) * DAY
        last = first + int((END - first) * rng.random())
        hits = int(rng.random() ** 4 * 200000) + 1
        daily = {}
        for k in range(rng.randrange(0, 6)):
            dd = last - k * DAY
            dh = rng.randrange(1, 300)
            daily[_day(dd)] = {"hits": E.i32(dh),
                               "unique": E.i32(rng.randrange(1, dh + 1))}
        yield {"_id": E.oid(oids(first)), "piece": p, "hits": E.i64(hits),
               "type": ("kidlisp" if p.startswith("$") else
                        "user" if p.startswith("@") else "system"),
               "lastHit": E.date(last), "firstHit": E.date(first),
               "uniqueUsers": E.i32(int(hits ** 0.6)), "daily": daily}


def g_piece_user_hits(w, rng, n, E):
    oids = ObjectIds(rng)
    names = _piece_names(w, _rng(w.seed, "piece-names"),
                         max(COUNTS["piece-hits"], w.counts["piece-hits"]))
    names = names[:max(1, w.counts["piece-hits"])]
    seen = set()
    users = [u.id for u in w.handle_users] + ["anonymous"]
    cap = len(names) * len(users)
    for _ in range(min(n, cap)):
        while True:
            p = names[int(len(names) * rng.random() ** 2)]
            uid = ("anonymous" if rng.random() < 0.1 else
                   w.chatter(rng).id)
            if (p, uid) not in seen:
                seen.add((p, uid))
                break
        first = _ms(2024, 1, 1) + rng.randrange(700) * DAY
        yield {"_id": E.oid(oids(first)), "piece": p, "user": uid,
               "hits": E.i64(int(rng.random() ** 4 * 900) + 1),
               "lastHit": E.date(first + int((END - first) * rng.random())),
               "firstHit": E.date(first)}


def g_tickets(w, rng, n, E):
    oids = ObjectIds(rng)
    for i, t in enumerate(timeline(rng, n, _ms(2025, 5, 1), END - DAY)):
        d = {"_id": E.oid(oids(t)), "ticketId": "T-" + rstr(rng, ALNUM, 8)
             .upper(), "event": rng.choice(("botce-live", "notepat-jam",
                                             "kidlisp-workshop")),
             "quantity": E.i32(rng.choice((1, 1, 2, 4))),
             "amount": E.dbl(rng.choice((5.0, 12.5, 20.0, 33.33))),
             "currency": "usd", "status": rng.choice(("paid", "paid",
                                                      "refunded")),
             "purchasedAt": E.date(t),
             "stripeSession": "cs_test_FAKE" + rstr(rng, ALNUM, 20)}
        if rng.random() < 0.6:
            d["user"] = w.any_user(rng).id
        yield d


def g_products(w, rng, n, E):
    for i in range(n):
        name = "%s %s" % (rng.choice(("print", "sticker", "shirt", "zine",
                                      "tote")), rng.choice(WORDS))
        yield {"_id": "%s-%d" % (name.replace(" ", "-"), i), "name": name,
               "price": E.dbl(rng.choice((3.0, 12.0, 25.0, 45.5, 120.0))),
               "currency": "usd", "stock": E.i32(rng.randrange(0, 200)),
               "active": rng.random() < 0.8,
               "tags": [rng.choice(WORDS) for _ in range(rng.randrange(0,
                                                                      4))],
               "updatedAt": E.date(END - rng.randrange(1, 400) * DAY)}


GENERATORS = {
    "boots": g_boots, "logs": g_logs, "bundle-telemetry": g_bundle_telemetry,
    "oven-grabs": g_oven_grabs, "oven-bakes": g_oven_bakes,
    "oven-cache": g_oven_cache, "chat-system": g_chat_system,
    "chat-clock": g_chat_clock, "chat-sotce": g_chat_sotce,
    "chat-system-mutes": g_chat_system_mutes,
    "chat-clock-mutes": g_chat_clock_mutes,
    "chat-sotce-mutes": g_chat_sotce_mutes, "kidlisp": g_kidlisp,
    "paintings": g_paintings, "moods": g_moods, "pieces": g_pieces,
    "tapes": g_tapes, "clocks": g_clocks, "users": g_users,
    "@handles": g_handles, "verifications": g_verifications,
    "secrets": g_secrets, "oven-frozen-pieces": g_oven_frozen,
    "false.work-builds": g_false_work_builds,
    "false.work-reports": g_false_work_reports, "jas-tags": g_jas_tags,
    "jas-stretched-paintings": g_jas_stretched,
    "kidlisp-logs": g_kidlisp_logs, "sotce-pages": g_sotce_pages,
    "sotce-touches": g_sotce_touches, "sotce-asks": g_sotce_asks,
    "news-posts": g_news_posts, "news-comments": g_news_comments,
    "news-votes": g_news_votes, "piece-hits": g_piece_hits,
    "piece-user-hits": g_piece_user_hits, "tickets": g_tickets,
    "products": g_products,
}
assert set(GENERATORS) == set(COUNTS) == set(INDEXES)
assert sorted(sum(CATEGORIES.values(), [])) == sorted(COUNTS)


def iter_collection(name, scale=0.01, seed=1, ejson="canonical"):
    """Yield collection `name`'s documents in EJSON form (dicts ready for
    encode_document).  Exactly collection_counts(scale)[name] of them."""
    w = build_world(seed, scale)
    n = w.counts[name]
    E = CODECS[ejson]
    rng = _rng(seed, "docs", name)
    k = 0
    for d in GENERATORS[name](w, rng, n, E):
        k += 1
        yield d
    if k != n:
        raise AssertionError("%s: generated %d documents, want %d"
                             % (name, k, n))


# ------------------------------------------------------------------ backup


def generate_backup(outdir, scale=0.01, seed=1, layout="ndjson",
                    ejson="canonical", collections=None, progress=None):
    """Write the backup into outdir; return the manifest (also written as
    outdir/_manifest.json)."""
    if layout not in ("array", "ndjson"):
        raise ValueError("layout must be array or ndjson")
    if ejson not in CODECS:
        raise ValueError("ejson must be canonical or relaxed")
    os.makedirs(outdir, exist_ok=True)
    names = list(COUNTS) if collections is None else list(collections)
    entries = []
    for name in names:
        path = os.path.join(outdir, name + ".json")
        count = 0
        size = 0
        with open(path, "wb", buffering=1 << 20) as f:
            if layout == "array":
                f.write(b"[\n")
                size += 2
                sep = b""
                for d in iter_collection(name, scale, seed, ejson):
                    b = sep + encode_document(d).encode("utf-8")
                    f.write(b)
                    size += len(b)
                    count += 1
                    sep = b",\n"
                f.write(b"\n]\n")
                size += 3
            else:
                for d in iter_collection(name, scale, seed, ejson):
                    b = encode_document(d).encode("utf-8") + b"\n"
                    f.write(b)
                    size += len(b)
                    count += 1
        entries.append({"name": name, "file": name + ".json", "count": count,
                        "bytes": size, "indexes": indexes_for(name)})
        if progress:
            progress(name, count, size)
    manifest = {"database": DATABASE,
                "generator": {"name": "acgen", "version": VERSION,
                              "seed": seed, "scale": scale, "layout": layout,
                              "ejson": ejson},
                "collections": entries}
    with open(os.path.join(outdir, "_manifest.json"), "w",
              encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")
    return manifest


# ------------------------------------------------------------------ spaces
#
# Objects as in ac-platform.md §7, derived from the backup's documents for
# the same seed and scale.  The `user` bucket is keyed by the `user` field
# of the content (the auth0 sub, or the did:plc id for migrated users).

HEAVY_PREFIX_OBJECTS = 1030     # > 1,000 under one prefix at any scale
HUGE_SIZE = 2 * 2**30 + 12345   # --huge: just over 2 GiB, sparse

CT = {"png": "image/png", "mjs": "application/javascript",
      "zip": "application/zip", "mp4": "video/mp4", "jpg": "image/jpeg",
      "webp": "image/webp", "gif": "image/gif",
      "AppImage": "application/octet-stream"}
MAGIC = {"png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
         "zip": b"PK\x03\x04\x14\x00\x00\x00\x08\x00",
         "mp4": b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41",
         "jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
         "webp": b"RIFF\x00\x00\x00\x00WEBPVP8 ", "gif": b"GIF89a"}


def _kb(rng, lo, hi):
    """A size between lo and hi KB, skewed low, in bytes."""
    return int((lo + (hi - lo) * rng.random() ** 1.5) * 1024)


def object_bytes(seed, bucket, key, size):
    """The deterministic content of an object (held in memory: callers
    write the > 2 GiB object differently)."""
    ext = key.rsplit(".", 1)[-1]
    if size == 0:
        return b""
    if ext == "mjs":
        r = _rng(seed, "obj", bucket, key)
        head = ("// %s, made up by acgen\nexport function paint({ wipe, ink, "
                "line }) {\n  wipe(%d);\n  ink(%d, %d, %d).line();\n}\n"
                % (key.rsplit("/", 1)[-1], r.randrange(256), r.randrange(256),
                   r.randrange(256), r.randrange(256))).encode()
        body = b""
        while len(head) + len(body) < size:
            body += ("// %s\n" % words(r, 12)).encode()
        return (head + body)[:size]
    head = MAGIC.get(ext, b"")[:size]
    r = _rng(seed, "obj", bucket, key)
    return head + r.randbytes(size - len(head))


class _Objects:
    def __init__(self, outdir, seed):
        self.outdir = outdir
        self.seed = seed
        self.rows = []
        self.keys = set()

    def add(self, bucket, key, size, user=None, source=None):
        if (bucket, key) in self.keys:
            return
        self.keys.add((bucket, key))
        data = object_bytes(self.seed, bucket, key, size)
        assert len(data) == size
        path = os.path.join(self.outdir, bucket, *key.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        ext = key.rsplit(".", 1)[-1]
        self.rows.append({"bucket": bucket, "key": key, "size": size,
                          "sha256": hashlib.sha256(data).hexdigest(),
                          "content_type": CT.get(ext,
                                                 "application/octet-stream"),
                          "user": user, "source": source})

    def add_huge(self, bucket, key, size):
        path = os.path.join(self.outdir, bucket, *key.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.truncate(0)
            f.seek(size - 1)
            f.write(b"\x00")
        # The logical content is `size` zero bytes: hash it in 4 MiB steps.
        h = hashlib.sha256()
        zero = bytes(4 << 20)
        left = size
        while left:
            k = min(left, len(zero))
            h.update(zero if k == len(zero) else zero[:k])
            left -= k
        self.keys.add((bucket, key))
        self.rows.append({"bucket": bucket, "key": key, "size": size,
                          "sha256": h.hexdigest(),
                          "content_type": CT["AppImage"], "user": None,
                          "source": "release"})


def _docs_plain(name, scale, seed):
    """Documents in relaxed form (strings and plain numbers) for reading."""
    return iter_collection(name, scale, seed, "relaxed")


def generate_spaces(outdir, scale=0.01, seed=1, huge=False):
    """Write the Spaces objects under outdir/<bucket>/<key> and list them
    in outdir/_objects.ndjson (sorted by bucket, then key in UTF-8 byte
    order, as ListObjectsV2 returns them).  Returns the rows."""
    os.makedirs(outdir, exist_ok=True)
    w = build_world(seed, scale)
    objs = _Objects(outdir, seed)
    UB, ART, AT = ("user-aesthetic-computer", "art-aesthetic-computer",
                   "at-blobs-aesthetic-computer")
    rng = _rng(seed, "spaces", "sizes")

    for d in _docs_plain("paintings", scale, seed):
        if rng.random() < 0.02:
            continue                  # the file is gone: a dangling doc
        u = d.get("user")
        img, _, rec = d["slug"].partition(":")
        if u:
            objs.add(UB, "%s/painting/%s.png" % (u, img), _kb(rng, 50, 300),
                     u, "paintings")
            if rec:
                objs.add(UB, "%s/%s.zip" % (u, rec), _kb(rng, 40, 1500), u,
                         "paintings")
        else:
            objs.add(ART, "%s.png" % img, _kb(rng, 50, 300), None,
                     "paintings")
    for i, d in enumerate(_docs_plain("pieces", scale, seed)):
        u = d.get("user")
        size = 0 if (i == 2 or rng.random() < 0.03) else _kb(rng, 1, 20)
        if u:
            objs.add(UB, "%s/piece/%s.mjs" % (u, d["slug"]), size, u,
                     "pieces")
        else:
            objs.add(ART, "%s.mjs" % d["slug"], size, None, "pieces")
    for d in _docs_plain("tapes", scale, seed):
        u = d.get("user")
        if u:
            objs.add(UB, "%s/%s.zip" % (u, d["slug"]), _kb(rng, 100, 2000), u,
                     "tapes")
        else:
            objs.add(ART, "%s.zip" % d["slug"], _kb(rng, 100, 2000), None,
                     "tapes")
        if d.get("mp4Status") == "complete":
            objs.add(AT, "tapes/%s.mp4" % d["code"], _kb(rng, 512, 8192), u,
                     "tapes")
            # A failed thumbnail leaves an empty object now and then.
            objs.add(AT, "tapes/%s-thumb.jpg" % d["code"],
                     0 if rng.random() < 0.05 else _kb(rng, 8, 80), u,
                     "tapes")
    for d in _docs_plain("oven-cache", scale, seed):
        objs.add(ART, d["spacesKey"], _kb(rng, 1.5, 90), None, "oven-cache")
    for d in _docs_plain("oven-grabs", scale, seed):
        url = d.get("cdnUrl")
        if url and rng.random() < 0.5:      # the rest have been cleaned up
            objs.add(ART, url.split("art.aesthetic.computer/", 1)[1],
                     _kb(rng, 3, 120), None, "oven-grabs")
    for d in _docs_plain("oven-frozen-pieces", scale, seed):
        objs.add(ART, d["spacesKey"], _kb(rng, 20, 600), None,
                 "oven-frozen-pieces")
    for d in _docs_plain("news-posts", scale, seed):
        objs.add(ART, "og/news/%s.png" % d["code"], _kb(rng, 30, 200), None,
                 "news-posts")
    # The prolific user: many small, untracked uploads (tiny canvases whose
    # tracking call never landed), so one prefix crosses ListObjectsV2's
    # 1,000-key page at any scale.
    heavy = w.creators[0]
    hrng = _rng(seed, "spaces", "heavy")
    t = _ms(2022, 2, 2)
    for i in range(HEAVY_PREFIX_OBJECTS):
        t += hrng.randrange(1000, 3 * DAY)
        objs.add(UB, "%s/painting/%s.png" % (heavy.id, ac_slug(t)),
                 hrng.randrange(100, 4000), heavy.id, "untracked")
    # Legacy guest uploads with awkward names.
    for key in ("untitled painting.png", "über+café 2.png", "日本/絵.png",
                "space at end .png", "a+b+c.png", "100%.png"):
        objs.add(ART, "legacy/" + key, hrng.randrange(200, 3000), None,
                 "untracked")
    objs.add(ART, "legacy/empty.png", 0, None, "untracked")
    if huge:
        objs.add_huge("releases-aesthetic-computer",
                      "desktop/aesthetic-computer-1.0.0-x86_64.AppImage",
                      HUGE_SIZE)
    rows = sorted(objs.rows, key=lambda r: (r["bucket"],
                                            r["key"].encode("utf-8")))
    with open(os.path.join(outdir, "_objects.ndjson"), "w",
              encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False, separators=(",", ":"))
                    + "\n")
    return rows


# ------------------------------------------------------------------ cli


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="acgen.py", description="A deterministic, made-up Aesthetic "
        "Computer data set: the MongoDB JSON backup and the Spaces objects.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("backup", help="write _manifest.json and one "
                       "<collection>.json per collection")
    b.add_argument("outdir")
    b.add_argument("--scale", type=float, default=0.01)
    b.add_argument("--seed", type=int, default=1)
    b.add_argument("--layout", choices=("array", "ndjson"), default="ndjson")
    b.add_argument("--ejson", choices=("canonical", "relaxed"),
                   default="canonical")
    b.add_argument("--collection", action="append",
                   help="only this collection (repeatable)")
    b.add_argument("-q", "--quiet", action="store_true")
    s = sub.add_parser("spaces", help="write the Spaces objects and "
                       "_objects.ndjson")
    s.add_argument("outdir")
    s.add_argument("--scale", type=float, default=0.01)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--huge", action="store_true",
                   help="add one sparse object over 2 GiB")
    c = sub.add_parser("counts", help="print the per-collection counts")
    c.add_argument("--scale", type=float, default=1.0)
    a = ap.parse_args(argv)

    if a.cmd == "counts":
        counts = collection_counts(a.scale)
        for cat, names in CATEGORIES.items():
            print("%-16s %8d" % (cat, sum(counts[n] for n in names)))
            for n in names:
                print("    %-28s %8d" % (n, counts[n]))
        print("%-16s %8d  (%d collections)" % ("total", sum(counts.values()),
                                               len(counts)))
        return 0
    if a.scale <= 0:
        ap.error("--scale must be positive")
    t0 = time.monotonic()
    if a.cmd == "backup":
        def progress(name, count, size):
            if not a.quiet:
                print("%-28s %8d docs %12d bytes" % (name, count, size),
                      file=sys.stderr)
        m = generate_backup(a.outdir, a.scale, a.seed, a.layout, a.ejson,
                            a.collection, progress)
        docs = sum(c["count"] for c in m["collections"])
        size = sum(c["bytes"] for c in m["collections"])
        print("acgen: %d collections, %d documents, %d bytes in %.1f s"
              % (len(m["collections"]), docs, size, time.monotonic() - t0),
              file=sys.stderr)
    else:
        rows = generate_spaces(a.outdir, a.scale, a.seed, a.huge)
        print("acgen: %d objects, %d bytes in %.1f s"
              % (len(rows), sum(r["size"] for r in rows),
                 time.monotonic() - t0), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
