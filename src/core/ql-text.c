/*
 * Safe text. See ql-text.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include "ql-text.h"

#define QL_TEXT_CUT "..."

/* Characters a terminal does not show but acts on, or that reorder or break the line:
 * the C1 controls (U+009B is CSI on some terminals), the bidi embeddings, overrides and
 * isolates (text that reads differently from what it is), the line and paragraph separators
 * and the byte order mark. */
static gboolean
ql_text_is_hidden(gunichar c)
{
	return (c >= 0x80 && c <= 0x9f) || c == 0x061c || c == 0x200e || c == 0x200f ||
	       (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || c == 0x2028 ||
	       c == 0x2029 || c == 0xfeff;
}

/* The escape for @c, or NULL when it is shown as it is */
static const gchar *
ql_text_escape_char(gunichar c, gchar *buf, gsize size)
{
	switch (c) {
	case '\n':
		return "\\n";
	case '\r':
		return "\\r";
	case '\t':
		return "\\t";
	case 0x1b:
		return "\\e";
	default:
		break;
	}
	if (c < 0x20 || c == 0x7f) {
		g_snprintf(buf, size, "\\x%02X", (guint)c);
		return buf;
	}
	if (ql_text_is_hidden(c)) {
		g_snprintf(buf, size, "\\u{%04X}", (guint)c);
		return buf;
	}
	return NULL;
}

gchar *
ql_text_escape(const gchar *text, gssize len, gsize max_chars)
{
	const gchar *p = text;
	const gchar *end;
	GString *out;
	gsize chars = 0;

	if (text == NULL)
		return NULL;
	end = text + (len < 0 ? strlen(text) : (gsize)len);
	out = g_string_sized_new(MIN((gsize)(end - text), max_chars) + sizeof(QL_TEXT_CUT));
	while (p < end) {
		gunichar c = g_utf8_get_char_validated(p, end - p);
		gchar buf[16];
		const gchar *esc;
		gsize step, width;

		if (c == (gunichar)-1 || c == (gunichar)-2) {
			/* not UTF-8 (or a NUL inside @len): the byte's value, visibly */
			g_snprintf(buf, sizeof(buf), "\\x%02X", (guint)(guchar)*p);
			esc = buf;
			step = 1;
		} else {
			esc = ql_text_escape_char(c, buf, sizeof(buf));
			step = (gsize)(g_utf8_next_char(p) - p);
		}
		width = esc != NULL ? strlen(esc) : 1;
		if (chars + width > max_chars) {
			g_string_append(out, QL_TEXT_CUT);
			break;
		}
		if (esc != NULL)
			g_string_append(out, esc);
		else
			g_string_append_len(out, p, (gssize)step);
		chars += width;
		p += step;
	}
	return g_string_free(out, FALSE);
}

gchar *
ql_text_valid(const gchar *text, gssize len, gsize max_chars)
{
	g_autofree gchar *valid = NULL;
	g_autofree gchar *cut = NULL;

	if (text == NULL)
		return NULL;
	valid = g_utf8_make_valid(text, len);
	if (g_utf8_strlen(valid, -1) <= (glong)max_chars)
		return g_steal_pointer(&valid);
	cut = g_utf8_substring(valid, 0, (glong)max_chars);
	return g_strconcat(cut, QL_TEXT_CUT, NULL);
}
