/*
 * Check digits of ICCIDs (Luhn) and EIDs (ISO/IEC 7064 MOD 97-10).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include "ql-ids.h"

static gboolean
ql_ids_all_digits(const gchar *s)
{
	if (s == NULL || *s == '\0')
		return FALSE;
	for (const gchar *p = s; *p != '\0'; p++) {
		if (!g_ascii_isdigit(*p))
			return FALSE;
	}
	return TRUE;
}

/* Luhn sum of @digits, the rightmost digit doubled when @doubled_first */
static guint
ql_ids_luhn_sum(const gchar *digits, gboolean doubled_first)
{
	guint sum = 0;
	gsize n = strlen(digits);

	for (gsize i = 0; i < n; i++) {
		guint d = (guint)(digits[n - 1 - i] - '0');
		if (i % 2 == (doubled_first ? 0u : 1u)) {
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
	}
	return sum;
}

gchar
ql_luhn_digit(const gchar *digits)
{
	if (!ql_ids_all_digits(digits))
		return '\0';
	/* the check digit is not there yet: the rightmost digit here is the first doubled */
	return (gchar)('0' + (10 - ql_ids_luhn_sum(digits, TRUE) % 10) % 10);
}

gboolean
ql_luhn_is_valid(const gchar *number)
{
	return ql_ids_all_digits(number) && strlen(number) >= 2 &&
	       ql_ids_luhn_sum(number, FALSE) % 10 == 0;
}

/* The value of a decimal string mod 97, digit by digit (32 digits do not fit 64 bits) */
static guint
ql_ids_mod97(const gchar *digits)
{
	guint r = 0;
	for (const gchar *p = digits; *p != '\0'; p++)
		r = (r * 10 + (guint)(*p - '0')) % 97;
	return r;
}

gint
ql_eid_check_digits(const gchar *body)
{
	if (!ql_ids_all_digits(body) || strlen(body) != QL_EID_LEN - 2)
		return -1;
	/* body * 100 + check = 1 (mod 97) */
	return (gint)(98 - (ql_ids_mod97(body) * 100) % 97);
}

gboolean
ql_eid_is_valid(const gchar *eid)
{
	return ql_ids_all_digits(eid) && strlen(eid) == QL_EID_LEN && g_str_has_prefix(eid, "89") &&
	       ql_ids_mod97(eid) == 1;
}
