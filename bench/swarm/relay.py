#!/usr/bin/env python3
"""bench/swarm/relay.py: a TCP relay that answers slowly (this kernel has no
netem).

Listens on LISTEN (host:port), connects each accepted connection to
UPSTREAM (host:port), and copies both ways, holding every chunk for
`--delay-ms` before passing it on (order kept). A peer behind it looks like
one far away: each request and each answer is late by the delay, so its
round trip grows by twice the delay; its throughput is not limited here
(`tc` on the namespace's veth does that). Memory is bounded: at most
`--queue` chunks of 16 KiB wait per direction, after which reading stops
and TCP pushes back.

    python3 relay.py 10.231.0.7:7000 127.0.0.1:6881 --delay-ms 300
"""

import argparse
import asyncio
import sys

CHUNK = 16 * 1024


def parse_addr(text):
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise argparse.ArgumentTypeError("want HOST:PORT, got %r" % text)
    return host, int(port)


async def pump(reader, writer, delay, depth):
    """Copies reader to writer, each chunk `delay` seconds late."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue(maxsize=depth)

    async def take():
        try:
            while True:
                data = await reader.read(CHUNK)
                await queue.put((loop.time() + delay, data))
                if not data:
                    return
        except (ConnectionError, OSError):
            await queue.put((loop.time(), b""))

    taker = asyncio.ensure_future(take())
    try:
        while True:
            due, data = await queue.get()
            pause = due - loop.time()
            if pause > 0:
                await asyncio.sleep(pause)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        taker.cancel()
        try:
            writer.close()
        except (ConnectionError, OSError):
            pass


async def serve(args):
    delay = args.delay_ms / 1000.0

    async def handle(down_r, down_w):
        try:
            up_r, up_w = await asyncio.wait_for(asyncio.open_connection(*args.upstream), 10)
        except (OSError, asyncio.TimeoutError) as e:
            print("relay: upstream %s:%d: %s" % (args.upstream + (e,)), file=sys.stderr)
            down_w.close()
            return
        await asyncio.gather(pump(down_r, up_w, delay, args.queue), pump(up_r, down_w, delay, args.queue))

    server = await asyncio.start_server(handle, *args.listen)
    print("relay: %s:%d -> %s:%d, %d ms each way" % (args.listen + args.upstream + (args.delay_ms,)),
          file=sys.stderr, flush=True)
    async with server:
        await server.serve_forever()


def main():
    p = argparse.ArgumentParser(description="Delaying TCP relay.")
    p.add_argument("listen", type=parse_addr)
    p.add_argument("upstream", type=parse_addr)
    p.add_argument("--delay-ms", type=int, default=250)
    p.add_argument("--queue", type=int, default=64, help="chunks held per direction at most")
    args = p.parse_args()
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
