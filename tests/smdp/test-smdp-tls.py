#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""How the test SM-DP+ ends TLS connections. A server that close()s a socket with unread input
makes the kernel send a TCP reset, and the reset can overtake the alert or answer it sent last:
the mTLS download test then saw "the server closed the connection" instead of "requires a client
certificate", depending on timing. The server must end with its alert and a FIN, and keep
reading until the client has had its say (lingering close). Prints TAP."""

import os
import select
import socket
import ssl
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import qltest  # noqa: E402
from qltest import case  # noqa: E402

TMP = tempfile.mkdtemp(prefix="ql-smdp-tls-")
PKI = os.path.join(TMP, "pki")
REQUEST = (b"POST /gsma/rsp2/es9plus/initiateAuthentication HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           b"X-Admin-Protocol: gsma/rsp/v2.2.0\r\nContent-Type: application/json\r\n"
           b"Content-Length: 2\r\n\r\n{}")


def tls13_client():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(os.path.join(PKI, "ci.pem"))
    ctx.check_hostname = False
    return ctx


def wait_readable(sock):
    r, _, _ = select.select([sock], [], [], 60)
    assert r, "the server sent nothing within 60 s"


@case("a refused client certificate: the alert reaches a client that writes after it arrived")
def _():
    s = qltest.Smdp(PKI, "client-cert")
    with socket.create_connection(("127.0.0.1", s.port)) as raw:
        tls = tls13_client().wrap_socket(raw)
        # TLS 1.3: our handshake is over before the server judged our (empty) certificate;
        # its verdict comes as an alert. Write only once it arrived: a server that closed
        # with our Finished unread has reset the connection by then.
        wait_readable(tls)
        try:
            tls.sendall(REQUEST)
        except (BrokenPipeError, ConnectionResetError) as e:
            raise AssertionError(f"the server reset the connection: the write failed ({e})")
        try:
            data = tls.recv(4096)
            raise AssertionError(f"the server answered without a client certificate: {data!r}")
        except ssl.SSLError as e:
            assert "CERTIFICATE_REQUIRED" in str(e), f"not the certificate_required alert: {e}"
        except (ConnectionResetError, BrokenPipeError) as e:
            raise AssertionError(f"the server reset the connection: the alert was lost ({e})")
    # the server logs the refusal after sending the alert: wait for it, do not stop it first
    assert s.wait_for(r"^tls handshake failed", 60), "the server did not log the refusal"


qltest.finish(TMP)
