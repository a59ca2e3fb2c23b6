/*
 * The trust decision for SM-DP+ certificates: the TLS server certificate (checked inside the
 * handshake) and the DPauth / DPpb certificates that arrive inside ES9+ answers.
 *
 * Anchors are the GSMA CIs the eUICC lists in euiccCiPKIdListForVerification (SGP.22 4.2),
 * plus anchors the admin added, plus the system store only when configured. A chain issued
 * by a GSMA-style CI (one carrying the CI role OID) must also carry the expected role OID.
 *
 * A QlTrust is configured first and then used from one thread at a time.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <glib-object.h>
#include <gnutls/x509.h>

#include "ql-pki.h"

G_BEGIN_DECLS

/* Why a chain (or a TLS connection) was refused. The error message of a refusal carries the
 * nick in brackets right after "refused", e.g. "certificate refused [expired]: ...", so
 * ql_trust_failure_from_error() can read it back (the D-Bus service from the message too). */
typedef enum {
	QL_TRUST_OK = 0,
	QL_TRUST_FAILURE_NO_CERTIFICATE, /* the peer sent none */
	QL_TRUST_FAILURE_BAD_CHAIN,	 /* malformed, issuer not a CA, constraints broken */
	QL_TRUST_FAILURE_UNKNOWN_CI,	 /* does not chain to an anchor the eUICC accepts */
	QL_TRUST_FAILURE_BAD_SIGNATURE,	 /* a signature does not verify or uses a weak algorithm */
	QL_TRUST_FAILURE_EXPIRED,
	QL_TRUST_FAILURE_NOT_YET_VALID,
	QL_TRUST_FAILURE_REVOKED,
	QL_TRUST_FAILURE_WRONG_ROLE, /* certificate policy is not the role expected here */
	QL_TRUST_FAILURE_WRONG_HOST, /* no subjectAltName names the host (the CN is not used) */
	QL_TRUST_FAILURE_PIN_MISMATCH,
	QL_TRUST_FAILURE_WEAK_PROTOCOL,	       /* set by QlTls: version / cipher refused */
	QL_TRUST_FAILURE_CLIENT_CERT_REQUIRED, /* set by QlTls: server wants mTLS, none set */
	QL_TRUST_FAILURE_WEAK_KEY,	       /* RSA/DSA < 2048 bits, EC < 256 bits */
	QL_TRUST_FAILURE_BAD_KEY_USAGE, /* TLS: no digitalSignature, or EKU without serverAuth */
	QL_TRUST_FAILURE_NO_CRL,	/* CRLs required, an issuer of the chain has none */
	QL_TRUST_FAILURE_STALE_CRL,	/* CRLs required, the issuer's CRL is past nextUpdate */
	QL_TRUST_FAILURE_TIMEOUT,	/* any QL_ERROR_TIMEOUT: the peer did not answer in time */
	QL_TRUST_FAILURE_LAST,
} QlTrustFailure;

/* "expired", "wrong-host", ... */
const gchar *ql_trust_failure_to_string(QlTrustFailure failure);
/* The reason a QL_ERROR_TLS error names (QL_TRUST_FAILURE_TIMEOUT for any QL_ERROR_TIMEOUT), or
 * QL_TRUST_OK if @error is not a refusal. */
QlTrustFailure ql_trust_failure_from_error(const GError *error);
/* The same as a string ("expired", "timeout", ...), NULL when @error is not a refusal: the
 * `reason` of a JSON or D-Bus error. */
const gchar *ql_error_get_reason(const GError *error);
/* Sets a QL_ERROR_TLS error whose message names @failure. */
void ql_trust_set_error(GError **error, QlTrustFailure failure, const gchar *format, ...)
	G_GNUC_PRINTF(3, 4);

/* Where the anchor a chain was verified to came from. */
typedef enum {
	QL_TRUST_ANCHOR_GSMA_CI, /* a shipped CI whose key id the eUICC lists */
	QL_TRUST_ANCHOR_ADMIN,	 /* added by the administrator (--trust-anchor, trust-anchors=) */
	QL_TRUST_ANCHOR_SYSTEM,	 /* the system's WebPKI store */
} QlTrustAnchorSource;

const gchar *ql_trust_anchor_source_to_string(QlTrustAnchorSource source);
/* The inverse of ql_trust_anchor_source_to_string(); FALSE for a name it does not give. */
gboolean ql_trust_anchor_source_from_string(const gchar *text, QlTrustAnchorSource *source);

/* One CRL as the check used it (or refused to use it). */
typedef struct {
	gchar *issuer;	    /* the DN of the issuer it belongs to */
	gchar *file;	    /* where it was read */
	gint64 this_update; /* unix time */
	gint64 next_update; /* unix time, -1 when the CRL names none */
	gboolean stale;	    /* past its nextUpdate when the check ran */
} QlTrustCrlUse;

/* What one successful chain verification did, recorded while it ran: never a restatement of
 * the configuration. */
typedef struct {
	gchar *subject;	       /* the leaf's DN */
	gchar *anchor_subject; /* the anchor the path ended at */
	gchar *anchor_key_id;  /* its subject key id (hex), NULL when it has none */
	QlTrustAnchorSource anchor_source;
	guint path_len;	      /* certificates from the leaf to the anchor, both included */
	gchar *host;	      /* the host name checked (TLS), NULL for signing certificates */
	gboolean host_via_ip; /* matched an iPAddress subjectAltName (else a dNSName) */
	/* pins, for a host only: pin_checked = the host has pins, one of which matched */
	gboolean pin_checked;
	guint pin_depth;    /* 0 = the leaf ... path_len - 1 = the anchor */
	gchar *pin_subject; /* the DN of the certificate whose key matched */
	gchar *pin;	    /* the pin that matched, "sha256//BASE64" */
	/* CRLs */
	gboolean crl_required;
	GPtrArray *crls;     /* QlTrustCrlUse: consulted (signature verified) */
	GPtrArray *rejected; /* QlTrustCrlUse: of an issuer, bad signature: not used */
	GPtrArray *no_crl;   /* gchar *: issuers no usable CRL was found for */
} QlTrustResult;

/* An empty result, its arrays allocated */
QlTrustResult *ql_trust_result_new(void);
void ql_trust_result_free(QlTrustResult *result);
QlTrustResult *ql_trust_result_copy(const QlTrustResult *result);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlTrustResult, ql_trust_result_free)
/* "leaf", "intermediate", "anchor": the certificate at @depth of a path of @path_len. */
const gchar *ql_trust_depth_to_string(guint depth, guint path_len);

#define QL_TYPE_TRUST (ql_trust_get_type())
G_DECLARE_FINAL_TYPE(QlTrust, ql_trust, QL, TRUST, GObject)

QlTrust *ql_trust_new(void);

/* @crt is copied. @admin: always used, even when its key id is not one the eUICC lists. */
gboolean ql_trust_add_anchor(QlTrust *self, gnutls_x509_crt_t crt, gboolean admin, GError **error);
/* Every certificate of a PEM bundle. */
gboolean ql_trust_add_anchor_file(QlTrust *self, const gchar *path, gboolean admin, GError **error);
guint ql_trust_get_anchor_count(QlTrust *self);

/* The CI public key ids (SKI, GBytes each) the eUICC accepts. Until this is called every
 * anchor is used; afterwards only admin anchors and anchors whose SKI is listed. */
void ql_trust_set_allowed_ci_key_ids(QlTrust *self, GPtrArray *key_ids);

/* Also trust the system's WebPKI store (some SM-DP+ present WebPKI TLS certificates). */
void ql_trust_set_use_system_store(QlTrust *self, gboolean use_system_store);

/* A directory of CRLs (PEM or DER, any file name), read at each verification so fresh CRLs
 * apply at once. A CRL is used only when its issuer's signature on it verifies. */
void ql_trust_set_crl_dir(QlTrust *self, const gchar *crl_dir);
/* CRLs required: every issuer of a chain needs a CRL it signed in the directory, not past its
 * nextUpdate ([no-crl], [stale-crl]); otherwise a missing or stale CRL is only reported. */
void ql_trust_set_crl_required(QlTrust *self, gboolean required);
gboolean ql_trust_get_crl_required(QlTrust *self);

/* A pin: "sha256//BASE64", "pin-sha256:BASE64" or 64 hex digits, the SHA-256 of a
 * SubjectPublicKeyInfo. When a host has pins, one certificate of its verified chain
 * (leaf, intermediate or anchor) must match one of them. */
gboolean ql_trust_add_pin(QlTrust *self, const gchar *host, const gchar *pin, GError **error);

/* Unix time used for validity checks; 0 (the default) = the real clock. For tests. */
void ql_trust_set_now(QlTrust *self, gint64 now);

/* Verifies @chain (leaf first, then what the server sent, in any order) for @host (NULL: no
 * host check, as for DPauth/DPpb) and @role (QL_CERT_ROLE_NONE: no role check).
 * On success, @result (may be NULL) gets what the check did. On refusal returns FALSE with
 * QL_ERROR_TLS and, if @failure is not NULL, the reason. */
gboolean ql_trust_verify_chain_full(QlTrust *self, gnutls_x509_crt_t *chain, guint chain_len,
				    const gchar *host, QlCertRole role, QlTrustResult **result,
				    QlTrustFailure *failure, GError **error);
gboolean ql_trust_verify_chain(QlTrust *self, gnutls_x509_crt_t *chain, guint chain_len,
			       const gchar *host, QlCertRole role, GError **error);
/* The same over DER certificates (GBytes each), e.g. CERT.DPauth.ECDSA from ES9+. */
gboolean ql_trust_verify_der_chain(QlTrust *self, GPtrArray *der_chain, const gchar *host,
				   QlCertRole role, QlTrustResult **result, GError **error);

G_END_DECLS
