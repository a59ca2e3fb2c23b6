/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-activation.h"

typedef struct {
	const gchar *code;
	const gchar *address;
	const gchar *matching_id;
	const gchar *oid;
	gboolean cc;
} GoodCase;

static void
test_activation_good(void)
{
	const GoodCase cases[] = {
		{"LPA:1$smdp.example.com$ABC-123", "smdp.example.com", "ABC-123", NULL, FALSE},
		{"LPA:1$smdp.example.com$", "smdp.example.com", "", NULL, FALSE},
		{"lpa:1$127.0.0.1:8443$ANY", "127.0.0.1:8443", "ANY", NULL, FALSE},
		{"1$smdp.io$K2-1Z2Z$1.3.6.1.4.1.31746", "smdp.io", "K2-1Z2Z", "1.3.6.1.4.1.31746",
		 FALSE},
		{"LPA:1$smdp.io$X$1.2.3$1", "smdp.io", "X", "1.2.3", TRUE},
		{"LPA:1$smdp.io$X$$1", "smdp.io", "X", NULL, TRUE},
		{"LPA:1$[::1]:8443$X", "[::1]:8443", "X", NULL, FALSE},
	};
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(QlActivationCode) ac = ql_activation_code_parse(cases[i].code, &error);
		g_assert_no_error(error);
		g_assert_cmpstr(ac->smdp_address, ==, cases[i].address);
		g_assert_cmpstr(ac->matching_id, ==, cases[i].matching_id);
		g_assert_cmpstr(ac->smdp_oid, ==, cases[i].oid);
		g_assert_cmpint(ac->confirmation_code_required, ==, cases[i].cc);
	}
}

static void
test_activation_bad(void)
{
	const gchar *cases[] = {
		"",
		"LPA:1",
		"LPA:1$smdp.example.com",
		"LPA:2$smdp.example.com$SECRET1",
		"LPA:1$$SECRET1",
		"LPA:1$bad host$SECRET1",
		"LPA:1$smdp.example.com:99999$SECRET1",
		"LPA:1$smdp.example.com$SECRET1 WITH SPACE",
		"LPA:1$smdp.example.com$SECRET1$oid!",
		"LPA:1$smdp.example.com$SECRET1$1.2$2",
		"LPA:1$smdp.example.com$SECRET1$1.2$1$extra",
		"LPA:1$-x..y$SECRET1",
		"LPA:1$smdp.example.com.$SECRET1",
	};
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(QlActivationCode) ac = ql_activation_code_parse(cases[i], &error);
		g_test_message("case %s", cases[i]);
		g_assert_null(ac);
		g_assert_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT);
		/* the matching id is a secret: never in a message */
		g_assert_null(strstr(error->message, "SECRET1"));
	}
}

static void
test_activation_address(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *host = NULL;
	guint16 port = 0;

	g_assert_true(ql_activation_split_address("smdp.io", &host, &port, &error));
	g_assert_cmpstr(host, ==, "smdp.io");
	g_assert_cmpuint(port, ==, 443);
	g_clear_pointer(&host, g_free);
	g_assert_true(ql_activation_split_address("[::1]:8443", &host, &port, &error));
	g_assert_cmpstr(host, ==, "::1");
	g_assert_cmpuint(port, ==, 8443);
	g_clear_pointer(&host, g_free);
	g_assert_false(ql_activation_split_address("a:0", &host, &port, &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/ql/activation/good", test_activation_good);
	g_test_add_func("/ql/activation/bad", test_activation_bad);
	g_test_add_func("/ql/activation/address", test_activation_address);
	return g_test_run();
}
