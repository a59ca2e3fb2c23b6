/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <gio/gio.h>

#include "quantra-l/ql-error.h"

static const GDBusErrorEntry ql_error_entries[] = {
	{QL_ERROR_FAILED, "org.quantra.Esim1.Error.Failed"},
	{QL_ERROR_INVALID_ARGUMENT, "org.quantra.Esim1.Error.InvalidArgument"},
	{QL_ERROR_NOT_FOUND, "org.quantra.Esim1.Error.NotFound"},
	{QL_ERROR_MALFORMED, "org.quantra.Esim1.Error.Malformed"},
	{QL_ERROR_CARD, "org.quantra.Esim1.Error.Card"},
	{QL_ERROR_EUICC, "org.quantra.Esim1.Error.Euicc"},
	{QL_ERROR_IO, "org.quantra.Esim1.Error.Io"},
	{QL_ERROR_PLUGIN, "org.quantra.Esim1.Error.Plugin"},
	{QL_ERROR_TLS, "org.quantra.Esim1.Error.Tls"},
	{QL_ERROR_HTTP, "org.quantra.Esim1.Error.Http"},
	{QL_ERROR_SMDP, "org.quantra.Esim1.Error.Smdp"},
	{QL_ERROR_CANCELLED, "org.quantra.Esim1.Error.Cancelled"},
	{QL_ERROR_TIMEOUT, "org.quantra.Esim1.Error.Timeout"},
	{QL_ERROR_BUSY, "org.quantra.Esim1.Error.Busy"},
	{QL_ERROR_AUTH, "org.quantra.Esim1.Error.NotAuthorized"},
};

G_STATIC_ASSERT(G_N_ELEMENTS(ql_error_entries) == QL_ERROR_LAST);

/* One copy of this in the process (the core library, which the plugins link): the D-Bus names
 * are registered with the quark. */
GQuark
ql_error_quark(void)
{
	static gsize quark = 0;
	g_dbus_error_register_error_domain("ql-error-quark", &quark, ql_error_entries,
					   G_N_ELEMENTS(ql_error_entries));
	return (GQuark)quark;
}

const gchar *
ql_error_dbus_name(QlError code)
{
	if ((guint)code >= QL_ERROR_LAST)
		code = QL_ERROR_FAILED;
	return ql_error_entries[code].dbus_error_name;
}
