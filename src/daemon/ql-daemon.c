/*
 * quantra-esimd: the eSIM service on the system bus (org.quantra.Esim1). See
 * data/org.quantra.Esim1.xml for the API and ql-daemon.h for the threads.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib-unix.h>
#include <glib/gi18n.h>
#include <locale.h>
#include <stdio.h>

#include "quantra-l/ql-error.h"
#include "ql-daemon.h"

typedef struct {
	QlDaemon *daemon;
	gchar *name;
	guint watch_id;
	gchar *agent; /* the agent's object path, NULL when none */
} QlClient;

static gboolean ql_daemon_verbose = FALSE;

static void
ql_client_free(QlClient *c)
{
	if (c->watch_id != 0)
		g_bus_unwatch_name(c->watch_id);
	g_free(c->name);
	g_free(c->agent);
	g_free(c);
}

static void
ql_daemon_client_vanished(GDBusConnection *bus, const gchar *name, gpointer user_data)
{
	QlDaemon *d = user_data;
	GHashTableIter it;
	gpointer value;
	g_autoptr(GPtrArray) ops = g_ptr_array_new_with_free_func((GDestroyNotify)ql_op_unref);

	g_debug("client %s left the bus", name);
	g_hash_table_iter_init(&it, d->euiccs);
	while (g_hash_table_iter_next(&it, NULL, &value))
		ql_euicc_client_gone(value, name);
	/* its ended operations: nobody is left to read them */
	g_hash_table_iter_init(&it, d->operations);
	while (g_hash_table_iter_next(&it, NULL, &value)) {
		QlOp *op = value;
		if (g_strcmp0(op->client, name) == 0)
			g_ptr_array_add(ops, ql_op_ref(op));
	}
	for (guint i = 0; i < ops->len; i++)
		ql_op_client_gone(d, g_ptr_array_index(ops, i));
	g_mutex_lock(&d->clients_lock);
	g_hash_table_remove(d->clients, name);
	g_mutex_unlock(&d->clients_lock);
}

/* Watches @name (a unique name) so that what it leaves behind is cleaned up when it goes */
gboolean
ql_daemon_client_track(QlDaemon *d, const gchar *name)
{
	QlClient *c;

	g_mutex_lock(&d->clients_lock);
	c = g_hash_table_lookup(d->clients, name);
	if (c == NULL) {
		c = g_new0(QlClient, 1);
		c->daemon = d;
		c->name = g_strdup(name);
		g_hash_table_insert(d->clients, c->name, c);
	}
	g_mutex_unlock(&d->clients_lock);
	if (c->watch_id == 0)
		c->watch_id =
			g_bus_watch_name_on_connection(d->bus, name, G_BUS_NAME_WATCHER_FLAGS_NONE,
						       NULL, ql_daemon_client_vanished, d, NULL);
	return TRUE;
}

gchar *
ql_daemon_client_dup_agent(QlDaemon *d, const gchar *name)
{
	QlClient *c;
	gchar *agent = NULL;

	if (name == NULL)
		return NULL;
	g_mutex_lock(&d->clients_lock);
	c = g_hash_table_lookup(d->clients, name);
	if (c != NULL)
		agent = g_strdup(c->agent);
	g_mutex_unlock(&d->clients_lock);
	return agent;
}

static gboolean
ql_daemon_handle_register_agent(QlDbusManager *iface, GDBusMethodInvocation *invocation,
				const gchar *agent, gpointer user_data)
{
	QlDaemon *d = user_data;
	const gchar *sender = g_dbus_method_invocation_get_sender(invocation);
	QlClient *c;

	ql_daemon_client_track(d, sender);
	g_mutex_lock(&d->clients_lock);
	c = g_hash_table_lookup(d->clients, sender);
	g_free(c->agent);
	c->agent = g_strdup(agent);
	g_mutex_unlock(&d->clients_lock);
	g_debug("client %s registered agent %s", sender, agent);
	ql_dbus_manager_complete_register_agent(iface, invocation);
	return TRUE;
}

static gboolean
ql_daemon_handle_unregister_agent(QlDbusManager *iface, GDBusMethodInvocation *invocation,
				  const gchar *agent, gpointer user_data)
{
	QlDaemon *d = user_data;
	const gchar *sender = g_dbus_method_invocation_get_sender(invocation);
	QlClient *c;
	gboolean found = FALSE;

	g_mutex_lock(&d->clients_lock);
	c = g_hash_table_lookup(d->clients, sender);
	if (c != NULL && g_strcmp0(c->agent, agent) == 0) {
		g_clear_pointer(&c->agent, g_free);
		found = TRUE;
	}
	g_mutex_unlock(&d->clients_lock);
	if (!found) {
		g_dbus_method_invocation_return_error(invocation, QL_ERROR, QL_ERROR_NOT_FOUND,
						      "%s is not this caller's agent", agent);
		return TRUE;
	}
	ql_dbus_manager_complete_unregister_agent(iface, invocation);
	return TRUE;
}

static gboolean
ql_daemon_stop(gpointer user_data)
{
	QlDaemon *d = user_data;
	g_message("stopping");
	g_main_loop_quit(d->loop);
	return G_SOURCE_CONTINUE;
}

static void
ql_daemon_name_acquired(GDBusConnection *bus, const gchar *name, gpointer user_data)
{
	g_message("serving %s", name);
}

static void
ql_daemon_name_lost(GDBusConnection *bus, const gchar *name, gpointer user_data)
{
	QlDaemon *d = user_data;
	if (bus == NULL)
		g_printerr("quantra-esimd: the system bus went away\n");
	else
		g_printerr(
			"quantra-esimd: cannot own %s on the system bus: another quantra-esimd "
			"runs, or the bus policy (org.quantra.Esim1.conf) does not let this user "
			"own it\n",
			name);
	d->exit_code = 1;
	g_main_loop_quit(d->loop);
}

static void
ql_daemon_log(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer user_data)
{
	const gchar *prefix = "";

	if ((level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO)) && !ql_daemon_verbose)
		return;
	if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
		prefix = "error: ";
	else if (level & G_LOG_LEVEL_WARNING)
		prefix = "warning: ";
	/* one line each, whole: the journal (or a test) reads them as they come */
	fprintf(stderr, "%s: %s%s\n", domain != NULL ? domain : "quantra-esimd", prefix, message);
	fflush(stderr);
}

static void
ql_daemon_clear(QlDaemon *d)
{
	g_clear_pointer(&d->euiccs, g_hash_table_unref);
	g_clear_pointer(&d->operations, g_hash_table_unref);
	g_clear_pointer(&d->clients, g_hash_table_unref);
	for (guint i = 0; i < QL_N_STACKS; i++)
		g_clear_pointer(&d->scan[i].failures, g_hash_table_unref);
	g_clear_object(&d->manager_iface);
	g_clear_object(&d->manager);
	g_clear_object(&d->authority);
	g_clear_object(&d->bus);
	g_clear_pointer(&d->cfg, ql_config_free);
	g_clear_pointer(&d->loop, g_main_loop_unref);
	g_mutex_clear(&d->clients_lock);
}

int
main(int argc, char **argv)
{
	QlDaemon d = {0};
	g_autoptr(GOptionContext) ctx = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *config = NULL;
	gboolean version = FALSE;
	guint owner_id;
	const GOptionEntry entries[] = {
		{"config", 'c', 0, G_OPTION_ARG_FILENAME, &config,
		 N_("Configuration file (default " QL_CONFIG_DEFAULT_PATH ")"), N_("FILE")},
		{"verbose", 'v', 0, G_OPTION_ARG_NONE, &ql_daemon_verbose,
		 N_("Print debug messages"), NULL},
		{"version", 'V', 0, G_OPTION_ARG_NONE, &version, N_("Print the version"), NULL},
		{NULL},
	};

	setlocale(LC_ALL, "");
	bindtextdomain(GETTEXT_PACKAGE, QL_LOCALEDIR);
	bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
	textdomain(GETTEXT_PACKAGE);
	g_set_prgname("quantra-esimd");
	g_log_set_default_handler(ql_daemon_log, NULL);

	ctx = g_option_context_new(NULL);
	g_option_context_set_summary(
		ctx, _("The eSIM service: manages the eUICCs of the modems ModemManager shows and "
		       "of the devices the configuration names, for clients on the system bus "
		       "(org.quantra.Esim1), with polkit deciding who may change what."));
	g_option_context_add_main_entries(ctx, entries, GETTEXT_PACKAGE);
	if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
		g_printerr("quantra-esimd: %s\n", error->message);
		return 2;
	}
	if (version) {
		g_print("quantra-esimd %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (argc > 1) {
		g_printerr("quantra-esimd: unexpected argument '%s' (see --help)\n", argv[1]);
		return 2;
	}
	(void)ql_error_quark(); /* registers the org.quantra.Esim1.Error names */

	g_mutex_init(&d.clients_lock);
	d.cfg = ql_config_load(config, &error);
	if (d.cfg == NULL) {
		g_printerr("quantra-esimd: %s\n", error->message);
		return 1;
	}
	d.main_ctx = g_main_context_default();
	d.loop = g_main_loop_new(d.main_ctx, FALSE);
	d.euiccs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					 (GDestroyNotify)ql_euicc_unref);
	d.operations =
		g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)ql_op_unref);
	d.clients = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
					  (GDestroyNotify)ql_client_free);
	for (guint i = 0; i < QL_N_STACKS; i++)
		d.scan[i].failures = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	d.next_op_id = 1;

	d.bus = g_bus_get_sync(G_BUS_TYPE_SYSTEM, NULL, &error);
	if (d.bus == NULL) {
		g_printerr("quantra-esimd: cannot connect to the system bus: %s\n", error->message);
		ql_daemon_clear(&d);
		return 1;
	}
	g_dbus_connection_set_exit_on_close(d.bus, FALSE);
	d.authority = polkit_authority_get_sync(NULL, &error);
	if (d.authority == NULL) {
		/* every state change will be refused; reading still works */
		g_warning("polkit is not available: %s", error->message);
		g_clear_error(&error);
	}

	d.manager = g_dbus_object_manager_server_new(QL_DBUS_PATH);
	d.manager_iface = ql_dbus_manager_skeleton_new();
	ql_dbus_manager_set_version(d.manager_iface, PACKAGE_VERSION);
	g_signal_connect(d.manager_iface, "handle-register-agent",
			 G_CALLBACK(ql_daemon_handle_register_agent), &d);
	g_signal_connect(d.manager_iface, "handle-unregister-agent",
			 G_CALLBACK(ql_daemon_handle_unregister_agent), &d);
	if (!g_dbus_interface_skeleton_export(G_DBUS_INTERFACE_SKELETON(d.manager_iface), d.bus,
					      QL_DBUS_PATH, &error)) {
		g_printerr("quantra-esimd: cannot export %s: %s\n", QL_DBUS_PATH, error->message);
		ql_daemon_clear(&d);
		return 1;
	}
	g_dbus_object_manager_server_set_connection(d.manager, d.bus);

	g_unix_signal_add(SIGTERM, ql_daemon_stop, &d);
	g_unix_signal_add(SIGINT, ql_daemon_stop, &d);
	ql_discovery_start(&d);
	ql_daemon_crl_start(&d);
	owner_id = g_bus_own_name_on_connection(d.bus, QL_DBUS_NAME, G_BUS_NAME_OWNER_FLAGS_NONE,
						ql_daemon_name_acquired, ql_daemon_name_lost, &d,
						NULL);
	g_main_loop_run(d.loop);

	/* stop: every worker ends (its operation cancelled), every inhibition is given back */
	d.stopping = TRUE;
	g_bus_unown_name(owner_id);
	ql_discovery_stop(&d);
	ql_daemon_crl_stop(&d);
	{
		GHashTableIter it;
		gpointer value;
		g_hash_table_iter_init(&it, d.euiccs);
		while (g_hash_table_iter_next(&it, NULL, &value))
			ql_euicc_shutdown(value);
	}
	/* what the workers handed back before they ended */
	while (g_main_context_iteration(d.main_ctx, FALSE))
		;
	g_dbus_interface_skeleton_unexport(G_DBUS_INTERFACE_SKELETON(d.manager_iface));
	g_dbus_connection_flush_sync(d.bus, NULL, NULL);
	ql_daemon_clear(&d);
	return d.exit_code;
}
