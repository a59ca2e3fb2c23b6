/*
 * Words for the user: an error from the service (what failed and what to do next), and the
 * security report of a download (protocol, verification, pins, CRLs, client certificate,
 * notification), from the fields of the Finished report.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* @error: from a call to the service (a D-Bus error) or from the window itself. Returns the
 * message followed by what the user can do next. */
gchar *ql_esim_describe_error(const GError *error);

/* The GError that a failed operation's report describes ("error_name", "error_message") */
GError *ql_esim_report_error(GVariant *report);

/* One line of the security report */
typedef struct {
	gchar *title;
	gchar *text;
} QlEsimReportLine;

void ql_esim_report_line_free(QlEsimReportLine *line);

/* The lines of a successful download's report, in the order they are shown */
GPtrArray *ql_esim_describe_report(GVariant *report);

G_END_DECLS
