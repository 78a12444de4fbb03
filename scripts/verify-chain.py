#!/usr/bin/env python3
"""Recomputes the hash chain of credits.balance-changed events, independently of the service.

Reads JSON lines (one balance-changed event each, in any interleaving of customers, each
customer's entries in entry order) from the files given or standard input. Checks that each
customer's entries run 1, 2, 3 ... and that every `hash` is SHA-256 of the previous entry's hash
(64 zeros before entry 1) followed by the fields customer_id, entry_id, type, amount, balance,
source.kind, source.id, note, recorded_at, each as "<UTF-8 byte length>:<bytes>"
(docs/contract.md, "Verifiable history"). A consumer that saw only a suffix of a customer's
entries passes --from-hash CUSTOMER=HASH for the hash before the first one it holds.

Prints "ok: N entries of M customers" and exits 0, or names the first entry that does not match
and exits 1.
"""
import argparse
import fileinput
import hashlib
import json
import sys

GENESIS = "0" * 64
FIELDS = ("customer_id", "entry_id", "type", "amount", "balance", "source.kind", "source.id", "note", "recorded_at")


def field(event, name):
    value = event
    for part in name.split("."):
        value = value[part]
    return str(value)


def entry_hash(previous, event):
    data = previous.encode("ascii")
    for name in FIELDS:
        text = field(event, name).encode("utf-8")
        data += str(len(text)).encode("ascii") + b":" + text
    return hashlib.sha256(data).hexdigest()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*")
    parser.add_argument("--from-hash", action="append", default=[], metavar="CUSTOMER=HASH")
    args = parser.parse_args()
    heads = {}
    expected_id = {}
    for item in args.from_hash:
        customer, _, value = item.rpartition("=")
        heads[customer] = value
    count = 0
    for line in fileinput.input(args.files or ["-"]):
        line = line.strip()
        if not line:
            continue
        event = json.loads(line)
        customer = event["customer_id"]
        entry_id = int(event["entry_id"])
        if customer in expected_id and entry_id != expected_id[customer]:
            print(f"MISMATCH {customer}: entry {entry_id} found where {expected_id[customer]} was expected")
            return 1
        if customer not in heads and entry_id != 1:
            print(f"MISMATCH {customer}: the first entry held is {entry_id}; give --from-hash {customer}=HASH")
            return 1
        computed = entry_hash(heads.get(customer, GENESIS), event)
        if computed != event.get("hash"):
            print(f"MISMATCH {customer}: entry {entry_id} has hash {event.get('hash')}, recomputed {computed}")
            return 1
        heads[customer] = computed
        expected_id[customer] = entry_id + 1
        count += 1
    print(f"ok: {count} entries of {len(expected_id)} customers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
