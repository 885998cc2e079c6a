#!/usr/bin/env python3
# tests/reliability/rawhttp.py PORT [close|keep] - send stdin as is to
# 127.0.0.1:PORT and print the status codes of the responses, one a line
# ("closed" when the server closed without an answer).
#   close: shut our side down after sending (a client that is gone)
#   keep:  keep our side open and read until the server closes or 5 s pass
import re
import socket
import sys
import time

port = int(sys.argv[1])
mode = sys.argv[2] if len(sys.argv) > 2 else "keep"
data = sys.stdin.buffer.read()
s = socket.create_connection(("127.0.0.1", port))
s.sendall(data)
if mode == "close":
    s.shutdown(socket.SHUT_WR)
s.settimeout(5)
buf = b""
t0 = time.monotonic()
while time.monotonic() - t0 < 5:
    try:
        d = s.recv(65536)
    except (socket.timeout, ConnectionResetError):
        break
    if not d:
        break
    buf += d
codes = [c.decode() for c in re.findall(rb"HTTP/1\.[01] (\d\d\d) ", buf)]
try:
    print("\n".join(codes) if codes else "closed")
except BrokenPipeError:
    pass
