#!/usr/bin/env python3
"""Seeds a running Rampart with a public catalog through its own API (no SQL).

    seed_catalog.py BASE_URL ADMIN_USERNAME ADMIN_PASSWORD [ITEMS] [STORES]

The admin was made with `rampart admin create`; it signs in, enrols TOTP (admins must;
the code is computed here from the secret the server hands back, RFC 6238), opens
STORES stores and adds ITEMS active items spread over them. Standard library only.
"""
import base64
import hashlib
import hmac
import json
import struct
import sys
import time
import urllib.error
import urllib.request


def call(base, method, path, token=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, (json.loads(raw) if raw else None)


def totp(secret_b32, at=None):
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8), casefold=True)
    counter = int((at or time.time()) // 30)
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    code = (struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{code:06d}"


def must(status, body, want, what):
    if status not in want:
        sys.exit(f"seed: {what} answered {status}: {body}")
    return body


def main():
    base, user, password = sys.argv[1], sys.argv[2], sys.argv[3]
    items = int(sys.argv[4]) if len(sys.argv) > 4 else 50
    stores = int(sys.argv[5]) if len(sys.argv) > 5 else 5
    t = must(*call(base, "POST", "/v1/auth/token", body={"login": user, "password": password}),
             (200,), "login")
    token = t["access_token"]
    me = must(*call(base, "GET", "/v1/me", token), (200,), "me")
    if me.get("totp_enrolment_required"):
        begin = must(*call(base, "POST", "/v1/me/totp", token), (200,), "totp begin")
        conf = must(*call(base, "POST", "/v1/me/totp/confirm", token,
                          {"code": totp(begin["secret"])}), (200,), "totp confirm")
        # A bearer caller's session ends with the enrolment: a new pair comes back.
        token = conf.get("access_token", token)
    ids = []
    for s in range(stores):
        st = must(*call(base, "POST", "/v1/stores", token,
                        {"name": f"Load store {s + 1}", "currency": "EUR"}), (201,), "store")
        ids.append(st["id"])
    for i in range(items):
        store = ids[i % len(ids)]
        must(*call(base, "POST", f"/v1/stores/{store}/items", token, {
            "title": f"Item {i + 1}: a kettle, a lamp or a chair",
            "description": "Seeded for the catalog load test.",
            "price_minor": 500 + 37 * i,
            "stock": 1000,
            "status": "active",
        }), (201,), "item")
    page = must(*call(base, "GET", "/v1/items?limit=20"), (200,), "catalog")
    print(f"seeded {items} items in {stores} stores; first page has {len(page['items'])}")


if __name__ == "__main__":
    main()
