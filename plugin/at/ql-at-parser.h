/*
 * Parsing what an AT modem sends back, with no I/O, so that unit tests and a fuzzer can drive it.
 *
 * A modem's answer to one command is a stream of lines (3GPP TS 27.007 / ITU-T V.250): the echo
 * of the command (when echo is on), information lines that answer it, unsolicited result codes
 * (URCs) that it slips in, and one final result code. Serial lines also carry noise. The parser
 * assembles lines in a bounded buffer, sorts them, and stops at the final result code.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* longer than any answer we expect: +CGLA of a 256-byte answer is ~530 characters */
#define QL_AT_MAX_LINE 1024
/* information lines kept per command; a modem that sends more is broken */
#define QL_AT_MAX_INFO 8

typedef enum {
	QL_AT_FINAL_NONE, /* no final result code yet */
	QL_AT_FINAL_OK,
	QL_AT_FINAL_ERROR,     /* plain ERROR */
	QL_AT_FINAL_CME_ERROR, /* +CME ERROR: <err> (or +CMS ERROR:) */
	QL_AT_FINAL_OTHER,     /* NO CARRIER, BUSY, ...: the command did not run */
} QlAtFinal;

typedef struct {
	/* what answers us: lines starting with this prefix (e.g. "+CGLA:") */
	gchar prefix[16];
	/* +CCHO: 27.007 gives the session id alone on its line; many modems prefix it */
	gboolean accept_bare_number;

	/* the line being assembled */
	gchar line[QL_AT_MAX_LINE + 1];
	gsize len;
	gboolean overlong; /* the line outgrew the buffer: it is dropped at its end */
	gboolean binary;   /* the line holds bytes no AT answer has */

	/* what was seen so far */
	gchar *info[QL_AT_MAX_INFO];
	guint n_info;
	guint n_echo, n_urc, n_noise, n_overlong;
	gboolean too_many_info;
	gboolean overlong_ours; /* an overlong line that started with our prefix */
	QlAtFinal final;
	gchar *final_text; /* the <err> of +CME ERROR, or the whole final line */
} QlAtParser;

void ql_at_parser_init(QlAtParser *p, const gchar *prefix, gboolean accept_bare_number);
void ql_at_parser_clear(QlAtParser *p);

/* Feeds received bytes. Returns TRUE once the final result code has been seen; @consumed (may be
 * NULL) tells how many bytes of @data it took (the rest came after the final result code). */
gboolean ql_at_parser_feed(QlAtParser *p, const guint8 *data, gsize len, gsize *consumed);

/* Turns the final result code and information lines into a GError, naming @command (e.g.
 * "AT+CGLA") in the message; TRUE when the modem said OK and gave exactly one answer line
 * (or none was expected: @prefix "" ). */
gboolean ql_at_parser_check(QlAtParser *p, const gchar *command, GError **error);

/* "+CCHO: <sessionid>" or "<sessionid>" -> the session id */
gboolean ql_at_parse_ccho(const gchar *line, guint32 *session, GError **error);
/* "+CGLA: <length>,"<hex>"" (quotes optional) -> the response APDU, at least SW1 SW2 */
GBytes *ql_at_parse_cgla(const gchar *line, GError **error);

/* 3GPP TS 27.007 9.2 error codes in words; NULL for codes we do not know */
const gchar *ql_at_cme_describe(guint code);

G_END_DECLS
