/*
 * Check digits of the numbers that name eUICCs and profiles: the ICCID's Luhn digit (ITU-T E.118,
 * ISO/IEC 7812-1) and the EID's two ISO/IEC 7064 MOD 97-10 digits (SGP.29 2). One copy for the
 * core, the virtual eUICC and the test SM-DP+.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define QL_EID_LEN 32

/* The Luhn check digit ('0'..'9') that completes @digits (the number without its check digit);
 * '\0' when @digits is empty or holds anything but decimal digits. */
gchar ql_luhn_digit(const gchar *digits);

/* TRUE when @number (two or more decimal digits, its check digit last) passes the Luhn check. */
gboolean ql_luhn_is_valid(const gchar *number);

/* The two check digits (1..98) that, appended to @body (the first 30 digits of an EID), make the
 * 32-digit number 1 mod 97; -1 when @body is not 30 decimal digits. */
gint ql_eid_check_digits(const gchar *body);

/* TRUE for 32 decimal digits starting with "89" whose value is 1 mod 97 (SGP.29). */
gboolean ql_eid_is_valid(const gchar *eid);

G_END_DECLS
