#!/usr/bin/env python3
"""bench/swarm/player.py: a player model that fetches a stream like mpv does.

It reads one HTTP URL (rill `/stream/ID/N`, rqbit `/torrents/N/stream/M`,
webtorrent's file URL) with open-ended `Range: bytes=POS-` requests, the way
mpv and browsers read a progressive file, and plays it at a fixed media
bitrate (8 Mbit/s, a 1080p film, by default; 3 Mbit/s for 720p). Like
hls.js and mpv it keeps a buffer: playback starts once `--start` seconds are
buffered, reading pauses when `--high` seconds are buffered and resumes
below `--low` (hls.js: maxBufferLength 30 s). At scripted moments of the
session it seeks (a new request at the new position, the old one closed):
by default forward 20% of the file, back 10%, to 90%.

What it records, printed as one JSON object:
  startup_s       from the first request until playback starts
  seeks           for each seek: when, where to, and the time until
                  playback resumed (`--start` seconds buffered again)
  rebuffers       every stall while playing (not the waits after a start or
                  a seek): when it began and how long it lasted
  played_bytes    media bytes played (bitrate x time played)
  received_bytes  body bytes received over HTTP
  http_errors     answers other than 206 (retried every 50 ms), by status

The model itself (`Playback`) is pure: it is fed (time, bytes arrived)
and knows nothing of sockets, so `test_player.py` can give it a known
schedule and check the known rebuffers. `run()` drives it from a real
HTTP connection with a bounded select loop.
"""

import argparse
import json
import select
import socket
import sys
import time
import urllib.parse

READ_CHUNK = 64 * 1024
MAX_HEADER = 64 * 1024


class Playback:
    """Playback state in bytes; time in seconds on any monotonic clock.

    `pos` is the play position, `avail` the contiguous bytes received after
    it. While playing, `pos` advances at `rate` bytes/s while `avail` lasts;
    when it runs out that is a rebuffer, which ends once `start_bytes` are
    buffered again (or the rest of the file is there)."""

    def __init__(self, rate, start_s, size, t0, pos=0):
        self.rate = float(rate)
        self.start_bytes = rate * start_s
        self.size = size
        self.pos = float(pos)
        self.avail = 0.0
        self.t = t0
        self.t0 = t0
        self.playing = False
        self.startup_s = None
        self.wait_kind = "start"  # "start", "seek", "stall" or None
        self.wait_since = t0
        self.rebuffers = []  # [start time rel. t0, duration]
        self.seeks = []  # dicts: at, to, resume_s
        self.played = 0.0

    def buffered_s(self):
        return self.avail / self.rate

    def at_end(self):
        return self.size is not None and self.pos >= self.size - 0.5

    def advance(self, t):
        """Plays from the last time to `t`; notes a stall if the buffer
        runs dry on the way."""
        if t <= self.t:
            return
        if self.playing:
            dt = t - self.t
            play = min(self.avail, self.rate * dt)
            self.pos += play
            self.avail -= play
            self.played += play
            if self.avail <= 1e-9 and play < self.rate * dt and not self.at_end():
                self.playing = False
                self.wait_kind = "stall"
                self.wait_since = self.t + play / self.rate
        self.t = t

    def arrived(self, t, n):
        """`n` more bytes arrived at time `t` (contiguous after the buffer)."""
        self.advance(t)
        self.avail += n
        self._maybe_resume(t)

    def _maybe_resume(self, t):
        if self.playing:
            return
        rest = None if self.size is None else self.size - self.pos
        enough = self.avail >= self.start_bytes or (rest is not None and self.avail >= rest - 0.5)
        if not enough or self.avail <= 0:
            return
        waited = t - self.wait_since
        if self.wait_kind == "start":
            self.startup_s = t - self.t0
        elif self.wait_kind == "seek":
            self.seeks[-1]["resume_s"] = waited
        elif self.wait_kind == "stall":
            self.rebuffers.append([self.wait_since - self.t0, waited])
        self.wait_kind = None
        self.playing = True

    def seek(self, t, to):
        """Jumps to byte `to`: the buffer is dropped (a new request)."""
        self.advance(t)
        if self.wait_kind == "stall":
            # A stall cut short by the seek still counts, up to the seek.
            self.rebuffers.append([self.wait_since - self.t0, t - self.wait_since])
        elif self.wait_kind == "seek":
            self.seeks[-1]["resume_s"] = None  # never resumed
        self.seeks.append({"at_s": t - self.t0, "from": int(self.pos), "to": int(to), "resume_s": None})
        self.pos = float(to)
        self.avail = 0.0
        self.playing = False
        self.wait_kind = "seek"
        self.wait_since = t

    def finish(self, t):
        """Ends the session at `t`; a stall still going counts up to `t`."""
        self.advance(t)
        if self.wait_kind == "stall":
            self.rebuffers.append([self.wait_since - self.t0, t - self.wait_since])
            self.wait_kind = None

    def report(self):
        total = sum(d for _, d in self.rebuffers)
        return {
            "startup_s": self.startup_s,
            "rebuffers": self.rebuffers,
            "rebuffer_count": len(self.rebuffers),
            "rebuffer_total_s": total,
            "rebuffers_after_30s": sum(1 for s, _ in self.rebuffers if s >= 30.0),
            "seeks": self.seeks,
            "played_bytes": int(self.played),
        }


def seek_targets(kind, pos, size):
    """The byte a scripted seek goes to: 'fwd20' (forward 20% of the file),
    'back10' (back 10%), 'to90' (to 90%); clamped into the file."""
    if kind == "fwd20":
        to = pos + 0.2 * size
    elif kind == "back10":
        to = pos - 0.1 * size
    elif kind == "to90":
        to = 0.9 * size
    else:
        raise ValueError("unknown seek %r (fwd20, back10, to90)" % kind)
    return int(max(0, min(size - 1, to)))


class Stream:
    """One open-ended Range request on a plain socket, read without
    blocking the loop."""

    def __init__(self, url, pos, timeout):
        u = urllib.parse.urlsplit(url)
        if u.scheme != "http" or not u.hostname:
            raise ValueError("only http:// URLs: %r" % url)
        path = u.path + ("?" + u.query if u.query else "")
        self.sock = socket.create_connection((u.hostname, u.port or 80), timeout=timeout)
        self.sock.setblocking(False)
        req = "GET %s HTTP/1.1\r\nHost: %s\r\nRange: bytes=%d-\r\nConnection: close\r\n\r\n" % (
            path, u.netloc, pos)
        self.sock.sendall(req.encode())
        self.head = b""
        self.status = None
        self.size = None  # whole file size, from Content-Range
        self.pending = b""  # body bytes that came with the head
        self.eof = False

    def fileno(self):
        return self.sock.fileno()

    def read(self):
        """Body bytes read now (b"" if none); sets status once the head is in."""
        try:
            data = self.sock.recv(READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return b""
        if not data:
            self.eof = True
            return b""
        if self.status is not None:
            return data
        self.head += data
        end = self.head.find(b"\r\n\r\n")
        if end < 0:
            if len(self.head) > MAX_HEADER:
                raise IOError("response head over %d bytes" % MAX_HEADER)
            return b""
        head, body = self.head[:end].decode("latin-1"), self.head[end + 4:]
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise IOError("bad status line %r" % lines[0][:80])
        self.status = int(parts[1])
        for line in lines[1:]:
            k, _, v = line.partition(":")
            k, v = k.strip().lower(), v.strip()
            if k == "transfer-encoding" and "chunked" in v.lower():
                raise IOError("chunked responses are not supported by the player model")
            if k == "content-range" and "/" in v and v.rsplit("/", 1)[1].isdigit():
                self.size = int(v.rsplit("/", 1)[1])
        return body

    def close(self):
        self.sock.close()


def file_size(url, timeout, deadline):
    """Size from a `Range: bytes=0-0` answer, retried (every 50 ms) while the
    client answers with an error or not at all (metadata not known yet)."""
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            s = Stream(url, 0, timeout)
            try:
                while s.status is None and not s.eof and time.monotonic() < deadline:
                    select.select([s], [], [], 0.05)
                    s.read()
            finally:
                s.close()
            if s.status in (200, 206) and s.size:
                return s.size
            last = "status %s" % s.status
        except OSError as e:
            last = str(e)
        time.sleep(0.05)
    raise SystemExit("player: %s never answered a Range request (%s)" % (url, last))


def run(args):
    t_start = time.monotonic()
    deadline = t_start + args.wait
    size = args.size or file_size(args.url, 5.0, deadline)
    rate = args.bitrate / 8.0
    seeks = []
    for spec in args.seek:
        at, _, kind = spec.partition(":")
        seeks.append((float(at), kind))
    for _, kind in seeks:
        seek_targets(kind, 0, 100)  # an unknown kind fails before the session
    seeks.sort()
    pb = Playback(rate, args.start, size, t_start)
    stream, received, reading = None, 0, True
    errors = {}  # status -> how many answers, other than 206 (or 200 at 0)
    t_end = t_start + args.duration
    while True:
        now = time.monotonic()
        if now >= t_end or pb.at_end():
            break
        if seeks and now - t_start >= seeks[0][0]:
            _, kind = seeks.pop(0)
            pb.seek(now, seek_targets(kind, pb.pos, size))
            if stream:
                stream.close()
                stream = None
            reading = True
        if stream is None:
            want = int(pb.pos + pb.avail)
            if want >= size:
                reading = False
            else:
                try:
                    stream = Stream(args.url, want, 5.0)
                except OSError as e:
                    print("player: reconnecting after %s" % e, file=sys.stderr)
                    time.sleep(0.05)
                    pb.advance(time.monotonic())
                    continue
        buffered = pb.buffered_s()
        if reading and buffered >= args.high:
            reading = False
        elif not reading and buffered <= args.low:
            reading = True
        wait = 0.05
        if stream is not None and reading:
            r, _, _ = select.select([stream], [], [], wait)
            if r:
                try:
                    data = stream.read()
                except OSError as e:
                    print("player: stream broke (%s), asking again" % e, file=sys.stderr)
                    stream.close()
                    stream = None
                    continue
                ok = stream.status == 206 or (stream.status == 200 and pb.pos + pb.avail == 0)
                if stream.status is not None and not ok:
                    errors[stream.status] = errors.get(stream.status, 0) + 1
                    stream.close()
                    stream = None
                    time.sleep(0.05)
                    continue
                if data:
                    received += len(data)
                    pb.arrived(time.monotonic(), len(data))
                if stream.eof:
                    stream.close()
                    stream = None
        else:
            time.sleep(wait)
        pb.advance(time.monotonic())
    if stream:
        stream.close()
    pb.finish(time.monotonic())
    out = pb.report()
    out.update({"url": args.url, "size": size, "bitrate": args.bitrate, "duration_s": args.duration,
                "received_bytes": received, "http_errors": errors})
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description="Play an HTTP stream at a bitrate; print JSON.")
    p.add_argument("url")
    p.add_argument("--bitrate", type=float, default=8e6, help="bits/s (8e6: 1080p, 3e6: 720p)")
    p.add_argument("--duration", type=float, default=60.0, help="session length, s")
    p.add_argument("--start", type=float, default=2.0, help="seconds buffered before playing")
    p.add_argument("--low", type=float, default=10.0, help="resume reading below this, s")
    p.add_argument("--high", type=float, default=30.0, help="pause reading above this, s")
    p.add_argument("--seek", action="append", default=None,
                   help="AT_S:KIND, KIND one of fwd20 back10 to90 (repeatable)")
    p.add_argument("--size", type=int, default=0, help="file size (default: from Content-Range)")
    p.add_argument("--wait", type=float, default=60.0, help="longest wait for a first answer, s")
    args = p.parse_args(argv)
    if args.seek is None:
        d = args.duration
        args.seek = ["%g:fwd20" % (d * 0.25), "%g:back10" % (d * 0.5), "%g:to90" % (d * 0.75)]
    if not 0 < args.low < args.high:
        p.error("need 0 < --low < --high")
    print(json.dumps(run(args)))


if __name__ == "__main__":
    main()
