#!/usr/bin/env python3
"""Kernel time of one loopback TCP write, by size: what a byte written to a socket costs.

Explains the part of a proxied request's CPU that no user-space change can remove: the
bytes Kong's headers add (upstream `X-Forwarded-*`, `X-Real-IP`, `Via`,
`X-Kong-Request-Id`, consumer headers; downstream `Via`, `X-Kong-*-Latency`,
`X-Kong-Request-Id`). A sender on CPU 0 writes messages of each size to a reader on
CPU 1 (TCP_NODELAY, one segment per write); the figure is the sender's system time per
write (getrusage), which on loopback includes the receive path run in the sender's
softirq. Median of REPS runs of COUNT writes per size; bounded, stops by itself.

    python3 bench/socket-write-cost.py                  # sizes 64..1400, 3 reps of 150k writes (~12 s)
    REPS=5 COUNT=300000 python3 bench/socket-write-cost.py
"""
import os
import resource
import socket
import statistics

SIZES = (64, 128, 192, 256, 384, 512, 640, 768, 1024, 1400)
REPS = int(os.environ.get("REPS", "3"))
COUNT = int(os.environ.get("COUNT", "150000"))


def kernel_ns_per_write(size: int, count: int) -> float:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    reader = os.fork()
    if reader == 0:
        try:
            os.sched_setaffinity(0, {1})
            conn = socket.create_connection(("127.0.0.1", port))
            while conn.recv(1 << 20):
                pass
        finally:
            os._exit(0)
    sender, _ = listener.accept()
    sender.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    payload = memoryview(bytearray(b"x" * size))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_stime
    for _ in range(count):
        sender.sendall(payload)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_stime
    sender.close()
    os.waitpid(reader, 0)
    listener.close()
    return (after - before) / count * 1e9


def main() -> None:
    os.sched_setaffinity(0, {0})
    print(f"kernel ns per loopback write (median of {REPS} x {COUNT} writes; sender CPU 0, reader CPU 1)")
    medians = {}
    for size in SIZES:
        runs = [kernel_ns_per_write(size, COUNT) for _ in range(REPS)]
        medians[size] = statistics.median(runs)
        extra = medians[size] - medians[SIZES[0]]
        print(f"{size:6d} B  {medians[size]:6.0f} ns  {extra:+5.0f} ns vs {SIZES[0]} B"
              f"   (runs: {' '.join(f'{r:.0f}' for r in runs)})")


if __name__ == "__main__":
    main()
