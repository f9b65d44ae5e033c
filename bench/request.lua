-- wrk script for bench/run.py: one request, the same every time, described by files the
-- harness writes (so any method, headers and body can be measured):
--   WRK_METHOD        GET, POST, ... (default GET)
--   WRK_HEADERS_FILE  one "Name: value" per line (optional)
--   WRK_BODY_FILE     the body's bytes (optional)
-- The path (with its query) comes from the URL given to wrk.
wrk.method = os.getenv("WRK_METHOD") or "GET"
local headers = os.getenv("WRK_HEADERS_FILE")
if headers and headers ~= "" then
  for line in io.lines(headers) do
    local name, value = line:match("^([^:]+):%s*(.*)$")
    if name then
      wrk.headers[name] = value
    end
  end
end
local body = os.getenv("WRK_BODY_FILE")
if body and body ~= "" then
  local f = assert(io.open(body, "rb"))
  wrk.body = f:read("*a")
  f:close()
end
