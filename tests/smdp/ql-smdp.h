/*
 * The test SM-DP+ (ql-test-smdp): the parts shared by its program, its HTTP server and its unit
 * test. Not installed, not part of the core.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include <stdio.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "ql-crypto.h"
#include "ql-pki.h"

G_BEGIN_DECLS

/* Bounds on what a client may send */
#define QL_SMDP_MAX_HEADER_BYTES (16 * 1024)
#define QL_SMDP_MAX_BODY (1024 * 1024)
#define QL_SMDP_MAX_SESSIONS 256
#define QL_SMDP_MAX_CONNECTIONS 64
#define QL_SMDP_IDLE_TIMEOUT_MS 60000
#define QL_SMDP_CC_MAX_TRIES 3
/* The trickle faults: one byte of the answer (or of the handshake) every so often, for as long
 * as the client reads: always some progress, never the whole */
#define QL_SMDP_TRICKLE_MS 250

/* The fixed hostId of the CRT in InitialiseSecureChannel (SGP.22 5.5.1): 8-16 bytes */
#define QL_SMDP_HOST_ID "QL-TEST-SMDP"

/* ---- PKI (ql-smdp-pki.c) ---- */

typedef struct {
	gchar *dir;
	QlPkiCert ci;
	QlPkiCert dpauth;
	QlPkiCert dppb;
	QlPkiCert dptls;
	/* TLS certificates for the faults */
	QlPkiCert tls_expired;
	QlPkiCert tls_not_yet_valid;
	QlPkiCert tls_wrong_host;
	QlPkiCert tls_unknown_ci;
	QlPkiCert tls_revoked;
	QlPkiCert tls_wrong_role;
	gchar *client_ca_path;
	gnutls_x509_crt_t euicc; /* DIR/euicc/euicc.pem: known before any session */
	guint8 cc_key[32];
} QlSmdpPki;

/* Loads the PKI from @dir, or creates it there when @dir holds none yet. */
gboolean ql_smdp_pki_open(const gchar *dir, QlSmdpPki *pki, GError **error);
void ql_smdp_pki_clear(QlSmdpPki *pki);
/* The 6 upper-case hex digits the test SM-DP+ expects for @matching_id. */
gchar *ql_smdp_confirmation_code(const QlSmdpPki *pki, const gchar *matching_id);
/* A 32-digit EID starting 89 whose value mod 97 is 1 (GSMA SGP.29 / ITU-T E.118 check digits). */
gchar *ql_smdp_make_eid(void);
gboolean ql_smdp_eid_is_valid(const gchar *eid);
/* Verifies @leaf <- @eum <- the CI with GnuTLS and checks the roles (SGP.22 4.5.2). */
gboolean ql_smdp_verify_euicc_chain(const QlSmdpPki *pki, gnutls_x509_crt_t euicc,
				    gnutls_x509_crt_t eum, GError **error);

/* ---- Bound Profile Package (ql-smdp-bpp.c, SGP.22 2.5.4 / 5.5) ---- */

typedef struct {
	const guint8 *transaction_id;
	gsize transaction_id_len;
	const guint8 *host_id;
	gsize host_id_len;
	const guint8 *eid;	    /* 16 bytes */
	const QlEcKeyPair *smdp_ot; /* otPK/otSK.DP.ECKA */
	const guint8 *euicc_otpk;   /* otPK.EUICC.ECKA, 65 bytes */
	gsize euicc_otpk_len;
	gnutls_x509_privkey_t dppb_key; /* signs smdpSign */
	GBytes *metadata;		/* StoreMetadataRequest, the whole BF25 */
	GBytes *profile;		/* the unprotected profile package */
	gboolean use_ppk;		/* protect the profile with PPKs, sent in BF26 */
	gboolean tamper_86;		/* fault: flip a ciphertext byte of the first 86 */
	gboolean bad_signature;		/* fault: corrupt smdpSign */
} QlSmdpBppParams;

GBytes *ql_smdp_bpp_build(const QlSmdpBppParams *params, GError **error);
/* The bytes smdpSign covers (SGP.22 5.5.1): the DER of remoteOpId, transactionId,
 * controlRefTemplate and smdpOtpk as they appear inside BF23, then the euiccOtpk TLV (5F49). */
GBytes *ql_smdp_bf23_signed_data(const guint8 *bf23_value, gsize bf23_value_len,
				 const guint8 *euicc_otpk, gsize euicc_otpk_len, GError **error);
/* StoreMetadataRequest (BF25, SGP.22 5.5.3) */
GBytes *ql_smdp_make_metadata(const gchar *iccid, const gchar *spn, const gchar *name,
			      gint profile_class, const gchar *notification_address,
			      GError **error);
/* A small UPP-like profile (SIMalliance interoperable profile elements) of about @size bytes */
GBytes *ql_smdp_make_profile(const gchar *iccid, gsize size, GError **error);
/* A fresh 19-digit test ICCID (89 88 ...) with its Luhn digit */
gchar *ql_smdp_make_iccid(void);

/* ---- ES9+ / ES11 logic (ql-smdp-es9p.c) ---- */

typedef struct _QlSmdpServer QlSmdpServer;

typedef struct {
	guint http_status;
	gchar *body; /* JSON, NULL for an empty body */
	gsize body_len;
	gchar *log_status; /* what the request line on stdout says */
	gboolean reset;	   /* fault: send part of the answer, then drop the connection */
	guint delay_s;	   /* fault: wait before answering */
	gboolean trickle;  /* fault: one byte every QL_SMDP_TRICKLE_MS */
	gboolean huge;	   /* fault: announce a body of 1 GiB */
} QlSmdpReply;

void ql_smdp_reply_free(QlSmdpReply *reply);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlSmdpReply, ql_smdp_reply_free)

/* Known fault names; FALSE for an unknown one. */
gboolean ql_smdp_fault_is_known(const gchar *name);

/* @faults: "NAME" or "NAME@function" each; @events: SM-DS event ids. */
QlSmdpServer *ql_smdp_server_new(QlSmdpPki *pki, const gchar *address, const gchar *const *faults,
				 const gchar *const *events);
void ql_smdp_server_free(QlSmdpServer *server);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlSmdpServer, ql_smdp_server_free)
QlSmdpPki *ql_smdp_server_get_pki(QlSmdpServer *server);
/* The size of the unprotected profiles it binds from now on (default 2600 bytes) */
void ql_smdp_server_set_profile_size(QlSmdpServer *server, gsize size);
#define QL_SMDP_MAX_PROFILE_SIZE (1024 * 1024)
/* Is @name active for @function (NULL: for any function, as the TLS faults are)? */
gboolean ql_smdp_server_fault(QlSmdpServer *server, const gchar *name, const gchar *function);
/* One HTTP request: path, the X-Admin-Protocol header (may be NULL) and the body. Always
 * returns a reply, and prints the request line. */
QlSmdpReply *ql_smdp_server_handle(QlSmdpServer *server, const gchar *method, const gchar *path,
				   const gchar *admin_protocol, const guint8 *body, gsize len);

/* ---- HTTPS (ql-smdp-http.c) ---- */

/* What the tests may put in place of the PKI's TLS certificate and the default priorities. */
typedef struct {
	const gchar *chain_file; /* PEM: the leaf first, then what else the server sends */
	const gchar *key_file;	 /* PEM key of the leaf; NULL = in chain_file */
	const gchar *priority;	 /* GnuTLS priority string */
} QlSmdpTlsOverride;

/* Whether the chain, key and priority string of @tls can be used: checked before listening. */
gboolean ql_smdp_http_check_tls(const QlSmdpTlsOverride *tls, GError **error);
/* The latency model of the benchmarks: every connection behaves as if each round trip took
 * @rtt_ms (0, the default: none). The server holds each answer until @rtt_ms after the client's
 * last bytes came in, and the first one until a further @rtt_ms after the connection was
 * accepted (the TCP handshake's round trip). */
void ql_smdp_http_set_rtt(guint rtt_ms);
/* Serves forever on @listener (bound and listening); @tls may be NULL. */
gboolean ql_smdp_http_run(QlSmdpServer *server, GSocket *listener, const QlSmdpTlsOverride *tls,
			  GError **error);

/* ---- output ---- */

/* One whole line on stdout, flushed, safe across threads. */
void ql_smdp_print(const gchar *format, ...) G_GNUC_PRINTF(1, 2);
/* Where ql_smdp_print writes: stdout (the server's contract) unless a test wants stderr. */
void ql_smdp_set_log_stream(FILE *stream);

G_END_DECLS
