/*
 * The AT answer parser against hostile modems: a table of inputs, each fed whole and byte by
 * byte, with what the parser must make of it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-at-parser.h"

typedef struct {
	const gchar *name;
	const gchar *input;
	gsize len; /* 0: strlen(input) */
	const gchar *prefix;
	gboolean bare;
	gboolean final;	   /* a final result code is in the input */
	gint code;	   /* -1: ql_at_parser_check() succeeds; else the QL_ERROR code */
	const gchar *info; /* the answer line when it succeeds, or a substring of the error */
} ParseCase;

static const ParseCase parse_cases[] = {
	{"plain", "\r\n+CGLA: 4,\"9000\"\r\n\r\nOK\r\n", 0, "+CGLA:", FALSE, TRUE, -1,
	 "+CGLA: 4,\"9000\""},
	{"echo", "AT+CGLA=1,8,\"80E29100\"\r\r\n+CGLA: 4,\"9000\"\r\n\r\nOK\r\n", 0,
	 "+CGLA:", FALSE, TRUE, -1, "+CGLA: 4,\"9000\""},
	{"urcs around",
	 "\r\nRING\r\n\r\n+CREG: 1\r\n\r\n+CGLA: 4,\"9000\"\r\n+CMTI: \"SM\",1\r\nOK\r\n", 0,
	 "+CGLA:", FALSE, TRUE, -1, "+CGLA: 4,\"9000\""},
	{"bare LF", "\n+CGLA: 4,\"6A88\"\nOK\n", 0, "+CGLA:", FALSE, TRUE, -1, "+CGLA: 4,\"6A88\""},
	{"trailing blanks", "+CGLA: 4,\"9000\" \t\r\nOK  \r\n", 0, "+CGLA:", FALSE, TRUE, -1,
	 "+CGLA: 4,\"9000\""},
	{"binary noise line", "\x01\xff\x1b[2J\x80garbage\r\n+CGLA: 4,\"9000\"\r\nOK\r\n", 0,
	 "+CGLA:", FALSE, TRUE, -1, "+CGLA: 4,\"9000\""},
	{"NUL bytes", "\0\0\0\r\n+CGLA: 4,\"9000\"\r\n\0OK\r\nOK\r\n",
	 sizeof("\0\0\0\r\n+CGLA: 4,\"9000\"\r\n\0OK\r\nOK\r\n") - 1, "+CGLA:", FALSE, TRUE, -1,
	 "+CGLA: 4,\"9000\""},
	{"noise glued to our line", "\xfe+CGLA: 4,\"9000\"\r\nOK\r\n", 0, "+CGLA:", FALSE, TRUE,
	 QL_ERROR_MALFORMED, "gave no +CGLA: answer"},
	{"noise glued to OK is not OK", "+CGLA: 4,\"9000\"\r\n\x7fOK\r\n", 0, "+CGLA:", FALSE,
	 FALSE, QL_ERROR_MALFORMED, "no final result code"},
	{"ERROR", "\r\nERROR\r\n", 0, "+CGLA:", FALSE, TRUE, QL_ERROR_IO, "answered ERROR"},
	{"CME numeric", "\r\n+CME ERROR: 3\r\n", 0, "+CGLA:", FALSE, TRUE, QL_ERROR_IO,
	 "+CME ERROR: 3 (operation not allowed)"},
	{"CME text", "\r\n+CME ERROR: SIM busy\r\n", 0, "+CGLA:", FALSE, TRUE, QL_ERROR_IO,
	 "+CME ERROR: SIM busy"},
	{"CME unknown number", "\r\n+CME ERROR: 9999\r\n", 0, "+CGLA:", FALSE, TRUE, QL_ERROR_IO,
	 "+CME ERROR: 9999"},
	{"NO CARRIER", "\r\nNO CARRIER\r\n", 0, "+CGLA:", FALSE, TRUE, QL_ERROR_IO,
	 "answered NO CARRIER"},
	{"OK without answer", "\r\nOK\r\n", 0, "+CGLA:", FALSE, TRUE, QL_ERROR_MALFORMED,
	 "gave no +CGLA: answer"},
	{"two answers", "+CGLA: 4,\"9000\"\r\n+CGLA: 4,\"9000\"\r\nOK\r\n", 0, "+CGLA:", FALSE,
	 TRUE, QL_ERROR_MALFORMED, "more than one"},
	{"many answers",
	 "+CGLA: 4,\"9000\"\r\n+CGLA: 4,\"9000\"\r\n+CGLA: 4,\"9000\"\r\n"
	 "+CGLA: 4,\"9000\"\r\n+CGLA: 4,\"9000\"\r\n+CGLA: 4,\"9000\"\r\n"
	 "+CGLA: 4,\"9000\"\r\n+CGLA: 4,\"9000\"\r\n+CGLA: 4,\"9000\"\r\nOK\r\n",
	 0, "+CGLA:", FALSE, TRUE, QL_ERROR_MALFORMED, "more than one"},
	{"no final", "\r\n+CGLA: 4,\"9000\"\r\n", 0, "+CGLA:", FALSE, FALSE, QL_ERROR_MALFORMED,
	 "no final result code"},
	{"unterminated OK", "\r\n+CGLA: 4,\"9000\"\r\nOK", 0, "+CGLA:", FALSE, FALSE,
	 QL_ERROR_MALFORMED, "no final result code"},
	{"bare session id", "\r\n2\r\n\r\nOK\r\n", 0, "+CCHO:", TRUE, TRUE, -1, "2"},
	{"prefixed session id", "\r\n+CCHO: 3\r\n\r\nOK\r\n", 0, "+CCHO:", TRUE, TRUE, -1,
	 "+CCHO: 3"},
	{"no answer expected", "ATE0\r\r\nOK\r\n", 0, "", FALSE, TRUE, -1, NULL},
	{"lowercase echo", "ate0\r\r\nOK\r\n", 0, "", FALSE, TRUE, -1, NULL},
	{"final then more", "\r\nOK\r\n+CGLA: 4,\"9000\"\r\n", 0, "", FALSE, TRUE, -1, NULL},
};

static void
check_parse(const ParseCase *c, gboolean bytewise)
{
	QlAtParser p;
	gsize len = c->len != 0 ? c->len : strlen(c->input);
	gboolean final = FALSE;
	g_autoptr(GError) error = NULL;

	ql_at_parser_init(&p, c->prefix, c->bare);
	if (bytewise) {
		for (gsize i = 0; i < len && !final; i++)
			final = ql_at_parser_feed(&p, (const guint8 *)c->input + i, 1, NULL);
	} else {
		gsize consumed = 0;
		final = ql_at_parser_feed(&p, (const guint8 *)c->input, len, &consumed);
		g_assert_cmpuint(consumed, <=, len);
	}
	g_assert_cmpint(final, ==, c->final);
	if (c->code < 0) {
		g_assert_true(ql_at_parser_check(&p, "AT+TEST", &error));
		g_assert_no_error(error);
		if (c->info != NULL)
			g_assert_cmpstr(p.info[0], ==, c->info);
	} else {
		g_assert_false(ql_at_parser_check(&p, "AT+TEST", &error));
		g_assert_error(error, QL_ERROR, c->code);
		if (strstr(error->message, c->info) == NULL)
			g_error("%s: '%s' lacks '%s'", c->name, error->message, c->info);
	}
	ql_at_parser_clear(&p);
}

static void
test_parse(gconstpointer data)
{
	check_parse(data, FALSE);
	check_parse(data, TRUE);
}

/* A line far beyond the buffer is dropped whole, and the answer after it still counts. */
static void
test_overlong(void)
{
	QlAtParser p;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *junk = g_strnfill(100000, 'Z');
	g_autofree gchar *ours = g_strdup_printf("+CGLA: 4,\"90%s\"\r\nOK\r\n", junk);
	const gchar *tail = "\r\n+CGLA: 4,\"9000\"\r\nOK\r\n";

	ql_at_parser_init(&p, "+CGLA:", FALSE);
	g_assert_false(ql_at_parser_feed(&p, (const guint8 *)"\r\n+QIND: ", 9, NULL));
	g_assert_false(ql_at_parser_feed(&p, (const guint8 *)junk, strlen(junk), NULL));
	g_assert_true(ql_at_parser_feed(&p, (const guint8 *)tail, strlen(tail), NULL));
	g_assert_true(ql_at_parser_check(&p, "AT+CGLA", &error));
	g_assert_cmpuint(p.n_overlong, ==, 1);
	ql_at_parser_clear(&p);

	/* but when our own answer is the overlong one, it is an error, not a silent miss */
	ql_at_parser_init(&p, "+CGLA:", FALSE);
	g_assert_true(ql_at_parser_feed(&p, (const guint8 *)ours, strlen(ours), NULL));
	g_assert_false(ql_at_parser_check(&p, "AT+CGLA", &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_MALFORMED);
	g_assert_nonnull(strstr(error->message, "longer than"));
	ql_at_parser_clear(&p);
}

typedef struct {
	const gchar *line;
	const gchar *hex; /* expected response, or NULL for an error */
	const gchar *why; /* substring of the error */
} CglaCase;

static const CglaCase cgla_cases[] = {
	{"+CGLA: 4,\"9000\"", "9000", NULL},
	{"+CGLA:4,9000", "9000", NULL},
	{"+CGLA: 8,\"BF2E9000\"", "BF2E9000", NULL},
	{"+CGLA: 8,\"bf2e9000\"", "BF2E9000", NULL},
	{"+CGLA: 5,\"90000\"", NULL, "odd number"},
	{"+CGLA: 3,\"900\"", NULL, "odd number"},
	{"+CGLA: 6,\"9000\"", NULL, "announced 6"},
	{"+CGLA: 2,\"9000\"", NULL, "announced 2"},
	{"+CGLA: 4,\"90G0\"", NULL, "non-hex"},
	{"+CGLA: 4,\"9000", NULL, "unterminated"},
	{"+CGLA: 1,\"", NULL, "unterminated"},
	{"+CGLA: 2,\"90\"", NULL, "too short"},
	{"+CGLA: 0,\"\"", NULL, "too short"},
	{"+CGLA: ,\"9000\"", NULL, "without a length"},
	{"+CGLA: \"9000\"", NULL, "without a length"},
	{"+CGLA: -4,\"9000\"", NULL, "bad length"},
	{"+CGLA: 4x,\"9000\"", NULL, "bad length"},
	{"+CGLA: 99999999999999999999,\"9000\"", NULL, "without a length"},
	{"+CGLA: 999999,\"9000\"", NULL, "bad length"},
	{"+CCHO: 1", NULL, "expected a +CGLA"},
	{"", NULL, "expected a +CGLA"},
};

static void
test_cgla(void)
{
	for (guint i = 0; i < G_N_ELEMENTS(cgla_cases); i++) {
		const CglaCase *c = &cgla_cases[i];
		g_autoptr(GError) error = NULL;
		g_autoptr(GBytes) r = ql_at_parse_cgla(c->line, &error);
		if (c->hex != NULL) {
			g_autofree gchar *hex = NULL;
			GString *s = g_string_new(NULL);
			gsize len = 0;
			const guint8 *p;
			g_assert_no_error(error);
			p = g_bytes_get_data(r, &len);
			for (gsize j = 0; j < len; j++)
				g_string_append_printf(s, "%02X", p[j]);
			hex = g_string_free(s, FALSE);
			g_assert_cmpstr(hex, ==, c->hex);
		} else {
			g_assert_null(r);
			g_assert_error(error, QL_ERROR, QL_ERROR_MALFORMED);
			if (strstr(error->message, c->why) == NULL)
				g_error("'%s': '%s' lacks '%s'", c->line, error->message, c->why);
		}
	}
}

static void
test_ccho(void)
{
	const struct {
		const gchar *line;
		guint32 session; /* 0: an error */
	} cases[] = {
		{"+CCHO: 1", 1},
		{"+CCHO:2", 2},
		{"3", 3},
		{"+CCHO: 257", 257},
		{"+CCHO: 4294967295", G_MAXUINT32},
		{"+CCHO: 4294967296", 0},
		{"+CCHO: 0", 0},
		{"+CCHO: ", 0},
		{"+CCHO: 1a", 0},
		{"-1", 0},
		{"+CCHO: \"1\"", 0},
		{"", 0},
	};
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		guint32 s = 0;
		gboolean ok = ql_at_parse_ccho(cases[i].line, &s, &error);
		if (cases[i].session != 0) {
			g_assert_no_error(error);
			g_assert_true(ok);
			g_assert_cmpuint(s, ==, cases[i].session);
		} else {
			g_assert_false(ok);
			g_assert_error(error, QL_ERROR, QL_ERROR_MALFORMED);
		}
	}
}

/* Every byte value, every split point: nothing crashes, nothing reads past the input. */
static void
test_all_bytes(void)
{
	guint8 buf[600];
	for (guint i = 0; i < sizeof(buf); i++)
		buf[i] = (guint8)(i * 7 + (i >> 3));
	for (gsize split = 0; split < sizeof(buf); split += 13) {
		QlAtParser p;
		ql_at_parser_init(&p, "+CGLA:", TRUE);
		ql_at_parser_feed(&p, buf, split, NULL);
		ql_at_parser_feed(&p, buf + split, sizeof(buf) - split, NULL);
		for (guint j = 0; j < p.n_info; j++) {
			g_autoptr(GBytes) r = ql_at_parse_cgla(p.info[j], NULL);
			guint32 s;
			ql_at_parse_ccho(p.info[j], &s, NULL);
		}
		ql_at_parser_check(&p, "AT+CGLA", NULL);
		ql_at_parser_clear(&p);
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	for (guint i = 0; i < G_N_ELEMENTS(parse_cases); i++) {
		g_autofree gchar *path = g_strdup_printf("/ql/at/parse/%s", parse_cases[i].name);
		g_test_add_data_func(path, &parse_cases[i], test_parse);
	}
	g_test_add_func("/ql/at/parse/overlong", test_overlong);
	g_test_add_func("/ql/at/parse/all-bytes", test_all_bytes);
	g_test_add_func("/ql/at/cgla", test_cgla);
	g_test_add_func("/ql/at/ccho", test_ccho);
	return g_test_run();
}
