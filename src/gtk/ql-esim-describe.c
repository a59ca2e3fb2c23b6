/*
 * Errors and reports in words. See ql-esim-describe.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>

#include "ql-esim-describe.h"

#define QL_ESIM_ERROR_PREFIX "org.quantra.Esim1.Error."

typedef struct {
	const gchar *name; /* after the prefix, or a full name */
	const gchar *next; /* what to do next */
} QlEsimHint;

static const gchar *
ql_esim_hint(const gchar *name)
{
	const QlEsimHint hints[] = {
		{"NotAuthorized",
		 N_("You are not allowed to do this. Ask an administrator to allow "
		    "it, or to do it for you.")},
		{"Busy", N_("The eSIM chip is busy with other requests. Wait until they end, then "
			    "try again.")},
		{"Cancelled", N_("Nothing was changed.")},
		{"Smdp", N_("Check the activation code, or ask the carrier for a new one.")},
		{"Tls", N_("The carrier’s server could not be trusted, so nothing was sent to it. "
			   "Ask the carrier or your administrator; do not retry on another network "
			   "to get around it.")},
		{"Http", N_("Check that this computer is online, then try again.")},
		{"Io", N_("Check that the modem or card reader is connected, then try again.")},
		{"Timeout", N_("The chip or the server did not answer in time. Try again in a "
			       "moment.")},
		{"Euicc", N_("The eSIM chip refused the request as it stands. A profile must be "
			     "disabled before it is deleted.")},
		{"Card", N_("The eSIM chip reported an error. Try again; if it persists, restart "
			    "the modem.")},
		{"InvalidArgument", N_("Check what you typed, then try again.")},
		{"Malformed", N_("The chip or the server sent data that makes no sense. Try again "
				 "later; if it persists, report it.")},
		{"NotFound",
		 N_("It may have been removed meanwhile: the window shows what is there "
		    "now.")},
		{"Plugin", N_("The service cannot reach this kind of device. Check its "
			      "installation.")},
		{"org.freedesktop.DBus.Error.ServiceUnknown",
		 N_("The eSIM service is not running. Start it with “systemctl start "
		    "quantra-esimd”.")},
		{"org.freedesktop.DBus.Error.NameHasNoOwner",
		 N_("The eSIM service is not running. Start it with “systemctl start "
		    "quantra-esimd”.")},
		{"org.freedesktop.DBus.Error.NoReply",
		 N_("The eSIM service did not answer. Check that it is running, then try again.")},
		{"org.freedesktop.DBus.Error.AccessDenied",
		 N_("The system refused to pass the request to the eSIM service. Check its "
		    "installation.")},
	};
	const gchar *short_name = name;

	if (name == NULL)
		return NULL;
	if (g_str_has_prefix(name, QL_ESIM_ERROR_PREFIX))
		short_name = name + strlen(QL_ESIM_ERROR_PREFIX);
	for (guint i = 0; i < G_N_ELEMENTS(hints); i++) {
		if (g_strcmp0(hints[i].name, short_name) == 0)
			return _(hints[i].next);
	}
	return NULL;
}

gchar *
ql_esim_describe_error(const GError *error)
{
	g_autofree gchar *name = NULL;
	g_autoptr(GError) copy = g_error_copy(error);
	g_autoptr(GString) text = g_string_new(NULL);
	const gchar *hint;

	if (g_dbus_error_is_remote_error(copy)) {
		name = g_dbus_error_get_remote_error(copy);
		g_dbus_error_strip_remote_error(copy);
	} else if (g_error_matches(copy, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)) {
		name = g_strdup("org.freedesktop.DBus.Error.NoReply");
	} else if (g_error_matches(copy, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
		name = g_strdup(QL_ESIM_ERROR_PREFIX "Cancelled");
	}
	hint = ql_esim_hint(name);
	g_string_append(text, copy->message);
	/* a message ends with a full stop before what follows */
	if (text->len > 0 && !g_ascii_ispunct(text->str[text->len - 1]))
		g_string_append_c(text, '.');
	if (hint != NULL) {
		g_string_append(text, "\n\n");
		g_string_append(text, hint);
	}
	return g_string_free(g_steal_pointer(&text), FALSE);
}

GError *
ql_esim_report_error(GVariant *report)
{
	const gchar *name = NULL, *message = NULL;

	if (report == NULL || !g_variant_lookup(report, "error_name", "&s", &name))
		name = QL_ESIM_ERROR_PREFIX "Failed";
	if (report == NULL || !g_variant_lookup(report, "error_message", "&s", &message))
		message = _("The operation failed");
	return g_dbus_error_new_for_dbus_error(name, message);
}

void
ql_esim_report_line_free(QlEsimReportLine *line)
{
	if (line == NULL)
		return;
	g_free(line->title);
	g_free(line->text);
	g_free(line);
}

static void
ql_esim_add_line(GPtrArray *lines, const gchar *title, gchar *text)
{
	QlEsimReportLine *line = g_new0(QlEsimReportLine, 1);
	line->title = g_strdup(title);
	line->text = text;
	g_ptr_array_add(lines, line);
}

/* A string member of a dictionary nested by @keys (NULL-terminated) */
static const gchar *
ql_esim_lookup_str(GVariant *dict, ...)
{
	g_autoptr(GVariant) cur = dict != NULL ? g_variant_ref(dict) : NULL;
	const gchar *key;
	va_list ap;

	va_start(ap, dict);
	while (cur != NULL && (key = va_arg(ap, const gchar *)) != NULL) {
		GVariant *next = NULL;
		if (g_variant_is_of_type(cur, G_VARIANT_TYPE_VARDICT))
			next = g_variant_lookup_value(cur, key, NULL);
		g_variant_unref(cur);
		cur = next;
	}
	va_end(ap);
	if (cur == NULL || !g_variant_is_of_type(cur, G_VARIANT_TYPE_STRING))
		return NULL;
	/* the string lives in @dict, which holds every value nested in it */
	return g_variant_get_string(cur, NULL);
}

static GVariant *
ql_esim_lookup_dict(GVariant *dict, const gchar *key)
{
	if (dict == NULL)
		return NULL;
	return g_variant_lookup_value(dict, key, G_VARIANT_TYPE_VARDICT);
}

static gboolean
ql_esim_lookup_bool(GVariant *dict, const gchar *key)
{
	gboolean value = FALSE;
	if (dict != NULL)
		g_variant_lookup(dict, key, "b", &value);
	return value;
}

static gchar *
ql_esim_describe_anchor(GVariant *chain)
{
	const gchar *subject = ql_esim_lookup_str(chain, "anchor", "subject", NULL);
	const gchar *source = ql_esim_lookup_str(chain, "anchor", "source", NULL);
	const gchar *why;

	if (g_strcmp0(source, "gsma-ci") == 0)
		why = _("a GSMA certificate issuer the eSIM chip trusts");
	else if (g_strcmp0(source, "admin") == 0)
		why = _("an issuer your administrator added");
	else if (g_strcmp0(source, "system") == 0)
		why = _("an issuer of the system’s certificate store");
	else
		why = _("an issuer");
	/* TRANSLATORS: "verified up to “CN=Test CI”, a GSMA certificate issuer ..." */
	return g_strdup_printf(_("verified up to “%s”, %s"), subject != NULL ? subject : "?", why);
}

static gchar *
ql_esim_describe_crl(GVariant *chain)
{
	g_autoptr(GVariant) crl = ql_esim_lookup_dict(chain, "crl");
	g_autoptr(GVariant) consulted = NULL;
	g_autoptr(GVariant) missing = NULL;
	gboolean required = g_strcmp0(ql_esim_lookup_str(crl, "policy", NULL), "required") == 0;
	gsize n_consulted, n_missing;

	if (crl == NULL)
		return g_strdup(_("Not reported"));
	consulted = g_variant_lookup_value(crl, "consulted", NULL);
	missing = g_variant_lookup_value(crl, "missing", NULL);
	n_consulted = consulted != NULL && g_variant_is_container(consulted)
			      ? g_variant_n_children(consulted)
			      : 0;
	n_missing = missing != NULL && g_variant_is_container(missing)
			    ? g_variant_n_children(missing)
			    : 0;
	if (n_consulted > 0 && n_missing == 0)
		return g_strdup_printf(
			g_dngettext(GETTEXT_PACKAGE, "%u revocation list checked: nothing revoked",
				    "%u revocation lists checked: nothing revoked", n_consulted),
			(guint)n_consulted);
	if (n_consulted > 0)
		return g_strdup_printf(_("%u revocation lists checked, nothing revoked; %u issuers "
					 "had none"),
				       (guint)n_consulted, (guint)n_missing);
	if (required)
		return g_strdup(_("Checked as required"));
	return g_strdup(_("No revocation list available for these issuers (not required by "
			  "the configuration)"));
}

GPtrArray *
ql_esim_describe_report(GVariant *report)
{
	GPtrArray *lines = g_ptr_array_new_with_free_func((GDestroyNotify)ql_esim_report_line_free);
	g_autoptr(GVariant) chains = ql_esim_lookup_dict(report, "chains");
	g_autoptr(GVariant) tls = ql_esim_lookup_dict(chains, "tls");
	g_autoptr(GVariant) dpauth = ql_esim_lookup_dict(chains, "dpauth");
	g_autoptr(GVariant) client = ql_esim_lookup_dict(report, "client_certificate");
	const gchar *version = ql_esim_lookup_str(report, "tls_version", NULL);
	const gchar *suite = ql_esim_lookup_str(report, "cipher_suite", NULL);
	const gchar *policy = ql_esim_lookup_str(report, "tls_policy", NULL);
	const gchar *host = ql_esim_lookup_str(report, "smdp_address", NULL);
	const gchar *pin = ql_esim_lookup_str(tls, "pin", "result", NULL);
	const gchar *pin_host = ql_esim_lookup_str(tls, "pin", "host", NULL);
	const gchar *subject = ql_esim_lookup_str(client, "subject", NULL);
	const gchar *notification_error = ql_esim_lookup_str(report, "notification_error", NULL);

	/* the protocol */
	ql_esim_add_line(lines, _("Connection"),
			 g_strdup_printf("%s, %s — %s", version != NULL ? version : "TLS",
					 suite != NULL ? suite : "?",
					 g_strcmp0(policy, "strict") == 0
						 ? _("secure mode: TLS 1.3 with AES-256-GCM or "
						     "ChaCha20-Poly1305 only")
						 : _("standard policy: TLS 1.2 or later, "
						     "forward secrecy and authenticated "
						     "encryption only")));
	/* who vouched for the server and for what it signed */
	if (tls != NULL) {
		g_autofree gchar *anchor = ql_esim_describe_anchor(tls);
		ql_esim_add_line(lines, _("Server Certificate"),
				 g_strdup_printf(_("%s: %s"), host != NULL ? host : "?", anchor));
	}
	if (dpauth != NULL) {
		g_autofree gchar *anchor = ql_esim_describe_anchor(dpauth);
		ql_esim_add_line(lines, _("Carrier’s Signature"),
				 g_strdup_printf(_("The profile’s signer was %s"), anchor));
	}
	if (g_strcmp0(pin, "matched") == 0)
		ql_esim_add_line(
			lines, _("Key Pin"),
			g_strdup_printf(_("The server’s key matched the pin configured for "
					  "%s"),
					pin_host));
	else
		ql_esim_add_line(lines, _("Key Pin"),
				 g_strdup_printf(_("No pin is configured for %s"),
						 pin_host != NULL ? pin_host : host));
	ql_esim_add_line(lines, _("Revocation"), ql_esim_describe_crl(tls));
	if (ql_esim_lookup_bool(client, "sent"))
		ql_esim_add_line(lines, _("Client Certificate"),
				 g_strdup_printf(_("Sent when the server asked for it (%s)"),
						 subject != NULL ? subject : "?"));
	else if (ql_esim_lookup_bool(client, "requested"))
		ql_esim_add_line(lines, _("Client Certificate"),
				 g_strdup(_("The server asked for one; none is configured")));
	else if (ql_esim_lookup_bool(client, "configured"))
		ql_esim_add_line(lines, _("Client Certificate"),
				 g_strdup(_("Configured, but the server did not ask for it")));
	else
		ql_esim_add_line(lines, _("Client Certificate"),
				 g_strdup(_("Not asked for by the server")));
	if (ql_esim_lookup_bool(report, "notification_delivered"))
		ql_esim_add_line(lines, _("Installation Notice"),
				 g_strdup(_("Delivered to the carrier")));
	else
		ql_esim_add_line(lines, _("Installation Notice"),
				 g_strdup_printf(_("Kept on the chip and delivered later (%s)"),
						 notification_error != NULL ? notification_error
									    : _("not sent yet")));
	return lines;
}
