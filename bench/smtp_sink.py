"""An SMTP sink for benchmarks: aiosmtpd on loopback, accepts and counts, keeps nothing.

Run: python bench/smtp_sink.py PORT COUNTFILE — writes the message count (and duplicates by
Message-ID) to COUNTFILE on SIGTERM.
"""

from __future__ import annotations

import json
import re
import signal
import sys
import threading
from collections import Counter
from typing import Any

from aiosmtpd.controller import Controller

MSGID = re.compile(rb"^Message-ID: (<[^>]+>)", re.MULTILINE | re.IGNORECASE)


class Sink:
    def __init__(self) -> None:
        self.ids: Counter[bytes] = Counter()
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        match = MSGID.search(envelope.original_content or envelope.content)
        if match:
            self.ids[match.group(1)] += 1
        return "250 OK"


def main() -> None:
    port, out = int(sys.argv[1]), sys.argv[2]
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port, decode_data=False)
    controller.start()
    print("ready", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    controller.stop()
    dup = sum(n - 1 for n in sink.ids.values() if n > 1)
    with open(out, "w") as f:
        json.dump({"received": sink.count, "duplicate_message_ids": dup}, f)


if __name__ == "__main__":
    main()
