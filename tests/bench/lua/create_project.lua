-- POST /projects with a name no other request uses.
dofile(os.getenv("BENCH_LUA") .. "/report.lua")
local threads = 0
function setup(thread)
    threads = threads + 1
    thread:set("thread_id", threads)
end
function init(args)
    counter = 0
    math.randomseed(os.time() * 100 + thread_id)
end
function request()
    counter = counter + 1
    local body = string.format('{"name": "bench %d-%d-%d"}', thread_id, counter, math.random(1, 1000000000))
    return wrk.format("POST", "/projects", {
        ["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN"),
        ["Content-Type"] = "application/json",
    }, body)
end
