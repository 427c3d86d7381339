"""revocation.py A B N: N times, sign up on A, read the session on B until B has it cached, sign
out on A, then ask B (every 0.2 ms) until it no longer answers the session; prints the times
from A's answer to B's first refusal."""
import http.client
import json
import statistics
import sys
import time
import urllib.parse
import uuid

a, b, n = sys.argv[1], sys.argv[2], int(sys.argv[3])


def conn(base):
    u = urllib.parse.urlparse(base)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=10)


ca, cb = conn(a), conn(b)


def call(c, method, path, token=None, body=None):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    c.request(method, "/api/auth" + path, body=json.dumps(body) if body is not None else None, headers=headers)
    r = c.getresponse()
    return r.status, r.read()


times = []
for _ in range(n):
    email = f"revoke-{uuid.uuid4().hex[:12]}@example.com"
    status, body = call(ca, "POST", "/sign-up/email", body={"email": email, "password": "revocation-pw-1", "name": "R"})
    assert status == 200, (status, body)
    token = json.loads(body)["token"]
    for _ in range(3):  # cached on B
        status, body = call(cb, "GET", "/get-session", token)
        assert status == 200 and body != b"null", (status, body)
    status, _ = call(ca, "POST", "/sign-out", token, body={})
    assert status == 200
    t0 = time.perf_counter()
    while True:
        status, body = call(cb, "GET", "/get-session", token)
        if body == b"null":
            break
        time.sleep(0.0002)
    times.append((time.perf_counter() - t0) * 1000)
times.sort()
print(f"revocations={n} propagation_ms p50={statistics.median(times):.2f} p90={times[int(0.9 * (n - 1))]:.2f} slowest={[round(t, 1) for t in times[-3:]]}")
