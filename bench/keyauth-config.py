#!/usr/bin/env python3
"""Writes a kong.yml for the key-auth benchmarks: one service at ORIGIN_URL, one route
for "/", key-auth on it, and N consumers with one key each. The last consumer's key is
`bench-key`, the one the load generators send, so with N > 1 the lookup is not the first
entry of anything.

    bench/keyauth-config.py out.yml 10000 http://127.0.0.1:9001
"""
import sys

path, n, url = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(path, "w") as f:
    f.write(f'_format_version: "3.0"\nservices:\n- name: origin\n  url: {url}\n')
    f.write('  routes:\n  - name: all\n    paths: ["/"]\n    strip_path: false\n')
    f.write("    plugins:\n    - name: key-auth\nconsumers:\n")
    for i in range(n):
        key = "bench-key" if i == n - 1 else f"key-{i:08d}-{i * 7919 % 100003:06d}"
        f.write(f"- username: user-{i}\n  keyauth_credentials:\n  - key: {key}\n")
