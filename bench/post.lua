-- wrk script: POST the body in WRK_BODY_FILE with the headers vendor-mock's Credeau wants.
local f = assert(io.open(os.getenv("WRK_BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-client-id"] = os.getenv("WRK_CLIENT_ID") or "test-client"
wrk.headers["x-auth-token"] = os.getenv("WRK_AUTH_TOKEN") or "test-token"
