/*
 * Tests for the PKI helpers: role OIDs, chains, save/load, the shipped production CI.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gstdio.h>

#include "quantra-l/ql-error.h"
#include "ql-pki.h"

static void
make_cert(QlCertRole role, gboolean is_ca, const QlPkiCert *issuer, QlPkiCert *out)
{
	g_autoptr(GError) error = NULL;
	QlPkiCertSpec spec = {
		.role = role,
		.common_name = ql_pki_role_name(role),
		.organization = "Quantra-L test",
		.is_ca = is_ca,
	};
	g_assert_true(ql_pki_make(&spec, issuer, out, &error));
	g_assert_no_error(error);
	g_assert_nonnull(out->crt);
	g_assert_nonnull(out->key);
}

static gboolean
bytes_equal(GBytes *a, GBytes *b)
{
	return a != NULL && b != NULL && g_bytes_equal(a, b);
}

static void
test_pki_roles(void)
{
	g_auto(QlPkiCert) ci = {NULL, NULL};

	make_cert(QL_CERT_ROLE_CI, TRUE, NULL, &ci);
	g_assert_cmpint(ql_pki_cert_role(ci.crt), ==, QL_CERT_ROLE_CI);
	for (QlCertRole r = QL_CERT_ROLE_EUICC; r <= QL_CERT_ROLE_DS_AUTH; r++) {
		g_auto(QlPkiCert) leaf = {NULL, NULL};
		g_autofree gchar *want = g_strdup_printf("2.23.146.1.2.1.%d", (gint)r);
		struct gnutls_x509_policy_st policy;
		unsigned int critical = 0;

		make_cert(r, r == QL_CERT_ROLE_EUM, &ci, &leaf);
		g_assert_cmpstr(ql_pki_role_oid(r), ==, want);
		g_assert_cmpint(ql_pki_cert_role(leaf.crt), ==, r);
		/* the OID is really there and critical, as in the production CI */
		g_assert_cmpint(gnutls_x509_crt_get_policy(leaf.crt, 0, &policy, &critical), ==, 0);
		g_assert_cmpstr(policy.oid, ==, want);
		g_assert_cmpuint(critical, ==, 1);
		gnutls_x509_policy_release(&policy);
	}
	g_assert_null(ql_pki_role_oid(QL_CERT_ROLE_NONE));
}

static void
test_pki_role_none_and_override(void)
{
	g_autoptr(GError) error = NULL;
	g_auto(QlPkiCert) ci = {NULL, NULL};
	g_auto(QlPkiCert) none = {NULL, NULL};
	g_auto(QlPkiCert) wrong = {NULL, NULL};
	QlPkiCertSpec spec = {.role = QL_CERT_ROLE_NONE, .common_name = "webpki"};

	make_cert(QL_CERT_ROLE_CI, TRUE, NULL, &ci);
	g_assert_true(ql_pki_make(&spec, &ci, &none, &error));
	g_assert_no_error(error);
	g_assert_cmpint(ql_pki_cert_role(none.crt), ==, QL_CERT_ROLE_NONE);

	spec.role = QL_CERT_ROLE_DP_TLS;
	spec.override_policy = TRUE;
	spec.policy_override = QL_CERT_ROLE_DP_AUTH;
	g_assert_true(ql_pki_make(&spec, &ci, &wrong, &error));
	g_assert_no_error(error);
	g_assert_cmpint(ql_pki_cert_role(wrong.crt), ==, QL_CERT_ROLE_DP_AUTH);
}

static void
test_pki_chain(void)
{
	g_auto(QlPkiCert) ci = {NULL, NULL};
	g_auto(QlPkiCert) eum = {NULL, NULL};
	g_auto(QlPkiCert) euicc = {NULL, NULL};
	g_auto(QlPkiCert) other_ci = {NULL, NULL};
	g_autoptr(GError) error = NULL;
	QlPkiCertSpec spec = {
		.role = QL_CERT_ROLE_EUICC,
		.common_name = "eUICC",
		.serial_number = "89049032123451234512345678901235",
	};
	gnutls_x509_crt_t chain[2];
	unsigned int status = 0xffff;
	g_autoptr(GBytes) ci_ski = NULL;
	g_autoptr(GBytes) eum_ski = NULL;
	g_autoptr(GBytes) eum_aki = NULL;
	g_autoptr(GBytes) euicc_aki = NULL;
	g_autoptr(GBytes) ci_aki = NULL;
	g_autofree gchar *sn = NULL;

	make_cert(QL_CERT_ROLE_CI, TRUE, NULL, &ci);
	make_cert(QL_CERT_ROLE_EUM, TRUE, &ci, &eum);
	g_assert_true(ql_pki_make(&spec, &eum, &euicc, &error));
	g_assert_no_error(error);

	chain[0] = euicc.crt;
	chain[1] = eum.crt;
	g_assert_cmpint(gnutls_x509_crt_list_verify(chain, 2, &ci.crt, 1, NULL, 0, 0, &status), ==,
			0);
	g_assert_cmpuint(status, ==, 0);

	/* the same chain against an unrelated CI must not verify: the check above means something
	 */
	make_cert(QL_CERT_ROLE_CI, TRUE, NULL, &other_ci);
	g_assert_cmpint(
		gnutls_x509_crt_list_verify(chain, 2, &other_ci.crt, 1, NULL, 0, 0, &status), ==,
		0);
	g_assert_cmpuint(status & GNUTLS_CERT_INVALID, !=, 0);

	/* SKI/AKI link each certificate to its issuer */
	ci_ski = ql_pki_subject_key_id(ci.crt, &error);
	g_assert_no_error(error);
	ci_aki = ql_pki_authority_key_id(ci.crt, &error);
	g_assert_no_error(error);
	eum_ski = ql_pki_subject_key_id(eum.crt, &error);
	g_assert_no_error(error);
	eum_aki = ql_pki_authority_key_id(eum.crt, &error);
	g_assert_no_error(error);
	euicc_aki = ql_pki_authority_key_id(euicc.crt, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(g_bytes_get_size(ci_ski), ==, 20);
	g_assert_true(bytes_equal(ci_ski, ci_aki));
	g_assert_true(bytes_equal(ci_ski, eum_aki));
	g_assert_true(bytes_equal(eum_ski, euicc_aki));
	g_assert_false(bytes_equal(ci_ski, eum_ski));

	sn = ql_pki_subject_serial_number(euicc.crt);
	g_assert_cmpstr(sn, ==, "89049032123451234512345678901235");
	g_assert_null(ql_pki_subject_serial_number(eum.crt));

	/* CA flags: CI and EUM are CAs, the eUICC is not */
	g_assert_cmpint(gnutls_x509_crt_get_ca_status(ci.crt, NULL), ==, 1);
	g_assert_cmpint(gnutls_x509_crt_get_ca_status(eum.crt, NULL), ==, 1);
	g_assert_cmpint(gnutls_x509_crt_get_ca_status(euicc.crt, NULL), ==, 0);
	g_assert_cmpint(gnutls_x509_crt_get_signature_algorithm(euicc.crt), ==,
			GNUTLS_SIGN_ECDSA_SHA256);
}

static void
test_pki_tls_shape(void)
{
	g_autoptr(GError) error = NULL;
	g_auto(QlPkiCert) ci = {NULL, NULL};
	g_auto(QlPkiCert) tls = {NULL, NULL};
	const gchar *dns[] = {"smdp.test", NULL};
	const gchar *ips[] = {"127.0.0.1", "::1", NULL};
	QlPkiCertSpec spec = {
		.role = QL_CERT_ROLE_DP_TLS,
		.common_name = "smdp.test",
		.dns_names = dns,
		.ip_addresses = ips,
		.crl_url = "http://127.0.0.1/ci.crl",
	};
	gchar buf[256];
	size_t len = sizeof(buf);
	unsigned int critical = 0;
	unsigned int usage = 0;

	make_cert(QL_CERT_ROLE_CI, TRUE, NULL, &ci);
	g_assert_true(ql_pki_make(&spec, &ci, &tls, &error));
	g_assert_no_error(error);
	g_assert_true(gnutls_x509_crt_check_hostname(tls.crt, "smdp.test"));
	g_assert_true(gnutls_x509_crt_check_hostname(tls.crt, "127.0.0.1"));
	g_assert_true(gnutls_x509_crt_check_hostname(tls.crt, "::1"));
	g_assert_false(gnutls_x509_crt_check_hostname(tls.crt, "other.test"));
	g_assert_cmpint(gnutls_x509_crt_get_key_purpose_oid(tls.crt, 0, buf, &len, &critical), ==,
			0);
	g_assert_cmpstr(buf, ==, GNUTLS_KP_TLS_WWW_SERVER);
	len = sizeof(buf);
	g_assert_cmpint(gnutls_x509_crt_get_crl_dist_points(tls.crt, 0, buf, &len, NULL, NULL), ==,
			GNUTLS_SAN_URI);
	g_assert_cmpstr(buf, ==, "http://127.0.0.1/ci.crl");
	g_assert_cmpint(gnutls_x509_crt_get_key_usage(tls.crt, &usage, &critical), >=, 0);
	g_assert_cmpuint(usage, ==, GNUTLS_KEY_DIGITAL_SIGNATURE);
	g_assert_cmpint(gnutls_x509_crt_get_key_usage(ci.crt, &usage, &critical), >=, 0);
	g_assert_cmpuint(usage, ==, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN);

	/* a bad IP is a clear error */
	ips[0] = "not-an-ip";
	ips[1] = NULL;
	ql_pki_cert_clear(&tls);
	g_assert_false(ql_pki_make(&spec, &ci, &tls, &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT);
}

static void
test_pki_save_load(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = g_dir_make_tmp("ql-pki-XXXXXX", &error);
	g_autofree gchar *crt_path = NULL;
	g_autofree gchar *key_path = NULL;
	g_autofree gchar *bundle_path = NULL;
	g_autofree gchar *bundle = NULL;
	g_autofree gchar *a = NULL;
	g_autofree gchar *b = NULL;
	g_auto(QlPkiCert) ci = {NULL, NULL};
	g_auto(QlPkiCert) eum = {NULL, NULL};
	g_auto(QlPkiCert) loaded = {NULL, NULL};
	g_auto(QlPkiCert) child = {NULL, NULL};
	g_autoptr(GBytes) der1 = NULL;
	g_autoptr(GBytes) der2 = NULL;
	g_autoptr(GPtrArray) list = NULL;
	GStatBuf st;
	gnutls_x509_crt_t chain[1];
	unsigned int status = 0xffff;

	g_assert_no_error(error);
	crt_path = g_build_filename(dir, "ci.pem", NULL);
	key_path = g_build_filename(dir, "ci.key", NULL);
	bundle_path = g_build_filename(dir, "bundle.pem", NULL);
	make_cert(QL_CERT_ROLE_CI, TRUE, NULL, &ci);
	make_cert(QL_CERT_ROLE_EUM, TRUE, &ci, &eum);
	g_assert_true(ql_pki_save(&ci, crt_path, key_path, &error));
	g_assert_no_error(error);
	g_assert_cmpint(g_stat(key_path, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0077, ==, 0);

	g_assert_true(ql_pki_load(crt_path, key_path, &loaded, &error));
	g_assert_no_error(error);
	der1 = ql_pki_export_der(ci.crt, &error);
	der2 = ql_pki_export_der(loaded.crt, &error);
	g_assert_true(bytes_equal(der1, der2));
	g_assert_nonnull(loaded.key);

	/* the loaded key still signs certificates the original CI verifies */
	make_cert(QL_CERT_ROLE_EUM, TRUE, &loaded, &child);
	chain[0] = child.crt;
	g_assert_cmpint(gnutls_x509_crt_list_verify(chain, 1, &ci.crt, 1, NULL, 0, 0, &status), ==,
			0);
	g_assert_cmpuint(status, ==, 0);

	/* certificate alone */
	ql_pki_cert_clear(&loaded);
	g_assert_true(ql_pki_load(crt_path, NULL, &loaded, &error));
	g_assert_no_error(error);
	g_assert_null(loaded.key);

	/* a bundle of two */
	g_assert_true(ql_pki_save(&eum, bundle_path, NULL, &error));
	g_assert_no_error(error);
	g_assert_true(g_file_get_contents(crt_path, &a, NULL, NULL));
	g_assert_true(g_file_get_contents(bundle_path, &b, NULL, NULL));
	bundle = g_strconcat(a, b, NULL);
	g_assert_true(g_file_set_contents(bundle_path, bundle, -1, NULL));
	list = ql_pki_load_bundle(bundle_path, &error);
	g_assert_no_error(error);
	g_assert_nonnull(list);
	g_assert_cmpuint(list->len, ==, 2);
	g_assert_cmpint(ql_pki_cert_role(g_ptr_array_index(list, 0)), ==, QL_CERT_ROLE_CI);
	g_assert_cmpint(ql_pki_cert_role(g_ptr_array_index(list, 1)), ==, QL_CERT_ROLE_EUM);

	/* missing file and garbage */
	ql_pki_cert_clear(&loaded);
	g_assert_false(ql_pki_load("/nonexistent/ql.pem", NULL, &loaded, &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_NOT_FOUND);
	g_clear_error(&error);
	g_assert_true(g_file_set_contents(bundle_path, "garbage", -1, NULL));
	g_assert_false(ql_pki_load(bundle_path, NULL, &loaded, &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_MALFORMED);
	g_clear_error(&error);
	g_assert_null(ql_pki_load_bundle(bundle_path, &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_MALFORMED);

	g_unlink(crt_path);
	g_unlink(key_path);
	g_unlink(bundle_path);
	g_rmdir(dir);
}

static void
test_pki_crl(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = g_dir_make_tmp("ql-pki-XXXXXX", &error);
	g_autofree gchar *crl_path = g_build_filename(dir, "ci.crl", NULL);
	g_autofree gchar *pem = NULL;
	g_auto(QlPkiCert) ci = {NULL, NULL};
	g_auto(QlPkiCert) bad = {NULL, NULL};
	g_auto(QlPkiCert) good = {NULL, NULL};
	g_autoptr(GPtrArray) revoked = g_ptr_array_new();
	g_auto(gnutls_x509_crl_t) crl = NULL;
	gsize len = 0;
	gnutls_datum_t d;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	unsigned int status = 0;

	make_cert(QL_CERT_ROLE_CI, TRUE, NULL, &ci);
	make_cert(QL_CERT_ROLE_DP_TLS, FALSE, &ci, &bad);
	make_cert(QL_CERT_ROLE_DP_TLS, FALSE, &ci, &good);
	g_ptr_array_add(revoked, bad.crt);
	g_assert_true(ql_pki_make_crl(&ci, revoked, now - 60, now + 3600, crl_path, &error));
	g_assert_no_error(error);

	g_assert_true(g_file_get_contents(crl_path, &pem, &len, NULL));
	d.data = (unsigned char *)pem;
	d.size = len;
	g_assert_cmpint(gnutls_x509_crl_init(&crl), ==, 0);
	g_assert_cmpint(gnutls_x509_crl_import(crl, &d, GNUTLS_X509_FMT_PEM), ==, 0);
	g_assert_cmpint(gnutls_x509_crl_get_crt_count(crl), ==, 1);
	g_assert_cmpint(gnutls_x509_crl_verify(crl, &ci.crt, 1, 0, &status), ==, 0);
	g_assert_cmpuint(status, ==, 0);
	g_assert_cmpint(gnutls_x509_crt_check_revocation(bad.crt, &crl, 1), ==, 1);
	g_assert_cmpint(gnutls_x509_crt_check_revocation(good.crt, &crl, 1), ==, 0);
	g_unlink(crl_path);
	g_rmdir(dir);
}

static void
test_pki_spki_pin(void)
{
	g_autoptr(GError) error = NULL;
	g_auto(QlPkiCert) a = {NULL, NULL};
	g_auto(QlPkiCert) b = {NULL, NULL};
	g_autoptr(GBytes) pa = NULL;
	g_autoptr(GBytes) pb = NULL;
	g_autoptr(GBytes) spki = NULL;
	gnutls_datum_t d = {NULL, 0};
	g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
	g_auto(gnutls_pubkey_t) pub = NULL;
	guint8 digest[32];
	gsize dlen = sizeof(digest);

	make_cert(QL_CERT_ROLE_CI, TRUE, NULL, &a);
	make_cert(QL_CERT_ROLE_CI, TRUE, NULL, &b);
	pa = ql_pki_spki_sha256(a.crt, &error);
	g_assert_no_error(error);
	pb = ql_pki_spki_sha256(b.crt, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(g_bytes_get_size(pa), ==, 32);
	g_assert_false(g_bytes_equal(pa, pb));

	/* independently: SHA-256 over the exported SubjectPublicKeyInfo DER */
	g_assert_cmpint(gnutls_pubkey_init(&pub), ==, 0);
	g_assert_cmpint(gnutls_pubkey_import_x509(pub, a.crt, 0), ==, 0);
	g_assert_cmpint(gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &d), ==, 0);
	g_checksum_update(sum, d.data, d.size);
	gnutls_free(d.data);
	g_checksum_get_digest(sum, digest, &dlen);
	spki = g_bytes_new(digest, dlen);
	g_assert_true(g_bytes_equal(spki, pa));
}

static void
test_pki_production_ci(void)
{
	g_autoptr(GError) error = NULL;
	const gchar *root = g_getenv("QL_SOURCE_ROOT");
	g_autofree gchar *path = NULL;
	g_auto(QlPkiCert) ci = {NULL, NULL};
	g_autoptr(GBytes) ski = NULL;
	g_autoptr(GBytes) der = NULL;
	g_autofree gchar *ski_hex = NULL;
	g_autofree gchar *sha = NULL;
	unsigned int status = 0xffff;
	unsigned int critical = 0;
	struct gnutls_x509_policy_st policy;

	path = g_build_filename(root != NULL ? root : QL_SOURCE_ROOT, "data", "ci",
				"gsma-rsp2-root-ci1.pem", NULL);
	g_assert_true(ql_pki_load(path, NULL, &ci, &error));
	g_assert_no_error(error);
	ski = ql_pki_subject_key_id(ci.crt, &error);
	g_assert_no_error(error);
	ski_hex = ql_pki_hex(ski);
	g_assert_cmpstr(ski_hex, ==, "81370F5125D0B1D408D4C3B232E6D25E795BEBFB");
	der = ql_pki_export_der(ci.crt, &error);
	g_assert_no_error(error);
	sha = g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, der);
	g_assert_cmpstr(sha, ==,
			"5e3e91fd454327c3af5d32a7a73bbc59fe43aa7d85fd32d5db44423f80a56bb3");
	g_assert_cmpint(ql_pki_cert_role(ci.crt), ==, QL_CERT_ROLE_CI);
	g_assert_cmpint(gnutls_x509_crt_get_policy(ci.crt, 0, &policy, &critical), ==, 0);
	gnutls_x509_policy_release(&policy);
	g_assert_cmpuint(critical, ==, 1);

	/* the self-check: GnuTLS verifies the self-signed root against itself although its
	 * Certificate Policies extension is critical (mbedTLS refuses such a certificate) */
	g_assert_cmpint(gnutls_x509_crt_verify(ci.crt, &ci.crt, 1, 0, &status), ==, 0);
	g_assert_cmpuint(status, ==, 0);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/ql/pki/roles", test_pki_roles);
	g_test_add_func("/ql/pki/role-none-override", test_pki_role_none_and_override);
	g_test_add_func("/ql/pki/chain", test_pki_chain);
	g_test_add_func("/ql/pki/tls-shape", test_pki_tls_shape);
	g_test_add_func("/ql/pki/save-load", test_pki_save_load);
	g_test_add_func("/ql/pki/crl", test_pki_crl);
	g_test_add_func("/ql/pki/spki-pin", test_pki_spki_pin);
	g_test_add_func("/ql/pki/production-ci", test_pki_production_ci);
	return g_test_run();
}
