-- wrk: POST /v1/carts/{id}/line-items as anonymous visitors: each request carries one
-- visitor's cart cookie and its CSRF token (a cookie-held cart needs it, like every
-- cookie flow). Carts and items come from $CARTS_FILE ("id cookie csrf" lines) and
-- $ITEMS_FILE (one item ID a line), written by checkout_prep.py. Each wrk thread
-- works its own slice of the carts, so two threads never race on one cart; quantity 1
-- a request stays far below the 99-per-line cap over a run.
local carts, items = {}, {}
local cookie_name = os.getenv("CART_COOKIE") or "rampart_cart"
for line in io.lines(os.getenv("CARTS_FILE")) do
  local id, cookie, csrf = line:match("^(%S+) (%S+) (%S+)$")
  if id then carts[#carts + 1] = { id = id, cookie = cookie, csrf = csrf } end
end
for line in io.lines(os.getenv("ITEMS_FILE")) do
  if #line > 0 then items[#items + 1] = line end
end

local threads, counter = 0, 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

local first, span, n = 1, #carts, 0
function init(args)
  local nthreads = tonumber(os.getenv("WRK_THREADS") or "2")
  span = math.floor(#carts / nthreads)
  first = tid * span + 1
end

function request()
  n = n + 1
  local c = carts[first + (n % span)]
  local item = items[(math.floor(n / span) % #items) + 1]
  return wrk.format("POST", "/v1/carts/" .. c.id .. "/line-items", {
    ["Content-Type"] = "application/json",
    ["Cookie"] = cookie_name .. "=" .. c.cookie,
    ["X-CSRF-Token"] = c.csrf,
  }, '{"item_id":"' .. item .. '","quantity":1}')
end
