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

/* The GSMA CIs this release knows: production CIs (some shipped in the CI directory, each
 * trusted only when its file's SHA-256 matches the one compiled in) and the SGP.26 test CIs,
 * which are never trusted unless added as anchors. `chip info` names key ids from this table. */
typedef enum {
	QL_CI_PRODUCTION,
	QL_CI_TEST, /* SGP.26: its keys are public */
} QlCiKind;

typedef struct {
	const gchar *key_id; /* subject key identifier, upper-case hex */
	const gchar *name;
	QlCiKind kind;
	const gchar *file;    /* shipped in the CI directory under this name; NULL: not shipped */
	const gchar *sha256;  /* of the shipped file's certificate (DER), upper-case hex */
	const gchar *crl_url; /* where its CRL is published when the certificate names none */
} QlCiInfo;

/* The whole table; *@n_entries gets its length. */
const QlCiInfo *ql_ci_table(guint *n_entries);
/* The entry of @key_id (raw bytes), or NULL when this release does not know it. */
const QlCiInfo *ql_ci_lookup(GBytes *key_id);
const QlCiInfo *ql_ci_lookup_hex(const gchar *key_id_hex);

/* Where the anchor a chain was verified to came from. */
typedef enum {
	QL_TRUST_ANCHOR_GSMA_CI, /* a production CI shipped in the CI directory */
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
	gboolean anchor_listed; /* the eUICC lists the anchor's key id (FALSE before it is known) */
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

/* @crt is copied. @admin: added by the administrator (source "admin"); otherwise one of the
 * shipped production CIs (source "gsma-ci"). Which anchors a chain may end at is decided per
 * chain (see ql_trust_set_tls_anchors()). */
gboolean ql_trust_add_anchor(QlTrust *self, gnutls_x509_crt_t crt, gboolean admin, GError **error);
/* The shipped production CIs: each file of @ci_dir that the CI table names, trusted only when
 * its SHA-256 matches the table's. A file that does not match, or that the table does not
 * name, is refused (a warning says why) and never trusted; the refusal is also named in the
 * message of a chain that then finds no CI. A missing directory adds nothing. Returns how many
 * CIs were added. */
guint ql_trust_add_shipped_cis(QlTrust *self, const gchar *ci_dir);
/* The shipped CI files of @ci_dir that pass the check (gnutls_x509_crt_t each, owned by the
 * array), with their table entries in @infos (const QlCiInfo *, may be NULL); refusals go to
 * @refused (gchar * messages, may be NULL). */
GPtrArray *ql_trust_load_shipped_cis(const gchar *ci_dir, GPtrArray *infos, GPtrArray *refused);
/* Every certificate of a PEM bundle. */
gboolean ql_trust_add_anchor_file(QlTrust *self, const gchar *path, gboolean admin, GError **error);
guint ql_trust_get_anchor_count(QlTrust *self);

/* The CI public key ids (SKI, GBytes each) the eUICC lists (euiccCiPKIdListForVerification).
 * Until this is called every anchor is used for every chain. Afterwards:
 * - a signing chain (DPauth, DPpb, DSauth: any role but TLS and none) must end at an anchor
 *   whose key id the eUICC lists, shipped or added by the admin;
 * - a TLS chain may end at any anchor (every shipped production CI, since older eUICCs omit CI1
 *   from their list while SM-DP+ servers use it for TLS; the admin's; the system store when
 *   enabled), unless ql_trust_set_tls_anchors() narrows it to the listed ones. */
void ql_trust_set_allowed_ci_key_ids(QlTrust *self, GPtrArray *key_ids);

typedef enum {
	QL_TRUST_TLS_ANCHORS_ALL,	   /* every anchor (the default) */
	QL_TRUST_TLS_ANCHORS_EUICC_LISTED, /* only anchors whose key id the eUICC lists; no system
					      store */
} QlTrustTlsAnchors;

void ql_trust_set_tls_anchors(QlTrust *self, QlTrustTlsAnchors mode);
QlTrustTlsAnchors ql_trust_get_tls_anchors(QlTrust *self);

typedef enum {
	QL_TRUST_PURPOSE_TLS,	  /* a TLS server certificate */
	QL_TRUST_PURPOSE_SIGNING, /* DPauth, DPpb, DSauth */
} QlTrustPurpose;

/* The subject key ids (upper-case hex) of the anchors a chain for @purpose may end at now,
 * in the order they were added (anchors without a key id are left out). */
GStrv ql_trust_get_anchor_key_ids(QlTrust *self, QlTrustPurpose purpose);

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
