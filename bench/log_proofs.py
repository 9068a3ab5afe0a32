"""Cost of the message log at scale: ``python -m bench.log_proofs [--leaves N] [--db URL]``.

Appends N synthetic leaves through the log's own appender (batches of 10,000 in one
transaction each, the way a busy hub commits), then times inclusion proofs for random leaves,
a consistency proof and a checkpoint signature. Prints one JSON object; ``make bench`` does not
run it (10^6 leaves take minutes on a shared machine).
"""
from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from hub.bootstrap import init
from hub.config import Config
from hub.messagelog import checkpoints, merkle
from hub.messagelog.appender import append
from hub.messagelog.proofs import consistency, node_reader
from hub.services.outbox import utcnow


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--leaves", type=int, default=1_000_000)
    ap.add_argument("--db", default=None, help="database URL (default: a temporary SQLite file)")
    ap.add_argument("--proofs", type=int, default=1000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'log.db'}"
        _, hub = init(Config(database_url=url, key_dir=Path(tmp) / "keys", run_worker=False))
        t0 = time.perf_counter()
        done = 0
        while done < args.leaves:
            n = min(10_000, args.leaves - done)
            rows = [{"kind": "event", "ref": done + i, "case_id": None, "attempt_max": None,
                     "leaf": {"kind": "event", "seq": done + i}} for i in range(n)]
            with hub.transaction() as s:
                append(s, rows, utcnow())
            done += n
        append_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        cp = checkpoints.sign(hub, force=True)
        sign_ms = (time.perf_counter() - t1) * 1000
        assert cp is not None
        rng = random.Random(7)
        times = []
        with hub.transaction() as s:
            for _ in range(args.proofs):
                idx = rng.randrange(cp.size)
                t = time.perf_counter()
                proof = merkle.inclusion_proof(node_reader(s), idx, cp.size)
                times.append((time.perf_counter() - t) * 1000)
                data = json.dumps({"kind": "event", "seq": idx}, separators=(",", ":"),
                                  sort_keys=True).encode()
                merkle.verify_inclusion(idx, cp.size, merkle.leaf_hash(data), proof, cp.root)
        t2 = time.perf_counter()
        consistency(hub, cp.size // 3, cp.size)
        cons_ms = (time.perf_counter() - t2) * 1000
        times.sort()
        print(json.dumps({
            "leaves": cp.size, "database": hub.engine.dialect.name,
            "append_leaves_per_s": round(cp.size / append_s),
            "checkpoint_sign_ms": round(sign_ms, 2),
            "inclusion_proof_ms_p50": round(times[len(times) // 2], 3),
            "inclusion_proof_ms_p99": round(times[int(len(times) * 0.99)], 3),
            "inclusion_proof_hashes": len(proof),
            "consistency_proof_ms": round(cons_ms, 2),
        }))
        hub.engine.dispose()


if __name__ == "__main__":
    main()
