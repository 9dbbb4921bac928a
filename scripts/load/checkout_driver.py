#!/usr/bin/env python3
"""Full-checkout load driver (issue 10): CONNS signed-in customers, each on its own
keep-alive connection, loop for DURATION seconds through a whole storefront checkout:

    POST /v1/carts → POST …/line-items → POST …/payment-intent
    → POST /v1/sandbox/payment-intents/{pi}/confirm (tok_visa; the sandbox then posts
      its signed payment_intent.succeeded webhook to the server over HTTP)
    → POST …/complete (races the webhook: 201 if this call made the order, 200 if the
      webhook was first) → every order line's escrow transaction must be `funded`.

    checkout_driver.py BASE_URL CONNS DURATION [PREFIX]

Prints one line: checkouts/s, p50 and p99 of a whole checkout in ms, and how many
orders the webhook completed first. Any failed step aborts (exit 1). The customers
are registered first (not timed). Standard library only; the driver shares the
machine's cores with the server, so its own overhead is inside the figures.
"""
import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.parse


def main():
    base, conns, duration = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    prefix = sys.argv[4] if len(sys.argv) > 4 else "ck"
    u = urllib.parse.urlparse(base)
    host, port = u.hostname, u.port

    def conn():
        return http.client.HTTPConnection(host, port, timeout=60)

    def call(c, method, path, token=None, body=None, want=(200, 201)):
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        c.request(method, path, body=data, headers=headers)
        r = c.getresponse()
        raw = r.read()
        if r.status not in want:
            raise RuntimeError(f"{method} {path}: {r.status} {raw[:300]!r}")
        return r.status, (json.loads(raw) if raw else None)

    c = conn()
    _, page = call(c, "GET", "/v1/items?limit=100")
    items = [i["id"] for i in page["items"]]
    pw = "driver-" + os.urandom(12).hex()
    tokens = []
    for n in range(conns):
        name = f"{prefix}{n}_{os.urandom(3).hex()}"
        call(c, "POST", "/v1/auth/register", body={"username": name, "password": pw},
             want=(200, 201, 202))
        _, t = call(c, "POST", "/v1/auth/token", body={"login": name, "password": pw})
        tokens.append(t["access_token"])
    c.close()

    stop = time.monotonic() + duration
    lat, lock = [], threading.Lock()
    counts = {"created": 0, "existing": 0}
    errors = []

    def worker(token):
        c = conn()
        mine, created, existing = [], 0, 0
        try:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                _, cart = call(c, "POST", "/v1/carts", token, {})
                cid = cart["id"]
                call(c, "POST", f"/v1/carts/{cid}/line-items", token,
                     {"item_id": random.choice(items), "quantity": 1})
                _, pi = call(c, "POST", f"/v1/carts/{cid}/payment-intent", token, {})
                call(c, "POST", f"/v1/sandbox/payment-intents/{pi['id']}/confirm", None,
                     {"token": "tok_visa", "client_secret": pi["client_secret"]})
                st, order = call(c, "POST", f"/v1/carts/{cid}/complete", token, {})
                if any(l.get("escrow_state") != "funded" for l in order["items"]):
                    raise RuntimeError(f"order {order['id']} not funded: {order['items']}")
                mine.append(time.perf_counter() - t0)
                if st == 201:
                    created += 1
                else:
                    existing += 1
        except Exception as e:  # noqa: BLE001 - reported below, aborts the run
            errors.append(str(e))
        finally:
            c.close()
            with lock:
                lat.extend(mine)
                counts["created"] += created
                counts["existing"] += existing

    started = time.monotonic()
    ts = [threading.Thread(target=worker, args=(t,)) for t in tokens]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = time.monotonic() - started
    if errors:
        print("checkout errors:", errors[:3], file=sys.stderr)
        sys.exit(1)
    lat.sort()
    pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else 0.0
    print(f"checkouts={len(lat)} per_s={len(lat) / elapsed:.1f} p50_ms={pct(0.50):.1f} "
          f"p99_ms={pct(0.99):.1f} client_first={counts['created']} "
          f"webhook_first={counts['existing']}")


if __name__ == "__main__":
    main()
