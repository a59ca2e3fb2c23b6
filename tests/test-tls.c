/*
 * Tests for QlTrust and QlTls against a real GnuTLS server on 127.0.0.1, with a test PKI
 * made at run time.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gstdio.h>
#include <signal.h>

#include "quantra-l/ql-error.h"
#include "ql-test-tls-server.h"
#include "ql-tls.h"
#include "ql-trust.h"

#define TEST_HOST "smdp.test"

typedef struct {
	gchar *dir;
	gchar *crl_dir;
	gchar *client_crt_path;
	gchar *client_key_path;
	QlPkiCert ci;
	QlPkiCert ci_other;
	QlPkiCert good;
	QlPkiCert expired;
	QlPkiCert future;
	QlPkiCert wrong_host;
	QlPkiCert unknown_ci;
	QlPkiCert revoked;
	QlPkiCert wrong_role;
	QlPkiCert dp_auth;
	QlPkiCert mtls_ca;
	QlPkiCert client;
} TestPki;

static TestPki pki;

static void
make(QlCertRole role, const gchar *cn, gboolean is_ca, const gchar *dns, gint64 nb, gint64 na,
     const QlPkiCert *issuer, QlPkiCert *out)
{
	g_autoptr(GError) error = NULL;
	const gchar *dns_names[] = {dns, NULL};
	const gchar *ips[] = {"127.0.0.1", NULL};
	QlPkiCertSpec spec = {
		.role = role,
		.common_name = cn,
		.organization = "Quantra-L test",
		.dns_names = dns != NULL ? dns_names : NULL,
		.ip_addresses = dns != NULL ? ips : NULL,
		.not_before = nb,
		.not_after = na,
		.is_ca = is_ca,
	};
	g_assert_true(ql_pki_make(&spec, issuer, out, &error));
	g_assert_no_error(error);
}

static void
test_pki_setup(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) revoked = g_ptr_array_new();
	g_autofree gchar *crl_path = NULL;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	const gint64 day = 24 * 3600;
	QlPkiCertSpec spec = {
		.role = QL_CERT_ROLE_DP_TLS,
		.common_name = "wrong role",
		.dns_names = (const gchar *const[]){TEST_HOST, NULL},
		.override_policy = TRUE,
		.policy_override = QL_CERT_ROLE_DP_AUTH,
	};

	pki.dir = g_dir_make_tmp("ql-tls-XXXXXX", &error);
	g_assert_no_error(error);
	pki.crl_dir = g_build_filename(pki.dir, "crl", NULL);
	g_assert_cmpint(g_mkdir(pki.crl_dir, 0700), ==, 0);

	make(QL_CERT_ROLE_CI, "Test CI", TRUE, NULL, 0, 0, NULL, &pki.ci);
	make(QL_CERT_ROLE_CI, "Other CI", TRUE, NULL, 0, 0, NULL, &pki.ci_other);
	make(QL_CERT_ROLE_DP_TLS, "good", FALSE, TEST_HOST, 0, 0, &pki.ci, &pki.good);
	make(QL_CERT_ROLE_DP_TLS, "expired", FALSE, TEST_HOST, now - 3 * day, now - day, &pki.ci,
	     &pki.expired);
	make(QL_CERT_ROLE_DP_TLS, "future", FALSE, TEST_HOST, now + day, now + 3 * day, &pki.ci,
	     &pki.future);
	make(QL_CERT_ROLE_DP_TLS, "wrong host", FALSE, "other.test", 0, 0, &pki.ci,
	     &pki.wrong_host);
	make(QL_CERT_ROLE_DP_TLS, "unknown CI", FALSE, TEST_HOST, 0, 0, &pki.ci_other,
	     &pki.unknown_ci);
	make(QL_CERT_ROLE_DP_TLS, "revoked", FALSE, TEST_HOST, 0, 0, &pki.ci, &pki.revoked);
	make(QL_CERT_ROLE_DP_AUTH, "DPauth", FALSE, NULL, 0, 0, &pki.ci, &pki.dp_auth);
	g_assert_true(ql_pki_make(&spec, &pki.ci, &pki.wrong_role, &error));
	g_assert_no_error(error);

	make(QL_CERT_ROLE_NONE, "mTLS CA", TRUE, NULL, 0, 0, NULL, &pki.mtls_ca);
	make(QL_CERT_ROLE_NONE, "client", FALSE, NULL, 0, 0, &pki.mtls_ca, &pki.client);
	pki.client_crt_path = g_build_filename(pki.dir, "client.pem", NULL);
	pki.client_key_path = g_build_filename(pki.dir, "client.key", NULL);
	g_assert_true(ql_pki_save(&pki.client, pki.client_crt_path, pki.client_key_path, &error));
	g_assert_no_error(error);

	g_ptr_array_add(revoked, pki.revoked.crt);
	crl_path = g_build_filename(pki.crl_dir, "ci.crl", NULL);
	g_assert_true(ql_pki_make_crl(&pki.ci, revoked, now - 60, now + day, crl_path, &error));
	g_assert_no_error(error);
}

static void
rm_rf(const gchar *path)
{
	g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
	const gchar *name;
	while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *child = g_build_filename(path, name, NULL);
		if (g_file_test(child, G_FILE_TEST_IS_DIR))
			rm_rf(child);
		else
			g_unlink(child);
	}
	g_rmdir(path);
}

static void
test_pki_teardown(void)
{
	QlPkiCert *all[] = {&pki.ci,	     &pki.ci_other,   &pki.good,       &pki.expired,
			    &pki.future,     &pki.wrong_host, &pki.unknown_ci, &pki.revoked,
			    &pki.wrong_role, &pki.dp_auth,    &pki.mtls_ca,    &pki.client};
	for (guint i = 0; i < G_N_ELEMENTS(all); i++)
		ql_pki_cert_clear(all[i]);
	rm_rf(pki.dir);
	g_free(pki.dir);
	g_free(pki.crl_dir);
	g_free(pki.client_crt_path);
	g_free(pki.client_key_path);
}

/* The trust an eUICC listing only the test CI would give: other CIs are known but not listed. */
static QlTrust *
make_trust(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) kids = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	QlTrust *trust = ql_trust_new();

	g_assert_true(ql_trust_add_anchor(trust, pki.ci.crt, FALSE, &error));
	g_assert_no_error(error);
	g_ptr_array_add(kids, ql_pki_subject_key_id(pki.ci.crt, NULL));
	ql_trust_set_allowed_ci_key_ids(trust, kids);
	ql_trust_set_crl_dir(trust, pki.crl_dir);
	return trust;
}

/* ----------------------------------------------------------------------------------------- */
/* QlTrust alone                                                                              */

static void
check_refused(QlTrust *trust, const QlPkiCert *leaf, const gchar *host, QlCertRole role,
	      QlTrustFailure want, const gchar *phrase)
{
	g_autoptr(GError) error = NULL;
	QlTrustFailure got = QL_TRUST_OK;
	gnutls_x509_crt_t chain[1] = {leaf->crt};

	g_assert_false(ql_trust_verify_chain_full(trust, chain, 1, host, role, NULL, &got, &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_TLS);
	g_test_message("%s: %s", ql_trust_failure_to_string(want), error->message);
	g_assert_cmpint(got, ==, want);
	g_assert_cmpint(ql_trust_failure_from_error(error), ==, want);
	g_assert_nonnull(strstr(error->message, phrase));
}

static void
test_trust_chain(void)
{
	g_autoptr(QlTrust) trust = make_trust();
	g_autoptr(GError) error = NULL;
	gnutls_x509_crt_t chain[2] = {pki.good.crt, pki.ci.crt};
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;

	/* accepted, with or without the root in the chain, by name and by IP */
	g_assert_true(
		ql_trust_verify_chain(trust, chain, 1, TEST_HOST, QL_CERT_ROLE_DP_TLS, &error));
	g_assert_no_error(error);
	g_assert_true(
		ql_trust_verify_chain(trust, chain, 2, "127.0.0.1", QL_CERT_ROLE_DP_TLS, &error));
	g_assert_no_error(error);

	check_refused(trust, &pki.expired, TEST_HOST, QL_CERT_ROLE_DP_TLS, QL_TRUST_FAILURE_EXPIRED,
		      "expired on");
	check_refused(trust, &pki.future, TEST_HOST, QL_CERT_ROLE_DP_TLS,
		      QL_TRUST_FAILURE_NOT_YET_VALID, "not valid before");
	check_refused(trust, &pki.wrong_host, TEST_HOST, QL_CERT_ROLE_DP_TLS,
		      QL_TRUST_FAILURE_WRONG_HOST, "not valid for host smdp.test");
	check_refused(trust, &pki.good, "127.0.0.2", QL_CERT_ROLE_DP_TLS,
		      QL_TRUST_FAILURE_WRONG_HOST, "not valid for host 127.0.0.2");
	check_refused(trust, &pki.unknown_ci, TEST_HOST, QL_CERT_ROLE_DP_TLS,
		      QL_TRUST_FAILURE_UNKNOWN_CI, "does not chain to a trusted CI");
	check_refused(trust, &pki.revoked, TEST_HOST, QL_CERT_ROLE_DP_TLS, QL_TRUST_FAILURE_REVOKED,
		      "is revoked");
	check_refused(trust, &pki.wrong_role, TEST_HOST, QL_CERT_ROLE_DP_TLS,
		      QL_TRUST_FAILURE_WRONG_ROLE,
		      "DP TLS certificate (2.23.146.1.2.1.3) is needed");

	/* the clock is ours: the good certificate is expired two years on */
	ql_trust_set_now(trust, now + 2 * 365 * 24 * 3600);
	check_refused(trust, &pki.good, TEST_HOST, QL_CERT_ROLE_DP_TLS, QL_TRUST_FAILURE_EXPIRED,
		      "expired on");
	ql_trust_set_now(trust, now - 2 * 3600);
	check_refused(trust, &pki.good, TEST_HOST, QL_CERT_ROLE_DP_TLS,
		      QL_TRUST_FAILURE_NOT_YET_VALID, "not valid before");

	/* no certificate at all */
	g_assert_false(
		ql_trust_verify_chain(trust, NULL, 0, TEST_HOST, QL_CERT_ROLE_DP_TLS, &error));
	g_assert_cmpint(ql_trust_failure_from_error(error), ==, QL_TRUST_FAILURE_NO_CERTIFICATE);
}

/* The anchor rule of issue 14: a TLS chain may end at any trusted CI (older eUICCs omit CI1 from
 * their list while SM-DP+ servers use it for TLS) unless narrowed to the listed ones; a signing
 * chain (DPauth, DPpb) only at a CI the eUICC lists, shipped or added by the admin. */
static void
test_trust_ci_list(void)
{
	g_autoptr(QlTrust) trust = make_trust();
	g_autoptr(GError) error = NULL;
	g_autoptr(QlTrustResult) result = NULL;
	gnutls_x509_crt_t chain[1] = {pki.unknown_ci.crt};
	g_autofree gchar *other_kid = NULL;
	g_autofree gchar *ci_kid = NULL;
	g_auto(GStrv) tls_ids = NULL;
	g_auto(GStrv) signing_ids = NULL;
	g_auto(QlPkiCert) auth = {NULL, NULL};
	g_autoptr(GBytes) other_ski = ql_pki_subject_key_id(pki.ci_other.crt, NULL);
	g_autoptr(GBytes) ci_ski = ql_pki_subject_key_id(pki.ci.crt, NULL);

	/* a shipped CI the eUICC does not list: good for TLS by default */
	g_assert_true(ql_trust_add_anchor(trust, pki.ci_other.crt, FALSE, &error));
	g_assert_no_error(error);
	g_assert_true(ql_trust_verify_chain_full(trust, chain, 1, TEST_HOST, QL_CERT_ROLE_DP_TLS,
						 &result, NULL, &error));
	g_assert_no_error(error);
	other_kid = ql_pki_hex(other_ski);
	g_assert_cmpstr(result->anchor_key_id, ==, other_kid);
	g_assert_cmpint(result->anchor_source, ==, QL_TRUST_ANCHOR_GSMA_CI);
	g_assert_false(result->anchor_listed);
	tls_ids = ql_trust_get_anchor_key_ids(trust, QL_TRUST_PURPOSE_TLS);
	signing_ids = ql_trust_get_anchor_key_ids(trust, QL_TRUST_PURPOSE_SIGNING);
	ci_kid = ql_pki_hex(ci_ski);
	g_assert_cmpuint(g_strv_length(tls_ids), ==, 2);
	g_assert_true(g_strv_contains((const gchar *const *)tls_ids, other_kid));
	g_assert_cmpuint(g_strv_length(signing_ids), ==, 1);
	g_assert_cmpstr(signing_ids[0], ==, ci_kid);

	/* ... but never for a certificate the SM-DP+ signs with */
	make(QL_CERT_ROLE_DP_AUTH, "auth from other", FALSE, NULL, 0, 0, &pki.ci_other, &auth);
	check_refused(trust, &auth, NULL, QL_CERT_ROLE_DP_AUTH, QL_TRUST_FAILURE_UNKNOWN_CI,
		      "not one this eUICC accepts");

	/* tls-anchors=euicc-listed: the TLS chain needs a listed CI too */
	ql_trust_set_tls_anchors(trust, QL_TRUST_TLS_ANCHORS_EUICC_LISTED);
	check_refused(trust, &pki.unknown_ci, TEST_HOST, QL_CERT_ROLE_DP_TLS,
		      QL_TRUST_FAILURE_UNKNOWN_CI, "tls-anchors=euicc-listed");
	g_strfreev(tls_ids);
	tls_ids = ql_trust_get_anchor_key_ids(trust, QL_TRUST_PURPOSE_TLS);
	g_assert_cmpuint(g_strv_length(tls_ids), ==, 1);
	g_assert_cmpstr(tls_ids[0], ==, ci_kid);

	/* an anchor the admin added counts for TLS, and for signing only when listed */
	ql_trust_set_tls_anchors(trust, QL_TRUST_TLS_ANCHORS_ALL);
	g_assert_true(ql_trust_add_anchor(trust, pki.ci_other.crt, TRUE, &error));
	g_assert_true(
		ql_trust_verify_chain(trust, chain, 1, TEST_HOST, QL_CERT_ROLE_DP_TLS, &error));
	g_assert_no_error(error);
	check_refused(trust, &auth, NULL, QL_CERT_ROLE_DP_AUTH, QL_TRUST_FAILURE_UNKNOWN_CI,
		      "not one this eUICC accepts");

	/* the eUICC lists it: usable for both */
	{
		g_autoptr(QlTrust) t2 = make_trust();
		g_autoptr(GPtrArray) kids =
			g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
		g_autoptr(QlTrustResult) r2 = NULL;
		gnutls_x509_crt_t auth_chain[1] = {auth.crt};
		g_assert_true(ql_trust_add_anchor(t2, pki.ci_other.crt, FALSE, &error));
		g_ptr_array_add(kids, ql_pki_subject_key_id(pki.ci_other.crt, NULL));
		ql_trust_set_allowed_ci_key_ids(t2, kids);
		ql_trust_set_tls_anchors(t2, QL_TRUST_TLS_ANCHORS_EUICC_LISTED);
		g_assert_true(ql_trust_verify_chain(t2, chain, 1, TEST_HOST, QL_CERT_ROLE_DP_TLS,
						    &error));
		g_assert_no_error(error);
		g_assert_true(ql_trust_verify_chain_full(t2, auth_chain, 1, NULL,
							 QL_CERT_ROLE_DP_AUTH, &r2, NULL, &error));
		g_assert_no_error(error);
		g_assert_true(r2->anchor_listed);
	}
}

static void
test_trust_role(void)
{
	g_autoptr(QlTrust) trust = make_trust();
	g_autoptr(QlTrust) webpki = ql_trust_new();
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) der = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	g_auto(QlPkiCert) leaf = {NULL, NULL};
	gnutls_x509_crt_t chain[1] = {pki.dp_auth.crt};

	/* a DPauth certificate from an ES9+ answer: no host, role DP auth, as DER */
	g_ptr_array_add(der, ql_pki_export_der(pki.dp_auth.crt, NULL));
	g_assert_true(
		ql_trust_verify_der_chain(trust, der, NULL, QL_CERT_ROLE_DP_AUTH, NULL, &error));
	g_assert_no_error(error);
	check_refused(trust, &pki.dp_auth, NULL, QL_CERT_ROLE_DP_PB, QL_TRUST_FAILURE_WRONG_ROLE,
		      "DP pb certificate");
	/* the TLS certificate is not a DPauth one */
	check_refused(trust, &pki.good, NULL, QL_CERT_ROLE_DP_AUTH, QL_TRUST_FAILURE_WRONG_ROLE,
		      "is a DP TLS certificate");
	g_assert_true(ql_trust_verify_chain(trust, chain, 1, NULL, QL_CERT_ROLE_NONE, &error));
	g_assert_no_error(error);

	/* a CI without the CI role OID (WebPKI-like): no role is demanded of its leaves */
	make(QL_CERT_ROLE_NONE, "webpki leaf", FALSE, TEST_HOST, 0, 0, &pki.mtls_ca, &leaf);
	g_assert_true(ql_trust_add_anchor(webpki, pki.mtls_ca.crt, FALSE, &error));
	chain[0] = leaf.crt;
	g_assert_true(
		ql_trust_verify_chain(webpki, chain, 1, TEST_HOST, QL_CERT_ROLE_DP_TLS, &error));
	g_assert_no_error(error);
	/* ... but such an anchor (WebPKI, the system store) vouches for TLS only: the certificates
	 * the SM-DP+ signs with must come from a GSMA CI, or the role check would be skipped */
	check_refused(webpki, &leaf, NULL, QL_CERT_ROLE_DP_AUTH, QL_TRUST_FAILURE_UNKNOWN_CI,
		      "not a GSMA CI");
	check_refused(webpki, &leaf, NULL, QL_CERT_ROLE_DP_PB, QL_TRUST_FAILURE_UNKNOWN_CI,
		      "not a GSMA CI");

	/* garbage DER */
	g_ptr_array_set_size(der, 0);
	g_ptr_array_add(der, g_bytes_new_static("junk", 4));
	g_assert_false(
		ql_trust_verify_der_chain(trust, der, NULL, QL_CERT_ROLE_DP_AUTH, NULL, &error));
	g_assert_cmpint(ql_trust_failure_from_error(error), ==, QL_TRUST_FAILURE_BAD_CHAIN);
}

static void
test_trust_pins(void)
{
	g_autoptr(QlTrust) trust = make_trust();
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) good_pin = ql_pki_spki_sha256(pki.good.crt, NULL);
	g_autoptr(GBytes) ci_pin = ql_pki_spki_sha256(pki.ci.crt, NULL);
	g_autoptr(GBytes) other_pin = ql_pki_spki_sha256(pki.ci_other.crt, NULL);
	g_autofree gchar *good_b64 = g_base64_encode(g_bytes_get_data(good_pin, NULL), 32);
	g_autofree gchar *good_s = g_strdup_printf("sha256//%s", good_b64);
	g_autofree gchar *ci_hex = ql_pki_hex(ci_pin);
	g_autofree gchar *other_b64 = g_base64_encode(g_bytes_get_data(other_pin, NULL), 32);
	g_autofree gchar *other_s = g_strdup_printf("pin-sha256:%s", other_b64);
	gnutls_x509_crt_t chain[1] = {pki.good.crt};

	g_assert_false(ql_trust_add_pin(trust, TEST_HOST, "sha256//tooshort", &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);

	/* a pin on another host does not apply */
	g_assert_true(ql_trust_add_pin(trust, "elsewhere.test", other_s, &error));
	g_assert_true(
		ql_trust_verify_chain(trust, chain, 1, TEST_HOST, QL_CERT_ROLE_DP_TLS, &error));
	g_assert_no_error(error);

	g_assert_true(ql_trust_add_pin(trust, TEST_HOST, other_s, &error));
	check_refused(trust, &pki.good, TEST_HOST, QL_CERT_ROLE_DP_TLS,
		      QL_TRUST_FAILURE_PIN_MISMATCH, "matches its configured pins");
	/* the leaf's key, or the CI's, satisfies the pin set */
	g_assert_true(ql_trust_add_pin(trust, "SMDP.test", good_s, &error));
	g_assert_true(
		ql_trust_verify_chain(trust, chain, 1, TEST_HOST, QL_CERT_ROLE_DP_TLS, &error));
	g_assert_no_error(error);
	{
		g_autoptr(QlTrust) t2 = make_trust();
		g_assert_true(ql_trust_add_pin(t2, TEST_HOST, ci_hex, &error));
		g_assert_true(ql_trust_verify_chain(t2, chain, 1, TEST_HOST, QL_CERT_ROLE_DP_TLS,
						    &error));
		g_assert_no_error(error);
	}
}

/* a trust whose CRL directory is @dir, required or not */
static QlTrust *
make_crl_trust(const gchar *dir, gboolean required)
{
	QlTrust *trust = make_trust();
	ql_trust_set_crl_dir(trust, dir);
	ql_trust_set_crl_required(trust, required);
	return trust;
}

static gchar *
make_crl_dir(const gchar *name, const QlPkiCert *signer, gint64 this_update, gint64 next_update)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = g_build_filename(pki.dir, name, NULL);
	g_autofree gchar *path = g_build_filename(dir, "ci.crl", NULL);
	g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
	if (signer != NULL) {
		g_assert_true(
			ql_pki_make_crl(signer, NULL, this_update, next_update, path, &error));
		g_assert_no_error(error);
	}
	return g_steal_pointer(&dir);
}

/* What the result records is what happened: the CRLs consulted, stale or not, rejected, or
 * the issuers without one; required turns the last two into refusals. */
static void
test_trust_crl_policy(void)
{
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	const gint64 day = 24 * 3600;
	g_autofree gchar *empty = make_crl_dir("crl-empty", NULL, 0, 0);
	g_autofree gchar *fresh = make_crl_dir("crl-fresh", &pki.ci, now - day, now + day);
	g_autofree gchar *stale = make_crl_dir("crl-stale", &pki.ci, now - 3 * day, now - day);
	g_autofree gchar *ci_dn = NULL;
	gnutls_x509_crt_t chain[1] = {pki.good.crt};
	QlPkiCert forger = {0};
	g_autofree gchar *forged = NULL;

	{
		/* a CRL naming the CI, signed by another key */
		g_autoptr(GError) error = NULL;
		g_assert_true(ql_pki_cert_copy(&pki.ci, &forger, &error));
		g_assert_no_error(error);
		gnutls_x509_privkey_deinit(forger.key);
		g_assert_cmpint(gnutls_x509_privkey_init(&forger.key), ==, 0);
		g_assert_cmpint(gnutls_x509_privkey_cpy(forger.key, pki.ci_other.key), ==, 0);
		forged = make_crl_dir("crl-forged", &forger, now - day, now + day);
		ql_pki_cert_clear(&forger);
	}
	{
		gnutls_datum_t dn = {NULL, 0};
		g_assert_cmpint(gnutls_x509_crt_get_dn3(pki.ci.crt, &dn, 0), >=, 0);
		ci_dn = g_strndup((const gchar *)dn.data, dn.size);
		gnutls_free(dn.data);
	}

	/* optional */
	for (guint i = 0; i < 4; i++) {
		const gchar *dirs[] = {empty, fresh, stale, forged};
		g_autoptr(QlTrust) trust = make_crl_trust(dirs[i], FALSE);
		g_autoptr(QlTrustResult) result = NULL;
		g_autoptr(GError) error = NULL;
		g_assert_true(ql_trust_verify_chain_full(
			trust, chain, 1, TEST_HOST, QL_CERT_ROLE_DP_TLS, &result, NULL, &error));
		g_assert_no_error(error);
		g_assert_false(result->crl_required);
		g_assert_cmpstr(result->anchor_subject, ==, ci_dn);
		g_assert_false(result->pin_checked);
		if (i == 1 || i == 2) {
			const QlTrustCrlUse *use = g_ptr_array_index(result->crls, 0);
			g_assert_cmpuint(result->crls->len, ==, 1);
			g_assert_cmpuint(result->no_crl->len, ==, 0);
			g_assert_cmpstr(use->issuer, ==, ci_dn);
			g_assert_cmpstr(use->file, ==, "ci.crl");
			g_assert_cmpint(use->stale, ==, i == 2);
			g_assert_cmpint(use->next_update, ==, i == 1 ? now + day : now - day);
		} else {
			g_assert_cmpuint(result->crls->len, ==, 0);
			g_assert_cmpuint(result->no_crl->len, ==, 1);
			g_assert_cmpstr(g_ptr_array_index(result->no_crl, 0), ==, ci_dn);
		}
		/* the forged CRL is reported and never used */
		g_assert_cmpuint(result->rejected->len, ==, i == 3 ? 1 : 0);
	}

	/* required */
	{
		g_autoptr(QlTrust) trust = make_crl_trust(fresh, TRUE);
		g_autoptr(QlTrustResult) result = NULL;
		g_autoptr(GError) error = NULL;
		g_assert_true(ql_trust_verify_chain_full(
			trust, chain, 1, TEST_HOST, QL_CERT_ROLE_DP_TLS, &result, NULL, &error));
		g_assert_true(result->crl_required);
	}
	{
		g_autoptr(QlTrust) trust = make_crl_trust(empty, TRUE);
		check_refused(trust, &pki.good, TEST_HOST, QL_CERT_ROLE_DP_TLS,
			      QL_TRUST_FAILURE_NO_CRL, "no CRL of");
	}
	{
		g_autoptr(QlTrust) trust = make_crl_trust(forged, TRUE);
		check_refused(trust, &pki.good, TEST_HOST, QL_CERT_ROLE_DP_TLS,
			      QL_TRUST_FAILURE_NO_CRL, "signature does not verify was ignored");
	}
	{
		g_autoptr(QlTrust) trust = make_crl_trust(stale, TRUE);
		check_refused(trust, &pki.good, TEST_HOST, QL_CERT_ROLE_DP_TLS,
			      QL_TRUST_FAILURE_STALE_CRL, "is stale");
	}
	{
		/* a stale CRL still revokes */
		g_autoptr(GError) error = NULL;
		g_autofree gchar *dir = g_build_filename(pki.dir, "crl-stale-revoking", NULL);
		g_autofree gchar *path = g_build_filename(dir, "ci.crl", NULL);
		g_autoptr(GPtrArray) revoked = g_ptr_array_new();
		g_autoptr(QlTrust) trust = NULL;
		g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
		g_ptr_array_add(revoked, pki.good.crt);
		g_assert_true(
			ql_pki_make_crl(&pki.ci, revoked, now - 3 * day, now - day, path, &error));
		trust = make_crl_trust(dir, FALSE);
		check_refused(trust, &pki.good, TEST_HOST, QL_CERT_ROLE_DP_TLS,
			      QL_TRUST_FAILURE_REVOKED, "revoked");
	}
}

/* The reason is read from our tag, the first "refused [...]", never from words after it. */
static void
test_trust_reason(void)
{
	g_autoptr(GError) tls = g_error_new(QL_ERROR, QL_ERROR_TLS,
					    "initiateAuthentication failed: certificate refused "
					    "[stale-crl]: the CRL of 'CN=x [revoked]' ...");
	g_autoptr(GError) peer = g_error_new(QL_ERROR, QL_ERROR_TLS,
					     "TLS handshake with h failed: the server sent alert "
					     "'no refused [expired]'");
	g_autoptr(GError) smdp = g_error_new(QL_ERROR, QL_ERROR_SMDP, "refused [expired]: no");
	g_autoptr(GError) timeout = g_error_new(QL_ERROR, QL_ERROR_TIMEOUT, "slow");
	g_autoptr(GError) set = NULL;

	g_assert_cmpstr(ql_error_get_reason(tls), ==, "stale-crl");
	g_assert_null(ql_error_get_reason(peer));
	g_assert_null(ql_error_get_reason(smdp));
	g_assert_cmpstr(ql_error_get_reason(timeout), ==, "timeout");
	g_assert_null(ql_error_get_reason(NULL));
	for (guint i = 1; i < QL_TRUST_FAILURE_LAST; i++) {
		g_clear_error(&set);
		ql_trust_set_error(&set, (QlTrustFailure)i, "x");
		if (i == QL_TRUST_FAILURE_TIMEOUT)
			continue;
		g_assert_cmpint(ql_trust_failure_from_error(set), ==, i);
		g_assert_cmpstr(ql_error_get_reason(set), ==, ql_trust_failure_to_string(i));
	}
}

static void
test_trust_production_ci(void)
{
	g_autoptr(QlTrust) trust = ql_trust_new();
	g_autoptr(GError) error = NULL;
	const gchar *root = g_getenv("QL_SOURCE_ROOT");
	g_autofree gchar *path = g_build_filename(root != NULL ? root : QL_SOURCE_ROOT, "data",
						  "ci", "gsma-rsp2-root-ci1.pem", NULL);
	g_auto(QlPkiCert) ci = {NULL, NULL};
	gnutls_x509_crt_t chain[1];

	/* the production root verifies as its own chain (critical policies accepted) */
	g_assert_true(ql_trust_add_anchor_file(trust, path, FALSE, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(ql_trust_get_anchor_count(trust), ==, 1);
	g_assert_true(ql_pki_load(path, NULL, &ci, &error));
	chain[0] = ci.crt;
	g_assert_true(ql_trust_verify_chain(trust, chain, 1, NULL, QL_CERT_ROLE_CI, &error));
	g_assert_no_error(error);
	/* our test DP TLS certificate is unknown to it */
	check_refused(trust, &pki.good, TEST_HOST, QL_CERT_ROLE_DP_TLS, QL_TRUST_FAILURE_UNKNOWN_CI,
		      "does not chain");
}

/* ----------------------------------------------------------------------------------------- */
/* QlTls against the test server                                                              */

static gboolean
tls_connect(QlTls *tls, QlTestServer *srv, const gchar *host, GSocketConnection **conn_out,
	    GError **error)
{
	g_autoptr(GSocketConnection) conn = ql_test_connect_loopback(srv->port);
	gboolean ok = ql_tls_connect(tls, g_socket_connection_get_socket(conn), host, error);
	if (conn_out != NULL)
		*conn_out = g_steal_pointer(&conn);
	return ok;
}

static void
ping(QlTls *tls)
{
	g_autoptr(GError) error = NULL;
	guint8 buf[16];
	gssize n;
	g_assert_true(ql_tls_write_all(tls, (const guint8 *)"ping", 4, &error));
	g_assert_no_error(error);
	n = ql_tls_read(tls, buf, sizeof(buf), &error);
	g_assert_no_error(error);
	g_assert_cmpint(n, ==, 4);
	g_assert_cmpmem(buf, 4, "pong", 4);
}

static void
test_tls_standard(void)
{
	g_autoptr(QlTestServer) srv = ql_test_server_new(&pki.good, NULL, NULL, NULL, NULL, NULL);
	g_autoptr(QlTrust) trust = make_trust();
	g_autoptr(QlTls) tls = ql_tls_new(trust, QL_TLS_POLICY_STANDARD);
	g_autoptr(GSocketConnection) conn = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *want = NULL;
	const gchar *suite;

	g_assert_cmpuint(ql_tls_get_handshake_count(tls), ==, 0);
	g_assert_true(tls_connect(tls, srv, TEST_HOST, &conn, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(ql_tls_get_version_name(tls), ==, "TLS1.3");
	suite = ql_tls_get_cipher_suite_name(tls);
	g_assert_true(g_strcmp0(suite, "TLS_AES_256_GCM_SHA384") == 0 ||
		      g_strcmp0(suite, "TLS_AES_128_GCM_SHA256") == 0 ||
		      g_strcmp0(suite, "TLS_CHACHA20_POLY1305_SHA256") == 0);
	g_assert_cmpuint(ql_tls_get_handshake_count(tls), ==, 1);
	g_assert_nonnull(ql_tls_get_peer_certificate(tls));
	ping(tls);
	ql_tls_close(tls);
	ql_test_server_wait_done(srv, 1);
	g_assert_cmpint(g_atomic_int_get(&srv->handshakes_ok), ==, 1);
	g_assert_cmpint(g_atomic_int_get(&srv->app_bytes), ==, 4);
	want = g_strdup_printf("TLS1.3 %s", suite);
	g_assert_cmpstr(srv->negotiated, ==, want);

	/* a second handshake on the same object is counted; by IP literal (no SNI) too */
	g_clear_object(&conn);
	g_assert_true(tls_connect(tls, srv, "127.0.0.1", &conn, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(ql_tls_get_handshake_count(tls), ==, 2);
	ping(tls);
}

static void
test_tls_standard_tls12(void)
{
	g_autoptr(QlTestServer) srv = ql_test_server_new(
		&pki.good, NULL, "NORMAL:-VERS-ALL:+VERS-TLS1.2", NULL, NULL, NULL);
	g_autoptr(QlTrust) trust = make_trust();
	g_autoptr(QlTls) tls = ql_tls_new(trust, QL_TLS_POLICY_STANDARD);
	g_autoptr(GSocketConnection) conn = NULL;
	g_autoptr(GError) error = NULL;

	g_assert_true(tls_connect(tls, srv, TEST_HOST, &conn, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(ql_tls_get_version_name(tls), ==, "TLS1.2");
	g_assert_true(g_str_has_prefix(ql_tls_get_cipher_suite_name(tls), "TLS_ECDHE_ECDSA_"));
	ping(tls);
}

static void
test_tls_standard_refuses_cbc(void)
{
	/* a TLS 1.2 server that only speaks CBC: the standard policy has no such suite */
	g_autoptr(QlTestServer) srv = ql_test_server_new(
		&pki.good, NULL,
		"NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-CBC:-MAC-ALL:+SHA1", NULL, NULL,
		NULL);
	g_autoptr(QlTrust) trust = make_trust();
	g_autoptr(QlTls) tls = ql_tls_new(trust, QL_TLS_POLICY_STANDARD);
	g_autoptr(GError) error = NULL;

	g_assert_false(tls_connect(tls, srv, TEST_HOST, NULL, &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_TLS);
	g_test_message("%s", error->message);
	g_assert_cmpint(ql_trust_failure_from_error(error), ==, QL_TRUST_FAILURE_WEAK_PROTOCOL);
	ql_test_server_wait_done(srv, 1);
	g_assert_cmpint(g_atomic_int_get(&srv->app_bytes), ==, 0);
}

static void
test_tls_strict(void)
{
	g_autoptr(QlTestServer) srv = ql_test_server_new(&pki.good, NULL, NULL, NULL, NULL, NULL);
	g_autoptr(QlTrust) trust = make_trust();
	g_autoptr(QlTls) tls = ql_tls_new(trust, QL_TLS_POLICY_STRICT);
	g_autoptr(GSocketConnection) conn = NULL;
	g_autoptr(GError) error = NULL;
	const gchar *suite;

	g_assert_true(tls_connect(tls, srv, TEST_HOST, &conn, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(ql_tls_get_version_name(tls), ==, "TLS1.3");
	suite = ql_tls_get_cipher_suite_name(tls);
	g_assert_true(g_strcmp0(suite, "TLS_AES_256_GCM_SHA384") == 0 ||
		      g_strcmp0(suite, "TLS_CHACHA20_POLY1305_SHA256") == 0);
	ping(tls);
}

static void
test_tls_strict_vs_tls12(void)
{
	g_autoptr(QlTestServer) srv = ql_test_server_new(
		&pki.good, NULL, "NORMAL:-VERS-ALL:+VERS-TLS1.2", NULL, NULL, NULL);
	g_autoptr(QlTrust) trust = make_trust();
	g_autoptr(QlTls) tls = ql_tls_new(trust, QL_TLS_POLICY_STRICT);
	g_autoptr(GError) error = NULL;

	g_assert_false(tls_connect(tls, srv, TEST_HOST, NULL, &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_TLS);
	g_test_message("%s", error->message);
	g_assert_cmpint(ql_trust_failure_from_error(error), ==, QL_TRUST_FAILURE_WEAK_PROTOCOL);
	g_assert_nonnull(strstr(error->message, "offers only TLS 1.2"));
	g_assert_nonnull(strstr(error->message, "needs TLS 1.3"));
	g_assert_cmpuint(ql_tls_get_handshake_count(tls), ==, 0);
	ql_test_server_wait_done(srv, 1);
	g_assert_cmpint(g_atomic_int_get(&srv->handshakes_ok), ==, 0);
	g_assert_cmpint(g_atomic_int_get(&srv->app_bytes), ==, 0);
}

static void
test_tls_strict_vs_aes128(void)
{
	g_autoptr(QlTestServer) srv = ql_test_server_new(
		&pki.good, NULL, "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM", NULL,
		NULL, NULL);
	g_autoptr(QlTrust) trust = make_trust();
	g_autoptr(QlTls) tls = ql_tls_new(trust, QL_TLS_POLICY_STRICT);
	g_autoptr(GError) error = NULL;

	g_assert_false(tls_connect(tls, srv, TEST_HOST, NULL, &error));
	g_test_message("%s", error->message);
	g_assert_cmpint(ql_trust_failure_from_error(error), ==, QL_TRUST_FAILURE_WEAK_PROTOCOL);
	g_assert_nonnull(strstr(error->message, "cipher suites the strict policy allows"));
	ql_test_server_wait_done(srv, 1);
	g_assert_cmpint(g_atomic_int_get(&srv->app_bytes), ==, 0);
}

typedef struct {
	const QlPkiCert *leaf;
	const gchar *host;
	QlTrustFailure want;
	const gchar *phrase;
	gboolean pin_other;
	gboolean other_ci_known;
} FaultCase;

static void
test_tls_fault(gconstpointer data)
{
	const FaultCase *fc = data;
	g_autoptr(QlTestServer) srv = ql_test_server_new(fc->leaf, NULL, NULL, NULL, NULL, NULL);
	g_autoptr(QlTrust) trust = make_trust();
	g_autoptr(QlTls) tls = NULL;
	g_autoptr(GError) error = NULL;

	if (fc->pin_other) {
		g_autoptr(GBytes) pin = ql_pki_spki_sha256(pki.ci_other.crt, NULL);
		g_autofree gchar *hex = ql_pki_hex(pin);
		g_assert_true(ql_trust_add_pin(trust, fc->host, hex, &error));
		g_assert_no_error(error);
	}
	if (fc->other_ci_known) {
		g_assert_true(ql_trust_add_anchor(trust, pki.ci_other.crt, FALSE, NULL));
		ql_trust_set_tls_anchors(trust, QL_TRUST_TLS_ANCHORS_EUICC_LISTED);
	}
	tls = ql_tls_new(trust, QL_TLS_POLICY_STANDARD);
	g_assert_false(tls_connect(tls, srv, fc->host, NULL, &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_TLS);
	g_test_message("%s", error->message);
	/* the trust failure itself, not a generic handshake error */
	g_assert_cmpint(ql_trust_failure_from_error(error), ==, fc->want);
	g_assert_nonnull(strstr(error->message, fc->phrase));
	g_assert_null(strstr(error->message, "handshake"));
	g_assert_false(ql_tls_is_connected(tls));
	g_assert_cmpuint(ql_tls_get_handshake_count(tls), ==, 0);
	ql_test_server_wait_done(srv, 1);
	g_assert_cmpint(g_atomic_int_get(&srv->accepted), ==, 1);
	g_assert_cmpint(g_atomic_int_get(&srv->handshakes_ok), ==, 0);
	g_assert_cmpint(g_atomic_int_get(&srv->handshakes_failed), ==, 1);
	g_assert_cmpint(g_atomic_int_get(&srv->app_bytes), ==, 0);
}

static const FaultCase fault_cases[] = {
	{&pki.expired, TEST_HOST, QL_TRUST_FAILURE_EXPIRED, "expired on"},
	{&pki.future, TEST_HOST, QL_TRUST_FAILURE_NOT_YET_VALID, "not valid before"},
	{&pki.wrong_host, TEST_HOST, QL_TRUST_FAILURE_WRONG_HOST, "not valid for host smdp.test"},
	{&pki.good, "127.0.0.2", QL_TRUST_FAILURE_WRONG_HOST, "not valid for host 127.0.0.2"},
	{&pki.unknown_ci, TEST_HOST, QL_TRUST_FAILURE_UNKNOWN_CI, "does not chain to a trusted CI"},
	{&pki.unknown_ci, TEST_HOST, QL_TRUST_FAILURE_UNKNOWN_CI, "which this eUICC does not list",
	 FALSE, TRUE},
	{&pki.revoked, TEST_HOST, QL_TRUST_FAILURE_REVOKED, "is revoked"},
	{&pki.wrong_role, TEST_HOST, QL_TRUST_FAILURE_WRONG_ROLE, "is a DP auth certificate"},
	{&pki.good, TEST_HOST, QL_TRUST_FAILURE_PIN_MISMATCH, "matches its configured pins", TRUE},
};

static const gchar *const fault_names[] = {
	"expired",     "not-yet-valid", "wrong-host", "wrong-ip",     "unknown-ci",
	"unlisted-ci", "revoked",	"wrong-role", "pin-mismatch",
};
G_STATIC_ASSERT(G_N_ELEMENTS(fault_cases) == G_N_ELEMENTS(fault_names));

static void
test_tls_fault_messages_distinct(void)
{
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autoptr(QlTrust) trust = make_trust();
	const QlPkiCert *leaves[] = {&pki.expired,    &pki.future,  &pki.wrong_host,
				     &pki.unknown_ci, &pki.revoked, &pki.wrong_role};

	for (guint i = 0; i < G_N_ELEMENTS(leaves); i++) {
		g_autoptr(GError) error = NULL;
		gnutls_x509_crt_t chain[1] = {leaves[i]->crt};
		g_autofree gchar *head = NULL;
		g_assert_false(ql_trust_verify_chain(trust, chain, 1, TEST_HOST,
						     QL_CERT_ROLE_DP_TLS, &error));
		/* "certificate refused [reason]" differs per reason */
		head = g_strndup(error->message, strchr(error->message, ']') - error->message);
		g_assert_false(g_hash_table_contains(seen, head));
		g_hash_table_add(seen, g_steal_pointer(&head));
	}
	g_assert_cmpuint(g_hash_table_size(seen), ==, G_N_ELEMENTS(leaves));
}

static void
test_tls_mtls(void)
{
	g_autoptr(QlTestServer) srv =
		ql_test_server_new(&pki.good, NULL, NULL, &pki.mtls_ca, NULL, NULL);
	g_autoptr(QlTrust) trust = make_trust();
	g_autoptr(QlTls) tls = ql_tls_new(trust, QL_TLS_POLICY_STRICT);
	g_autoptr(GSocketConnection) conn = NULL;
	g_autoptr(GError) error = NULL;

	g_assert_false(ql_tls_set_client_certificate(tls, "/nonexistent.pem", NULL, &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	g_assert_true(ql_tls_set_client_certificate(tls, pki.client_crt_path, pki.client_key_path,
						    &error));
	g_assert_no_error(error);
	g_assert_true(tls_connect(tls, srv, TEST_HOST, &conn, &error));
	g_assert_no_error(error);
	ping(tls);
	ql_tls_close(tls);
	ql_test_server_wait_done(srv, 1);
	g_assert_cmpint(g_atomic_int_get(&srv->client_cert_seen), ==, 1);
	g_assert_cmpint(g_atomic_int_get(&srv->app_bytes), ==, 4);
}

static void
test_tls_mtls_missing(void)
{
	g_autoptr(QlTestServer) srv =
		ql_test_server_new(&pki.good, NULL, NULL, &pki.mtls_ca, NULL, NULL);
	g_autoptr(QlTrust) trust = make_trust();
	g_autoptr(QlTls) tls = ql_tls_new(trust, QL_TLS_POLICY_STANDARD);
	g_autoptr(GSocketConnection) conn = NULL;
	g_autoptr(GError) error = NULL;

	/* TLS 1.3: the client may finish its side before the server's refusal arrives, so the
	 * refusal can surface on the first read instead */
	if (tls_connect(tls, srv, TEST_HOST, &conn, &error)) {
		guint8 buf[16];
		gssize n = -1;
		if (ql_tls_write_all(tls, (const guint8 *)"ping", 4, &error))
			n = ql_tls_read(tls, buf, sizeof(buf), &error);
		g_assert_cmpint(n, ==, -1);
	}
	g_assert_error(error, QL_ERROR, QL_ERROR_TLS);
	g_test_message("%s", error->message);
	g_assert_cmpint(ql_trust_failure_from_error(error), ==,
			QL_TRUST_FAILURE_CLIENT_CERT_REQUIRED);
	g_assert_nonnull(strstr(error->message, "client certificate (mTLS), none is configured"));
	ql_test_server_wait_done(srv, 1);
	g_assert_cmpint(g_atomic_int_get(&srv->handshakes_ok), ==, 0);
	g_assert_cmpint(g_atomic_int_get(&srv->app_bytes), ==, 0);
}

static void
test_tls_handshake_timeout(void)
{
	/* a listener that never accepts: the kernel completes TCP, nobody speaks TLS */
	guint16 port = 0;
	g_autoptr(GSocket) listener = ql_test_listen_loopback(&port);
	g_autoptr(QlTrust) trust = make_trust();
	g_autoptr(QlTls) tls = ql_tls_new(trust, QL_TLS_POLICY_STANDARD);
	g_autoptr(GSocketConnection) conn = ql_test_connect_loopback(port);
	g_autoptr(GError) error = NULL;

	ql_tls_set_timeout(tls, 1000);
	g_assert_false(
		ql_tls_connect(tls, g_socket_connection_get_socket(conn), TEST_HOST, &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_TIMEOUT);
	g_test_message("%s", error->message);
}

static void
test_tls_not_connected(void)
{
	g_autoptr(QlTrust) trust = make_trust();
	g_autoptr(QlTls) tls = ql_tls_new(trust, QL_TLS_POLICY_STANDARD);
	g_autoptr(GError) error = NULL;
	guint8 buf[4];

	g_assert_false(ql_tls_write_all(tls, buf, 1, &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_TLS);
	g_clear_error(&error);
	g_assert_cmpint(ql_tls_read(tls, buf, 1, &error), ==, -1);
	g_assert_error(error, QL_ERROR, QL_ERROR_TLS);
	g_assert_null(ql_tls_get_version_name(tls));
	g_assert_nonnull(strstr(ql_tls_policy_priority(QL_TLS_POLICY_STRICT), "+VERS-TLS1.3"));
	g_assert_null(strstr(ql_tls_policy_priority(QL_TLS_POLICY_STRICT), "AES-128"));
	g_assert_null(strstr(ql_tls_policy_priority(QL_TLS_POLICY_STANDARD), "CBC"));
}

int
main(int argc, char **argv)
{
	gint rc;

	signal(SIGPIPE, SIG_IGN);
	g_test_init(&argc, &argv, NULL);
	test_pki_setup();
	g_test_add_func("/ql/tls/trust/chain", test_trust_chain);
	g_test_add_func("/ql/tls/trust/ci-list", test_trust_ci_list);
	g_test_add_func("/ql/tls/trust/role", test_trust_role);
	g_test_add_func("/ql/tls/trust/pins", test_trust_pins);
	g_test_add_func("/ql/tls/trust/production-ci", test_trust_production_ci);
	g_test_add_func("/ql/tls/trust/crl-policy", test_trust_crl_policy);
	g_test_add_func("/ql/tls/trust/reason", test_trust_reason);
	g_test_add_func("/ql/tls/standard", test_tls_standard);
	g_test_add_func("/ql/tls/standard-tls12", test_tls_standard_tls12);
	g_test_add_func("/ql/tls/standard-refuses-cbc", test_tls_standard_refuses_cbc);
	g_test_add_func("/ql/tls/strict", test_tls_strict);
	g_test_add_func("/ql/tls/strict-vs-tls12", test_tls_strict_vs_tls12);
	g_test_add_func("/ql/tls/strict-vs-aes128", test_tls_strict_vs_aes128);
	for (guint i = 0; i < G_N_ELEMENTS(fault_cases); i++) {
		g_autofree gchar *path = g_strdup_printf("/ql/tls/fault/%s", fault_names[i]);
		g_test_add_data_func(path, &fault_cases[i], test_tls_fault);
	}
	g_test_add_func("/ql/tls/fault-messages-distinct", test_tls_fault_messages_distinct);
	g_test_add_func("/ql/tls/mtls", test_tls_mtls);
	g_test_add_func("/ql/tls/mtls-missing", test_tls_mtls_missing);
	g_test_add_func("/ql/tls/handshake-timeout", test_tls_handshake_timeout);
	g_test_add_func("/ql/tls/not-connected", test_tls_not_connected);
	rc = g_test_run();
	test_pki_teardown();
	return rc;
}
