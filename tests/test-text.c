/*
 * Tests for the safe-text helper: what a hostile profile name or server message turns into on a
 * terminal (escaped) and in JSON (valid UTF-8), and the length caps.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include "ql-text.h"

static void
test_text_escape_table(void)
{
	const struct {
		const gchar *in;
		gssize len;
		const gchar *out;
	} cases[] = {
		{"Test Profile", -1, "Test Profile"},
		{"Telefónica \xe2\x9c\x93", -1, "Telefónica \xe2\x9c\x93"}, /* UTF-8 stays */
		{"a\nb\rc\td", -1, "a\\nb\\rc\\td"},
		{"\x1b[2J\x1b]0;owned\x07", -1, "\\e[2J\\e]0;owned\\x07"},
		{"del\x7f", -1, "del\\x7F"},
		{"bad \xff\xfe utf8 \xc3", -1, "bad \\xFF\\xFE utf8 \\xC3"},
		{"nul\0inside", 10, "nul\\x00inside"},
		{"c1 \xc2\x9b"
		 "31m",
		 -1, "c1 \\u{009B}31m"}, /* U+009B, CSI */
		{"rtl \xe2\x80\xae"
		 "gpj.exe",
		 -1, "rtl \\u{202E}gpj.exe"}, /* U+202E */
		{"line\xe2\x80\xa8sep", -1, "line\\u{2028}sep"},
		{"backslash \\ stays", -1, "backslash \\ stays"},
		{"", -1, ""},
	};
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *out = ql_text_escape(cases[i].in, cases[i].len, 100);
		g_assert_cmpstr(out, ==, cases[i].out);
		/* whatever came in, nothing a terminal acts on goes out */
		for (const guchar *c = (const guchar *)out; *c != '\0'; c++)
			g_assert_true(*c >= 0x20 && *c != 0x7f);
		g_assert_true(g_utf8_validate(out, -1, NULL));
	}
	g_assert_null(ql_text_escape(NULL, -1, 10));
}

static void
test_text_escape_cap(void)
{
	g_autofree gchar *long_name = g_strnfill(10000, 'x');
	g_autofree gchar *out = ql_text_escape(long_name, -1, QL_TEXT_MAX_FIELD);
	g_autofree gchar *esc = NULL;
	g_autofree gchar *utf8 = NULL;

	g_assert_cmpuint(strlen(out), ==, QL_TEXT_MAX_FIELD + 3);
	g_assert_true(g_str_has_suffix(out, "xxx..."));
	/* an escape is never cut in half, and escapes count for their length */
	esc = ql_text_escape("ab\x1b\x1b\x1b", -1, 5);
	g_assert_cmpstr(esc, ==, "ab\\e...");
	/* a multi-byte character is never cut in half */
	utf8 = ql_text_escape("\xc3\xa9\xc3\xa9\xc3\xa9", -1, 2);
	g_assert_cmpstr(utf8, ==, "\xc3\xa9\xc3\xa9...");
}

static void
test_text_valid(void)
{
	g_autofree gchar *same = ql_text_valid("a\x1b[2Jb\n", -1, 100);
	g_autofree gchar *fixed = ql_text_valid("x\xff\xc3y", -1, 100);
	g_autofree gchar *nul = ql_text_valid("a\0b", 3, 100);
	g_autofree gchar *long_text = g_strnfill(5000, 'z');
	g_autofree gchar *cut = ql_text_valid(long_text, -1, QL_TEXT_MAX_MESSAGE);
	g_autofree gchar *cut_utf8 = ql_text_valid("\xc3\xa9\xc3\xa9\xc3\xa9", -1, 1);

	/* JSON escapes controls itself: they stay, only the encoding is repaired */
	g_assert_cmpstr(same, ==, "a\x1b[2Jb\n");
	g_assert_cmpstr(fixed, ==, "x\xef\xbf\xbd\xef\xbf\xbdy");
	g_assert_cmpstr(nul, ==,
			"a\xef\xbf\xbd"
			"b");
	g_assert_cmpuint(strlen(cut), ==, QL_TEXT_MAX_MESSAGE + 3);
	g_assert_cmpstr(cut_utf8, ==, "\xc3\xa9...");
	g_assert_null(ql_text_valid(NULL, -1, 10));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/ql/text/escape/table", test_text_escape_table);
	g_test_add_func("/ql/text/escape/cap", test_text_escape_cap);
	g_test_add_func("/ql/text/valid", test_text_valid);
	return g_test_run();
}
