/*
 * ql-nm without NetworkManager: the MCC/MNC forms and the provider database lookups.
 * (The connections themselves are tested through the window, against the NetworkManager mock.)
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gstdio.h>

#include "quantra-l/ql-error.h"
#include "ql-nm.h"

static const struct {
	const gchar *text;
	const gchar *mcc; /* NULL: refused */
	const gchar *mnc;
} mcc_mnc_cases[] = {
	{"62F210", "262", "01"},  /* PLMN bytes, 2-digit MNC */
	{"62f210", "262", "01"},  /* either case */
	{"00F110", "001", "01"},  /* the test network of the virtual eUICC */
	{"130014", "310", "410"}, /* 3-digit MNC: all digits, still the PLMN bytes */
	{"26201", "262", "01"},	   {"262-01", "262", "01"}, {"262 01", "262", "01"},
	{"310-410", "310", "410"}, {"", NULL, NULL},	    {"62F2", NULL, NULL},
	{"6AF210", NULL, NULL}, /* a hex digit in the MCC */
	{"62F2A0", NULL, NULL}, /* and in the MNC */
	{"2620", NULL, NULL},	   {"262-0x", NULL, NULL},  {"2620123", NULL, NULL},
};

static void
test_mcc_mnc(void)
{
	for (guint i = 0; i < G_N_ELEMENTS(mcc_mnc_cases); i++) {
		g_autofree gchar *mcc = NULL, *mnc = NULL;
		g_autoptr(GError) error = NULL;
		gboolean ok = ql_nm_parse_mcc_mnc(mcc_mnc_cases[i].text, &mcc, &mnc, &error);

		g_test_message("%s", mcc_mnc_cases[i].text);
		if (mcc_mnc_cases[i].mcc == NULL) {
			g_assert_false(ok);
			g_assert_nonnull(error);
			g_assert_true(error->domain == QL_ERROR);
			continue;
		}
		g_assert_no_error(error);
		g_assert_true(ok);
		g_assert_cmpstr(mcc, ==, mcc_mnc_cases[i].mcc);
		g_assert_cmpstr(mnc, ==, mcc_mnc_cases[i].mnc);
	}
	g_assert_false(ql_nm_parse_mcc_mnc(NULL, &(gchar *){NULL}, &(gchar *){NULL}, NULL));
}

static gchar *
fixture(void)
{
	return g_test_build_filename(G_TEST_DIST, "providers.xml", NULL);
}

static const gchar *
apn_at(GPtrArray *apns, guint i)
{
	return ((QlNmApn *)g_ptr_array_index(apns, i))->apn;
}

static void
test_lookup_fixture(void)
{
	g_autofree gchar *db = fixture();
	g_autoptr(GPtrArray) apns = NULL;
	g_autoptr(GPtrArray) hinted = NULL;
	g_autoptr(GPtrArray) three = NULL;
	g_autoptr(GPtrArray) none = NULL;
	g_autoptr(GError) error = NULL;
	QlNmApn *web;

	/* internet APNs and those that say nothing of their use, in the database's order; the
	 * MMS-only one left out */
	apns = ql_nm_lookup_apns(db, "999", "01", NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(apns->len, ==, 3);
	g_assert_cmpstr(apn_at(apns, 0), ==, "web.first");
	g_assert_cmpstr(apn_at(apns, 1), ==, "plain.first");
	g_assert_cmpstr(apn_at(apns, 2), ==, "web.second");
	web = g_ptr_array_index(apns, 0);
	g_assert_cmpstr(web->provider, ==, "First Carrier");
	g_assert_cmpstr(web->username, ==, "user1");
	g_assert_cmpstr(web->password, ==, "pass1");
	g_assert_null(((QlNmApn *)g_ptr_array_index(apns, 1))->username);
	g_assert_cmpstr(((QlNmApn *)g_ptr_array_index(apns, 2))->provider, ==, "Second Carrier");

	/* the provider the profile names comes first */
	hinted = ql_nm_lookup_apns(db, "999", "01", "second carrier", &error);
	g_assert_no_error(error);
	g_assert_cmpuint(hinted->len, ==, 3);
	g_assert_cmpstr(apn_at(hinted, 0), ==, "web.second");
	g_assert_cmpstr(apn_at(hinted, 1), ==, "web.first");

	three = ql_nm_lookup_apns(db, "310", "410", NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(three->len, ==, 1);
	g_assert_cmpstr(apn_at(three, 0), ==, "broadband");

	/* unknown operators: nothing, and no error */
	none = ql_nm_lookup_apns(db, "999", "03", NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(none->len, ==, 0);
}

static void
test_lookup_real(void)
{
	const gchar *db = ql_nm_default_database();
	g_autoptr(GPtrArray) apns = NULL;
	g_autoptr(GPtrArray) test_network = NULL;
	g_autoptr(GError) error = NULL;

	if (!g_file_test(db, G_FILE_TEST_EXISTS)) {
		g_test_skip("mobile-broadband-provider-info is not installed");
		return;
	}
	/* Telekom Deutschland is in every version of the database */
	apns = ql_nm_lookup_apns(db, "262", "01", NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(apns->len, >, 0);
	for (guint i = 0; i < apns->len; i++)
		g_assert_cmpstr(apn_at(apns, i), !=, "");
	/* the test network is not */
	test_network = ql_nm_lookup_apns(db, "001", "01", NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(test_network->len, ==, 0);
}

static void
test_lookup_errors(void)
{
	g_autofree gchar *dir = g_dir_make_tmp("ql-nm-XXXXXX", NULL);
	g_autofree gchar *bad = g_build_filename(dir, "bad.xml", NULL);
	g_autofree gchar *missing = g_build_filename(dir, "missing.xml", NULL);
	g_autoptr(GError) error = NULL;
	GPtrArray *apns;

	apns = ql_nm_lookup_apns(missing, "262", "01", NULL, &error);
	g_assert_null(apns);
	g_assert_error(error, QL_ERROR, QL_ERROR_NOT_FOUND);
	g_clear_error(&error);

	g_assert_true(g_file_set_contents(bad, "<serviceproviders><provider>", -1, NULL));
	apns = ql_nm_lookup_apns(bad, "262", "01", NULL, &error);
	g_assert_null(apns);
	g_assert_error(error, QL_ERROR, QL_ERROR_MALFORMED);
	g_assert_nonnull(strstr(error->message, "not valid"));
	g_unlink(bad);
	g_rmdir(dir);
}

static void
test_setup_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
	*(GAsyncResult **)user_data = g_object_ref(res);
}

static void
test_setup_refuses(void)
{
	g_autoptr(GMainContext) ctx = g_main_context_new();
	const struct {
		QlNmSetup setup;
		const gchar *message;
	} cases[] = {
		{{.iccid = "89885715870000000018", .apn = "  "}, "APN"},
		{{.iccid = "89885715870000000018", .apn = NULL}, "APN"},
		{{.iccid = "", .apn = "internet"}, "ICCID"},
	};

	g_main_context_push_thread_default(ctx);
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GAsyncResult) res = NULL;
		g_autoptr(QlNmOutcome) outcome = NULL;
		g_autoptr(GError) error = NULL;

		/* refused before NetworkManager is asked anything */
		ql_nm_setup_connection_async(&cases[i].setup, NULL, test_setup_done, &res);
		while (res == NULL)
			g_main_context_iteration(ctx, TRUE);
		outcome = ql_nm_setup_connection_finish(res, &error);
		g_assert_null(outcome);
		g_assert_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT);
		g_assert_nonnull(strstr(error->message, cases[i].message));
	}
	g_main_context_pop_thread_default(ctx);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/ql/nm/mcc-mnc", test_mcc_mnc);
	g_test_add_func("/ql/nm/lookup/fixture", test_lookup_fixture);
	g_test_add_func("/ql/nm/lookup/real", test_lookup_real);
	g_test_add_func("/ql/nm/lookup/errors", test_lookup_errors);
	g_test_add_func("/ql/nm/setup/refuses", test_setup_refuses);
	return g_test_run();
}
