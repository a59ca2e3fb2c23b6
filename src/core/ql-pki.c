/*
 * Test and identity PKI on GnuTLS. See ql-pki.h.
 *
 * The certificate shapes follow SGP.22 4.5.2 / SGP.26: ECDSA P-256 with SHA-256, the role
 * in a certificate policy (critical, as in the production CI), SKI/AKI on every certificate.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <gio/gio.h>
#include <gnutls/crypto.h>
#include <gnutls/x509-ext.h>
#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-pki.h"

#define QL_OID_SUBJECT_SERIAL_NUMBER "2.5.4.5"

static const gchar *const ql_pki_role_oids[] = {
	QL_OID_ROLE_PREFIX ".0", QL_OID_ROLE_PREFIX ".1", QL_OID_ROLE_PREFIX ".2",
	QL_OID_ROLE_PREFIX ".3", QL_OID_ROLE_PREFIX ".4", QL_OID_ROLE_PREFIX ".5",
	QL_OID_ROLE_PREFIX ".6", QL_OID_ROLE_PREFIX ".7",
};

static const gchar *const ql_pki_role_names[] = {
	"CI", "eUICC", "EUM", "DP TLS", "DP auth", "DP pb", "DS TLS", "DS auth",
};

/* Turns a GnuTLS status into a GError; TRUE when @rc is a success. */
static gboolean
ql_pki_check(int rc, const gchar *what, GError **error)
{
	if (rc >= 0)
		return TRUE;
	g_set_error(error, QL_ERROR, QL_ERROR_FAILED, "PKI: %s: %s", what, gnutls_strerror(rc));
	return FALSE;
}

void
ql_pki_cert_clear(QlPkiCert *cert)
{
	if (cert == NULL)
		return;
	g_clear_pointer(&cert->crt, gnutls_x509_crt_deinit);
	g_clear_pointer(&cert->key, gnutls_x509_privkey_deinit);
}

const gchar *
ql_pki_role_oid(QlCertRole role)
{
	if ((guint)role >= G_N_ELEMENTS(ql_pki_role_oids))
		return NULL;
	return ql_pki_role_oids[role];
}

const gchar *
ql_pki_role_name(QlCertRole role)
{
	if ((guint)role >= G_N_ELEMENTS(ql_pki_role_names))
		return "none";
	return ql_pki_role_names[role];
}

gchar *
ql_pki_hex(GBytes *bytes)
{
	gsize len = 0;
	const guint8 *p = bytes != NULL ? g_bytes_get_data(bytes, &len) : NULL;
	GString *s = g_string_sized_new(len * 2 + 1);
	for (gsize i = 0; i < len; i++)
		g_string_append_printf(s, "%02X", p[i]);
	return g_string_free(s, FALSE);
}

gchar *
ql_pki_crt_name(gnutls_x509_crt_t crt, const gchar *fallback)
{
	gnutls_datum_t dn = {NULL, 0};
	gchar *out;
	if (gnutls_x509_crt_get_dn3(crt, &dn, 0) < 0)
		return g_strdup(fallback);
	out = g_strndup((const gchar *)dn.data, dn.size);
	gnutls_free(dn.data);
	return out;
}

gchar *
ql_pki_format_time(gint64 t)
{
	g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(t);
	if (dt == NULL)
		return g_strdup_printf("@%" G_GINT64_FORMAT, t);
	return g_date_time_format(dt, "%Y-%m-%d %H:%M:%S UTC");
}

gnutls_x509_crt_t
ql_pki_crt_from_bytes(const guint8 *data, gsize len, GError **error)
{
	g_auto(gnutls_x509_crt_t) crt = NULL;
	gnutls_datum_t d = {(unsigned char *)data, (unsigned int)len};
	gnutls_x509_crt_fmt_t fmt = GNUTLS_X509_FMT_DER;

	if (len > G_MAXUINT) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "PKI: certificate too large");
		return NULL;
	}
	if (len >= 10 && g_strstr_len((const gchar *)data, MIN(len, 4096), "-----BEGIN") != NULL)
		fmt = GNUTLS_X509_FMT_PEM;
	if (!ql_pki_check(gnutls_x509_crt_init(&crt), "crt init", error))
		return NULL;
	if (gnutls_x509_crt_import(crt, &d, fmt) < 0) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "PKI: not a valid X.509 certificate");
		return NULL;
	}
	return g_steal_pointer(&crt);
}

gnutls_x509_crt_t
ql_pki_crt_copy(gnutls_x509_crt_t crt, GError **error)
{
	g_autoptr(GBytes) der = ql_pki_export_der(crt, error);
	if (der == NULL)
		return NULL;
	return ql_pki_crt_from_bytes(g_bytes_get_data(der, NULL), g_bytes_get_size(der), error);
}

gboolean
ql_pki_cert_copy(const QlPkiCert *src, QlPkiCert *dst, GError **error)
{
	g_auto(QlPkiCert) tmp = {NULL, NULL};

	if (src->crt != NULL) {
		tmp.crt = ql_pki_crt_copy(src->crt, error);
		if (tmp.crt == NULL)
			return FALSE;
	}
	if (src->key != NULL) {
		if (!ql_pki_check(gnutls_x509_privkey_init(&tmp.key), "key init", error))
			return FALSE;
		if (!ql_pki_check(gnutls_x509_privkey_cpy(tmp.key, src->key), "key copy", error))
			return FALSE;
	}
	*dst = tmp;
	tmp.crt = NULL;
	tmp.key = NULL;
	return TRUE;
}

/* 16 random bytes, positive and without a leading zero octet, as RFC 5280 4.1.2.2 wants. */
static gboolean
ql_pki_set_random_serial(gnutls_x509_crt_t crt, GError **error)
{
	guint8 serial[16];
	if (!ql_pki_check(gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial)), "random", error))
		return FALSE;
	serial[0] = (serial[0] & 0x7f) | 0x40;
	return ql_pki_check(gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)), "serial",
			    error);
}

static gboolean
ql_pki_set_dn(gnutls_x509_crt_t crt, const gchar *oid, const gchar *value, GError **error)
{
	g_autofree gchar *what = NULL;
	if (value == NULL)
		return TRUE;
	what = g_strdup_printf("subject %s", oid);
	return ql_pki_check(gnutls_x509_crt_set_dn_by_oid(crt, oid, 0, value, strlen(value)), what,
			    error);
}

static gboolean
ql_pki_add_san(gnutls_x509_crt_t crt, const QlPkiCertSpec *spec, GError **error)
{
	for (guint i = 0; spec->dns_names != NULL && spec->dns_names[i] != NULL; i++) {
		const gchar *n = spec->dns_names[i];
		if (!ql_pki_check(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, n,
								       strlen(n),
								       GNUTLS_FSAN_APPEND),
				  "SAN dNSName", error))
			return FALSE;
	}
	for (guint i = 0; spec->ip_addresses != NULL && spec->ip_addresses[i] != NULL; i++) {
		g_autoptr(GInetAddress) addr =
			g_inet_address_new_from_string(spec->ip_addresses[i]);
		if (addr == NULL) {
			g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "PKI: '%s' is not an IP address", spec->ip_addresses[i]);
			return FALSE;
		}
		/* iPAddress holds the raw network-order octets (RFC 5280 4.2.1.6) */
		if (!ql_pki_check(gnutls_x509_crt_set_subject_alt_name(
					  crt, GNUTLS_SAN_IPADDRESS, g_inet_address_to_bytes(addr),
					  g_inet_address_get_native_size(addr), GNUTLS_FSAN_APPEND),
				  "SAN iPAddress", error))
			return FALSE;
	}
	return TRUE;
}

static gboolean
ql_pki_set_policy(gnutls_x509_crt_t crt, const gchar *oid, GError **error)
{
	gnutls_x509_policies_t policies = NULL;
	struct gnutls_x509_policy_st policy;
	gnutls_datum_t der = {NULL, 0};
	gboolean ok = FALSE;

	memset(&policy, 0, sizeof(policy));
	policy.oid = (char *)oid;
	/* encoded by hand because gnutls_x509_crt_set_policy() (3.7.9) drops the critical flag;
	 * critical as in the GSMA RSP2 Root CI1: a verifier that does not know the extension must
	 * refuse the certificate rather than ignore its role */
	if (!ql_pki_check(gnutls_x509_policies_init(&policies), "policies init", error))
		return FALSE;
	if (!ql_pki_check(gnutls_x509_policies_set(policies, &policy), "certificate policy", error))
		goto out;
	if (!ql_pki_check(gnutls_x509_ext_export_policies(policies, &der), "certificate policy",
			  error))
		goto out;
	if (!ql_pki_check(gnutls_x509_crt_set_extension_by_oid(crt, GNUTLS_X509EXT_OID_CRT_POLICY,
							       der.data, der.size, 1),
			  "certificate policy", error))
		goto out;
	ok = TRUE;
out:
	gnutls_free(der.data);
	gnutls_x509_policies_deinit(policies);
	return ok;
}

gboolean
ql_pki_make(const QlPkiCertSpec *spec, const QlPkiCert *issuer, QlPkiCert *out, GError **error)
{
	g_auto(gnutls_x509_crt_t) crt = NULL;
	g_auto(gnutls_x509_privkey_t) key = NULL;
	gnutls_x509_crt_t signer_crt;
	gnutls_x509_privkey_t signer_key;
	gint64 not_before = spec->not_before;
	gint64 not_after = spec->not_after;
	QlCertRole policy_role = spec->override_policy ? spec->policy_override : spec->role;
	const gchar *policy_oid = ql_pki_role_oid(policy_role);
	guint8 keyid[64];
	size_t keyid_len = sizeof(keyid);
	guint key_usage;

	g_return_val_if_fail(spec != NULL && out != NULL, FALSE);

	if (spec->common_name == NULL || spec->common_name[0] == '\0') {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "PKI: a certificate needs a common name");
		return FALSE;
	}
	if (issuer != NULL && (issuer->crt == NULL || issuer->key == NULL)) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "PKI: the issuer has no private key");
		return FALSE;
	}
	if (not_before == 0 && not_after == 0) {
		gint64 now = g_get_real_time() / G_USEC_PER_SEC;
		not_before = now - 3600;
		not_after = now + 365 * 24 * 3600;
	}
	if (not_after <= not_before) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "PKI: notAfter must come after notBefore");
		return FALSE;
	}

	if (!ql_pki_check(gnutls_x509_privkey_init(&key), "key init", error))
		return FALSE;
	if (!ql_pki_check(gnutls_x509_privkey_generate(
				  key, GNUTLS_PK_ECDSA,
				  GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0),
			  "P-256 key generation", error))
		return FALSE;
	if (!ql_pki_check(gnutls_x509_crt_init(&crt), "crt init", error))
		return FALSE;
	if (!ql_pki_check(gnutls_x509_crt_set_version(crt, 3), "version", error))
		return FALSE;
	if (!ql_pki_set_random_serial(crt, error))
		return FALSE;
	if (!ql_pki_check(gnutls_x509_crt_set_activation_time(crt, (time_t)not_before), "notBefore",
			  error))
		return FALSE;
	if (!ql_pki_check(gnutls_x509_crt_set_expiration_time(crt, (time_t)not_after), "notAfter",
			  error))
		return FALSE;
	if (!ql_pki_set_dn(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, spec->organization, error))
		return FALSE;
	if (!ql_pki_set_dn(crt, GNUTLS_OID_X520_COMMON_NAME, spec->common_name, error))
		return FALSE;
	if (!ql_pki_set_dn(crt, QL_OID_SUBJECT_SERIAL_NUMBER, spec->serial_number, error))
		return FALSE;
	if (!ql_pki_check(gnutls_x509_crt_set_key(crt, key), "public key", error))
		return FALSE;

	/* a CI may sign EUMs and DP certificates below it; an EUM only signs eUICCs */
	if (!ql_pki_check(gnutls_x509_crt_set_basic_constraints(
				  crt, spec->is_ca ? 1 : 0,
				  spec->is_ca && spec->role != QL_CERT_ROLE_CI ? 0 : -1),
			  "basicConstraints", error))
		return FALSE;
	/* SGP.22 4.5.2: CAs sign certificates and CRLs; every end-entity (eUICC, DPauth, DPpb,
	 * TLS) only makes signatures, the ECDH of ES8+ uses one-time keys, not the certificate */
	key_usage = spec->is_ca ? GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN
				: GNUTLS_KEY_DIGITAL_SIGNATURE;
	if (!ql_pki_check(gnutls_x509_crt_set_key_usage(crt, key_usage), "keyUsage", error))
		return FALSE;

	if (!ql_pki_check(gnutls_x509_crt_get_key_id(crt, 0, keyid, &keyid_len), "key id", error))
		return FALSE;
	if (!ql_pki_check(gnutls_x509_crt_set_subject_key_id(crt, keyid, keyid_len), "SKI", error))
		return FALSE;
	if (issuer != NULL) {
		g_autoptr(GBytes) aki = ql_pki_subject_key_id(issuer->crt, error);
		if (aki == NULL)
			return FALSE;
		if (!ql_pki_check(gnutls_x509_crt_set_authority_key_id(
					  crt, g_bytes_get_data(aki, NULL), g_bytes_get_size(aki)),
				  "AKI", error))
			return FALSE;
	} else {
		if (!ql_pki_check(gnutls_x509_crt_set_authority_key_id(crt, keyid, keyid_len),
				  "AKI", error))
			return FALSE;
	}

	if (policy_oid != NULL && !ql_pki_set_policy(crt, policy_oid, error))
		return FALSE;

	/* serverAuth for TLS servers only: a role-less leaf without names is a client
	 * certificate (mTLS), which an id-kp-serverAuth EKU would make unusable */
	if (spec->role == QL_CERT_ROLE_DP_TLS || spec->role == QL_CERT_ROLE_DS_TLS ||
	    (spec->role == QL_CERT_ROLE_NONE && !spec->is_ca &&
	     ((spec->dns_names != NULL && spec->dns_names[0] != NULL) ||
	      (spec->ip_addresses != NULL && spec->ip_addresses[0] != NULL)))) {
		if (!ql_pki_check(
			    gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0),
			    "extendedKeyUsage", error))
			return FALSE;
	}
	if (!ql_pki_add_san(crt, spec, error))
		return FALSE;
	if (spec->crl_url != NULL) {
		if (!ql_pki_check(gnutls_x509_crt_set_crl_dist_points2(crt, GNUTLS_SAN_URI,
								       spec->crl_url,
								       strlen(spec->crl_url), 0),
				  "CRL distribution point", error))
			return FALSE;
	}

	signer_crt = issuer != NULL ? issuer->crt : crt;
	signer_key = issuer != NULL ? issuer->key : key;
	if (!ql_pki_check(gnutls_x509_crt_sign2(crt, signer_crt, signer_key, GNUTLS_DIG_SHA256, 0),
			  "signing", error))
		return FALSE;

	/* hand out a re-parsed copy: GnuTLS fills some caches (the SAN list that
	 * gnutls_x509_crt_check_hostname() reads) only on import, not while building */
	out->crt = ql_pki_crt_copy(crt, error);
	if (out->crt == NULL)
		return FALSE;
	out->key = g_steal_pointer(&key);
	return TRUE;
}

static gboolean
ql_pki_write(const gchar *path, const gnutls_datum_t *d, int mode, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	if (!g_file_set_contents_full(path, (const gchar *)d->data, d->size,
				      G_FILE_SET_CONTENTS_CONSISTENT, mode, &error_local)) {
		g_set_error(error, QL_ERROR, QL_ERROR_IO, "PKI: cannot write %s: %s", path,
			    error_local->message);
		return FALSE;
	}
	return TRUE;
}

gboolean
ql_pki_save(const QlPkiCert *cert, const gchar *crt_path, const gchar *key_path, GError **error)
{
	if (crt_path != NULL) {
		gnutls_datum_t d = {NULL, 0};
		gboolean ok;
		if (cert->crt == NULL) {
			g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
					    "PKI: no certificate to save");
			return FALSE;
		}
		if (!ql_pki_check(gnutls_x509_crt_export2(cert->crt, GNUTLS_X509_FMT_PEM, &d),
				  "certificate export", error))
			return FALSE;
		ok = ql_pki_write(crt_path, &d, 0644, error);
		gnutls_free(d.data);
		if (!ok)
			return FALSE;
	}
	if (key_path != NULL) {
		gnutls_datum_t d = {NULL, 0};
		gboolean ok;
		if (cert->key == NULL) {
			g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
					    "PKI: no private key to save");
			return FALSE;
		}
		/* unencrypted PKCS#8: the file mode is the protection; the key is never logged */
		if (!ql_pki_check(gnutls_x509_privkey_export2_pkcs8(cert->key, GNUTLS_X509_FMT_PEM,
								    NULL, GNUTLS_PKCS_PLAIN, &d),
				  "key export", error))
			return FALSE;
		ok = ql_pki_write(key_path, &d, 0600, error);
		gnutls_memset(d.data, 0, d.size);
		gnutls_free(d.data);
		if (!ok)
			return FALSE;
	}
	return TRUE;
}

static GBytes *
ql_pki_read(const gchar *path, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	gchar *data = NULL;
	gsize len = 0;
	if (!g_file_get_contents(path, &data, &len, &error_local)) {
		g_set_error(error, QL_ERROR,
			    g_error_matches(error_local, G_FILE_ERROR, G_FILE_ERROR_NOENT)
				    ? QL_ERROR_NOT_FOUND
				    : QL_ERROR_IO,
			    "PKI: cannot read %s: %s", path, error_local->message);
		return NULL;
	}
	return g_bytes_new_take(data, len);
}

gboolean
ql_pki_load(const gchar *crt_path, const gchar *key_path, QlPkiCert *out, GError **error)
{
	g_auto(QlPkiCert) tmp = {NULL, NULL};
	g_autoptr(GBytes) crt_data = ql_pki_read(crt_path, error);

	if (crt_data == NULL)
		return FALSE;
	tmp.crt = ql_pki_crt_from_bytes(g_bytes_get_data(crt_data, NULL),
					g_bytes_get_size(crt_data), error);
	if (tmp.crt == NULL) {
		g_prefix_error(error, "%s: ", crt_path);
		return FALSE;
	}
	if (key_path != NULL) {
		g_autoptr(GBytes) key_data = ql_pki_read(key_path, error);
		gsize len = 0;
		const gchar *p;
		gnutls_datum_t d;
		gnutls_x509_crt_fmt_t fmt = GNUTLS_X509_FMT_DER;
		if (key_data == NULL)
			return FALSE;
		p = g_bytes_get_data(key_data, &len);
		d.data = (unsigned char *)p;
		d.size = len;
		if (g_strstr_len(p, MIN(len, 4096), "-----BEGIN") != NULL)
			fmt = GNUTLS_X509_FMT_PEM;
		if (!ql_pki_check(gnutls_x509_privkey_init(&tmp.key), "key init", error))
			return FALSE;
		/* import2 takes plain PKCS#8 and the SEC1 "EC PRIVATE KEY" form alike */
		if (gnutls_x509_privkey_import2(tmp.key, &d, fmt, NULL, GNUTLS_PKCS_PLAIN) < 0) {
			g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "PKI: %s is not an unencrypted private key", key_path);
			return FALSE;
		}
	}
	*out = tmp;
	tmp.crt = NULL;
	tmp.key = NULL;
	return TRUE;
}

GPtrArray *
ql_pki_load_bundle(const gchar *path, GError **error)
{
	g_autoptr(GBytes) data = ql_pki_read(path, error);
	g_autoptr(GPtrArray) out = NULL;
	gnutls_x509_crt_t *crts = NULL;
	unsigned int n = 0;
	gnutls_datum_t d;
	int rc;

	if (data == NULL)
		return NULL;
	d.data = (unsigned char *)g_bytes_get_data(data, NULL);
	d.size = g_bytes_get_size(data);
	rc = gnutls_x509_crt_list_import2(&crts, &n, &d, GNUTLS_X509_FMT_PEM, 0);
	if (rc < 0 || n == 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "PKI: %s holds no valid PEM certificate%s%s", path, rc < 0 ? ": " : "",
			    rc < 0 ? gnutls_strerror(rc) : "");
		return NULL;
	}
	out = g_ptr_array_new_full(n, (GDestroyNotify)gnutls_x509_crt_deinit);
	for (guint i = 0; i < n; i++)
		g_ptr_array_add(out, crts[i]);
	gnutls_free(crts);
	return g_steal_pointer(&out);
}

GBytes *
ql_pki_export_der(gnutls_x509_crt_t crt, GError **error)
{
	gnutls_datum_t d = {NULL, 0};
	GBytes *out;
	if (!ql_pki_check(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &d),
			  "certificate export", error))
		return NULL;
	out = g_bytes_new(d.data, d.size);
	gnutls_free(d.data);
	return out;
}

GBytes *
ql_pki_subject_key_id(gnutls_x509_crt_t crt, GError **error)
{
	guint8 buf[128];
	size_t len = sizeof(buf);
	unsigned int critical = 0;
	if (gnutls_x509_crt_get_subject_key_id(crt, buf, &len, &critical) < 0) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_NOT_FOUND,
				    "PKI: the certificate has no subject key identifier");
		return NULL;
	}
	return g_bytes_new(buf, len);
}

GBytes *
ql_pki_authority_key_id(gnutls_x509_crt_t crt, GError **error)
{
	guint8 buf[128];
	size_t len = sizeof(buf);
	unsigned int critical = 0;
	if (gnutls_x509_crt_get_authority_key_id(crt, buf, &len, &critical) < 0) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_NOT_FOUND,
				    "PKI: the certificate has no authority key identifier");
		return NULL;
	}
	return g_bytes_new(buf, len);
}

gchar *
ql_pki_subject_serial_number(gnutls_x509_crt_t crt)
{
	gchar buf[256];
	size_t len = sizeof(buf);
	if (gnutls_x509_crt_get_dn_by_oid(crt, QL_OID_SUBJECT_SERIAL_NUMBER, 0, 0, buf, &len) < 0)
		return NULL;
	return g_strndup(buf, len);
}

QlCertRole
ql_pki_cert_role(gnutls_x509_crt_t crt)
{
	QlCertRole role = QL_CERT_ROLE_NONE;

	for (guint idx = 0; role == QL_CERT_ROLE_NONE; idx++) {
		struct gnutls_x509_policy_st policy;
		unsigned int critical = 0;
		if (gnutls_x509_crt_get_policy(crt, idx, &policy, &critical) < 0)
			break;
		for (guint r = 0; r < G_N_ELEMENTS(ql_pki_role_oids); r++) {
			if (g_strcmp0(policy.oid, ql_pki_role_oids[r]) == 0)
				role = (QlCertRole)r;
		}
		gnutls_x509_policy_release(&policy);
	}
	return role;
}

GBytes *
ql_pki_spki_sha256(gnutls_x509_crt_t crt, GError **error)
{
	guint8 buf[32];
	size_t len = sizeof(buf);
	/* GnuTLS's key id is the hash of the SubjectPublicKeyInfo DER, the RFC 7469 pin input */
	if (!ql_pki_check(gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, buf, &len),
			  "SPKI hash", error))
		return NULL;
	return g_bytes_new(buf, len);
}

gboolean
ql_pki_make_crl(const QlPkiCert *issuer, GPtrArray *revoked_certs, gint64 this_update,
		gint64 next_update, const gchar *path, GError **error)
{
	g_auto(gnutls_x509_crl_t) crl = NULL;
	g_autoptr(GBytes) aki = NULL;
	gnutls_datum_t d = {NULL, 0};
	guint8 number[8];
	gboolean ok;

	if (issuer == NULL || issuer->crt == NULL || issuer->key == NULL) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "PKI: a CRL needs an issuer with a private key");
		return FALSE;
	}
	if (!ql_pki_check(gnutls_x509_crl_init(&crl), "CRL init", error))
		return FALSE;
	if (!ql_pki_check(gnutls_x509_crl_set_version(crl, 2), "CRL version", error))
		return FALSE;
	if (!ql_pki_check(gnutls_x509_crl_set_this_update(crl, (time_t)this_update),
			  "CRL thisUpdate", error))
		return FALSE;
	if (!ql_pki_check(gnutls_x509_crl_set_next_update(crl, (time_t)next_update),
			  "CRL nextUpdate", error))
		return FALSE;
	for (guint i = 0; revoked_certs != NULL && i < revoked_certs->len; i++) {
		gnutls_x509_crt_t crt = g_ptr_array_index(revoked_certs, i);
		if (!ql_pki_check(gnutls_x509_crl_set_crt(crl, crt, (time_t)this_update),
				  "CRL entry", error))
			return FALSE;
	}
	aki = ql_pki_subject_key_id(issuer->crt, error);
	if (aki == NULL)
		return FALSE;
	if (!ql_pki_check(gnutls_x509_crl_set_authority_key_id(crl, g_bytes_get_data(aki, NULL),
							       g_bytes_get_size(aki)),
			  "CRL AKI", error))
		return FALSE;
	if (!ql_pki_check(gnutls_rnd(GNUTLS_RND_NONCE, number, sizeof(number)), "random", error))
		return FALSE;
	number[0] &= 0x7f;
	if (!ql_pki_check(gnutls_x509_crl_set_number(crl, number, sizeof(number)), "CRL number",
			  error))
		return FALSE;
	if (!ql_pki_check(
		    gnutls_x509_crl_sign2(crl, issuer->crt, issuer->key, GNUTLS_DIG_SHA256, 0),
		    "CRL signing", error))
		return FALSE;
	if (!ql_pki_check(gnutls_x509_crl_export2(crl, GNUTLS_X509_FMT_PEM, &d), "CRL export",
			  error))
		return FALSE;
	ok = ql_pki_write(path, &d, 0644, error);
	gnutls_free(d.data);
	return ok;
}
