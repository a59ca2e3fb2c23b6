/*
 * AT answer parser. See ql-at-parser.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-at-parser.h"

/* the longest +CGLA answer we take: an extended APDU's 65536 bytes and SW, in hex */
#define QL_AT_MAX_RESPONSE_HEX (2 * (65536 + 2))

void
ql_at_parser_init(QlAtParser *p, const gchar *prefix, gboolean accept_bare_number)
{
	memset(p, 0, sizeof(*p));
	g_strlcpy(p->prefix, prefix != NULL ? prefix : "", sizeof(p->prefix));
	p->accept_bare_number = accept_bare_number;
}

void
ql_at_parser_clear(QlAtParser *p)
{
	for (guint i = 0; i < p->n_info; i++)
		g_free(p->info[i]);
	g_free(p->final_text);
	memset(p, 0, sizeof(*p));
}

static gboolean
ql_at_all_digits(const gchar *s)
{
	if (*s == '\0')
		return FALSE;
	for (; *s != '\0'; s++) {
		if (!g_ascii_isdigit(*s))
			return FALSE;
	}
	return TRUE;
}

static gboolean
ql_at_is_echo(const gchar *line)
{
	return g_ascii_strncasecmp(line, "AT", 2) == 0;
}

/* Sorts one complete line; TRUE when it was the final result code. */
static gboolean
ql_at_parser_line(QlAtParser *p)
{
	gchar *line = p->line;
	gboolean ours;

	line[p->len] = '\0';
	/* trailing blanks are not part of the answer */
	while (p->len > 0 && (line[p->len - 1] == ' ' || line[p->len - 1] == '\t'))
		line[--p->len] = '\0';
	ours = p->prefix[0] != '\0' && g_str_has_prefix(line, p->prefix);

	if (p->overlong) {
		p->n_overlong++;
		if (ours)
			p->overlong_ours = TRUE;
		return FALSE;
	}
	if (p->len == 0)
		return FALSE;
	if (p->binary) {
		p->n_noise++;
		return FALSE;
	}
	if (ql_at_is_echo(line)) {
		p->n_echo++;
		return FALSE;
	}
	if (g_strcmp0(line, "OK") == 0) {
		p->final = QL_AT_FINAL_OK;
		return TRUE;
	}
	if (g_strcmp0(line, "ERROR") == 0) {
		p->final = QL_AT_FINAL_ERROR;
		p->final_text = g_strdup(line);
		return TRUE;
	}
	if (g_str_has_prefix(line, "+CME ERROR:") || g_str_has_prefix(line, "+CMS ERROR:")) {
		p->final = QL_AT_FINAL_CME_ERROR;
		p->final_text = g_strdup(g_strstrip(line + strlen("+CME ERROR:")));
		return TRUE;
	}
	if (g_strcmp0(line, "NO CARRIER") == 0 || g_strcmp0(line, "BUSY") == 0 ||
	    g_strcmp0(line, "NO ANSWER") == 0 || g_strcmp0(line, "NO DIALTONE") == 0) {
		p->final = QL_AT_FINAL_OTHER;
		p->final_text = g_strdup(line);
		return TRUE;
	}
	if (ours || (p->accept_bare_number && ql_at_all_digits(line))) {
		if (p->n_info == QL_AT_MAX_INFO) {
			p->too_many_info = TRUE;
			return FALSE;
		}
		p->info[p->n_info++] = g_strdup(line);
		return FALSE;
	}
	/* RING, +CREG: ..., +QIND: ..., and anything else the modem says on its own */
	p->n_urc++;
	return FALSE;
}

gboolean
ql_at_parser_feed(QlAtParser *p, const guint8 *data, gsize len, gsize *consumed)
{
	gsize i;

	if (p->final != QL_AT_FINAL_NONE) {
		if (consumed != NULL)
			*consumed = 0;
		return TRUE;
	}
	for (i = 0; i < len; i++) {
		guint8 c = data[i];
		if (c == '\r' || c == '\n') {
			gboolean final = ql_at_parser_line(p);
			p->len = 0;
			p->overlong = FALSE;
			p->binary = FALSE;
			if (final) {
				if (consumed != NULL)
					*consumed = i + 1;
				return TRUE;
			}
			continue;
		}
		/* printable ASCII and tabs only; NUL, escapes and 8-bit bytes are line noise */
		if ((c < 0x20 && c != '\t') || c >= 0x7F)
			p->binary = TRUE;
		if (p->len < QL_AT_MAX_LINE)
			p->line[p->len++] = (gchar)c;
		else
			p->overlong = TRUE;
	}
	if (consumed != NULL)
		*consumed = len;
	return FALSE;
}

const gchar *
ql_at_cme_describe(guint code)
{
	switch (code) {
	case 0:
		return "phone failure";
	case 3:
		return "operation not allowed";
	case 4:
		return "operation not supported";
	case 5:
		return "PH-SIM PIN required";
	case 10:
		return "SIM not inserted";
	case 11:
		return "SIM PIN required";
	case 12:
		return "SIM PUK required";
	case 13:
		return "SIM failure";
	case 14:
		return "SIM busy";
	case 15:
		return "SIM wrong";
	case 20:
		return "memory full";
	case 21:
		return "invalid index";
	case 23:
		return "memory failure";
	case 24:
		return "text string too long";
	case 25:
		return "invalid characters in text string";
	case 30:
		return "no network service";
	case 50:
		return "incorrect parameters";
	case 100:
		return "unknown error";
	default:
		return NULL;
	}
}

gboolean
ql_at_parser_check(QlAtParser *p, const gchar *command, GError **error)
{
	switch (p->final) {
	case QL_AT_FINAL_OK:
		break;
	case QL_AT_FINAL_CME_ERROR: {
		guint64 code = 0;
		const gchar *words = NULL;
		if (g_ascii_string_to_unsigned(p->final_text, 10, 0, 65535, &code, NULL))
			words = ql_at_cme_describe((guint)code);
		g_set_error(error, QL_ERROR, QL_ERROR_IO,
			    "at: the modem refused %s: +CME ERROR: %s%s%s%s", command,
			    p->final_text, words != NULL ? " (" : "", words != NULL ? words : "",
			    words != NULL ? ")" : "");
		return FALSE;
	}
	case QL_AT_FINAL_ERROR:
		g_set_error(error, QL_ERROR, QL_ERROR_IO,
			    "at: the modem answered ERROR to %s (it may not support it, or the "
			    "SIM is not ready)",
			    command);
		return FALSE;
	case QL_AT_FINAL_OTHER:
		g_set_error(error, QL_ERROR, QL_ERROR_IO, "at: the modem answered %s to %s",
			    p->final_text, command);
		return FALSE;
	case QL_AT_FINAL_NONE:
	default:
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "at: the answer to %s has no final result code", command);
		return FALSE;
	}
	if (p->prefix[0] == '\0')
		return TRUE;
	if (p->overlong_ours) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "at: the modem's answer to %s is longer than %u characters", command,
			    (guint)QL_AT_MAX_LINE);
		return FALSE;
	}
	if (p->n_info != 1 || p->too_many_info) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "at: the modem said OK to %s but gave %s %s answer", command,
			    p->n_info == 0 ? "no" : "more than one", p->prefix);
		return FALSE;
	}
	return TRUE;
}

/* Skips "PREFIX" and the blanks after it. */
static const gchar *
ql_at_after_prefix(const gchar *line, const gchar *prefix)
{
	if (!g_str_has_prefix(line, prefix))
		return NULL;
	line += strlen(prefix);
	while (*line == ' ')
		line++;
	return line;
}

gboolean
ql_at_parse_ccho(const gchar *line, guint32 *session, GError **error)
{
	const gchar *v = ql_at_after_prefix(line, "+CCHO:");
	guint64 n = 0;
	if (v == NULL)
		v = line;
	if (!ql_at_all_digits(v) || strlen(v) > 10 ||
	    !g_ascii_string_to_unsigned(v, 10, 0, G_MAXUINT32, &n, NULL)) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "at: +CCHO gave no session id (a number) but '%.40s'", line);
		return FALSE;
	}
	/* 27.007: session ids are positive; 0 would be the basic channel */
	if (n == 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED, "at: +CCHO gave session id 0");
		return FALSE;
	}
	*session = (guint32)n;
	return TRUE;
}

GBytes *
ql_at_parse_cgla(const gchar *line, GError **error)
{
	const gchar *v = ql_at_after_prefix(line, "+CGLA:");
	const gchar *hex, *end;
	guint64 declared = 0;
	g_autofree gchar *num = NULL;
	g_autofree guint8 *buf = NULL;
	gsize hexlen;

	if (v == NULL) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "at: expected a +CGLA answer, got '%.40s'", line);
		return NULL;
	}
	end = strchr(v, ',');
	if (end == NULL || end == v || end - v > 6) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "at: +CGLA answer without a length before its data");
		return NULL;
	}
	num = g_strndup(v, end - v);
	g_strstrip(num);
	if (!ql_at_all_digits(num) ||
	    !g_ascii_string_to_unsigned(num, 10, 0, QL_AT_MAX_RESPONSE_HEX, &declared, NULL)) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "at: +CGLA answer with a bad length '%s'", num);
		return NULL;
	}
	hex = end + 1;
	while (*hex == ' ')
		hex++;
	hexlen = strlen(hex);
	if (hexlen > 0 && hex[0] == '"') {
		if (hexlen < 2 || hex[hexlen - 1] != '"') {
			g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "at: +CGLA answer with an unterminated quoted string");
			return NULL;
		}
		hex++;
		hexlen -= 2;
	}
	/* 27.007 8.43: <length> counts the characters of <response>, two per byte */
	if (hexlen != declared) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "at: +CGLA announced %" G_GUINT64_FORMAT
			    " characters of response but carried %" G_GSIZE_FORMAT,
			    declared, hexlen);
		return NULL;
	}
	if (hexlen % 2 != 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "at: +CGLA response has an odd number (%" G_GSIZE_FORMAT
			    ") of hex digits",
			    hexlen);
		return NULL;
	}
	if (hexlen < 4) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "at: +CGLA response is too short to hold a status word");
		return NULL;
	}
	buf = g_malloc(hexlen / 2);
	for (gsize i = 0; i < hexlen; i += 2) {
		gint hi = g_ascii_xdigit_value(hex[i]);
		gint lo = g_ascii_xdigit_value(hex[i + 1]);
		if (hi < 0 || lo < 0) {
			g_set_error(
				error, QL_ERROR, QL_ERROR_MALFORMED,
				"at: +CGLA response has a non-hex character at %" G_GSIZE_FORMAT,
				hi < 0 ? i : i + 1);
			return NULL;
		}
		buf[i / 2] = (guint8)((hi << 4) | lo);
	}
	return g_bytes_new_take(g_steal_pointer(&buf), hexlen / 2);
}
