-- wrk script for bench/load.py: branch officers of KC Ternate, each on a connection of its own.
-- 80 % lookups (GET /api/workers/{nik} of a worker in the branch), 20 % registrations (POST /api/workers
-- with a new NIK). Between calls an officer thinks for an exponential time of mean THINK_MS (0: none).
-- Arguments (after --): tokens file, NIKs file, think time in ms, run number (makes new NIKs unique).
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local function lines(path)
  local out = {}
  for line in io.lines(path) do
    if line ~= "" then table.insert(out, line) end
  end
  return out
end

function init(args)
  tokens = lines(args[1])
  niks = lines(args[2])
  think_ms = tonumber(args[3])
  run = tonumber(args[4])
  math.randomseed(1000 * run + id)
  statuses = {}
  lookups, registrations = 0, 0
end

function delay()
  if think_ms <= 0 then return 0 end
  return -math.log(1 - math.random()) * think_ms
end

function request()
  local headers = { ["Authorization"] = "Bearer " .. tokens[math.random(#tokens)] }
  if math.random() < 0.8 then
    lookups = lookups + 1
    return wrk.format("GET", "/api/workers/" .. niks[math.random(#niks)], headers)
  end
  registrations = registrations + 1
  counter = counter + 1
  local i = counter
  -- a NIK of Kota Ternate (8271.01): birth date DDMMYY from the counter, serial 9RTT (run, thread)
  local nik = string.format("827101%02d%02d%02d%04d", 1 + i % 28, 1 + math.floor(i / 28) % 12, 70 + math.floor(i / 336) % 30,
    9000 + (run % 10) * 100 + id)
  headers["Content-Type"] = "application/json"
  local body = string.format('{"nik": "%s", "name": "Baru %d %d", "valid_from": "2024-12-01"}', nik, id, i)
  return wrk.format("POST", "/api/workers", headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local merged, looks, regs = {}, 0, 0
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do merged[k] = (merged[k] or 0) + v end
    looks = looks + t:get("lookups")
    regs = regs + t:get("registrations")
  end
  local parts = {}
  for k, v in pairs(merged) do table.insert(parts, string.format('"%d": %d', k, v)) end
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_s": %.3f, "p50_ms": %.1f, "p95_ms": %.1f, "p99_ms": %.1f, ' ..
    '"max_ms": %.1f, "lookups": %d, "registrations": %d, "statuses": {%s}, ' ..
    '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, looks, regs, table.concat(parts, ", "),
    e.connect, e.read, e.write, e.timeout))
end
