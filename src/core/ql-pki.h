/*
 * Test and identity PKI on GnuTLS: ECDSA P-256 keys and X.509 certificates with the SGP.22 role
 * policy OIDs (2.23.146.1.2.1.x), the shapes of SGP.26. Used by the virtual eUICC (its own CI,
 * EUM and eUICC certificate) and by the test SM-DP+ (CI, DPauth, DPpb, DP TLS, ...).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <glib.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <gnutls/abstract.h>

G_BEGIN_DECLS

#define QL_OID_ROLE_PREFIX "2.23.146.1.2.1"

typedef enum {
	QL_CERT_ROLE_CI = 0,
	QL_CERT_ROLE_EUICC = 1,
	QL_CERT_ROLE_EUM = 2,
	QL_CERT_ROLE_DP_TLS = 3,
	QL_CERT_ROLE_DP_AUTH = 4,
	QL_CERT_ROLE_DP_PB = 5,
	QL_CERT_ROLE_DS_TLS = 6,
	QL_CERT_ROLE_DS_AUTH = 7,
	QL_CERT_ROLE_NONE = 100, /* no role OID (a WebPKI-like or deliberately wrong certificate) */
} QlCertRole;

/* Certificate + (optional) private key. */
typedef struct {
	gnutls_x509_crt_t crt;
	gnutls_x509_privkey_t key; /* NULL when only the certificate is known */
} QlPkiCert;

typedef struct {
	QlCertRole role;
	const gchar *common_name;
	const gchar *organization;  /* may be NULL */
	const gchar *serial_number; /* subject serialNumber (2.5.4.5), e.g. the EID; may be NULL */
	const gchar *const *dns_names; /* NULL-terminated, may be NULL */
	const gchar *const *ip_addresses;
	gint64 not_before; /* unix time */
	gint64 not_after;
	gboolean is_ca;
	const gchar *crl_url;	    /* CRL distribution point, may be NULL */
	QlCertRole policy_override; /* put this role OID instead of @role's (for wrong-role tests);
				       0 = same */
	gboolean override_policy;
} QlPkiCertSpec;

/* Scoped cleanup for the GnuTLS handle types (they are pointer typedefs, so use g_auto()). */
G_DEFINE_AUTO_CLEANUP_FREE_FUNC(gnutls_x509_crt_t, gnutls_x509_crt_deinit, NULL)
G_DEFINE_AUTO_CLEANUP_FREE_FUNC(gnutls_x509_privkey_t, gnutls_x509_privkey_deinit, NULL)
G_DEFINE_AUTO_CLEANUP_FREE_FUNC(gnutls_x509_crl_t, gnutls_x509_crl_deinit, NULL)
G_DEFINE_AUTO_CLEANUP_FREE_FUNC(gnutls_pubkey_t, gnutls_pubkey_deinit, NULL)

void ql_pki_cert_clear(QlPkiCert *cert);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(QlPkiCert, ql_pki_cert_clear)
const gchar *ql_pki_role_oid(QlCertRole role); /* NULL for QL_CERT_ROLE_NONE */
const gchar *ql_pki_role_name(QlCertRole role);

/* Makes a new P-256 key and a certificate signed by @issuer (NULL: self-signed).
 * not_before == not_after == 0 means "from an hour ago for one year". */
gboolean ql_pki_make(const QlPkiCertSpec *spec, const QlPkiCert *issuer, QlPkiCert *out,
		     GError **error);

gboolean ql_pki_save(const QlPkiCert *cert, const gchar *crt_path, const gchar *key_path,
		     GError **error);
/* @key_path may be NULL: the certificate alone. */
gboolean ql_pki_load(const gchar *crt_path, const gchar *key_path, QlPkiCert *out, GError **error);
/* Every certificate of a PEM file (a bundle); returns a GPtrArray of gnutls_x509_crt_t owned by the
 * array. */
GPtrArray *ql_pki_load_bundle(const gchar *path, GError **error);

GBytes *ql_pki_export_der(gnutls_x509_crt_t crt, GError **error);
/* Subject key identifier (20 bytes usually) */
GBytes *ql_pki_subject_key_id(gnutls_x509_crt_t crt, GError **error);
GBytes *ql_pki_authority_key_id(gnutls_x509_crt_t crt, GError **error);
/* The subject serialNumber attribute, or NULL */
gchar *ql_pki_subject_serial_number(gnutls_x509_crt_t crt);
/* The role whose OID is in the certificate policies, or QL_CERT_ROLE_NONE */
QlCertRole ql_pki_cert_role(gnutls_x509_crt_t crt);
/* SHA-256 of the SubjectPublicKeyInfo DER */
GBytes *ql_pki_spki_sha256(gnutls_x509_crt_t crt, GError **error);

/* Makes a PEM CRL signed by @issuer revoking @revoked_certs (gnutls_x509_crt_t each; NULL or
 * empty: an empty CRL) and writes it to @path. */
gboolean ql_pki_make_crl(const QlPkiCert *issuer, GPtrArray *revoked_certs, gint64 this_update,
			 gint64 next_update, const gchar *path, GError **error);

/* A new handle holding the same certificate (GnuTLS has no reference counting). */
gnutls_x509_crt_t ql_pki_crt_copy(gnutls_x509_crt_t crt, GError **error);
/* Parses one certificate, PEM or DER. */
gnutls_x509_crt_t ql_pki_crt_from_bytes(const guint8 *data, gsize len, GError **error);
/* Deep copy of certificate and key (either may be NULL in @src). */
gboolean ql_pki_cert_copy(const QlPkiCert *src, QlPkiCert *dst, GError **error);
/* Upper-case hex of @bytes, for messages and logs. */
gchar *ql_pki_hex(GBytes *bytes);
/* The subject DN of @crt (RFC 4514), or @fallback when it cannot be read. */
gchar *ql_pki_crt_name(gnutls_x509_crt_t crt, const gchar *fallback);
/* Unix time @t as "YYYY-MM-DD HH:MM:SS UTC" (or "@T" when out of range), for messages. */
gchar *ql_pki_format_time(gint64 t);

G_END_DECLS
