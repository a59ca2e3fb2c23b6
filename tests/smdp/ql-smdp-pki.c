/*
 * The test SM-DP+'s PKI, written once into the --pki folder and reused after:
 *
 *   ci.pem ci-key.pem                 the test CI (self-signed, role CI, like SGP.26's)
 *   dpauth.pem dpauth-key.pem         CERT.DPauth.ECDSA (role 2.23.146.1.2.1.4)
 *   dppb.pem dppb-key.pem             CERT.DPpb.ECDSA (role .5)
 *   dptls.pem dptls-key.pem           CERT.DP.TLS (role .3, localhost and 127.0.0.1)
 *   euicc/eum.pem euicc/euicc.pem euicc/euicc-key.pem euicc/ci/ci.pem
 *                                     an eUICC identity under the same CI, the layout the
 *                                     virtual eUICC loads with identity=DIR/euicc
 *   tls-expired, tls-not-yet-valid, tls-wrong-host, tls-unknown-ci, tls-revoked,
 *   tls-wrong-role (.pem and -key.pem)
 *                                     the TLS certificates the faults serve
 *   unknown-ci.pem                    the second CI that issued tls-unknown-ci.pem
 *   crl/ci.crl                        a CRL of the CI listing tls-revoked.pem
 *   client-ca.pem client.pem client-key.pem
 *                                     for mTLS (the client-cert fault)
 *   cc.key                            the HMAC key of the confirmation codes
 *
 * ci.pem is written last, so a folder that has it is complete.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-ids.h"
#include "ql-smdp.h"

#define QL_SMDP_YEAR (365 * 24 * 3600)

static const gchar *const ql_smdp_tls_names[] = {"localhost", NULL};
static const gchar *const ql_smdp_tls_ips[] = {"127.0.0.1", NULL};
static const gchar *const ql_smdp_other_names[] = {"other.example", NULL};

void
ql_smdp_pki_clear(QlSmdpPki *pki)
{
	QlPkiCert *all[] = {&pki->ci,
			    &pki->dpauth,
			    &pki->dppb,
			    &pki->dptls,
			    &pki->tls_expired,
			    &pki->tls_not_yet_valid,
			    &pki->tls_wrong_host,
			    &pki->tls_unknown_ci,
			    &pki->tls_revoked,
			    &pki->tls_wrong_role};
	for (guint i = 0; i < G_N_ELEMENTS(all); i++)
		ql_pki_cert_clear(all[i]);
	g_clear_pointer(&pki->dir, g_free);
	g_clear_pointer(&pki->client_ca_path, g_free);
	g_clear_pointer(&pki->euicc, gnutls_x509_crt_deinit);
	ql_crypto_wipe(pki->cc_key, sizeof(pki->cc_key));
}

/* ---- EID and confirmation codes ---- */

/* the check itself is the core's (ql-ids) */
gboolean
ql_smdp_eid_is_valid(const gchar *eid)
{
	return ql_eid_is_valid(eid);
}

gchar *
ql_smdp_make_eid(void)
{
	/* 89 (telecom) 049 (country code of the test range) then 25 free digits; the last two
	 * digits make the whole number 1 mod 97, as in ISO 7064 MOD 97-10 */
	GString *s = g_string_new("89049");
	while (s->len < QL_EID_LEN - 2)
		g_string_append_c(s, (gchar)('0' + g_random_int_range(0, 10)));
	g_string_append_printf(s, "%02d", ql_eid_check_digits(s->str));
	return g_string_free(s, FALSE);
}

gchar *
ql_smdp_confirmation_code(const QlSmdpPki *pki, const gchar *matching_id)
{
	guint8 mac[QL_CRYPTO_SHA256_LEN];
	gchar *code;
	if (!ql_crypto_hmac_sha256(pki->cc_key, sizeof(pki->cc_key), (const guint8 *)matching_id,
				   strlen(matching_id), mac, NULL))
		return NULL;
	code = g_strdup_printf("%02X%02X%02X", mac[0], mac[1], mac[2]);
	ql_crypto_wipe(mac, sizeof(mac));
	return code;
}

/* ---- chain verification ---- */

gboolean
ql_smdp_verify_euicc_chain(const QlSmdpPki *pki, gnutls_x509_crt_t euicc, gnutls_x509_crt_t eum,
			   GError **error)
{
	gnutls_x509_trust_list_t tl = NULL;
	gnutls_x509_crt_t ci_copy;
	gnutls_x509_crt_t chain[2] = {euicc, eum};
	unsigned int status = 0;
	int rc;

	ci_copy = ql_pki_crt_copy(pki->ci.crt, error);
	if (ci_copy == NULL)
		return FALSE;
	if (gnutls_x509_trust_list_init(&tl, 0) < 0) {
		gnutls_x509_crt_deinit(ci_copy);
		g_set_error_literal(error, QL_ERROR, QL_ERROR_FAILED, "trust list init failed");
		return FALSE;
	}
	/* the trust list owns the CA from here */
	gnutls_x509_trust_list_add_cas(tl, &ci_copy, 1, 0);
	rc = gnutls_x509_trust_list_verify_crt2(tl, chain, 2, NULL, 0, 0, &status, NULL);
	gnutls_x509_trust_list_deinit(tl, 1);
	if (rc < 0 || status != 0) {
		gnutls_datum_t why = {NULL, 0};
		if (rc >= 0)
			gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &why,
								     0);
		g_set_error(error, QL_ERROR, QL_ERROR_AUTH,
			    "the eUICC certificate does not chain to the CI: %s",
			    rc < 0 ? gnutls_strerror(rc) : (const gchar *)why.data);
		gnutls_free(why.data);
		return FALSE;
	}
	if (ql_pki_cert_role(euicc) != QL_CERT_ROLE_EUICC ||
	    ql_pki_cert_role(eum) != QL_CERT_ROLE_EUM) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_AUTH,
				    "the eUICC or EUM certificate carries the wrong role");
		return FALSE;
	}
	return TRUE;
}

/* ---- creation ---- */

typedef struct {
	const gchar *name; /* file stem, "" for none */
	QlPkiCert *slot;
} QlSmdpPkiFile;

static gboolean
ql_smdp_pki_save(const gchar *dir, const gchar *stem, const QlPkiCert *cert, gboolean with_key,
		 GError **error)
{
	g_autofree gchar *crt = g_strdup_printf("%s/%s.pem", dir, stem);
	g_autofree gchar *key = with_key ? g_strdup_printf("%s/%s-key.pem", dir, stem) : NULL;
	return ql_pki_save(cert, crt, key, error);
}

static gboolean
ql_smdp_pki_mkdir(const gchar *path, GError **error)
{
	if (g_mkdir_with_parents(path, 0700) != 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_IO, "cannot create %s: %s", path,
			    g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

static gboolean
ql_smdp_pki_create(const gchar *dir, GError **error)
{
	g_auto(QlPkiCert) ci = {NULL, NULL};
	g_auto(QlPkiCert) ci2 = {NULL, NULL};
	g_auto(QlPkiCert) eum = {NULL, NULL};
	g_auto(QlPkiCert) euicc = {NULL, NULL};
	g_auto(QlPkiCert) leaf = {NULL, NULL};
	g_auto(QlPkiCert) client_ca = {NULL, NULL};
	g_autofree gchar *eid = ql_smdp_make_eid();
	g_autofree gchar *euicc_dir = g_build_filename(dir, "euicc", NULL);
	g_autofree gchar *euicc_ci_dir = g_build_filename(dir, "euicc", "ci", NULL);
	g_autofree gchar *crl_dir = g_build_filename(dir, "crl", NULL);
	g_autofree gchar *crl_path = g_build_filename(dir, "crl", "ci.crl", NULL);
	g_autofree gchar *cc_path = g_build_filename(dir, "cc.key", NULL);
	g_autoptr(GPtrArray) revoked = g_ptr_array_new();
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	QlPkiCertSpec spec;
	guint8 cc_key[32];
	gboolean ok;
	struct {
		const gchar *stem;
		QlCertRole role;
		const gchar *cn;
		const gchar *const *dns;
		const gchar *const *ips;
		gint64 not_before;
		gint64 not_after;
		gboolean under_ci2;
		gboolean wrong_role;
		gboolean revoke;
	} leaves[] = {
		{"dpauth", QL_CERT_ROLE_DP_AUTH, "Quantra-L Test SM-DP+ auth", NULL, NULL},
		{"dppb", QL_CERT_ROLE_DP_PB, "Quantra-L Test SM-DP+ pb", NULL, NULL},
		{"dptls", QL_CERT_ROLE_DP_TLS, "localhost", ql_smdp_tls_names, ql_smdp_tls_ips},
		{"tls-expired", QL_CERT_ROLE_DP_TLS, "localhost", ql_smdp_tls_names,
		 ql_smdp_tls_ips, now - 2 * QL_SMDP_YEAR, now - 24 * 3600},
		{"tls-not-yet-valid", QL_CERT_ROLE_DP_TLS, "localhost", ql_smdp_tls_names,
		 ql_smdp_tls_ips, now + 24 * 3600, now + QL_SMDP_YEAR},
		{"tls-wrong-host", QL_CERT_ROLE_DP_TLS, "other.example", ql_smdp_other_names, NULL},
		{"tls-unknown-ci", QL_CERT_ROLE_DP_TLS, "localhost", ql_smdp_tls_names,
		 ql_smdp_tls_ips, 0, 0, TRUE},
		{"tls-revoked", QL_CERT_ROLE_DP_TLS, "localhost", ql_smdp_tls_names,
		 ql_smdp_tls_ips, 0, 0, FALSE, FALSE, TRUE},
		{"tls-wrong-role", QL_CERT_ROLE_DP_TLS, "localhost", ql_smdp_tls_names,
		 ql_smdp_tls_ips, 0, 0, FALSE, TRUE},
	};

	if (!ql_smdp_pki_mkdir(euicc_ci_dir, error) || !ql_smdp_pki_mkdir(crl_dir, error))
		return FALSE;

	/* the CIs: long-lived, as SGP.26's */
	memset(&spec, 0, sizeof(spec));
	spec.role = QL_CERT_ROLE_CI;
	spec.common_name = "Quantra-L Test CI";
	spec.organization = "Quantra-L";
	spec.is_ca = TRUE;
	spec.not_before = now - 3600;
	spec.not_after = now + 10 * QL_SMDP_YEAR;
	if (!ql_pki_make(&spec, NULL, &ci, error))
		return FALSE;
	spec.common_name = "Quantra-L Unknown CI";
	if (!ql_pki_make(&spec, NULL, &ci2, error))
		return FALSE;
	if (!ql_smdp_pki_save(dir, "unknown-ci", &ci2, FALSE, error))
		return FALSE;

	/* the eUICC side: CI -> EUM -> eUICC (SGP.22 4.5.2), serialNumber = EID */
	spec.role = QL_CERT_ROLE_EUM;
	spec.common_name = "Quantra-L Test EUM";
	if (!ql_pki_make(&spec, &ci, &eum, error))
		return FALSE;
	spec.role = QL_CERT_ROLE_EUICC;
	spec.common_name = "Quantra-L Test eUICC";
	spec.serial_number = eid;
	spec.is_ca = FALSE;
	if (!ql_pki_make(&spec, &eum, &euicc, error))
		return FALSE;
	if (!ql_smdp_pki_save(euicc_dir, "eum", &eum, FALSE, error) ||
	    !ql_smdp_pki_save(euicc_dir, "euicc", &euicc, TRUE, error) ||
	    !ql_smdp_pki_save(euicc_ci_dir, "ci", &ci, FALSE, error))
		return FALSE;

	/* the SM-DP+ certificates and the fault variants of the TLS one */
	for (guint i = 0; i < G_N_ELEMENTS(leaves); i++) {
		memset(&spec, 0, sizeof(spec));
		spec.role = leaves[i].role;
		spec.common_name = leaves[i].cn;
		spec.organization = "Quantra-L";
		spec.dns_names = leaves[i].dns;
		spec.ip_addresses = leaves[i].ips;
		spec.not_before = leaves[i].not_before != 0 ? leaves[i].not_before : now - 3600;
		spec.not_after =
			leaves[i].not_after != 0 ? leaves[i].not_after : now + 5 * QL_SMDP_YEAR;
		if (leaves[i].wrong_role) {
			/* a TLS certificate that carries the DPauth role OID */
			spec.override_policy = TRUE;
			spec.policy_override = QL_CERT_ROLE_DP_AUTH;
		}
		ql_pki_cert_clear(&leaf);
		if (!ql_pki_make(&spec, leaves[i].under_ci2 ? &ci2 : &ci, &leaf, error))
			return FALSE;
		if (!ql_smdp_pki_save(dir, leaves[i].stem, &leaf, TRUE, error))
			return FALSE;
		if (leaves[i].revoke) {
			g_ptr_array_add(revoked, leaf.crt);
			/* the array borrows it until the CRL is made */
			if (!ql_pki_make_crl(&ci, revoked, now - 3600, now + QL_SMDP_YEAR, crl_path,
					     error))
				return FALSE;
			g_ptr_array_set_size(revoked, 0);
		}
	}

	/* mTLS: a client CA outside the GSMA roles and a client certificate under it */
	memset(&spec, 0, sizeof(spec));
	spec.role = QL_CERT_ROLE_NONE;
	spec.common_name = "Quantra-L Test Client CA";
	spec.is_ca = TRUE;
	spec.not_before = now - 3600;
	spec.not_after = now + 5 * QL_SMDP_YEAR;
	if (!ql_pki_make(&spec, NULL, &client_ca, error))
		return FALSE;
	spec.common_name = "Quantra-L Test LPA";
	spec.is_ca = FALSE;
	ql_pki_cert_clear(&leaf);
	if (!ql_pki_make(&spec, &client_ca, &leaf, error))
		return FALSE;
	if (!ql_smdp_pki_save(dir, "client-ca", &client_ca, FALSE, error) ||
	    !ql_smdp_pki_save(dir, "client", &leaf, TRUE, error))
		return FALSE;

	if (!ql_crypto_random(cc_key, sizeof(cc_key), error))
		return FALSE;
	ok = g_file_set_contents_full(cc_path, (const gchar *)cc_key, sizeof(cc_key),
				      G_FILE_SET_CONTENTS_CONSISTENT, 0600, error);
	ql_crypto_wipe(cc_key, sizeof(cc_key));
	if (!ok)
		return FALSE;

	/* last: its presence says the folder is complete */
	return ql_smdp_pki_save(dir, "ci", &ci, TRUE, error);
}

static gboolean
ql_smdp_pki_load_one(const gchar *dir, const gchar *stem, QlPkiCert *out, GError **error)
{
	g_autofree gchar *crt = g_strdup_printf("%s/%s.pem", dir, stem);
	g_autofree gchar *key = g_strdup_printf("%s/%s-key.pem", dir, stem);
	return ql_pki_load(crt, key, out, error);
}

gboolean
ql_smdp_pki_open(const gchar *dir, QlSmdpPki *pki, GError **error)
{
	g_autofree gchar *ci_path = g_build_filename(dir, "ci.pem", NULL);
	g_autofree gchar *cc_path = g_build_filename(dir, "cc.key", NULL);
	g_autofree gchar *cc = NULL;
	gsize cc_len = 0;
	const QlSmdpPkiFile files[] = {
		{"ci", &pki->ci},
		{"dpauth", &pki->dpauth},
		{"dppb", &pki->dppb},
		{"dptls", &pki->dptls},
		{"tls-expired", &pki->tls_expired},
		{"tls-not-yet-valid", &pki->tls_not_yet_valid},
		{"tls-wrong-host", &pki->tls_wrong_host},
		{"tls-unknown-ci", &pki->tls_unknown_ci},
		{"tls-revoked", &pki->tls_revoked},
		{"tls-wrong-role", &pki->tls_wrong_role},
	};

	if (!ql_smdp_pki_mkdir(dir, error))
		return FALSE;
	if (!g_file_test(ci_path, G_FILE_TEST_EXISTS) && !ql_smdp_pki_create(dir, error)) {
		g_prefix_error(error, "cannot create the test PKI in %s: ", dir);
		return FALSE;
	}
	for (guint i = 0; i < G_N_ELEMENTS(files); i++) {
		if (!ql_smdp_pki_load_one(dir, files[i].name, files[i].slot, error)) {
			g_prefix_error(error, "the test PKI in %s is incomplete: ", dir);
			return FALSE;
		}
	}
	if (!g_file_get_contents(cc_path, &cc, &cc_len, error))
		return FALSE;
	if (cc_len != sizeof(pki->cc_key)) {
		ql_crypto_wipe(cc, cc_len);
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "%s must hold %" G_GSIZE_FORMAT " bytes", cc_path, sizeof(pki->cc_key));
		return FALSE;
	}
	memcpy(pki->cc_key, cc, cc_len);
	ql_crypto_wipe(cc, cc_len);
	{
		g_autofree gchar *e = g_build_filename(dir, "euicc", "euicc.pem", NULL);
		g_auto(QlPkiCert) euicc = {NULL, NULL};
		if (!ql_pki_load(e, NULL, &euicc, error))
			return FALSE;
		pki->euicc = g_steal_pointer(&euicc.crt);
	}
	pki->client_ca_path = g_build_filename(dir, "client-ca.pem", NULL);
	pki->dir = g_strdup(dir);
	return TRUE;
}
