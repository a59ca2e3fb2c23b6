/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <string.h>

#include "ql-ids.h"

static void
test_ids_luhn_digit(void)
{
	const struct {
		const gchar *digits;
		gchar check;
	} cases[] = {
		{"7992739871", '3'},	      /* ISO/IEC 7812-1's worked example */
		{"8901410321111851072", '0'}, /* a 20-digit ICCID */
		{"894450000000000077", '4'},
		{"8988000000000000001", '7'},
		{"0", '0'},
		{"", '\0'},
		{"89014103211118510A2", '\0'},
		{"8901 410", '\0'},
		{NULL, '\0'},
	};
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++)
		g_assert_cmpint(ql_luhn_digit(cases[i].digits), ==, cases[i].check);
}

static void
test_ids_luhn_valid(void)
{
	const gchar *good[] = {"79927398713", "89014103211118510720", "8944500000000000774"};
	const gchar *bad[] = {"79927398710",
			      "89014103211118510721",
			      "8944500000000000747",
			      "0",
			      "",
			      "8901410321111851072X",
			      NULL};
	for (gsize i = 0; i < G_N_ELEMENTS(good); i++)
		g_assert_true(ql_luhn_is_valid(good[i]));
	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++)
		g_assert_false(ql_luhn_is_valid(bad[i]));
	/* every digit the generator makes validates, and only that one */
	for (guint n = 0; n < 200; n++) {
		g_autofree gchar *body = g_strdup_printf("8988%015u", n * 7919);
		gchar check = ql_luhn_digit(body);
		for (gchar c = '0'; c <= '9'; c++) {
			g_autofree gchar *iccid = g_strdup_printf("%s%c", body, c);
			g_assert_cmpint(ql_luhn_is_valid(iccid), ==, c == check);
		}
	}
}

static void
test_ids_eid_check_digits(void)
{
	/* the EID of SGP.22's examples */
	g_assert_cmpint(ql_eid_check_digits("890490321234512345123456789012"), ==, 35);
	/* the whole number is a multiple of 97 before the check digits: they are 98 */
	g_assert_cmpint(ql_eid_check_digits("000000000000000000000000000000"), ==, 98);
	g_assert_cmpint(ql_eid_check_digits("89049032123451234512345678901"), ==, -1);
	g_assert_cmpint(ql_eid_check_digits("8904903212345123451234567890123"), ==, -1);
	g_assert_cmpint(ql_eid_check_digits("89049032123451234512345678901X"), ==, -1);
	g_assert_cmpint(ql_eid_check_digits(NULL), ==, -1);
}

static void
test_ids_eid_valid(void)
{
	const gchar *bad[] = {
		"89049032123451234512345678901234", /* wrong check digits */
		"88049032123451234512345678901235", /* not "89" */
		"8904903212345123451234567890123",  /* 31 digits */
		"890490321234512345123456789012350", "8904903212345123451234567890123A", "", NULL,
	};
	g_assert_true(ql_eid_is_valid("89049032123451234512345678901235"));
	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++)
		g_assert_false(ql_eid_is_valid(bad[i]));
	/* made EIDs validate, with any body */
	for (guint n = 0; n < 200; n++) {
		g_autofree gchar *body = g_strdup_printf("89999001001%019u", n * 104729u);
		gint check = ql_eid_check_digits(body);
		g_autofree gchar *eid = g_strdup_printf("%s%02d", body, check);
		g_autofree gchar *off = g_strdup_printf("%s%02d", body, (check + 1) % 100);
		g_assert_cmpint(check, >=, 1);
		g_assert_cmpint(check, <=, 98);
		g_assert_cmpuint(strlen(eid), ==, QL_EID_LEN);
		g_assert_true(ql_eid_is_valid(eid));
		g_assert_false(ql_eid_is_valid(off));
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/ql/ids/luhn-digit", test_ids_luhn_digit);
	g_test_add_func("/ql/ids/luhn-valid", test_ids_luhn_valid);
	g_test_add_func("/ql/ids/eid-check-digits", test_ids_eid_check_digits);
	g_test_add_func("/ql/ids/eid-valid", test_ids_eid_valid);
	return g_test_run();
}
