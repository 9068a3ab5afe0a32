#!/usr/bin/env python3
"""Check a case bundle of the retirement hub's message log, offline.

Standalone on purpose: Python 3.10+ and the ``cryptography`` package, nothing from the hub.
Copy this one file to any machine and run ``python offline.py BUNDLE.json``; exit status 0
means every record in the bundle is in the log the hub signed, unchanged, and nothing the log
holds for the case is missing from the records.

Checks: the checkpoint's Ed25519 signature (and that the key id is the key's RFC 7638
thumbprint), each leaf's inclusion proof up to the checkpoint's root (RFC 9162), and each
record against its leaves: events by the SHA-256 of their canonical JSON, deliveries by
member, event, outcome and every attempt (id, time, status).
"""
from __future__ import annotations

import base64
import hashlib
import json
import sys
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FORMAT = "retirement-hub-log-bundle/1"
STATE_OF_OUTCOME = {"delivered": "delivered", "dead": "dead", "replayed": "pending"}


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion(index: int, size: int, hashed: bytes, proof: list[bytes]) -> bytes:
    """RFC 9162 section 2.1.3.2."""
    if not 0 <= index < size or any(len(p) != 32 for p in proof):
        raise ValueError("malformed proof")
    fn, sn, r = index, size - 1, hashed
    for p in proof:
        if sn == 0:
            raise ValueError("proof too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn != 0 and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ValueError("proof too short")
    return r


def key_id(pub: Ed25519PublicKey) -> str:
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    thumb = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"),
                       sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(thumb.encode()).digest()).rstrip(b"=").decode()


def check_checkpoint(bundle: dict[str, Any]) -> tuple[list[str], bytes, int]:
    problems: list[str] = []
    cp = bundle["checkpoint"]
    pub = serialization.load_pem_public_key(bundle["public_key_pem"].encode())
    if not isinstance(pub, Ed25519PublicKey):
        return ["the bundle's public key is not Ed25519"], b"", 0
    if key_id(pub) != cp["keyid"]:
        problems.append("checkpoint: key id does not match the public key")
    try:
        pub.verify(base64.b64decode(cp["signature"]), cp["note"].encode("utf-8"))
    except (InvalidSignature, ValueError):
        problems.append(f"checkpoint {cp['size']}: the signature does not verify")
    for co in cp.get("cosignatures", []):
        pem = bundle.get("witnesses", {}).get(co.get("keyid"))
        try:
            wkey = serialization.load_pem_public_key(pem.encode()) if pem else None
            if not isinstance(wkey, Ed25519PublicKey):
                raise ValueError("no Ed25519 key")
            wkey.verify(base64.b64decode(co["signature"]), cp["note"].encode("utf-8"))
        except (InvalidSignature, ValueError, KeyError):
            problems.append(f"checkpoint: the co-signature of {co.get('member')} does not verify")
    lines = cp["note"].split("\n")
    if len(lines) < 4 or lines[1] != str(cp["size"]) or lines[2] != cp["root_hash"]:
        problems.append("checkpoint: size or root differ from the signed note")
    return problems, base64.b64decode(lines[2] if len(lines) > 2 else ""), int(cp["size"])


def verify_bundle(bundle: dict[str, Any]) -> list[str]:
    """Every problem found; an empty list means the bundle verifies."""
    if bundle.get("format") != FORMAT:
        return [f"not a {FORMAT} bundle"]
    problems, root, size = check_checkpoint(bundle)
    events: dict[int, tuple[int, dict[str, Any]]] = {}
    deliveries: dict[int, list[tuple[int, dict[str, Any]]]] = {}
    for item in bundle["leaves"]:
        idx, data = int(item["index"]), item["leaf"].encode("utf-8")
        try:
            proof = [base64.b64decode(p) for p in item["proof"]]
            ok = root_from_inclusion(idx, size, leaf_hash(data), proof) == root
        except ValueError:
            ok = False
        if not ok:
            problems.append(f"leaf {idx}: not in the log signed by checkpoint {size}")
        leaf = json.loads(data)
        if leaf["kind"] == "event":
            events[leaf["seq"]] = (idx, leaf)
        else:
            deliveries.setdefault(leaf["delivery"], []).append((idx, leaf))
    sent: dict[int, str] = {}
    for rec in bundle["events"]:
        seq, digest = rec["seq"], sha256_hex(canonical(rec["envelope"]))
        sent[seq] = digest
        name = f"event {seq} (id {rec['envelope'].get('id')})"
        if seq not in events:
            problems.append(f"{name}: not in the log (inserted?)")
            continue
        idx, leaf = events.pop(seq)
        if leaf["event_sha256"] != digest:
            problems.append(f"{name}, leaf {idx}: content differs from the logged digest")
        if (leaf["member"] != rec["envelope"].get("source")
                or leaf["received_at"] != rec["received_at"]):
            problems.append(f"{name}, leaf {idx}: source or receipt time differ from the log")
    for seq, (idx, leaf) in sorted(events.items()):
        problems.append(f"event {seq} (id {leaf['id']}), leaf {idx}: logged but missing (removed?)")
    for rec in bundle["deliveries"]:
        problems += _delivery(rec, deliveries.pop(rec["id"], []), sent)
    for did, leaves in sorted(deliveries.items()):
        problems.append(f"delivery {did}, leaf {leaves[0][0]}: logged but missing (removed?)")
    return problems


def _delivery(rec: dict[str, Any], leaves: list[tuple[int, dict[str, Any]]],
              sent: dict[int, str]) -> list[str]:
    name = f"delivery {rec['id']} (to {rec['member']})"
    recorded = {a["id"]: a for a in rec["attempts"]}
    if not leaves:
        if rec["state"] != "pending" or recorded:
            return [f"{name}: {rec['state']} but not in the log (inserted?)"]
        return []
    out = []
    logged: dict[int, dict[str, Any]] = {}
    for idx, leaf in leaves:
        if leaf["member"] != rec["member"] or leaf["event_seq"] != rec["event_seq"]:
            out.append(f"{name}, leaf {idx}: member or event differ from the log")
        if rec["event_seq"] in sent and leaf["sent_sha256"] != sent[rec["event_seq"]]:
            out.append(f"{name}, leaf {idx}: the event sent differs from the log")
        logged.update({a["id"]: a for a in leaf["attempts"]})
    for aid in sorted(logged.keys() - recorded.keys()):
        out.append(f"attempt {aid} of {name}: logged but missing (removed?)")
    for aid in sorted(recorded.keys() & logged.keys()):
        if recorded[aid] != logged[aid]:
            out.append(f"attempt {aid} of {name}: differs from the log (changed?)")
    newest = max(logged, default=0)
    for aid in sorted(recorded.keys() - logged.keys()):
        if not (rec["state"] == "pending" and aid > newest):  # a retry still under way
            out.append(f"attempt {aid} of {name}: not in the log (inserted?)")
    last = leaves[-1][1]["outcome"]
    if rec["state"] in ("delivered", "dead") and STATE_OF_OUTCOME.get(last) != rec["state"]:
        out.append(f"{name}: {rec['state']} but the log's last outcome is {last}")
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: offline.py BUNDLE.json", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as fh:
        bundle = json.load(fh)
    problems = verify_bundle(bundle)
    cp = bundle.get("checkpoint", {})
    for p in problems:
        print("FAIL", p)
    if problems:
        print(f"bundle for {bundle.get('case_id')}: {len(problems)} problem(s)")
        return 1
    print(f"bundle for {bundle['case_id']}: OK, {len(bundle['events'])} events, "
          f"{len(bundle['deliveries'])} deliveries, {len(bundle['leaves'])} leaves in checkpoint "
          f"{cp.get('size')} of {cp.get('origin')} signed at {cp.get('time')}"
          + "".join(f", co-signed by {c['member']}" for c in cp.get("cosignatures", [])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
