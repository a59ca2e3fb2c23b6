/*
 * Text from outside (the SM-DP+, the SM-DS, the eUICC, a modem) made safe to show: one place
 * that decides how a profile name, a server's reason code or an error message built from them
 * reaches a terminal, a log or a JSON document.
 *
 * A terminal must never receive a control character it would act on (ESC starts a sequence that
 * can rewrite the screen or the window title, CR and LF forge lines, DEL and the C1 range are
 * controls too), nor invalid UTF-8, nor unbounded text.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A name, an address, a code: a table cell or a report line. SGP.22 names are 64 at most. */
#define QL_TEXT_MAX_FIELD 256
/* A message or a log line. */
#define QL_TEXT_MAX_MESSAGE 2048

/* For a terminal or a log: control characters written as escapes (\n \r \t \e, \xNN for the
 * other C0 controls and DEL, \u{NN} for C1 and for the invisible bidi and line-separator
 * characters), bytes that are not UTF-8 as \xNN; at most @max_chars characters of output, then
 * "..." where it was cut. @len -1: NUL-terminated. NULL for NULL. */
gchar *ql_text_escape(const gchar *text, gssize len, gsize max_chars);

/* For JSON, whose writer escapes control characters itself: valid UTF-8 (anything else and NUL
 * become U+FFFD) of at most @max_chars characters, then "..." where it was cut. NULL for NULL. */
gchar *ql_text_valid(const gchar *text, gssize len, gsize max_chars);

G_END_DECLS
