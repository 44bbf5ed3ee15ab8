-- PATCH /projects/{id} on one of the focus tenant's projects (BENCH_IDS, comma-separated).
dofile(os.getenv("BENCH_LUA") .. "/report.lua")
local ids = {}
for id in string.gmatch(os.getenv("BENCH_IDS"), "[^,]+") do table.insert(ids, id) end
local counter = 0
function request()
    counter = counter + 1
    local body = string.format('{"description": "patched %d"}', counter)
    return wrk.format("PATCH", "/projects/" .. ids[math.random(1, #ids)], {
        ["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN"),
        ["Content-Type"] = "application/json",
    }, body)
end
