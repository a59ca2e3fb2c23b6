#!/usr/bin/env python3
# Smoke test of ql-test-smdp: it starts on a free loopback port, writes its PKI, speaks TLS 1.3
# (checked with gnutls-cli against DIR/ci.pem), serves HTTP/1.1 keep-alive, refuses a
# non-loopback address, derives confirmation codes, and stops.
#
# SPDX-License-Identifier: GPL-2.0-or-later

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import qltest  # noqa: E402
from qltest import SMDP  # noqa: E402

failures = []


def check(cond, what):
    print(('ok     ' if cond else 'FAILED ') + what, flush=True)
    if not cond:
        failures.append(what)


def start_server(pki, *faults, events=()):
    """The server, or None (with its error printed) when it did not start."""
    try:
        return qltest.Smdp(pki, *faults, events=events)
    except AssertionError as e:
        print(e)
        return None


def gnutls_cli(port, cafile, priority):
    cmd = ['gnutls-cli', '--x509cafile', cafile, '--port', str(port), '--priority', priority,
           '127.0.0.1']
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


def https_exchange(port, cafile, requests):
    """Several HTTP/1.1 requests on one TLS connection; the raw answers."""
    try:
        import ssl
    except ImportError:
        return None
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = True
    answers = []
    with socket.create_connection(('127.0.0.1', port), timeout=20) as raw:
        with ctx.wrap_socket(raw, server_hostname='localhost') as s:
            buf = b''
            for req in requests:
                s.sendall(req)
                while b'\r\n\r\n' not in buf:
                    chunk = s.recv(65536)
                    if not chunk:
                        return answers
                    buf += chunk
                head, _, rest = buf.partition(b'\r\n\r\n')
                m = re.search(rb'(?i)content-length:\s*(\d+)', head)
                n = int(m.group(1)) if m else 0
                while len(rest) < n:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    rest += chunk
                answers.append((head.decode(), rest[:n].decode(errors='replace')))
                buf = rest[n:]
    return answers


def post(path, body, admin=True):
    data = body.encode()
    head = 'POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n' % path
    if admin:
        head += 'X-Admin-Protocol: gsma/rsp/v2.2.0\r\n'
    head += 'Content-Length: %d\r\n\r\n' % len(data)
    return head.encode() + data


def main():
    if not os.access(SMDP, os.X_OK):
        print('ql-test-smdp not built at %s' % SMDP)
        return 1
    tmp = tempfile.mkdtemp(prefix='ql-smdp-start-')
    pki = os.path.join(tmp, 'pki')
    try:
        srv = start_server(pki)
        check(srv is not None and srv.port > 0, 'prints "listening on 127.0.0.1:PORT"')
        if srv is None:
            return 1
        for f in ['ci.pem', 'ci-key.pem', 'dpauth.pem', 'dpauth-key.pem', 'dppb.pem',
                  'dppb-key.pem', 'dptls.pem', 'dptls-key.pem', 'euicc/eum.pem',
                  'euicc/euicc.pem', 'euicc/euicc-key.pem', 'euicc/ci/ci.pem', 'crl/ci.crl',
                  'client.pem', 'client-key.pem', 'client-ca.pem', 'cc.key',
                  'tls-expired.pem', 'tls-not-yet-valid.pem', 'tls-wrong-host.pem',
                  'tls-unknown-ci.pem', 'tls-revoked.pem', 'tls-wrong-role.pem',
                  'unknown-ci.pem']:
            check(os.path.isfile(os.path.join(pki, f)), 'PKI file %s' % f)
        check(oct(os.stat(os.path.join(pki, 'cc.key')).st_mode & 0o777) == '0o600',
              'cc.key is private')
        ci = os.path.join(pki, 'ci.pem')

        rc, out = gnutls_cli(srv.port, ci, 'NORMAL:-VERS-ALL:+VERS-TLS1.3')
        check(rc == 0 and 'TLS1.3' in out, 'TLS 1.3 handshake verified against ci.pem')
        rc, out = gnutls_cli(srv.port, ci, 'NORMAL:-VERS-ALL:+VERS-TLS1.2')
        check(rc == 0 and 'TLS1.2' in out and 'GCM' in out, 'TLS 1.2 with an AEAD suite')
        rc, out = gnutls_cli(srv.port, ci, 'NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-CBC:-MAC-ALL:+SHA1:+SHA256')
        check(rc != 0, 'a CBC-only client is refused')
        check(srv.wait_for(r'^tls handshake failed: ') is not None,
              'the refused handshake is logged')
        rc, out = gnutls_cli(srv.port, os.path.join(pki, 'unknown-ci.pem'),
                             'NORMAL:-VERS-ALL:+VERS-TLS1.3')
        check(rc != 0, 'a client trusting another CI refuses the server')

        answers = https_exchange(srv.port, ci, [
            post('/gsma/rsp2/es9plus/initiateAuthentication', '{"smdpAddress":"x"}'),
            post('/gsma/rsp2/es9plus/initiateAuthentication', '{}', admin=False),
            post('/gsma/rsp2/es9plus/nope', '{}'),
            post('/gsma/rsp2/es9plus/cancelSession', 'not json'),
            post('/gsma/rsp2/es9plus/authenticateClient',
                 '{"transactionId":"00112233445566778899AABBCCDDEEFF",'
                 '"authenticateServerResponse":"vzgA"}'),
        ])
        if answers is None:
            print('skip   keep-alive exchange (no ssl module)')
        else:
            check(len(answers) == 5, 'five requests answered on one connection')
            if len(answers) == 5:
                body = json.loads(answers[0][1])
                st = body['header']['functionExecutionStatus']
                check(answers[0][0].startswith('HTTP/1.1 200') and st['status'] == 'Failed' and
                      st['statusCodeData']['subjectCode'] == '1.2',
                      'a malformed initiateAuthentication is Failed in JSON')
                check('x-admin-protocol: gsma/rsp/v2' in answers[0][0].lower(),
                      'answers carry X-Admin-Protocol')
                check(answers[1][0].startswith('HTTP/1.1 400'), 'no X-Admin-Protocol: 400')
                check(answers[2][0].startswith('HTTP/1.1 404'), 'unknown function: 404')
                check(answers[3][0].startswith('HTTP/1.1 400'), 'not JSON: 400')
                st = json.loads(answers[4][1])['header']['functionExecutionStatus']
                check(st['statusCodeData']['subjectCode'] == '8.10.1' and
                      st['statusCodeData']['reasonCode'] == '3.9',
                      'unknown transactionId: 8.10.1 / 3.9')
            check(srv.wait_for(r'^es9\+ initiateAuthentication Failed 1\.2/2\.2$') is not None,
                  'request line "es9+ initiateAuthentication Failed ..."')
            check(srv.wait_for(r'^es9\+ authenticateClient Failed 8\.10\.1/3\.9$') is not None,
                  'request line "es9+ authenticateClient Failed 8.10.1/3.9"')

        # garbage must not kill it
        with socket.create_connection(('127.0.0.1', srv.port), timeout=10) as s:
            s.sendall(b'\x16\x03\x01\x00\x05hello' + os.urandom(200))
            s.settimeout(1)
            try:
                s.recv(100)
            except OSError:
                pass
        rc, out = gnutls_cli(srv.port, ci, 'NORMAL:-VERS-ALL:+VERS-TLS1.3')
        check(rc == 0, 'still serving after garbage')
        srv.stop()
        check(srv.proc.returncode is not None, 'stops on SIGTERM')

        # the PKI is reused by the next start
        with open(ci) as f:
            ci_before = f.read()
        srv = start_server(pki, 'tls12', events=['EVT-1'])
        check(srv is not None, 'restarts with --fault tls12')
        with open(ci) as f:
            check(f.read() == ci_before, 'the PKI is reused')
        if srv is not None:
            rc, out = gnutls_cli(srv.port, ci, 'NORMAL:-VERS-ALL:+VERS-TLS1.3')
            check(rc != 0, 'tls12 fault: a TLS 1.3-only client fails')
            rc, out = gnutls_cli(srv.port, ci, 'NORMAL')
            check(rc == 0 and 'TLS1.2' in out, 'tls12 fault: TLS 1.2 is negotiated')
            srv.stop()

        p = subprocess.run([SMDP, '--pki', pki, '--confirmation-code', 'CC-ABC'],
                           capture_output=True, text=True, timeout=30)
        code = p.stdout.strip()
        check(p.returncode == 0 and re.fullmatch(r'[0-9A-F]{6}', code) is not None,
              '--confirmation-code prints 6 hex digits')
        p2 = subprocess.run([SMDP, '--pki', pki, '--confirmation-code', 'CC-ABC'],
                            capture_output=True, text=True, timeout=30)
        check(p2.stdout.strip() == code, 'the code is stable')

        p = subprocess.run([SMDP, '--pki', pki, '--listen', '0.0.0.0:0'],
                           capture_output=True, text=True, timeout=30)
        check(p.returncode != 0 and 'loopback' in p.stderr, 'refuses a non-loopback address')
        p = subprocess.run([SMDP, '--pki', pki, '--listen', '127.0.0.1:0', '--fault', 'nope'],
                           capture_output=True, text=True, timeout=30)
        check(p.returncode != 0, 'refuses an unknown fault')
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print('%d check(s) failed' % len(failures))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
