-- wrk: POST /v1/carts as an anonymous storefront visitor (no cookie yet, so no CSRF
-- token is needed; the answer sets the cart cookie, which wrk drops).
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
