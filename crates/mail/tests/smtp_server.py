"""A real SMTP server for the rampart-mail tests (aiosmtpd).

Every accepted message is written to --outdir as one JSON file (envelope, decoded
headers and body). Prints "READY <port>" once it accepts connections and stops when
its standard input closes (the test dropped it).

Behaviour switches:
  --mode plain|starttls|smtps   starttls = STARTTLS offered and required
  --cert/--key                  PEM files for starttls/smtps
  --auth USER:PASSWORD          AUTH required (PLAIN/LOGIN)
  --tempfail N                  answer the first N DATA commands with 451
  --reject-rcpt SUBSTRING       answer RCPT TO with 550 when the address contains it
  --hang                        never answer DATA (a relay that stopped responding)
"""

import argparse
import asyncio
import json
import os
import socket
import ssl
import sys
import threading
import uuid
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Handler:
    def __init__(self, outdir, tempfail, reject, hang):
        self.hang = hang
        self.outdir = outdir
        self.tempfail = tempfail
        self.reject = reject
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.reject and self.reject in address:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.hang:
            await asyncio.sleep(3600)
        with self.lock:
            if self.tempfail > 0:
                self.tempfail -= 1
                return "451 4.3.0 try again later"
        msg = message_from_bytes(envelope.content, policy=policy.default)
        body = msg.get_body(preferencelist=("plain",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            # session.ssl covers STARTTLS; implicit TLS shows on the transport.
            "tls": session.ssl is not None
            or server.transport.get_extra_info("ssl_object") is not None,
            "auth": session.authenticated,
            "from": str(msg["From"]),
            "to": str(msg["To"]),
            "subject": str(msg["Subject"]),
            "message_id": str(msg["Message-ID"]),
            "content_type": msg.get_content_type(),
            "charset": msg.get_content_charset(),
            "body": body.get_content() if body is not None else "",
        }
        name = os.path.join(self.outdir, uuid.uuid4().hex)
        with open(name + ".tmp", "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.rename(name + ".tmp", name + ".json")
        return "250 OK"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--outdir", required=True)
    p.add_argument("--mode", default="plain", choices=["plain", "starttls", "smtps"])
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--auth")
    p.add_argument("--tempfail", type=int, default=0)
    p.add_argument("--reject-rcpt")
    p.add_argument("--hang", action="store_true")
    a = p.parse_args()

    ctx = None
    if a.mode != "plain":
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.cert, a.key)

    kwargs = {}
    if a.auth:
        user, password = a.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (
                isinstance(auth_data, LoginPassword)
                and auth_data.login == user.encode()
                and auth_data.password == password.encode()
            )
            return AuthResult(success=ok, handled=False)

        kwargs.update(
            authenticator=authenticator,
            auth_required=True,
            # Implicit TLS is not STARTTLS; aiosmtpd only knows the latter.
            auth_require_tls=(a.mode == "starttls"),
        )
    if a.mode == "starttls":
        kwargs.update(tls_context=ctx, require_starttls=True)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    handler = Handler(a.outdir, a.tempfail, a.reject_rcpt, a.hang)
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        ssl_context=ctx if a.mode == "smtps" else None,
        server_hostname="localhost",
        **kwargs,
    )
    controller.start()
    print(f"READY {port}", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
