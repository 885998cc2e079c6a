-- tests/reliability/load.lua - the request mix of test_load.sh for wrk:
-- page loads (GET /, a script of the UI: $LOAD_ASSET), trace lists, cached
-- comparisons,
-- and uploads of distinct small traces (each one new: its header's name
-- differs).  Every thread counts the statuses it got; done() prints them
-- with wrk's own totals, one "key value" a line.
local counter = 0
local threads = {}
local id = 0

function setup(thread)
	id = id + 1
	thread:set("tid", id)
	table.insert(threads, thread)
end

function init(args)
	tid = wrk.thread:get("tid")
	statuses = {}
	uploads = 0
	math.randomseed(tid * 7919)
end

local paths = {
	"/", os.getenv("LOAD_ASSET") or "/", "/api/traces", "/api/traces?limit=10&offset=1",
	"/api/traces/1/comparison", "/api/traces/2/comparison?arch=32",
	"/api/traces/3/comparison?policies=exact,two-slot", "/healthz",
}

function request()
	counter = counter + 1
	if counter % 10 == 0 then
		uploads = uploads + 1
		local body = string.format(
			"mct 1 name=load-%d-%d source=synthetic\nmm p\n" ..
			"alloc f order=%d type=anon\nmap p f 0 excl\nquery f\n" ..
			"fork p c\nquery f\nexit c\nunmap p f 0\nfree f\n",
			tid, counter, counter % 3)
		return wrk.format("POST", "/api/traces",
				  {["Content-Type"] = "text/plain"}, body)
	end
	return wrk.format("GET", paths[math.random(#paths)])
end

function response(status, headers, body)
	statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
	local all = {}
	local up = 0
	for _, t in ipairs(threads) do
		local s = t:get("statuses")
		for k, v in pairs(s) do
			all[k] = (all[k] or 0) + v
		end
		up = up + t:get("uploads")
	end
	io.write(string.format("requests %d\n", summary.requests))
	io.write(string.format("duration_us %d\n", summary.duration))
	io.write(string.format("uploads_sent %d\n", up))
	io.write(string.format("errors_connect %d\n", summary.errors.connect))
	io.write(string.format("errors_read %d\n", summary.errors.read))
	io.write(string.format("errors_write %d\n", summary.errors.write))
	io.write(string.format("errors_timeout %d\n", summary.errors.timeout))
	io.write(string.format("errors_status %d\n", summary.errors.status))
	io.write(string.format("latency_p50_us %d\n", latency:percentile(50)))
	io.write(string.format("latency_p99_us %d\n", latency:percentile(99)))
	io.write(string.format("latency_max_us %d\n", latency.max))
	for k, v in pairs(all) do
		io.write(string.format("status_%d %d\n", k, v))
	end
end
