#!/usr/bin/env python3
"""A TCP proxy that makes 127.0.0.1 look an ocean away, for bench/run's WAN mode.

    delay_proxy.py --listen-port P --target-port T [--delay-ms 25] [--ready-file F]
                   [--count-file C]

Every byte is forwarded after the one-way delay, in each direction, in order (so a round trip
costs 2 x delay). The TCP handshake is modelled too: the client's connect() completes at once
on loopback, so nothing it sends is forwarded before what a real handshake allows, three
one-way delays after it connected (SYN, SYN-ACK, then its first data). Listens on 127.0.0.1
only, and connects only to 127.0.0.1:T. With --count-file, the number of connections it has
accepted so far is written to C (replaced whole, so a reader never sees half a number) after
every accept: bench/run's batch rows count the connections a batch opened with it.

Each direction of each connection has a reader thread and a sender thread: the sender sleeps
until a chunk is due with time.sleep, which wakes within a fraction of a millisecond. (An
asyncio loop waits in epoll, whose timeout is whole milliseconds rounded up: that made every
round trip about 1.5 to 2.5 ms longer than twice the delay, 3 to 5 % of a 50 ms RTT.)
"""
import argparse
import collections
import os
import socket
import threading
import time


def pump(source, target, delay, not_before):
    """Copies source to target, each chunk leaving `delay` after it arrived (and never before
    `not_before`), in order; then passes the end on (a half close) and returns."""
    chunks = collections.deque()
    ready = threading.Condition()

    def read():
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            due = max(time.monotonic() + delay, not_before)
            with ready:
                chunks.append((due, data))
                ready.notify()
            if not data:
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    while True:
        with ready:
            while not chunks:
                ready.wait()
            due, data = chunks.popleft()
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        if not data:
            break
        try:
            target.sendall(data)
        except OSError:
            break
    try:
        target.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    reader.join()


def write_atomically(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen-port", type=int, default=0)
    ap.add_argument("--target-port", type=int, required=True)
    ap.add_argument("--delay-ms", type=float, default=25.0)
    ap.add_argument("--ready-file")
    ap.add_argument("--count-file")
    args = ap.parse_args()
    delay = args.delay_ms / 1000.0
    if args.count_file:
        write_atomically(args.count_file, "0\n")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.listen_port))
    listener.listen(256)
    if args.ready_file:
        write_atomically(args.ready_file, "%d\n" % listener.getsockname()[1])
    accepts = 0

    def serve(client, accepted):
        try:
            server = socket.create_connection(("127.0.0.1", args.target_port))
        except OSError:
            client.close()
            return
        for s in (client, server):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        back = threading.Thread(target=pump, args=(server, client, delay, 0.0), daemon=True)
        back.start()
        pump(client, server, delay, accepted + 3 * delay)
        back.join()
        client.close()
        server.close()

    while True:
        client, _ = listener.accept()
        accepted = time.monotonic()
        accepts += 1
        if args.count_file:
            write_atomically(args.count_file, "%d\n" % accepts)
        threading.Thread(target=serve, args=(client, accepted), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
