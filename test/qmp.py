#!/usr/bin/env python3
"""qmp.py SOCKET COMMAND [JSON_ARGUMENTS]: run one QMP command for the VM
tests and print its return value as JSON (exit 1 and the error on failure)."""
import json
import socket
import sys


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(sys.argv[1])
    f = s.makefile("rwb")

    def send(name, args=None):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        f.write(json.dumps(msg).encode() + b"\n")
        f.flush()
        while True:
            line = f.readline()
            if not line:
                raise EOFError("QEMU closed the QMP connection")
            reply = json.loads(line)
            if "return" in reply or "error" in reply:
                return reply

    json.loads(f.readline())
    send("qmp_capabilities")
    args = json.loads(sys.argv[3]) if len(sys.argv) > 3 else None
    reply = send(sys.argv[2], args)
    if "error" in reply:
        print(reply["error"].get("desc", reply["error"]))
        return 1
    print(json.dumps(reply["return"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
