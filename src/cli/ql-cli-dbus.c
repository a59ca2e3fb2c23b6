/*
 * quantra-l's service backend: the same objects as the direct backend, from quantra-esimd over
 * D-Bus (data/org.quantra.Esim1.xml). Reading uses what the service shows (it reads the eUICC
 * again after each operation); a change is a method call, answered when it is done; a long
 * operation (download, discover, process notifications) is an Operation object whose Progress
 * drives the progress bar, which Ctrl-C cancels, and whose Finished report is the result. The
 * confirmation code is asked by the service from this process as its agent.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "quantra-l/ql-error.h"
#include "quantra-l/ql-hex.h"
#include "ql-cli.h"
#include "ql-crypto.h"
#include "ql-tlv.h"

#define QL_IFACE_MANAGER QL_CLI_SERVICE_NAME ".Manager"
#define QL_IFACE_EUICC QL_CLI_SERVICE_NAME ".Euicc"
#define QL_IFACE_PROFILE QL_CLI_SERVICE_NAME ".Profile"
#define QL_IFACE_OPERATION QL_CLI_SERVICE_NAME ".Operation"
#define QL_IFACE_AGENT QL_CLI_SERVICE_NAME ".Agent"
#define QL_CLI_AGENT_PATH "/org/quantra/l/Agent"
#define QL_CLI_NOT_RUNNING N_("quantra-esimd is not running; start it or use --direct DEVICE")

typedef struct {
	QlCliBackend parent;
	GDBusConnection *bus;
	GVariant *objects; /* a{oa{sa{sv}}}: GetManagedObjects when opened */
	gchar *euicc;	   /* the chosen Euicc's object path */
} QlCliDbus;

/* ---- the bus ---- */

GDBusConnection *
ql_cli_dbus_connect(QlCli *cli, GError **error)
{
	const gchar *address = cli->bus_address;
	g_autoptr(GError) local = NULL;
	GDBusConnection *bus;

	if (address == NULL)
		address = g_getenv("QUANTRA_L_BUS_ADDRESS");
	if (address != NULL && address[0] != '\0')
		bus = g_dbus_connection_new_for_address_sync(
			address,
			G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
				G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
			NULL, NULL, &local);
	else
		bus = g_bus_get_sync(G_BUS_TYPE_SYSTEM, NULL, &local);
	if (bus == NULL) {
		g_set_error(error, QL_ERROR, QL_ERROR_IO, "%s (%s %s)", _(QL_CLI_NOT_RUNNING),
			    _("no system bus:"), local->message);
		return NULL;
	}
	g_dbus_connection_set_exit_on_close(bus, FALSE);
	return bus;
}

/* Owned now, or startable by D-Bus activation */
gboolean
ql_cli_dbus_service_running(GDBusConnection *bus)
{
	g_autoptr(GVariant) owned = NULL;
	g_autoptr(GVariant) names = NULL;
	gboolean has = FALSE;

	owned = g_dbus_connection_call_sync(
		bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
		"NameHasOwner", g_variant_new("(s)", QL_CLI_SERVICE_NAME), G_VARIANT_TYPE("(b)"),
		G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
	if (owned != NULL)
		g_variant_get(owned, "(b)", &has);
	if (has)
		return TRUE;
	names = g_dbus_connection_call_sync(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
					    "org.freedesktop.DBus", "ListActivatableNames", NULL,
					    G_VARIANT_TYPE("(as)"), G_DBUS_CALL_FLAGS_NONE, -1,
					    NULL, NULL);
	if (names != NULL) {
		g_autofree const gchar **list = NULL;
		g_variant_get(names, "(^a&s)", &list);
		has = g_strv_contains(list, QL_CLI_SERVICE_NAME);
	}
	return has;
}

/* the last error the service answered was its NotAuthorized (polkit said no) */
static gboolean ql_cli_dbus_not_authorized;

gboolean
ql_cli_dbus_refused(const GError *error)
{
	return ql_cli_dbus_not_authorized && g_error_matches(error, QL_ERROR, QL_ERROR_AUTH);
}

/* A D-Bus error as the QL_ERROR it stands for (the names are registered by ql_error_quark) */
static gboolean
ql_cli_dbus_error(GError **error, GError *local)
{
	if (g_error_matches(local, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
	    g_error_matches(local, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER) ||
	    g_error_matches(local, G_DBUS_ERROR, G_DBUS_ERROR_SPAWN_SERVICE_NOT_FOUND) ||
	    g_error_matches(local, G_DBUS_ERROR, G_DBUS_ERROR_SPAWN_EXEC_FAILED) ||
	    g_error_matches(local, G_DBUS_ERROR, G_DBUS_ERROR_SPAWN_CHILD_EXITED)) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_IO, _(QL_CLI_NOT_RUNNING));
		g_error_free(local);
		return FALSE;
	}
	g_dbus_error_strip_remote_error(local);
	ql_cli_dbus_not_authorized = g_error_matches(local, QL_ERROR, QL_ERROR_AUTH);
	g_propagate_error(error, local);
	return FALSE;
}

static GVariant *
ql_cli_dbus_call(QlCliDbus *d, const gchar *path, const gchar *iface, const gchar *method,
		 GVariant *params, const gchar *reply_type, GError **error)
{
	GError *local = NULL;
	GVariant *r;

	/* a change may wait in the eUICC's queue and for a polkit password dialog: no timeout */
	r = g_dbus_connection_call_sync(d->bus, QL_CLI_SERVICE_NAME, path, iface, method, params,
					reply_type != NULL ? G_VARIANT_TYPE(reply_type) : NULL,
					G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION, G_MAXINT,
					NULL, &local);
	if (r == NULL)
		ql_cli_dbus_error(error, local);
	return r;
}

/* ---- the objects as the service shows them ---- */

static GVariant *
ql_cli_dbus_props(QlCliDbus *d, const gchar *path, const gchar *iface)
{
	g_autoptr(GVariant) ifaces = g_variant_lookup_value(d->objects, path, NULL);
	if (ifaces == NULL)
		return NULL;
	return g_variant_lookup_value(ifaces, iface, G_VARIANT_TYPE_VARDICT);
}

/* A string property ("" is none: D-Bus has no null) */
static gchar *
ql_cli_dbus_str(GVariant *props, const gchar *key)
{
	const gchar *s = NULL;
	if (props == NULL || !g_variant_lookup(props, key, "&s", &s) || s[0] == '\0')
		return NULL;
	return g_strdup(s);
}

static gint64
ql_cli_dbus_int(GVariant *props, const gchar *key)
{
	gint64 v = -1;
	if (props == NULL || !g_variant_lookup(props, key, "x", &v))
		return -1;
	return v;
}

static void
ql_cli_dbus_key_ids(GVariant *info, const gchar *key, GPtrArray *out)
{
	g_autoptr(GVariant) list = g_variant_lookup_value(info, key, G_VARIANT_TYPE("aa{sv}"));
	GVariantIter it;
	GVariant *one;

	if (list == NULL)
		return;
	g_variant_iter_init(&it, list);
	while ((one = g_variant_iter_next_value(&it)) != NULL) {
		g_autofree gchar *hex = ql_cli_dbus_str(one, "key_id");
		GBytes *id = hex != NULL ? ql_hex_decode(hex, NULL) : NULL;
		if (id != NULL)
			g_ptr_array_add(out, id);
		g_variant_unref(one);
	}
}

static QlCliChip *
ql_cli_dbus_chip_info(QlCliBackend *b, GError **error)
{
	QlCliDbus *d = (QlCliDbus *)b;
	g_autoptr(GVariant) props = ql_cli_dbus_props(d, d->euicc, QL_IFACE_EUICC);
	g_autoptr(GVariant) info =
		g_variant_lookup_value(props, "EuiccInfo", G_VARIANT_TYPE_VARDICT);
	QlCliChip *chip = ql_cli_chip_new();

	chip->eid = ql_cli_dbus_str(props, "Eid");
	chip->default_smdp = ql_cli_dbus_str(props, "DefaultSmdp");
	chip->svn = ql_cli_dbus_str(info, "svn");
	chip->profile_version = ql_cli_dbus_str(info, "profile_version");
	chip->firmware_version = ql_cli_dbus_str(info, "firmware_version");
	chip->installed_apps = ql_cli_dbus_int(info, "installed_apps");
	chip->free_nvm = ql_cli_dbus_int(info, "free_nvm");
	chip->free_ram = ql_cli_dbus_int(info, "free_ram");
	chip->category = ql_cli_dbus_int(info, "category");
	chip->pp_version = ql_cli_dbus_str(info, "pp_version");
	chip->sas_accreditation = ql_cli_dbus_str(info, "sas_accreditation");
	chip->root_smds = ql_cli_dbus_str(info, "root_smds");
	if (info != NULL) {
		ql_cli_dbus_key_ids(info, "ci_key_ids_verification", chip->ci_key_ids_verification);
		ql_cli_dbus_key_ids(info, "ci_key_ids_signing", chip->ci_key_ids_signing);
	}
	return chip;
}

static gboolean
ql_cli_dbus_get_default_smdp(QlCliBackend *b, gchar **address, GError **error)
{
	QlCliDbus *d = (QlCliDbus *)b;
	g_autoptr(GVariant) r = NULL;
	g_autoptr(GVariant) value = NULL;
	const gchar *s;

	/* read again: a SetDefaultSmdp may just have changed it */
	r = ql_cli_dbus_call(d, d->euicc, "org.freedesktop.DBus.Properties", "Get",
			     g_variant_new("(ss)", QL_IFACE_EUICC, "DefaultSmdp"), "(v)", error);
	if (r == NULL)
		return FALSE;
	g_variant_get(r, "(v)", &value);
	s = g_variant_is_of_type(value, G_VARIANT_TYPE_STRING) ? g_variant_get_string(value, NULL)
							       : "";
	*address = s[0] != '\0' ? g_strdup(s) : NULL;
	return TRUE;
}

static gboolean
ql_cli_dbus_void(QlCliDbus *d, const gchar *path, const gchar *iface, const gchar *method,
		 GVariant *params, GError **error)
{
	g_autoptr(GVariant) r = ql_cli_dbus_call(d, path, iface, method, params, NULL, error);
	return r != NULL;
}

static gboolean
ql_cli_dbus_set_default_smdp(QlCliBackend *b, const gchar *address, GError **error)
{
	QlCliDbus *d = (QlCliDbus *)b;
	return ql_cli_dbus_void(d, d->euicc, QL_IFACE_EUICC, "SetDefaultSmdp",
				g_variant_new("(s)", address), error);
}

static gboolean
ql_cli_dbus_reset(QlCliBackend *b, guint options, GError **error)
{
	QlCliDbus *d = (QlCliDbus *)b;
	GVariantBuilder opts;

	g_variant_builder_init(&opts, G_VARIANT_TYPE_VARDICT);
	if (options & QL_RESET_DELETE_OPERATIONAL)
		g_variant_builder_add(&opts, "{sv}", "operational", g_variant_new_boolean(TRUE));
	if (options & QL_RESET_DELETE_TEST)
		g_variant_builder_add(&opts, "{sv}", "test", g_variant_new_boolean(TRUE));
	if (options & QL_RESET_DEFAULT_SMDP)
		g_variant_builder_add(&opts, "{sv}", "default-smdp", g_variant_new_boolean(TRUE));
	return ql_cli_dbus_void(d, d->euicc, QL_IFACE_EUICC, "ResetMemory",
				g_variant_new("(a{sv})", &opts), error);
}

static gint
ql_cli_dbus_enum(const gchar *(*to_string)(gint), const gchar *s, gint first, gint last)
{
	for (gint i = first; i <= last; i++) {
		if (g_strcmp0(to_string(i), s) == 0)
			return i;
	}
	return -1;
}

static const gchar *
ql_cli_dbus_event_name(gint bit)
{
	return ql_notification_event_to_string((guint)bit);
}

static QlProfileInfo *
ql_cli_dbus_profile_info(GVariant *p)
{
	QlProfileInfo *info = g_new0(QlProfileInfo, 1);
	g_autofree gchar *state = ql_cli_dbus_str(p, "State");
	g_autofree gchar *klass = ql_cli_dbus_str(p, "Class");
	g_autofree gchar *icon_type = ql_cli_dbus_str(p, "IconType");
	g_autoptr(GVariant) icon = g_variant_lookup_value(p, "Icon", G_VARIANT_TYPE_BYTESTRING);

	info->iccid = ql_cli_dbus_str(p, "Iccid");
	info->isdp_aid = ql_cli_dbus_str(p, "IsdpAid");
	info->state = ql_cli_dbus_enum(ql_profile_state_to_string, state, 0, 1);
	info->nickname = ql_cli_dbus_str(p, "Nickname");
	info->service_provider = ql_cli_dbus_str(p, "ServiceProvider");
	info->name = ql_cli_dbus_str(p, "Name");
	info->profile_class = ql_cli_dbus_enum(ql_profile_class_to_string, klass, 0, 2);
	info->icon_type = g_strcmp0(icon_type, "jpg") == 0   ? 0
			  : g_strcmp0(icon_type, "png") == 0 ? 1
							     : -1;
	if (icon != NULL && g_variant_get_size(icon) > 0)
		info->icon = g_variant_get_data_as_bytes(icon);
	info->owner_mccmnc = ql_cli_dbus_str(p, "OwnerMccMnc");
	return info;
}

/* the eUICC's profiles, in its order (the Profiles property), with their object paths */
static GPtrArray *
ql_cli_dbus_profile_list(QlCliDbus *d, GPtrArray *paths)
{
	g_autoptr(GVariant) props = ql_cli_dbus_props(d, d->euicc, QL_IFACE_EUICC);
	g_autofree const gchar **list = NULL;
	GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)ql_profile_info_free);

	if (props == NULL || !g_variant_lookup(props, "Profiles", "^a&o", &list))
		return out;
	for (guint i = 0; list[i] != NULL; i++) {
		g_autoptr(GVariant) p = ql_cli_dbus_props(d, list[i], QL_IFACE_PROFILE);
		if (p == NULL)
			continue;
		g_ptr_array_add(out, ql_cli_dbus_profile_info(p));
		if (paths != NULL)
			g_ptr_array_add(paths, g_strdup(list[i]));
	}
	return out;
}

static GPtrArray *
ql_cli_dbus_profiles(QlCliBackend *b, GError **error)
{
	return ql_cli_dbus_profile_list((QlCliDbus *)b, NULL);
}

/* The object of the profile with this ICCID or ISD-P AID, or an error as the core gives */
static gchar *
ql_cli_dbus_profile_path(QlCliDbus *d, const gchar *id, const gchar *what, GError **error)
{
	g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) list = ql_cli_dbus_profile_list(d, paths);
	gboolean aid = strlen(id) == 32 && g_ascii_strncasecmp(id, "A0", 2) == 0;
	g_autoptr(GBytes) check = NULL;
	g_autofree gchar *eid = NULL;
	g_autoptr(GVariant) props = NULL;

	for (guint i = 0; i < list->len; i++) {
		QlProfileInfo *p = g_ptr_array_index(list, i);
		if (aid ? g_ascii_strcasecmp(p->isdp_aid != NULL ? p->isdp_aid : "", id) == 0
			: g_strcmp0(p->iccid, id) == 0)
			return g_strdup(g_ptr_array_index(paths, i));
	}
	/* the same words as in this process for what is not an ICCID at all */
	check = aid ? ql_hex_decode(id, error) : ql_iccid_to_bcd(id, error);
	if (check == NULL)
		return NULL;
	props = ql_cli_dbus_props(d, d->euicc, QL_IFACE_EUICC);
	eid = ql_cli_dbus_str(props, "Eid");
	g_set_error(error, QL_ERROR, QL_ERROR_NOT_FOUND,
		    _("cannot %s: no profile with this ICCID or AID on the eUICC %s"), what, eid);
	return NULL;
}

static gboolean
ql_cli_dbus_profile(QlCliBackend *b, QlCliProfileAction action, const gchar *id,
		    const gchar *nickname, GError **error)
{
	QlCliDbus *d = (QlCliDbus *)b;
	static const gchar *const what[] = {N_("enable the profile"), N_("disable the profile"),
					    N_("delete the profile"), N_("set the nickname")};
	g_autofree gchar *path = ql_cli_dbus_profile_path(d, id, _(what[action]), error);
	GVariantBuilder opts;

	if (path == NULL)
		return FALSE;
	g_variant_builder_init(&opts, G_VARIANT_TYPE_VARDICT);
	switch (action) {
	case QL_CLI_PROFILE_ENABLE:
	case QL_CLI_PROFILE_DISABLE:
		if (b->cli->no_refresh)
			g_variant_builder_add(&opts, "{sv}", "refresh",
					      g_variant_new_boolean(FALSE));
		return ql_cli_dbus_void(d, path, QL_IFACE_PROFILE,
					action == QL_CLI_PROFILE_ENABLE ? "Enable" : "Disable",
					g_variant_new("(a{sv})", &opts), error);
	case QL_CLI_PROFILE_DELETE:
		g_variant_builder_clear(&opts);
		return ql_cli_dbus_void(d, path, QL_IFACE_PROFILE, "Delete", NULL, error);
	case QL_CLI_PROFILE_NICKNAME:
	default:
		g_variant_builder_clear(&opts);
		return ql_cli_dbus_void(d, path, QL_IFACE_PROFILE, "SetNickname",
					g_variant_new("(s)", nickname), error);
	}
}

static GPtrArray *
ql_cli_dbus_notifications(QlCliBackend *b, GError **error)
{
	QlCliDbus *d = (QlCliDbus *)b;
	g_autoptr(GVariant) r = NULL;
	g_autoptr(GVariant) list = NULL;
	GPtrArray *out;
	GVariantIter it;
	GVariant *one;

	r = ql_cli_dbus_call(d, d->euicc, QL_IFACE_EUICC, "ListNotifications", NULL, "(aa{sv})",
			     error);
	if (r == NULL)
		return NULL;
	out = g_ptr_array_new_with_free_func((GDestroyNotify)ql_notification_free);
	list = g_variant_get_child_value(r, 0);
	g_variant_iter_init(&it, list);
	while ((one = g_variant_iter_next_value(&it)) != NULL) {
		QlNotification *n = g_new0(QlNotification, 1);
		g_autofree gchar *op = ql_cli_dbus_str(one, "operation");
		gint bit = -1;
		n->seq = ql_cli_dbus_int(one, "seq");
		for (gint i = 0x10; i <= 0x80 && bit < 0; i <<= 1)
			bit = g_strcmp0(ql_cli_dbus_event_name(i), op) == 0 ? i : -1;
		n->operation = bit > 0 ? (guint)bit : 0;
		n->address = ql_cli_dbus_str(one, "address");
		n->iccid = ql_cli_dbus_str(one, "iccid");
		g_ptr_array_add(out, n);
		g_variant_unref(one);
	}
	return out;
}

static gboolean
ql_cli_dbus_remove_notification(QlCliBackend *b, gint64 seq, GError **error)
{
	QlCliDbus *d = (QlCliDbus *)b;
	return ql_cli_dbus_void(d, d->euicc, QL_IFACE_EUICC, "RemoveNotification",
				g_variant_new("(u)", (guint32)seq), error);
}

/* ---- long operations ---- */

typedef struct {
	QlCliDbus *d;
	GMainLoop *loop;
	gchar *path;	  /* the Operation, once DownloadProfile & co. answered */
	GError *error;	  /* the method, or the service, failed */
	GVariant *report; /* Finished */
	GPtrArray *early; /* (path, member, params) of signals that came before the answer */
	gboolean cancel_sent;
} QlCliWait;

static void ql_cli_wait_signal_for_us(QlCliWait *w, const gchar *member, GVariant *params);

static void
ql_cli_wait_cancel_sent(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GVariant) r = NULL;
	g_autoptr(GError) error = NULL;

	r = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
	if (r == NULL)
		g_debug("Cancel: %s", error->message); /* it may have ended on its own */
}

static void
ql_cli_wait_send_cancel(QlCliWait *w)
{
	if (w->cancel_sent || w->path == NULL || w->report != NULL)
		return;
	w->cancel_sent = TRUE;
	if (!w->d->parent.cli->json)
		g_printerr("\n%s\n", _("Cancelling…"));
	w->d->parent.cli->progress_shown = FALSE;
	g_dbus_connection_call(w->d->bus, QL_CLI_SERVICE_NAME, w->path, QL_IFACE_OPERATION,
			       "Cancel", NULL, NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL,
			       ql_cli_wait_cancel_sent, NULL);
}

static gboolean
ql_cli_wait_cancelled(GCancellable *cancellable, gpointer user_data)
{
	ql_cli_wait_send_cancel(user_data);
	return G_SOURCE_REMOVE;
}

static void
ql_cli_wait_on_signal(GDBusConnection *bus, const gchar *sender, const gchar *path,
		      const gchar *iface, const gchar *member, GVariant *params, gpointer user_data)
{
	QlCliWait *w = user_data;

	if (w->path == NULL) {
		/* the operation may start (and even end) before its path comes back */
		g_ptr_array_add(w->early,
				g_variant_ref_sink(g_variant_new("(os@*)", path, member, params)));
		return;
	}
	if (g_strcmp0(path, w->path) == 0)
		ql_cli_wait_signal_for_us(w, member, params);
}

static void
ql_cli_wait_signal_for_us(QlCliWait *w, const gchar *member, GVariant *params)
{
	QlCli *cli = w->d->parent.cli;

	if (g_strcmp0(member, "Progress") == 0 &&
	    g_variant_is_of_type(params, G_VARIANT_TYPE("(su)"))) {
		const gchar *step;
		guint percent;
		g_variant_get(params, "(&su)", &step, &percent);
		if (w->report == NULL && !w->cancel_sent)
			ql_cli_progress(cli, step, percent);
	} else if (g_strcmp0(member, "Finished") == 0 && w->report == NULL &&
		   g_variant_is_of_type(params, G_VARIANT_TYPE("(a{sv})"))) {
		w->report = g_variant_get_child_value(params, 0);
		g_main_loop_quit(w->loop);
	}
}

static void
ql_cli_wait_started(GObject *source, GAsyncResult *res, gpointer user_data)
{
	QlCliWait *w = user_data;
	g_autoptr(GVariant) r = NULL;
	GError *local = NULL;

	r = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &local);
	if (r == NULL) {
		ql_cli_dbus_error(&w->error, local);
		g_main_loop_quit(w->loop);
		return;
	}
	g_variant_get(r, "(o)", &w->path);
	for (guint i = 0; i < w->early->len; i++) {
		const gchar *path, *member;
		g_autoptr(GVariant) params = NULL;
		g_variant_get(g_ptr_array_index(w->early, i), "(&o&s@*)", &path, &member, &params);
		if (g_strcmp0(path, w->path) == 0)
			ql_cli_wait_signal_for_us(w, member, params);
	}
	g_ptr_array_set_size(w->early, 0);
	if (g_cancellable_is_cancelled(w->d->parent.cli->cancellable))
		ql_cli_wait_send_cancel(w);
}

static void
ql_cli_wait_service_gone(GDBusConnection *bus, const gchar *name, gpointer user_data)
{
	QlCliWait *w = user_data;
	if (w->error == NULL && w->report == NULL)
		g_set_error_literal(&w->error, QL_ERROR, QL_ERROR_IO,
				    _("quantra-esimd left the bus during the operation"));
	g_main_loop_quit(w->loop);
}

/* RequestConfirmationCode: --confirmation-code, or the user at the terminal */
static void
ql_cli_agent_call(GDBusConnection *bus, const gchar *sender, const gchar *path, const gchar *iface,
		  const gchar *method, GVariant *params, GDBusMethodInvocation *invocation,
		  gpointer user_data)
{
	QlCliWait *w = user_data;
	g_autofree gchar *code = NULL;

	if (g_strcmp0(method, "RequestConfirmationCode") != 0) {
		g_dbus_method_invocation_return_dbus_error(
			invocation, "org.freedesktop.DBus.Error.UnknownMethod", method);
		return;
	}
	code = ql_cli_confirmation_code(w->d->parent.cli);
	if (code == NULL || code[0] == '\0') {
		g_dbus_method_invocation_return_dbus_error(
			invocation, QL_CLI_SERVICE_NAME ".Error.InvalidArgument",
			g_cancellable_is_cancelled(w->d->parent.cli->cancellable)
				? _("cancelled")
				: _("this profile needs a confirmation code: give it with "
				    "--confirmation-code or at the prompt"));
		return;
	}
	g_dbus_method_invocation_return_value(invocation, g_variant_new("(s)", code));
	ql_crypto_wipe(code, strlen(code));
}

static const gchar ql_cli_agent_xml[] =
	"<node><interface name='" QL_IFACE_AGENT "'>"
	"<method name='RequestConfirmationCode'><arg name='operation' type='o' direction='in'/>"
	"<arg name='smdp_host' type='s' direction='in'/>"
	"<arg name='code' type='s' direction='out'/></method></interface></node>";

/* Runs @method of the eUICC, which answers with an Operation, until the Operation's Finished;
 * the report on success, else NULL and the error (cancelled after Ctrl-C). */
static GVariant *
ql_cli_dbus_long(QlCliDbus *d, const gchar *method, GVariant *options, gboolean agent,
		 GError **error)
{
	QlCli *cli = d->parent.cli;
	QlCliWait w = {.d = d};
	g_autoptr(GDBusNodeInfo) node = NULL;
	g_autoptr(GSource) cancel = NULL;
	g_autoptr(GMainContext) ctx = g_main_context_ref_thread_default();
	g_autoptr(GVariant) owned = g_variant_ref_sink(options);
	g_autofree gchar *result = NULL;
	GVariant *report = NULL;
	guint sub, watch, agent_id = 0;

	if (agent) {
		const GDBusInterfaceVTable vtable = {ql_cli_agent_call, NULL, NULL, {NULL}};
		g_autoptr(GVariant) r = NULL;
		node = g_dbus_node_info_new_for_xml(ql_cli_agent_xml, error);
		if (node == NULL)
			return NULL;
		agent_id = g_dbus_connection_register_object(
			d->bus, QL_CLI_AGENT_PATH, node->interfaces[0], &vtable, &w, NULL, error);
		if (agent_id == 0)
			return NULL;
		r = ql_cli_dbus_call(d, QL_CLI_SERVICE_PATH, QL_IFACE_MANAGER, "RegisterAgent",
				     g_variant_new("(o)", QL_CLI_AGENT_PATH), NULL, error);
		if (r == NULL) {
			g_dbus_connection_unregister_object(d->bus, agent_id);
			return NULL;
		}
	}
	w.loop = g_main_loop_new(ctx, FALSE);
	w.early = g_ptr_array_new_with_free_func((GDestroyNotify)g_variant_unref);
	/* subscribed before the call: the operation may start at once */
	sub = g_dbus_connection_signal_subscribe(d->bus, QL_CLI_SERVICE_NAME, QL_IFACE_OPERATION,
						 NULL, NULL, NULL, G_DBUS_SIGNAL_FLAGS_NONE,
						 ql_cli_wait_on_signal, &w, NULL);
	watch = g_bus_watch_name_on_connection(d->bus, QL_CLI_SERVICE_NAME,
					       G_BUS_NAME_WATCHER_FLAGS_NONE, NULL,
					       ql_cli_wait_service_gone, &w, NULL);
	cancel = g_cancellable_source_new(cli->cancellable);
	g_source_set_callback(cancel, (GSourceFunc)(void (*)(void))ql_cli_wait_cancelled, &w, NULL);
	g_source_attach(cancel, ctx);
	g_dbus_connection_call(d->bus, QL_CLI_SERVICE_NAME, d->euicc, QL_IFACE_EUICC, method,
			       g_variant_new("(@a{sv})", owned), G_VARIANT_TYPE("(o)"),
			       G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION, G_MAXINT, NULL,
			       ql_cli_wait_started, &w);
	g_main_loop_run(w.loop);
	g_source_destroy(cancel);
	g_bus_unwatch_name(watch);
	g_dbus_connection_signal_unsubscribe(d->bus, sub);
	ql_cli_progress_end(cli);
	if (agent_id != 0) {
		g_autoptr(GVariant) r = g_dbus_connection_call_sync(
			d->bus, QL_CLI_SERVICE_NAME, QL_CLI_SERVICE_PATH, QL_IFACE_MANAGER,
			"UnregisterAgent", g_variant_new("(o)", QL_CLI_AGENT_PATH), NULL,
			G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
		g_dbus_connection_unregister_object(d->bus, agent_id);
	}
	if (w.error != NULL) {
		g_propagate_error(error, g_steal_pointer(&w.error));
	} else if (!g_variant_lookup(w.report, "result", "s", &result) ||
		   g_strcmp0(result, "ok") != 0) {
		const gchar *name = QL_CLI_SERVICE_NAME ".Error.Failed", *message = "";
		GError *local;
		g_variant_lookup(w.report, "error_name", "&s", &name);
		g_variant_lookup(w.report, "error_message", "&s", &message);
		local = g_dbus_error_new_for_dbus_error(name, message);
		g_dbus_error_strip_remote_error(local);
		g_propagate_error(error, local);
	} else {
		report = g_steal_pointer(&w.report);
	}
	g_clear_pointer(&w.report, g_variant_unref);
	g_ptr_array_unref(w.early);
	g_main_loop_unref(w.loop);
	g_free(w.path);
	return report;
}

static QlDownloadReport *
ql_cli_dbus_download(QlCliBackend *b, const QlActivationCode *ac, GError **error)
{
	QlCli *cli = b->cli;
	const gchar *nickname = cli->nickname != NULL ? cli->nickname : cli->plan;
	g_autoptr(GVariant) report = NULL;
	g_autoptr(JsonNode) node = NULL;
	GVariantBuilder opts;
	gchar *code;

	/* the code as it was parsed (with its SM-DP+ OID and confirmation code flag), so the
	 * service checks it the same way */
	code = g_strdup_printf("LPA:1$%s$%s%s%s%s", ac->smdp_address, ac->matching_id,
			       ac->smdp_oid != NULL || ac->confirmation_code_required ? "$" : "",
			       ac->smdp_oid != NULL ? ac->smdp_oid : "",
			       ac->confirmation_code_required ? "$1" : "");
	g_variant_builder_init(&opts, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&opts, "{sv}", "activation-code", g_variant_new_string(code));
	ql_crypto_wipe(code, strlen(code));
	g_free(code);
	if (cli->secure)
		g_variant_builder_add(&opts, "{sv}", "secure", g_variant_new_boolean(TRUE));
	if (nickname != NULL)
		g_variant_builder_add(&opts, "{sv}", "nickname", g_variant_new_string(nickname));
	report = ql_cli_dbus_long((QlCliDbus *)b, "DownloadProfile", g_variant_builder_end(&opts),
				  TRUE, error);
	if (report == NULL)
		return NULL;
	/* the core's report JSON, its nulls left out (D-Bus has none): read back whole */
	node = json_gvariant_serialize(report);
	if (!JSON_NODE_HOLDS_OBJECT(node)) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED,
				    _("quantra-esimd's download report is not a dictionary"));
		return NULL;
	}
	return ql_download_report_from_json(json_node_get_object(node));
}

static GPtrArray *
ql_cli_dbus_discover(QlCliBackend *b, const gchar *smds, gchar **smds_used, GError **error)
{
	g_autoptr(GVariant) report = NULL;
	g_autoptr(GVariant) events = NULL;
	GVariantBuilder opts;
	GPtrArray *out;
	GVariantIter it;
	GVariant *one;

	g_variant_builder_init(&opts, G_VARIANT_TYPE_VARDICT);
	if (smds != NULL)
		g_variant_builder_add(&opts, "{sv}", "smds", g_variant_new_string(smds));
	report = ql_cli_dbus_long((QlCliDbus *)b, "DiscoverProfiles", g_variant_builder_end(&opts),
				  FALSE, error);
	if (report == NULL)
		return NULL;
	*smds_used = ql_cli_dbus_str(report, "smds_address");
	out = g_ptr_array_new_with_free_func((GDestroyNotify)ql_event_free);
	events = g_variant_lookup_value(report, "events", G_VARIANT_TYPE("aa{sv}"));
	if (events == NULL)
		return out;
	g_variant_iter_init(&it, events);
	while ((one = g_variant_iter_next_value(&it)) != NULL) {
		QlEvent *e = g_new0(QlEvent, 1);
		e->event_id = ql_cli_dbus_str(one, "event_id");
		e->rsp_server_address = ql_cli_dbus_str(one, "smdp_address");
		g_ptr_array_add(out, e);
		g_variant_unref(one);
	}
	return out;
}

static gint
ql_cli_dbus_process(QlCliBackend *b, gint64 seq, GPtrArray *failures, GError **error)
{
	g_autoptr(GVariant) report = NULL;
	g_autofree const gchar **failed = NULL;
	GVariantBuilder opts;
	gint64 delivered = 0;

	g_variant_builder_init(&opts, G_VARIANT_TYPE_VARDICT);
	if (seq >= 0)
		g_variant_builder_add(&opts, "{sv}", "seq", g_variant_new_uint32((guint32)seq));
	report = ql_cli_dbus_long((QlCliDbus *)b, "ProcessNotifications",
				  g_variant_builder_end(&opts), FALSE, error);
	if (report == NULL)
		return -1;
	g_variant_lookup(report, "delivered", "x", &delivered);
	if (g_variant_lookup(report, "failed", "^a&s", &failed)) {
		for (guint i = 0; failed[i] != NULL; i++)
			g_ptr_array_add(failures, g_strdup(failed[i]));
	}
	return (gint)delivered;
}

static gboolean
ql_cli_dbus_finish(QlCliBackend *b, const QlCliCommand *cmd, gchar **args, GError **error)
{
	return TRUE; /* the service gives the modem back on its own */
}

static void
ql_cli_dbus_free(QlCliBackend *b)
{
	QlCliDbus *d = (QlCliDbus *)b;
	g_clear_pointer(&d->objects, g_variant_unref);
	g_clear_object(&d->bus);
	g_free(d->euicc);
	g_free(d);
}

static const QlCliBackendFuncs ql_cli_dbus_funcs = {
	.chip_info = ql_cli_dbus_chip_info,
	.get_default_smdp = ql_cli_dbus_get_default_smdp,
	.set_default_smdp = ql_cli_dbus_set_default_smdp,
	.reset = ql_cli_dbus_reset,
	.profiles = ql_cli_dbus_profiles,
	.profile = ql_cli_dbus_profile,
	.notifications = ql_cli_dbus_notifications,
	.remove_notification = ql_cli_dbus_remove_notification,
	.download = ql_cli_dbus_download,
	.discover = ql_cli_dbus_discover,
	.process_notifications = ql_cli_dbus_process,
	.finish = ql_cli_dbus_finish,
	.free = ql_cli_dbus_free,
};

GHashTable *
ql_cli_dbus_modem_eids(QlCli *cli)
{
	GHashTable *eids = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g_autoptr(GDBusConnection) bus = ql_cli_dbus_connect(cli, NULL);
	g_autoptr(GVariant) r = NULL;
	g_autoptr(GVariant) objects = NULL;
	GVariantIter it;
	GVariant *ifaces;

	if (bus != NULL)
		r = g_dbus_connection_call_sync(bus, QL_CLI_SERVICE_NAME, QL_CLI_SERVICE_PATH,
						"org.freedesktop.DBus.ObjectManager",
						"GetManagedObjects", NULL,
						G_VARIANT_TYPE("(a{oa{sa{sv}}})"),
						G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, NULL, NULL);
	if (r == NULL)
		return eids;
	objects = g_variant_get_child_value(r, 0);
	g_variant_iter_init(&it, objects);
	while (g_variant_iter_next(&it, "{&o@a{sa{sv}}}", NULL, &ifaces)) {
		g_autoptr(GVariant) props =
			g_variant_lookup_value(ifaces, QL_IFACE_EUICC, G_VARIANT_TYPE_VARDICT);
		const gchar *eid = NULL;
		const gchar *path = NULL;
		g_variant_unref(ifaces);
		if (props == NULL || !g_variant_lookup(props, "Eid", "&s", &eid))
			continue;
		if (g_variant_lookup(props, "ModemObjectPath", "&o", &path) &&
		    strcmp(path, "/") != 0)
			g_hash_table_insert(eids, g_strdup(path), g_strdup(eid));
		if (g_variant_lookup(props, "OfonoModemPath", "&o", &path) &&
		    strcmp(path, "/") != 0)
			g_hash_table_insert(eids, g_strdup(path), g_strdup(eid));
	}
	return eids;
}

/* ---- choosing the eUICC ---- */

/* "-m N" as ModemManager's object path */
static gchar *
ql_cli_dbus_modem_path(const gchar *which)
{
	guint64 n = 0;
	if (g_ascii_string_to_unsigned(which, 10, 0, G_MAXUINT32, &n, NULL))
		return g_strdup_printf("/org/freedesktop/ModemManager1/Modem/%" G_GUINT64_FORMAT,
				       n);
	return g_strdup(which);
}

static gboolean
ql_cli_dbus_matches(QlCli *cli, GVariant *props, const gchar *modem_path)
{
	const gchar *ofono = NULL;
	g_autofree gchar *eid = ql_cli_dbus_str(props, "Eid");
	g_autofree gchar *name = ql_cli_dbus_str(props, "Name");
	g_autofree gchar *transport = ql_cli_dbus_str(props, "Transport");
	const gchar *modem = NULL;

	/* an object path ("o"), not a string: "&s" would never find it */
	if (modem_path != NULL && (!g_variant_lookup(props, "ModemObjectPath", "&o", &modem) ||
				   g_strcmp0(modem, modem_path) != 0))
		return FALSE;
	if (cli->ofono != NULL && (!g_variant_lookup(props, "OfonoModemPath", "&o", &ofono) ||
				   g_strcmp0(ofono, cli->ofono) != 0))
		return FALSE;
	if (cli->euicc != NULL && g_strcmp0(cli->euicc, eid) != 0 &&
	    g_strcmp0(cli->euicc, name) != 0 && g_strcmp0(cli->euicc, transport) != 0)
		return FALSE;
	return TRUE;
}

static gboolean
ql_cli_dbus_choose(QlCliDbus *d, GError **error)
{
	QlCli *cli = d->parent.cli;
	g_autofree gchar *modem_path =
		cli->modem != NULL ? ql_cli_dbus_modem_path(cli->modem) : NULL;
	g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) chosen = g_ptr_array_new();
	g_autoptr(GString) eids = g_string_new(NULL);
	GVariantIter it;
	const gchar *path;
	GVariant *ifaces;

	g_variant_iter_init(&it, d->objects);
	while (g_variant_iter_next(&it, "{&o@a{sa{sv}}}", &path, &ifaces)) {
		g_autoptr(GVariant) props =
			g_variant_lookup_value(ifaces, QL_IFACE_EUICC, G_VARIANT_TYPE_VARDICT);
		g_variant_unref(ifaces);
		if (props == NULL)
			continue;
		g_ptr_array_add(all, ql_cli_dbus_str(props, "Eid"));
		if (ql_cli_dbus_matches(cli, props, modem_path))
			g_ptr_array_add(chosen, (gpointer)path);
	}
	for (guint i = 0; i < all->len; i++)
		g_string_append_printf(eids, "%s%s", i > 0 ? ", " : "",
				       (const gchar *)g_ptr_array_index(all, i));
	if (chosen->len == 1) {
		d->euicc = g_strdup(g_ptr_array_index(chosen, 0));
		return TRUE;
	}
	if (all->len == 0) {
		g_set_error_literal(
			error, QL_ERROR, QL_ERROR_NOT_FOUND,
			_("quantra-esimd shows no eUICC (no modem with one, no [device] "
			  "in its configuration)"));
	} else if (chosen->len == 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_NOT_FOUND,
			    _("quantra-esimd shows no eUICC %s%s (it shows %s)"),
			    cli->modem != NULL	 ? _("of modem ")
			    : cli->ofono != NULL ? _("of oFono's modem ")
						 : "",
			    cli->modem != NULL	 ? cli->modem
			    : cli->ofono != NULL ? cli->ofono
						 : cli->euicc,
			    eids->str);
	} else {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    _("quantra-esimd shows %u eUICCs (%s): choose one with -e EID"),
			    chosen->len, eids->str);
	}
	return FALSE;
}

/* What only this process can do: the service takes its trust and quirks from its own
 * configuration */
static gboolean
ql_cli_dbus_check_options(QlCli *cli, GError **error)
{
	const struct {
		gboolean set;
		const gchar *option;
	} direct_only[] = {
		{cli->trust_anchors != NULL, "--trust-anchor"},
		{cli->crl_dir != NULL, "--crl-dir"},
		{cli->crl_required, "--crl-required"},
		{cli->pins != NULL, "--pin"},
		{cli->client_cert != NULL || cli->client_key != NULL, "--client-cert/--client-key"},
		{cli->system_store, "--system-store"},
		{cli->timeout != 0, "--timeout"},
		{cli->download_timeout != 0, "--download-timeout"},
		{cli->config != NULL, "--config"},
		{cli->power_cycle, "--power-cycle"},
		{cli->switch_slot, "--switch-slot"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(direct_only); i++) {
		if (direct_only[i].set) {
			g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    _("%s works with --direct only: quantra-esimd takes it from "
				      "its own configuration file"),
				    direct_only[i].option);
			return FALSE;
		}
	}
	return TRUE;
}

QlCliBackend *
ql_cli_dbus_open(QlCli *cli, GDBusConnection *bus, GError **error)
{
	g_autoptr(QlCliBackend) b = NULL;
	QlCliDbus *d = g_new0(QlCliDbus, 1);
	g_autoptr(GVariant) r = NULL;
	GError *local = NULL;

	d->parent.funcs = &ql_cli_dbus_funcs;
	d->parent.cli = cli;
	d->bus = g_object_ref(bus);
	b = &d->parent;
	if (!ql_cli_dbus_check_options(cli, error))
		return NULL;
	/* the first call starts the service where D-Bus activation is installed */
	r = g_dbus_connection_call_sync(bus, QL_CLI_SERVICE_NAME, QL_CLI_SERVICE_PATH,
					"org.freedesktop.DBus.ObjectManager", "GetManagedObjects",
					NULL, G_VARIANT_TYPE("(a{oa{sa{sv}}})"),
					G_DBUS_CALL_FLAGS_NONE, -1, NULL, &local);
	if (r == NULL) {
		ql_cli_dbus_error(error, local);
		return NULL;
	}
	d->objects = g_variant_get_child_value(r, 0);
	if (!ql_cli_dbus_choose(d, error))
		return NULL;
	return g_steal_pointer(&b);
}
