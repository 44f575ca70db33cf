#!/usr/bin/env python3
"""The misbehaving clients of bench/run's hostile scenario (issue 14). Standard library only; bench.py runs each
in its own process (its own open files limit, its own event loop) and stops it with SIGTERM.

  hostile.py stall --port P --count N --path /big.bin
      N clients that each send one GET for a large file and never read: a small receive buffer (SO_RCVBUF, set
      before connecting, so the window the client advertises stays small), the request written, then nothing.
  hostile.py idle --port P --count N --sources 127.0.0.2[,...]
      N TCP connections that send nothing, each bound to one of the source addresses (round robin); a
      connection the server closes is opened again after --reopen-delay seconds, as an attacker keeping N
      sockets held would.

Each prints one JSON line {"event": "ready", ...} once every connection was tried, and one {"event": "done", ...}
with its counts after SIGTERM (then it closes every socket and exits).
"""
import argparse
import array
import asyncio
import fcntl
import json
import select
import signal
import socket
import statistics
import termios
import time


def emit(**fields):
    print(json.dumps(fields), flush=True)


def queued_bytes(sock):
    """Bytes received and not read yet (FIONREAD)."""
    buf = array.array("i", [0])
    try:
        fcntl.ioctl(sock.fileno(), termios.FIONREAD, buf, True)
    except OSError:
        return 0
    return buf[0]


async def stall(o, stop):
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(o.parallel)  # connects in flight: a listener's accept queue is finite
    request = f"GET {o.path} HTTP/1.1\r\nHost: bench\r\nUser-Agent: diglett-bench-stall\r\n\r\n".encode()
    held, failures = [], {}

    async def one():
        async with gate:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, o.rcvbuf)
            s.setblocking(False)
            try:
                await asyncio.wait_for(loop.sock_connect(s, (o.host, o.port)), o.connect_timeout)
                await asyncio.wait_for(loop.sock_sendall(s, request), o.connect_timeout)
                held.append(s)
            except (OSError, asyncio.TimeoutError) as e:
                kind = type(e).__name__
                failures[kind] = failures.get(kind, 0) + 1
                s.close()

    started = time.monotonic()
    await asyncio.gather(*(one() for _ in range(o.count)))
    emit(event="ready", connected=len(held), failed=sum(failures.values()), failures=failures,
         seconds=round(time.monotonic() - started, 3))
    await stop.wait()
    # Without reading: which ones the server closed or reset meanwhile, and which had response bytes waiting.
    poller = select.poll()
    for s in held:
        poller.register(s, select.POLLRDHUP | select.POLLERR | select.POLLHUP)
    dropped = len(poller.poll(0))
    answered = sum(1 for s in held if queued_bytes(s) > 0)
    for s in held:
        s.close()
    emit(event="done", connected=len(held), dropped_by_server=dropped, with_response_bytes=answered)


async def idle(o, stop):
    loop = asyncio.get_running_loop()
    sources = o.sources.split(",")
    counts = {"opens": 0, "closed_by_server": 0, "connect_failures": 0}
    now_open = [0]
    tried = [0]
    all_tried = asyncio.Event()

    async def slot(index):
        first = True
        source = sources[index % len(sources)]
        while not stop.is_set():
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            opened = False
            try:
                s.bind((source, 0))
                await asyncio.wait_for(loop.sock_connect(s, (o.host, o.port)), o.connect_timeout)
                opened = True
                counts["opens"] += 1
                now_open[0] += 1
                if first:
                    first = False
                    tried[0] += 1
                    if tried[0] == o.count:
                        all_tried.set()
                while await loop.sock_recv(s, 4096):  # whatever the server says (an SSH banner); nothing sent
                    pass
                counts["closed_by_server"] += 1
            except (OSError, asyncio.TimeoutError):
                if not opened:
                    counts["connect_failures"] += 1
                else:
                    counts["closed_by_server"] += 1
            finally:
                if opened:
                    now_open[0] -= 1
                s.close()
            if first:
                first = False
                tried[0] += 1
                if tried[0] == o.count:
                    all_tried.set()
            try:
                await asyncio.wait_for(stop.wait(), o.reopen_delay)
            except asyncio.TimeoutError:
                pass

    tasks = [asyncio.ensure_future(slot(i)) for i in range(o.count)]
    started = time.monotonic()
    waiter = asyncio.ensure_future(all_tried.wait())
    await asyncio.wait([waiter, asyncio.ensure_future(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
    emit(event="ready", open=now_open[0], seconds=round(time.monotonic() - started, 3), **counts)
    samples = []
    while not stop.is_set():  # how many were actually held open while the harness measured
        samples.append(now_open[0])
        try:
            await asyncio.wait_for(stop.wait(), 0.25)
        except asyncio.TimeoutError:
            pass
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    emit(event="done", open_median=statistics.median(samples) if samples else now_open[0],
         open_min=min(samples, default=now_open[0]), sources=len(sources), **counts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    for mode in ("stall", "idle"):
        p = sub.add_parser(mode)
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--count", type=int, required=True)
        p.add_argument("--connect-timeout", type=float, default=10.0)
        if mode == "stall":
            p.add_argument("--path", required=True)
            p.add_argument("--rcvbuf", type=int, default=4096, help="SO_RCVBUF in bytes (the kernel doubles it)")
            p.add_argument("--parallel", type=int, default=256, help="connects in flight at once")
        else:
            p.add_argument("--sources", default="127.0.0.2", help="comma-separated source addresses")
            p.add_argument("--reopen-delay", type=float, default=1.0)
    o = ap.parse_args()

    async def run():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await (stall(o, stop) if o.mode == "stall" else idle(o, stop))

    asyncio.run(run())


if __name__ == "__main__":
    main()
