-- POST /auth/refresh: each thread keeps a pool of live refresh tokens (BENCH_REFRESH,
-- comma-separated, shared out by thread) and puts back the one each answer brings.
dofile(os.getenv("BENCH_LUA") .. "/report.lua")
local threads = 0
function setup(thread)
    thread:set("thread_index", threads)
    threads = threads + 1
end
function init(args)
    pool = {}
    local n = 0
    for token in string.gmatch(os.getenv("BENCH_REFRESH"), "[^,]+") do
        if n % tonumber(os.getenv("BENCH_THREADS")) == thread_index then table.insert(pool, token) end
        n = n + 1
    end
end
function request()
    local token = table.remove(pool)
    if token == nil then token = "exhausted" end
    return wrk.format("POST", "/auth/refresh", {["Content-Type"] = "application/json"},
        '{"refresh_token": "' .. token .. '"}')
end
function response(status, headers, body)
    local token = string.match(body, '"refresh_token":"([^"]+)"')
    if token then table.insert(pool, token) end
end
