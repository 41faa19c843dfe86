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
"""
import argparse
import asyncio
import os
import socket


async def pump(reader, writer, delay, not_before):
    """Copies reader to writer, each chunk leaving `delay` after it arrived (and never before
    `not_before`), in order. A timer task per chunk would reorder nothing, but a queue keeps
    one sleeper per direction."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def sender():
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is None:
                break
            writer.write(data)
            await writer.drain()
        try:
            writer.write_eof()
        except (OSError, RuntimeError):
            pass

    task = asyncio.create_task(sender())
    try:
        while True:
            data = await reader.read(65536)
            due = max(loop.time() + delay, not_before)
            await queue.put((due, data or None))
            if not data:
                break
    except (ConnectionError, OSError):
        await queue.put((loop.time(), None))
    try:
        await task
    except (ConnectionError, OSError):
        pass


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen-port", type=int, default=0)
    ap.add_argument("--target-port", type=int, required=True)
    ap.add_argument("--delay-ms", type=float, default=25.0)
    ap.add_argument("--ready-file")
    ap.add_argument("--count-file")
    args = ap.parse_args()
    delay = args.delay_ms / 1000.0
    accepts = [0]

    def write_atomically(path, text):
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.rename(path + ".tmp", path)

    if args.count_file:
        write_atomically(args.count_file, "0\n")

    async def handle(client_reader, client_writer):
        loop = asyncio.get_running_loop()
        accepted = loop.time()
        accepts[0] += 1
        if args.count_file:
            write_atomically(args.count_file, "%d\n" % accepts[0])
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1",
                                                                         args.target_port)
        except OSError:
            client_writer.close()
            return
        for w in (client_writer, server_writer):
            w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.gather(
            pump(client_reader, server_writer, delay, accepted + 3 * delay),
            pump(server_reader, client_writer, delay, 0.0))
        for w in (client_writer, server_writer):
            w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", args.listen_port)
    port = server.sockets[0].getsockname()[1]
    if args.ready_file:
        write_atomically(args.ready_file, "%d\n" % port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
