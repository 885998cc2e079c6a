#!/usr/bin/env python3
# tests/reliability/slowloris.py PORT CONNS SECONDS - slow clients.
#
# Opens CONNS connections to 127.0.0.1:PORT that send a request header one
# byte a second (never finishing it) and CONNS/5 that send nothing at all,
# for at most SECONDS.  Prints one line per connection, "slow T" or
# "idle T" with T the seconds until the server closed it, or "open" if it
# was still open at the end.  Loopback only.
import selectors
import socket
import sys
import time

port, conns, limit = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
header = b"GET /api/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 4096
sel = selectors.DefaultSelector()
t0 = time.monotonic()
state = {}
for i in range(conns + conns // 5):
    s = socket.create_connection(("127.0.0.1", port))
    s.setblocking(False)
    kind = "slow" if i < conns else "idle"
    state[s] = [kind, 0, None]  # kind, bytes sent, closed after
    sel.register(s, selectors.EVENT_READ)
next_send = t0
while time.monotonic() - t0 < limit and any(v[2] is None for v in state.values()):
    now = time.monotonic()
    if now >= next_send:
        for s, v in state.items():
            if v[0] == "slow" and v[2] is None:
                try:
                    s.send(header[v[1]:v[1] + 1])
                    v[1] += 1
                except OSError:
                    v[2] = now - t0
        next_send += 1.0
    for key, _ in sel.select(timeout=max(0.0, min(0.2, next_send - time.monotonic()))):
        s = key.fileobj
        v = state[s]
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        if not data:
            v[2] = time.monotonic() - t0
            sel.unregister(s)
for s, v in state.items():
    print(v[0], "open" if v[2] is None else "%.2f" % v[2], v[1])
    s.close()
