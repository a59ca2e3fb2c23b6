/*
 * quantra-l monitor: the service's events as they happen, one line each (one JSON object a
 * line with --json): eUICCs added and removed, profiles added, removed and changed,
 * notifications queued on an eUICC and delivered to their SM-DP+. It follows the
 * ObjectManager's InterfacesAdded/Removed, PropertiesChanged, and the Finished reports of
 * downloads (whose install notification is delivered within the operation). Ctrl-C ends it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>
#include <stdio.h>
#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-cli.h"

#define QL_IFACE_EUICC QL_CLI_SERVICE_NAME ".Euicc"
#define QL_IFACE_PROFILE QL_CLI_SERVICE_NAME ".Profile"
#define QL_IFACE_OPERATION QL_CLI_SERVICE_NAME ".Operation"

typedef struct {
	gint64 seq;
	gchar *operation;
	gchar *iccid;
	gchar *address;
} QlMonNotification;

typedef struct {
	gchar *eid;
	GHashTable *notifications; /* seq (gint64 *) -> QlMonNotification, on the eUICC now */
} QlMonEuicc;

typedef struct {
	gchar *iccid;
	gchar *euicc; /* its Euicc's path */
	gchar *state;
	gchar *nickname;
} QlMonProfile;

typedef struct {
	QlCli *cli;
	GDBusConnection *bus;
	GMainLoop *loop;
	GHashTable *euiccs;   /* path -> QlMonEuicc */
	GHashTable *profiles; /* path -> QlMonProfile */
	GError *error;
} QlMonitor;

static void
ql_mon_euicc_free(QlMonEuicc *e)
{
	g_free(e->eid);
	g_hash_table_unref(e->notifications);
	g_free(e);
}

static void
ql_mon_profile_free(QlMonProfile *p)
{
	g_free(p->iccid);
	g_free(p->euicc);
	g_free(p->state);
	g_free(p->nickname);
	g_free(p);
}

static gchar *
ql_mon_str(GVariant *props, const gchar *key)
{
	const gchar *s = NULL;
	if (props == NULL || !g_variant_lookup(props, key, "&s", &s))
		return NULL;
	return g_strdup(s);
}

/* ---- printing: an event is a name and members, as a line of words or of JSON ---- */

typedef struct {
	const gchar *key;
	const gchar *value; /* NULL: JSON null */
} QlMonMember;

static void
ql_mon_print(QlMonitor *m, const gchar *event, const QlMonMember *members, guint n)
{
	if (m->cli->json) {
		g_autoptr(JsonBuilder) b = json_builder_new();
		g_autoptr(JsonGenerator) gen = json_generator_new();
		g_autoptr(JsonNode) root = NULL;
		g_autofree gchar *line = NULL;
		json_builder_begin_object(b);
		ql_cli_json_string(b, "event", event);
		for (guint i = 0; i < n; i++) {
			/* numbers stay numbers */
			gint64 v = 0;
			gchar *end = NULL;
			if (members[i].value != NULL && (g_str_equal(members[i].key, "seq") ||
							 g_str_equal(members[i].key, "euiccs"))) {
				v = g_ascii_strtoll(members[i].value, &end, 10);
				json_builder_set_member_name(b, members[i].key);
				json_builder_add_int_value(b, v);
				continue;
			}
			ql_cli_json_string(b, members[i].key, members[i].value);
		}
		json_builder_end_object(b);
		root = json_builder_get_root(b);
		json_generator_set_root(gen, root);
		line = json_generator_to_data(gen, NULL);
		g_print("%s\n", line);
	} else {
		g_autoptr(GString) line = g_string_new(event);
		for (guint i = 0; i < n; i++) {
			g_autofree gchar *safe = ql_cli_safe(members[i].value, QL_TEXT_MAX_FIELD);
			if (safe != NULL)
				g_string_append_printf(line, " %s=%s", members[i].key, safe);
		}
		g_print("%s\n", line->str);
	}
	fflush(stdout);
}

static const gchar *
ql_mon_eid(QlMonitor *m, const gchar *euicc_path)
{
	QlMonEuicc *e = euicc_path != NULL ? g_hash_table_lookup(m->euiccs, euicc_path) : NULL;
	return e != NULL ? e->eid : NULL;
}

/* ---- notifications: what an eUICC holds, and what changed ---- */

static void
ql_mon_notification_free(QlMonNotification *n)
{
	g_free(n->operation);
	g_free(n->iccid);
	g_free(n->address);
	g_free(n);
}

static GHashTable *
ql_mon_notification_table(void)
{
	return g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL,
				     (GDestroyNotify)ql_mon_notification_free);
}

static void
ql_mon_print_notification(QlMonitor *m, const gchar *event, const gchar *eid, gint64 seq,
			  const gchar *operation, const gchar *iccid, const gchar *address)
{
	g_autofree gchar *s = g_strdup_printf("%" G_GINT64_FORMAT, seq);
	QlMonMember members[] = {{"eid", eid},
				 {"seq", s},
				 {"operation", operation},
				 {"iccid", iccid},
				 {"address", address}};
	ql_mon_print(m, event, members, G_N_ELEMENTS(members));
}

/* Reads the eUICC's notifications again; prints those that came (queued) unless @quiet */
static void
ql_mon_notifications_read(QlMonitor *m, const gchar *path, QlMonEuicc *e, gboolean quiet)
{
	g_autoptr(GVariant) r = NULL;
	g_autoptr(GVariant) list = NULL;
	g_autoptr(GHashTable) now = ql_mon_notification_table();
	GVariantIter it;
	GVariant *one;

	r = g_dbus_connection_call_sync(m->bus, QL_CLI_SERVICE_NAME, path, QL_IFACE_EUICC,
					"ListNotifications", NULL, G_VARIANT_TYPE("(aa{sv})"),
					G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
	if (r == NULL)
		return;
	list = g_variant_get_child_value(r, 0);
	g_variant_iter_init(&it, list);
	while ((one = g_variant_iter_next_value(&it)) != NULL) {
		QlMonNotification *n = g_new0(QlMonNotification, 1);
		g_variant_lookup(one, "seq", "x", &n->seq);
		n->operation = ql_mon_str(one, "operation");
		n->address = ql_mon_str(one, "address");
		n->iccid = ql_mon_str(one, "iccid");
		if (!quiet && !g_hash_table_contains(e->notifications, &n->seq))
			ql_mon_print_notification(m, "notification-queued", e->eid, n->seq,
						  n->operation, n->iccid, n->address);
		g_hash_table_insert(now, &n->seq, n);
		g_variant_unref(one);
	}
	g_hash_table_unref(e->notifications);
	e->notifications = g_steal_pointer(&now);
}

/* ---- objects ---- */

static void
ql_mon_euicc_added(QlMonitor *m, const gchar *path, GVariant *props, gboolean quiet)
{
	QlMonEuicc *e = g_new0(QlMonEuicc, 1);
	g_autofree gchar *transport = ql_mon_str(props, "Transport");

	e->eid = ql_mon_str(props, "Eid");
	e->notifications = ql_mon_notification_table();
	g_hash_table_replace(m->euiccs, g_strdup(path), e);
	if (!quiet) {
		QlMonMember members[] = {{"eid", e->eid}, {"transport", transport}};
		ql_mon_print(m, "euicc-added", members, G_N_ELEMENTS(members));
	}
	ql_mon_notifications_read(m, path, e, TRUE);
}

static void
ql_mon_profile_added(QlMonitor *m, const gchar *path, GVariant *props, gboolean quiet)
{
	QlMonProfile *p = g_new0(QlMonProfile, 1);
	g_autofree gchar *name = ql_mon_str(props, "Name");
	g_autofree gchar *provider = ql_mon_str(props, "ServiceProvider");

	p->iccid = ql_mon_str(props, "Iccid");
	p->state = ql_mon_str(props, "State");
	p->nickname = ql_mon_str(props, "Nickname");
	g_variant_lookup(props, "Euicc", "o", &p->euicc);
	g_hash_table_replace(m->profiles, g_strdup(path), p);
	if (!quiet) {
		QlMonMember members[] = {{"eid", ql_mon_eid(m, p->euicc)},
					 {"iccid", p->iccid},
					 {"state", p->state},
					 {"name", name},
					 {"service_provider", provider},
					 {"nickname", p->nickname}};
		ql_mon_print(m, "profile-added", members, G_N_ELEMENTS(members));
	}
}

static void
ql_mon_object_added(QlMonitor *m, const gchar *path, GVariant *ifaces, gboolean quiet)
{
	g_autoptr(GVariant) euicc = g_variant_lookup_value(ifaces, QL_IFACE_EUICC, NULL);
	g_autoptr(GVariant) profile = g_variant_lookup_value(ifaces, QL_IFACE_PROFILE, NULL);

	if (euicc != NULL)
		ql_mon_euicc_added(m, path, euicc, quiet);
	if (profile != NULL)
		ql_mon_profile_added(m, path, profile, quiet);
}

static void
ql_mon_object_removed(QlMonitor *m, const gchar *path, const gchar *const *ifaces)
{
	if (g_strv_contains(ifaces, QL_IFACE_PROFILE)) {
		QlMonProfile *p = g_hash_table_lookup(m->profiles, path);
		if (p != NULL) {
			QlMonMember members[] = {{"eid", ql_mon_eid(m, p->euicc)},
						 {"iccid", p->iccid}};
			ql_mon_print(m, "profile-removed", members, G_N_ELEMENTS(members));
			g_hash_table_remove(m->profiles, path);
		}
	}
	if (g_strv_contains(ifaces, QL_IFACE_EUICC)) {
		QlMonEuicc *e = g_hash_table_lookup(m->euiccs, path);
		if (e != NULL) {
			QlMonMember members[] = {{"eid", e->eid}};
			ql_mon_print(m, "euicc-removed", members, G_N_ELEMENTS(members));
			g_hash_table_remove(m->euiccs, path);
		}
	}
}

static void
ql_mon_profile_changed(QlMonitor *m, const gchar *path, GVariant *changed)
{
	QlMonProfile *p = g_hash_table_lookup(m->profiles, path);
	g_autofree gchar *state = ql_mon_str(changed, "State");
	g_autofree gchar *nickname = ql_mon_str(changed, "Nickname");
	gboolean differs = FALSE;

	if (p == NULL)
		return;
	if (state != NULL && g_strcmp0(state, p->state) != 0) {
		g_free(p->state);
		p->state = g_steal_pointer(&state);
		differs = TRUE;
	}
	if (nickname != NULL && g_strcmp0(nickname, p->nickname) != 0) {
		g_free(p->nickname);
		p->nickname = g_steal_pointer(&nickname);
		differs = TRUE;
	}
	if (differs) {
		QlMonMember members[] = {{"eid", ql_mon_eid(m, p->euicc)},
					 {"iccid", p->iccid},
					 {"state", p->state},
					 {"nickname", p->nickname}};
		ql_mon_print(m, "profile-changed", members, G_N_ELEMENTS(members));
	}
}

static void
ql_mon_euicc_changed(QlMonitor *m, const gchar *path, GVariant *changed)
{
	QlMonEuicc *e = g_hash_table_lookup(m->euiccs, path);
	g_autoptr(GHashTable) before = NULL;
	GHashTableIter it;
	gpointer value;

	if (e == NULL || !g_variant_lookup(changed, "PendingNotifications", "u", NULL))
		return;
	before = g_hash_table_ref(e->notifications);
	ql_mon_notifications_read(m, path, e, FALSE);
	/* gone from the eUICC: delivered, or removed without delivery */
	g_hash_table_iter_init(&it, before);
	while (g_hash_table_iter_next(&it, NULL, &value)) {
		QlMonNotification *n = value;
		if (!g_hash_table_contains(e->notifications, &n->seq))
			ql_mon_print_notification(m, "notification-gone", e->eid, n->seq,
						  n->operation, n->iccid, n->address);
	}
}

/* A download's install notification never waits on the eUICC: its report says whether the
 * SM-DP+ got it */
static void
ql_mon_operation_finished(QlMonitor *m, GVariant *report)
{
	gboolean delivered = FALSE;
	gint64 seq = -1;
	g_autofree gchar *iccid = NULL;
	g_autofree gchar *address = NULL;

	if (!g_variant_lookup(report, "notification_delivered", "b", &delivered) || !delivered)
		return;
	g_variant_lookup(report, "notification_seq", "x", &seq);
	g_variant_lookup(report, "iccid", "s", &iccid);
	g_variant_lookup(report, "smdp_address", "s", &address);
	ql_mon_print_notification(m, "notification-delivered", NULL, seq, "install", iccid,
				  address);
}

static void
ql_mon_on_signal(GDBusConnection *bus, const gchar *sender, const gchar *path, const gchar *iface,
		 const gchar *member, GVariant *params, gpointer user_data)
{
	QlMonitor *m = user_data;

	if (g_str_equal(member, "InterfacesAdded") &&
	    g_variant_is_of_type(params, G_VARIANT_TYPE("(oa{sa{sv}})"))) {
		const gchar *object;
		g_autoptr(GVariant) ifaces = NULL;
		g_variant_get(params, "(&o@a{sa{sv}})", &object, &ifaces);
		ql_mon_object_added(m, object, ifaces, FALSE);
	} else if (g_str_equal(member, "InterfacesRemoved") &&
		   g_variant_is_of_type(params, G_VARIANT_TYPE("(oas)"))) {
		const gchar *object;
		g_autofree const gchar **ifaces = NULL;
		g_variant_get(params, "(&o^a&s)", &object, &ifaces);
		ql_mon_object_removed(m, object, ifaces);
	} else if (g_str_equal(member, "PropertiesChanged") &&
		   g_variant_is_of_type(params, G_VARIANT_TYPE("(sa{sv}as)"))) {
		const gchar *which;
		g_autoptr(GVariant) changed = NULL;
		g_variant_get(params, "(&s@a{sv}@as)", &which, &changed, NULL);
		if (g_str_equal(which, QL_IFACE_PROFILE))
			ql_mon_profile_changed(m, path, changed);
		else if (g_str_equal(which, QL_IFACE_EUICC))
			ql_mon_euicc_changed(m, path, changed);
	} else if (g_str_equal(iface, QL_IFACE_OPERATION) && g_str_equal(member, "Finished") &&
		   g_variant_is_of_type(params, G_VARIANT_TYPE("(a{sv})"))) {
		g_autoptr(GVariant) report = g_variant_get_child_value(params, 0);
		ql_mon_operation_finished(m, report);
	}
}

static void
ql_mon_service_gone(GDBusConnection *bus, const gchar *name, gpointer user_data)
{
	QlMonitor *m = user_data;
	g_set_error_literal(&m->error, QL_ERROR, QL_ERROR_IO, _("quantra-esimd left the bus"));
	g_main_loop_quit(m->loop);
}

static gboolean
ql_mon_cancelled(GCancellable *cancellable, gpointer user_data)
{
	g_main_loop_quit(((QlMonitor *)user_data)->loop);
	return G_SOURCE_REMOVE;
}

gboolean
ql_cli_monitor(QlCli *cli, gchar **args, GError **error)
{
	QlMonitor m = {.cli = cli};
	g_autoptr(GVariant) r = NULL;
	g_autoptr(GVariant) objects = NULL;
	g_autoptr(GSource) cancel = NULL;
	GError *local = NULL;
	GVariantIter it;
	const gchar *path;
	GVariant *ifaces;
	guint sub, watch;
	gboolean ok;

	if (cli->json) {
		/* one object a line, not one result object */
		g_clear_object(&cli->out);
		cli->json = TRUE;
	}
	m.bus = ql_cli_dbus_connect(cli, error);
	if (m.bus == NULL)
		return FALSE;
	m.euiccs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					 (GDestroyNotify)ql_mon_euicc_free);
	m.profiles = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					   (GDestroyNotify)ql_mon_profile_free);
	m.loop = g_main_loop_new(NULL, FALSE);
	/* subscribed first, then the objects read: nothing falls between the two */
	sub = g_dbus_connection_signal_subscribe(m.bus, QL_CLI_SERVICE_NAME, NULL, NULL, NULL, NULL,
						 G_DBUS_SIGNAL_FLAGS_NONE, ql_mon_on_signal, &m,
						 NULL);
	r = g_dbus_connection_call_sync(m.bus, QL_CLI_SERVICE_NAME, QL_CLI_SERVICE_PATH,
					"org.freedesktop.DBus.ObjectManager", "GetManagedObjects",
					NULL, G_VARIANT_TYPE("(a{oa{sa{sv}}})"),
					G_DBUS_CALL_FLAGS_NONE, -1, NULL, &local);
	if (r == NULL) {
		g_dbus_error_strip_remote_error(local);
		g_set_error(error, QL_ERROR, QL_ERROR_IO, "%s (%s)",
			    _("quantra-esimd is not running; start it or use --direct DEVICE"),
			    local->message);
		g_error_free(local);
		ok = FALSE;
		goto out;
	}
	objects = g_variant_get_child_value(r, 0);
	/* the eUICCs first, so that a profile finds its EID */
	for (guint pass = 0; pass < 2; pass++) {
		g_variant_iter_init(&it, objects);
		while (g_variant_iter_next(&it, "{&o@a{sa{sv}}}", &path, &ifaces)) {
			g_autoptr(GVariant) euicc =
				g_variant_lookup_value(ifaces, QL_IFACE_EUICC, NULL);
			if ((pass == 0) == (euicc != NULL))
				ql_mon_object_added(&m, path, ifaces, TRUE);
			g_variant_unref(ifaces);
		}
	}
	if (!cli->json) {
		g_printerr(_("Watching quantra-esimd (%u eUICC(s)); Ctrl-C ends.\n"),
			   g_hash_table_size(m.euiccs));
	}
	{
		/* a line tells a script that it may start: the monitor is listening */
		QlMonMember members[] = {{"euiccs", NULL}};
		g_autofree gchar *n = g_strdup_printf("%u", g_hash_table_size(m.euiccs));
		members[0].value = n;
		ql_mon_print(&m, "monitoring", members, 1);
	}
	watch = g_bus_watch_name_on_connection(m.bus, QL_CLI_SERVICE_NAME,
					       G_BUS_NAME_WATCHER_FLAGS_NONE, NULL,
					       ql_mon_service_gone, &m, NULL);
	cancel = g_cancellable_source_new(cli->cancellable);
	g_source_set_callback(cancel, (GSourceFunc)(void (*)(void))ql_mon_cancelled, &m, NULL);
	g_source_attach(cancel, NULL);
	ql_cli_long_begin(cli);
	g_main_loop_run(m.loop);
	ql_cli_long_end(cli);
	g_source_destroy(cancel);
	g_bus_unwatch_name(watch);
	ok = m.error == NULL;
	if (!ok)
		g_propagate_error(error, g_steal_pointer(&m.error));
out:
	g_dbus_connection_signal_unsubscribe(m.bus, sub);
	g_main_loop_unref(m.loop);
	g_hash_table_unref(m.profiles);
	g_hash_table_unref(m.euiccs);
	g_object_unref(m.bus);
	if (ok && cli->json)
		cli->json = FALSE; /* printed already: no result object */
	return ok;
}
