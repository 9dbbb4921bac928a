#!/usr/bin/env python3
"""Prepares the cart benchmarks against a seeded Rampart (seed_catalog.py first).

    checkout_prep.py BASE_URL OUT_DIR [CARTS]

Writes OUT_DIR/items.txt (the catalog's item IDs) and OUT_DIR/carts.txt: CARTS
anonymous carts made through POST /v1/carts, one "id cookie csrf_token" line each —
what a browser holds after creating its cart. Standard library only.
"""
import json
import sys
import urllib.request


def main():
    base, out = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 256
    with urllib.request.urlopen(base + "/v1/items?limit=100", timeout=30) as r:
        items = [i["id"] for i in json.load(r)["items"]]
    if not items:
        sys.exit("prep: the catalog is empty")
    with open(f"{out}/items.txt", "w") as f:
        f.write("\n".join(items) + "\n")
    lines = []
    for _ in range(n):
        req = urllib.request.Request(base + "/v1/carts", data=b"{}", method="POST")
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=30) as r:
            body = json.load(r)
            cookie = None
            for h in r.headers.get_all("Set-Cookie") or []:
                name, _, rest = h.partition("=")
                if name.endswith("rampart_cart"):
                    cookie = rest.split(";", 1)[0]
            if not cookie or not body.get("csrf_token"):
                sys.exit("prep: POST /v1/carts gave no cart cookie or CSRF token")
            lines.append(f"{body['id']} {cookie} {body['csrf_token']}")
    with open(f"{out}/carts.txt", "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"prepared {n} anonymous carts over {len(items)} items")


if __name__ == "__main__":
    main()
