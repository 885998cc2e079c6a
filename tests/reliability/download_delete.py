#!/usr/bin/env python3
# tests/reliability/download_delete.py PORT TRACE FORMAT - delete a trace
# in the middle of its download.
#
# Starts GET /api/traces/TRACE/download?format=FORMAT with a small receive
# buffer, reads 64 KiB, waits for the server to block on the socket, sends
# DELETE /api/traces/TRACE on another connection, then reads the rest.
# Prints "delete STATUS" and "complete BYTES" or "incomplete BYTES": a
# download cut short must end as an error, never as a shorter trace.
import http.client, socket, sys, time, urllib.request
port, tid, fmt = int(sys.argv[1]), sys.argv[2], sys.argv[3]
c = http.client.HTTPConnection("127.0.0.1", port)
c.sock = socket.create_connection(("127.0.0.1", port))
c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
c.request("GET", "/api/traces/%s/download?format=%s" % (tid, fmt))
r = c.getresponse()
got = len(r.read(65536))
time.sleep(1.0)
req = urllib.request.Request("http://127.0.0.1:%d/api/traces/%s" % (port, tid), method="DELETE")
print("delete", urllib.request.urlopen(req).status)
try:
    got += len(r.read())
    print("complete", got)
except http.client.IncompleteRead as e:
    print("incomplete", got + len(e.partial))
