-- Each request as one of many users: BENCH_CROWD names a file of "token path" lines (one
-- per seeded tenant admin and one of their projects, or /auth/me), picked at random.
dofile(os.getenv("BENCH_LUA") .. "/report.lua")
local tokens, paths = {}, {}
for line in io.lines(os.getenv("BENCH_CROWD")) do
    local token, path = line:match("^(%S+) (%S+)$")
    tokens[#tokens + 1] = token
    paths[#paths + 1] = path
end
math.randomseed(os.time())
request = function()
    local n = math.random(#tokens)
    return wrk.format("GET", paths[n], { ["Authorization"] = "Bearer " .. tokens[n] })
end
