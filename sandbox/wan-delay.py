#!/usr/bin/env python3
"""wan-delay: the latency between the sandbox's two regions.

The kernel here has no netem (tc's delay qdisc is not built) and nftables' `queue` expression is
missing, but iptables' NFQUEUE target works (../shared/notes/sandbox-hosts.md). The router
namespace queues every packet it forwards between the regions to queue QUEUE; this program holds
each one for DELAY milliseconds and then accepts it, in order. Both directions pass the router,
so the round trip between the regions gains twice DELAY. With --queue-bypass on the rule, packets
pass undelayed whenever this program is not running: it can never cut the regions apart.

It speaks netfilter's netlink protocol directly (nfnetlink_queue: bind the queue, copy only
metadata, batch verdicts), so the machine needs nothing but python3.

    ip netns exec pgha-wan python3 wan-delay.py --queue 7 --delay-ms 12
"""
import argparse
import collections
import os
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG, NFQNL_MSG_VERDICT_BATCH = 0, 1, 2, 3
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS, NFQA_CFG_QUEUE_MAXLEN = 1, 2, 3
NFQA_PACKET_HDR, NFQA_VERDICT_HDR = 1, 2
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NF_ACCEPT = 1
QUEUE_MAXLEN = 65536


def attr(kind, payload):
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def message(kind, flags, seq, queue, attrs):
    # nlmsghdr, then nfgenmsg {family AF_UNSPEC, version 0, res_id = queue (big-endian)}
    body = struct.pack("=BB", socket.AF_UNSPEC, 0) + struct.pack("!H", queue) + attrs
    return struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | kind, flags, seq, 0) + body


def messages(data):
    """(type, payload after nlmsghdr) of every netlink message in one datagram."""
    offset = 0
    while offset + 16 <= len(data):
        length, kind = struct.unpack_from("=IH", data, offset)
        if length < 16:
            break
        yield kind, data[offset + 16:offset + length]
        offset += (length + 3) & ~3


def attributes(payload):
    offset = 4  # nfgenmsg
    while offset + 4 <= len(payload):
        length, kind = struct.unpack_from("=HH", payload, offset)
        if length < 4:
            break
        yield kind & 0x7FFF, payload[offset + 4:offset + length]
        offset += (length + 3) & ~3


def configure(sock, queue):
    """Binds the queue and asks for metadata only; each step must be acknowledged."""
    steps = [
        attr(NFQA_CFG_CMD, struct.pack("!BxH", NFQNL_CFG_CMD_BIND, 0)),
        attr(NFQA_CFG_PARAMS, struct.pack("!IB", 0, NFQNL_COPY_META)),
        attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", QUEUE_MAXLEN)),
    ]
    for seq, attrs in enumerate(steps, start=1):
        sock.send(message(NFQNL_MSG_CONFIG, NLM_F_REQUEST | NLM_F_ACK, seq, queue, attrs))
        for kind, payload in messages(sock.recv(65536)):
            if kind == NLMSG_ERROR:
                (err,) = struct.unpack_from("=i", payload, 0)
                if err != 0:
                    raise OSError(-err, f"nfnetlink_queue config step {seq}: {os.strerror(-err)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--queue", type=int, required=True)
    ap.add_argument("--delay-ms", type=float, required=True)
    args = ap.parse_args()
    delay = args.delay_ms / 1000.0

    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    # SO_RCVBUFFORCE (root): a burst of queued packets must not overflow the socket (a lost
    # netlink message would leave its packet queued without a verdict).
    sock.setsockopt(socket.SOL_SOCKET, 33, 32 * 1024 * 1024)
    sock.bind((0, 0))
    configure(sock, args.queue)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"wan-delay: queue {args.queue}, {args.delay_ms} ms each way", flush=True)

    pending = collections.deque()  # (due, packet id), in arrival order: ids increase
    seq = 100
    while True:
        timeout = max(0.0, pending[0][0] - time.monotonic()) if pending else None
        ready, _, _ = select.select([sock], [], [], timeout)
        if ready:
            try:
                data = sock.recv(1 << 20)
            except OSError as e:  # ENOBUFS: messages lost; the queue-bypass rule keeps traffic moving
                print(f"wan-delay: recv: {e}", flush=True)
                data = b""
            arrived = time.monotonic()
            for kind, payload in messages(data):
                if kind != (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                    continue
                for akind, value in attributes(payload):
                    if akind == NFQA_PACKET_HDR:
                        pending.append((arrived + delay, struct.unpack_from("!I", value, 0)[0]))
        now = time.monotonic()
        last = None
        while pending and pending[0][0] <= now:
            last = pending.popleft()[1]
        if last is not None:
            # One verdict for every queued packet up to `last` (they arrived before it).
            seq += 1
            sock.send(message(NFQNL_MSG_VERDICT_BATCH, NLM_F_REQUEST, seq, args.queue, attr(NFQA_VERDICT_HDR, struct.pack("!II", NF_ACCEPT, last))))


if __name__ == "__main__":
    main()
