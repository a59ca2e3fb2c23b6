/*
 * A GnuTLS client session over a connected socket, with the trust decision of QlTrust made
 * inside the handshake (so a refused server never gets a request byte), one priority string
 * per policy and no version fallback.
 *
 * One QlTls holds the configuration and at most one live session; ql_tls_connect() replaces
 * the session, so a caller can reconnect with the same settings.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include <gnutls/gnutls.h>

#include "ql-trust.h"

G_BEGIN_DECLS

typedef enum {
	QL_TLS_POLICY_STANDARD, /* TLS 1.2 + 1.3, ECDHE, AEAD only: what SGP.22 servers speak */
	QL_TLS_POLICY_STRICT,	/* --secure: TLS 1.3 only, AES-256-GCM / ChaCha20-Poly1305 */
} QlTlsPolicy;

const gchar *ql_tls_policy_to_string(QlTlsPolicy policy);
/* The GnuTLS priority string of @policy. */
const gchar *ql_tls_policy_priority(QlTlsPolicy policy);

#define QL_TLS_DEFAULT_TIMEOUT_MS 30000

#define QL_TYPE_TLS (ql_tls_get_type())
G_DECLARE_FINAL_TYPE(QlTls, ql_tls, QL, TLS, GObject)

/* @trust is referenced. */
QlTls *ql_tls_new(QlTrust *trust, QlTlsPolicy policy);
QlTrust *ql_tls_get_trust(QlTls *self);
QlTlsPolicy ql_tls_get_policy(QlTls *self);

/* mTLS: PEM files, or PKCS#11 URIs ("pkcs11:..."); @key_file NULL = same as @cert_file. */
gboolean ql_tls_set_client_certificate(QlTls *self, const gchar *cert_file, const gchar *key_file,
				       GError **error);
/* Applies to the handshake and to each read or write; 0 = no timeout. Default 30 s. */
void ql_tls_set_timeout(QlTls *self, guint timeout_ms);
/* Every wait of the handshake, reads and writes also ends when @cancellable fires (a
 * QL_ERROR_CANCELLED error); NULL removes it. */
void ql_tls_set_cancellable(QlTls *self, GCancellable *cancellable);
guint ql_tls_get_timeout(QlTls *self);
/* The role the server certificate must carry when a GSMA CI issued it; default DP TLS. */
void ql_tls_set_expected_role(QlTls *self, QlCertRole role);

/* Runs the handshake over @socket (connected, referenced until closed) for @host, a name or
 * an IP literal (no SNI for an IP). Any previous session is closed first. */
gboolean ql_tls_connect(QlTls *self, GSocket *socket, const gchar *host, GError **error);
gboolean ql_tls_is_connected(QlTls *self);
/* Sends close_notify (best effort) and drops the socket. */
void ql_tls_close(QlTls *self);

gboolean ql_tls_write_all(QlTls *self, const guint8 *data, gsize len, GError **error);
/* Returns the number of bytes read, 0 at the end of the stream, -1 on error. */
gssize ql_tls_read(QlTls *self, guint8 *buf, gsize len, GError **error);
/* After ql_tls_read() returned 0: whether the peer ended with close_notify (FALSE: a bare TCP
 * close, which anyone on the path can forge, so only length-framed data is known whole). */
gboolean ql_tls_eof_was_clean(QlTls *self);
/* TRUE when decrypted bytes are buffered or the socket is readable (data or a close). */
gboolean ql_tls_has_input(QlTls *self);

/* Of the current (or last) session: "TLS1.3", "TLS_AES_256_GCM_SHA384"; NULL before. */
const gchar *ql_tls_get_version_name(QlTls *self);
const gchar *ql_tls_get_cipher_suite_name(QlTls *self);
gnutls_protocol_t ql_tls_get_version(QlTls *self);
/* Handshakes attempted that completed, over the object's life. */
guint ql_tls_get_handshake_count(QlTls *self);
/* The server certificate of the current session, or NULL. */
gnutls_x509_crt_t ql_tls_get_peer_certificate(QlTls *self);

G_END_DECLS
