#!/usr/bin/python3
"""A local SMTP server for the tests (Debian's python3-aiosmtpd): every
message it accepts is stored in DIR as NAME.eml (the bytes of DATA, dot
transparency undone) beside NAME.json ({"mail_from", "rcpt_tos", "helo"}),
named so that they sort in arrival order; the .eml appears last, by rename.

DIR/control.json, read at every command, makes it refuse:
    {"mail": 550, "rcpt": 451, "data": 552}   (null or absent: accept)
"rcpt" and "mail" answer the RCPT TO / MAIL FROM command, "data" the end of
the message. The test changes the file while the server runs.

    smtp_sink.py --port PORT --dir DIR

Listens on 127.0.0.1 only and needs no network (no name lookups: the
greeting's host name is fixed). Stops on SIGTERM or SIGINT.
"""
import argparse
import asyncio
import json
import os
import signal
import sys
import time

from aiosmtpd.smtp import SMTP

REPLY_TEXT = {
    421: "4.3.2 Service not available (test sink)",
    450: "4.2.0 Mailbox busy (test sink)",
    451: "4.3.0 Local error, try again later (test sink)",
    452: "4.3.1 Insufficient storage (test sink)",
    550: "5.1.1 Mailbox unavailable (test sink)",
    552: "5.3.4 Message too big (test sink)",
    553: "5.1.3 Mailbox name not allowed (test sink)",
    554: "5.6.0 Transaction failed (test sink)",
}


def reply(code):
    text = REPLY_TEXT.get(code)
    if text is None:
        text = "Refused (test sink)" if code >= 500 else "Try again later (test sink)"
    return "%d %s" % (code, text)


class Sink:
    def __init__(self, directory):
        self.dir = directory
        self.count = 0

    def refusal(self, stage):
        """The reply refusing stage ("mail", "rcpt", "data"), or None."""
        try:
            with open(os.path.join(self.dir, "control.json"), encoding="utf-8") as f:
                control = json.load(f)
        except (OSError, ValueError):
            return None
        code = control.get(stage) if isinstance(control, dict) else None
        if isinstance(code, int) and 400 <= code <= 599:
            return reply(code)
        return None

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        refused = self.refusal("mail")
        if refused:
            return refused
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        refused = self.refusal("rcpt")
        if refused:
            return refused
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        refused = self.refusal("data")
        if refused:
            return refused
        self.count += 1
        name = "%020d-%05d-%04d" % (time.time_ns(), os.getpid(), self.count)
        base = os.path.join(self.dir, name)
        with open(base + ".json", "w", encoding="utf-8") as f:
            json.dump({
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "mail_options": list(envelope.mail_options),
                "helo": session.host_name,
            }, f)
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content)
        os.rename(base + ".eml.tmp", base + ".eml")
        return "250 2.0.0 Message accepted (test sink)"


async def serve(port, directory):
    loop = asyncio.get_running_loop()
    handler = Sink(directory)
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="sink.test", ident="fastback test sink",
                     loop=loop),
        host="127.0.0.1", port=port, reuse_address=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("smtp_sink: listening on 127.0.0.1:%d, storing in %s" % (port, directory),
          flush=True)
    await stop.wait()
    server.close()
    await server.wait_closed()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    args = ap.parse_args()
    if not os.path.isdir(args.dir):
        print("smtp_sink: %s is not a directory" % args.dir, file=sys.stderr)
        return 2
    asyncio.run(serve(args.port, args.dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
