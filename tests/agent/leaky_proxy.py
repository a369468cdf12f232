#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A TCP proxy that leaks connections, as in seed 001: it accepts from the agent, connects
upstream, copies bytes both ways and never closes either side (not even when the other one
closed). Writes its port to --port-file and its counts (accepted, open sockets) to --count."""
import argparse
import json
import os
import socket
import threading

held = []  # every socket ever opened: never closed
lock = threading.Lock()
counts = {"accepted": 0, "upstream": 0, "upstream_eof": 0, "client_eof": 0}


def write_counts(path):
    with lock:
        c = dict(counts, held=len(held))
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(c, f)
    os.replace(tmp, path)


def pump(src, dst, eof_key, path):
    while True:
        try:
            data = src.recv(65536)
        except OSError:
            data = b""
        if not data:
            with lock:
                counts[eof_key] += 1
            write_counts(path)
            return  # and close nothing: the leak
        try:
            dst.sendall(data)
        except OSError:
            pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--upstream", type=int, required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--count", required=True)
    a = p.parse_args()
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    write_counts(a.count)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(ls.getsockname()[1]))
    os.replace(tmp, a.port_file)
    while True:
        c, _ = ls.accept()
        u = socket.create_connection(("127.0.0.1", a.upstream))
        with lock:
            held.extend([c, u])
            counts["accepted"] += 1
            counts["upstream"] += 1
        write_counts(a.count)
        threading.Thread(target=pump, args=(c, u, "client_eof", a.count), daemon=True).start()
        threading.Thread(target=pump, args=(u, c, "upstream_eof", a.count), daemon=True).start()


if __name__ == "__main__":
    main()
