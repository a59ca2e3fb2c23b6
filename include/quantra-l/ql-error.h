/*
 * The Quantra-L error domain. Each code maps to a D-Bus error name
 * org.quantra.Esim1.Error.<Name> (see ql_error_dbus_name()).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define QL_ERROR (ql_error_quark())

typedef enum {
	QL_ERROR_FAILED,	   /* anything else */
	QL_ERROR_INVALID_ARGUMENT, /* bad input from the user or a config file */
	QL_ERROR_NOT_FOUND,	   /* no such profile, notification, plugin, device */
	QL_ERROR_MALFORMED,	   /* malformed data from the eUICC, the modem or the SM-DP+ */
	QL_ERROR_CARD,		   /* the card answered with an error status word */
	QL_ERROR_EUICC,		   /* an ES10 command returned a non-zero result code */
	QL_ERROR_IO,		   /* the channel to the modem / reader / state file failed */
	QL_ERROR_PLUGIN,	   /* a plugin could not be loaded or has the wrong ABI */
	QL_ERROR_TLS,		   /* TLS handshake or trust decision refused */
	QL_ERROR_HTTP,		   /* HTTP transport failure */
	QL_ERROR_SMDP,		   /* the SM-DP+ reported a failure (subject/reason code) */
	QL_ERROR_CANCELLED,	   /* the user cancelled */
	QL_ERROR_TIMEOUT,	   /* the card, modem or server did not answer in time */
	QL_ERROR_BUSY,		   /* another operation holds the eUICC */
	QL_ERROR_AUTH,		   /* not authorised */
	QL_ERROR_LAST,
} QlError;

GQuark ql_error_quark(void);
const gchar *ql_error_dbus_name(QlError code);

G_END_DECLS
