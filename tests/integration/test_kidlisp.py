"""/api/kidlisp/stats against the generated dataset; every expected value
is computed here from the documents acgen made."""

from datetime import datetime, timedelta, timezone

import pytest

# acgen's times end on 2026-02-10 (tools/acgen.py END): windows end there.
UNTIL = "2026-02-09"


def iso(d):
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")


def utc(d):
    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)


def handles(acdata):
    return {h["_id"]: "@" + h["handle"] for h in acdata["@handles"]}


def handle_of(doc, sub, hmap):
    return hmap.get(sub) or doc.get("handle")


def stats(stack, query="", status=200):
    r = stack.get("/api/kidlisp/stats" + query)
    assert r.status == status, r
    return r.json()


def test_totals_and_keeps(stack, acdata):
    docs = acdata["kidlisp"]
    body = stats(stack)
    assert body["total"] == len(docs)
    tez = [d for d in docs if isinstance(d.get("tezos"), dict)]
    want = {"kept": sum(isinstance(d.get("kept"), dict) for d in docs),
            "pending": sum(isinstance(d.get("pendingKeep"), dict) for d in docs),
            "tezos": len(tez),
            "tezos_minted": sum(d["tezos"].get("minted") is True for d in tez)}
    want["minted"] = want["kept"] + want["tezos_minted"]
    assert body["keeps"] == want
    assert want["kept"] > 0 and want["tezos"] > 0   # the data has some


def expected_series(docs, until, days, step):
    end = datetime.strptime(until, "%Y-%m-%d").replace(
        tzinfo=timezone.utc) + timedelta(days=1)
    start = end - timedelta(days=days)
    n = (days + step - 1) // step
    counts = [0] * n
    for d in docs:
        w = utc(d["when"])
        if start <= w < end:
            counts[(w - start).days // step] += 1
    series = []
    for i in range(n):
        b = start + timedelta(days=i * step)
        stop = min(b + timedelta(days=step), end)
        series.append({"start": b.strftime("%Y-%m-%d"),
                       "days": (stop - b).days, "count": counts[i]})
    return start, series


@pytest.mark.parametrize("days,bucket,step", [(30, "day", 1), (60, "week", 7),
                                              (366, "week", 7), (1, "day", 1)])
def test_created_series(stack, acdata, days, bucket, step):
    body = stats(stack, f"?days={days}&bucket={bucket}&until={UNTIL}")
    start, series = expected_series(acdata["kidlisp"], UNTIL, days, step)
    c = body["created"]
    assert c["bucket"] == bucket and c["days"] == days
    assert c["from"] == start.strftime("%Y-%m-%d") and c["until"] == UNTIL
    assert c["series"] == series
    assert c["total"] == sum(b["count"] for b in series)
    if days >= 30:
        assert c["total"] > 0


def test_top_by_hits_with_handles(stack, acdata):
    hmap = handles(acdata)
    want = sorted(acdata["kidlisp"], key=lambda d: (-int(d["hits"]),
                                                     d["code"]))[:7]
    body = stats(stack, "?top=7")
    got = body["top"]
    assert [g["code"] for g in got] == [d["code"] for d in want]
    for g, d in zip(got, want):
        assert g["hits"] == int(d["hits"])
        assert g["when"] == iso(d["when"])
        assert g["handle"] == handle_of(d, d.get("user"), hmap)
        assert "source" not in g
    assert any(g["handle"] for g in got)


def test_recent_keeps(stack, acdata):
    hmap = handles(acdata)
    kept = [d for d in acdata["kidlisp"] if isinstance(d.get("kept"), dict)]
    want = sorted(kept, key=lambda d: (-utc(d["kept"]["keptAt"]).timestamp(),
                                       d["code"]))[:10]
    got = stats(stack)["recent_keeps"]
    assert [g["code"] for g in got] == [d["code"] for d in want]
    for g, d in zip(got, want):
        assert g["kept_at"] == iso(d["kept"]["keptAt"])
        assert g["hits"] == int(d["hits"])
        assert g["network"] == d["kept"]["network"]
        assert g["token_id"] == d["kept"]["tokenId"]
        assert g["handle"] == handle_of(d, d["kept"]["keptBy"], hmap)
        assert "source" not in g


def test_source_only_when_asked_and_bounded(stack, acdata):
    by_code = {d["code"]: d for d in acdata["kidlisp"]}
    plain = stats(stack, "?top=20&recent=5")
    assert all("source" not in g for g in plain["top"] + plain["recent_keeps"])
    assert plain["source_bytes"] == 0
    body = stats(stack, "?top=20&recent=5&source=12")
    assert body["source_bytes"] == 12
    for g in body["top"] + body["recent_keeps"]:
        src = by_code[g["code"]]["source"]
        raw = src.encode()
        assert len(g["source"].encode()) <= 12
        assert raw.startswith(g["source"].encode())
        assert g["source_truncated"] == (len(raw) > 12)


def test_lists_can_be_empty(stack, acdata):
    body = stats(stack, "?top=0&recent=0")
    assert body["top"] == [] and body["recent_keeps"] == []


@pytest.mark.parametrize("query,names", [
    ("?days=0", "days='0'"), ("?days=367", "days='367'"),
    ("?days=ten", "days='ten'"), ("?days=-3", "days='-3'"),
    ("?bucket=month", "bucket='month'"), ("?until=2026-02-30", "until="),
    ("?until=yesterday", "until='yesterday'"), ("?top=101", "top='101'"),
    ("?recent=x", "recent='x'"), ("?source=5000", "source='5000'"),
    ("?limit=3", "'limit'"),
])
def test_bad_parameters_are_400_naming_the_problem(stack, acdata, query,
                                                   names):
    body = stats(stack, query, status=400)
    assert body["error"]["code"] == "bad_request"
    assert names in body["error"]["message"], body


def test_answer_is_cached_with_its_age(stack, acdata):
    stack.clear_cache()
    first = stats(stack, f"?until={UNTIL}")
    again = stats(stack, f"?until={UNTIL}")
    assert again["cached_at"] == first["cached_at"]
    assert again["age_s"] >= first["age_s"]
