#!/usr/bin/env python3
"""Third-party check of an audited log's hash chain (and, with the `cryptography` package and
a public key, its signed digests). Python 3.8+, standard library only for the chain.

    python3 verify_chain.py audit_log.json [--key audit_signing.pub]
    python3 verify_chain.py audit_log.json.2 audit_log.json.1 audit_log.json --key ...  # a rotated set

Exit 0 when the chain (and the digests) hold, 1 at the first problem. The recipe is in the
README's "Integrity" section; this script is that recipe and nothing else. It loads the whole
log into memory (use `auditlog verify` for huge logs: it streams).
"""
import csv, hashlib, json, sys
from collections import namedtuple

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def es_number(x):
    """ECMAScript Number.prototype.toString for a finite double (RFC 8785 3.2.2.3)."""
    if x == 0:
        return "0"
    sign, x = ("-", -x) if x < 0 else ("", x)
    mant, _, exp = repr(x).partition("e")          # shortest round-trip digits
    intpart, _, frac = mant.partition(".")
    digits = (intpart + frac).lstrip("0")
    n = len(intpart) + int(exp or 0) - (len(intpart + frac) - len((intpart + frac).lstrip("0")))
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        s = digits + "0" * (n - k)
    elif 0 < n <= 21:
        s = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        s = "0." + "0" * -n + digits
    else:
        e = n - 1
        s = digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if e >= 0 else "-") + str(abs(e))
    return sign + s


def jcs(v):
    """RFC 8785, except that integers are written exactly (as the writer does)."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return es_number(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ",".join(jcs(x) for x in v) + "]"
    keys = sorted(v, key=lambda k: k.encode("utf-16-be"))
    return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + jcs(v[k]) for k in keys) + "}"


def link_of(event):
    """The event's link, and its details without it (the content hash leaves it out)."""
    details = dict(event["details"] or {})
    audit = details.get("_audit")
    if not isinstance(audit, dict) or "chain" not in audit:
        return None, details
    audit = dict(audit)
    link = audit.pop("chain")
    if audit:
        details["_audit"] = audit
    else:
        del details["_audit"]
    return link, details


def link_hash(event, link, details, prev):
    """`prev`: the hash of the link before it in the file (a file's first link stores its
    own `prev`; so do all links of logs written before links left it out)."""
    content = {"action_type": event["action_type"], "details": details,
               "error": event["error"] or None, "status": event["status"]}
    content_hash = hashlib.sha256(jcs(content).encode("utf-8")).digest()
    first = b"\x01" if link.get("first") else b"\x00"
    data = (bytes.fromhex(link.get("prev", prev)) + link["seq"].to_bytes(8, "big") + first
            + event["timestamp"].encode("ascii") + content_hash)
    return hashlib.sha256(data).hexdigest()


def read_events(path):
    """The events, oldest first."""
    with open(path, "rb") as f:
        start = f.read(1)
    if start == b"[":
        with open(path, encoding="utf-8") as f:
            return list(reversed(json.load(f)))
    events = []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            for cell in ("action_type", "status", "error"):
                c = row[cell]
                if c.startswith("'") and c.lstrip("'").startswith(TRIGGERS):
                    row[cell] = c[1:]
            row["details"] = json.loads(row["details"]) if row["details"] else {}
            row["error"] = row["error"] or None
            events.append(row)
    return events


def fail(message):
    print("problem: " + message)
    sys.exit(1)


File = namedtuple("File", "path first last heads unchained")


def check_file(path):
    """One file's chain: its first link, its last, its heads (seq -> hash), unchained count."""
    first, prev, unchained, heads = None, None, 0, {}
    for event in read_events(path):
        link, details = link_of(event)
        if link is None:
            if prev is not None:
                fail("%s: an event without a link after seq %d" % (path, prev["seq"]))
            unchained += 1
            continue
        if prev is None:
            if not link.get("first") or "prev" not in link:
                fail("%s: seq %d: events before it were deleted" % (path, link["seq"]))
            first = link
        elif (link.get("first") or link["seq"] != prev["seq"] + 1
              or link.get("prev", prev["hash"]) != prev["hash"]):
            fail("%s: seq %d: does not follow seq %d" % (path, link["seq"], prev["seq"]))
        if link_hash(event, link, details, prev and prev["hash"]) != link["hash"]:
            fail("%s: seq %d: the event does not match its hash" % (path, link["seq"]))
        heads[link["seq"]] = link["hash"]
        prev = link
    if prev is None:
        fail("no hash chain in %s (written without tamper evidence)" % path)
    return File(path, first, prev, heads, unchained)


def in_chain_order(files):
    """The files of a rotated set, oldest first: each file's first link names the previous
    file's head as its `prev`, with the next seq; the oldest starts a new chain."""
    head = lambda f: (f.last["seq"], f.last["hash"])
    before = lambda f: (f.first["seq"] - 1, f.first["prev"])    # what its oldest link follows
    heads, befores = {head(f) for f in files}, {before(f) for f in files}
    oldest = [f for f in files if before(f) not in heads]
    newest = [f for f in files if head(f) not in befores]
    if len(oldest) != 1 or len(newest) != 1:
        fail("the files do not form one chain: a rotated file is missing between them")
    order, f = [], oldest[0]
    while f is not None:
        order.append(f)
        f = next((g for g in files if before(g) == head(f)), None)
    if len(order) != len(files):
        fail("the files do not form one chain: a rotated file is missing between them")
    if order[0].first["prev"] != "0" * 64:
        fail("%s: seq %d continues a file that was not given" % (order[0].path, order[0].first["seq"]))
    return order


def sidecars(paths):
    """The digest files of the set: each file's own, and the current log's (`audit_log.json`
    for `audit_log.json.1`), which the logger goes on appending to after a rotation."""
    found = []
    for path in paths:
        stem, _, suffix = path.rpartition(".")
        for candidate in (path + ".digests", stem + ".digests" if suffix.isdigit() else None):
            if candidate and candidate not in found:
                try:
                    with open(candidate, "rb") as f:
                        found.append((candidate, f.read().split(b"\n")[:-1]))  # a torn last line is not a digest
                except FileNotFoundError:
                    pass
    return found


def main(argv):
    key = argv[argv.index("--key") + 1] if "--key" in argv else None
    paths = [a for i, a in enumerate(argv[1:], 1) if a != "--key" and argv[i - 1] != "--key"]
    files = [check_file(path) for path in paths]
    if len(files) > 1:
        files = in_chain_order(files)
    prev, heads = files[-1].last, {}
    for f in files:
        heads.update(f.heads)
    unchained = files[0].unchained
    verify = None
    if key:
        try:
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        except ImportError:
            print("note: the cryptography package is missing: signatures not checked")
        else:
            with open(key) as f:
                pub = Ed25519PublicKey.from_public_bytes(bytes.fromhex(f.read().split()[1]))
            verify = pub.verify
    digests = []
    for sidecar, lines in sidecars(paths):
        last_sig = None
        for i, line in enumerate(lines, 1):
            d = json.loads(line)
            if d["prev_sig"] != last_sig:
                fail("%s line %d: the digest before it is missing" % (sidecar, i))
            if verify:
                msg = (b"audited-digest-v1" + d["seq"].to_bytes(8, "big") + bytes.fromhex(d["hash"])
                       + d["timestamp"].encode("ascii") + bytes.fromhex(d["prev_sig"] or "00" * 64))
                try:
                    verify(bytes.fromhex(d["sig"]), msg)
                except Exception:
                    fail("%s line %d: bad signature" % (sidecar, i))
            if d["seq"] > prev["seq"]:
                fail("the log ends at seq %d but %s line %d names seq %d: events cut off"
                     % (prev["seq"], sidecar, i, d["seq"]))
            if d["seq"] in heads and heads[d["seq"]] != d["hash"]:
                fail("seq %d differs from %s line %d: the chain was recomputed" % (d["seq"], sidecar, i))
            digests.append(d)
            last_sig = d["sig"]
    signed = max((d["seq"] for d in digests if d["seq"] in heads), default=None)
    if key and signed is None:
        fail("no signed digest names any of the chained events")
    print("ok: %d chained events in %d file(s) (after %d unchained), head seq %d %s, last digest seq %s%s"
          % (len(heads), len(files), unchained, prev["seq"], prev["hash"][:12], signed,
             "" if verify else " (signatures not checked)"))


if __name__ == "__main__":
    main(sys.argv)
