/*
 * quantra-esimd: which eUICCs are exported. The devices the configuration names
 * ([device NAME] spec=...) are read once at start; ModemManager's modems are listed again
 * whenever ModemManager comes, goes, or adds or removes a modem. A modem is exported when its
 * QMI or MBIM port leads to an eUICC (the EID read through it names the object); otherwise the
 * debug log says why not. A modem the service itself inhibited (a profile switch) disappears
 * from ModemManager for a while: its eUICC stays.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include "quantra-l/ql-error.h"
#include "ql-daemon.h"

#define QL_MM_NAME "org.freedesktop.ModemManager1"
#define QL_MM_PATH "/org/freedesktop/ModemManager1"

typedef struct {
	gchar *name;	    /* [device NAME], NULL for a modem */
	gchar *spec;	    /* with the configuration's parameters */
	QlModemInfo *modem; /* NULL for a configured device */
	QlSnapshot *snap;
	GError *error;
} QlProbe;

static void
ql_probe_free(QlProbe *p)
{
	g_free(p->name);
	g_free(p->spec);
	g_clear_pointer(&p->modem, ql_modem_info_free);
	g_clear_pointer(&p->snap, ql_snapshot_free);
	g_clear_error(&p->error);
	g_free(p);
}

/* Creates (or, for a modem seen again, updates) the eUICC a probe found */
static void
ql_discovery_add(QlDaemon *d, QlProbe *p)
{
	QlEuicc *e = g_hash_table_lookup(d->euiccs, p->snap->eid);

	if (e != NULL) {
		if (p->modem != NULL && e->modem == NULL)
			ql_euicc_set_modem(e, p->modem);
		else
			g_debug("%s: the eUICC %s is exported already through %s", p->spec,
				p->snap->eid, e->spec);
		return;
	}
	e = ql_euicc_new(d, p->snap->eid, p->name, p->spec, p->modem);
	ql_euicc_export(e, p->snap); /* the table takes the reference */
}

/* ---- configured devices ---- */

static void
ql_discovery_probe_thread(GTask *task, gpointer source, gpointer task_data,
			  GCancellable *cancellable)
{
	QlProbe *p = task_data;
	p->snap = ql_worker_probe(p->spec, &p->error);
	g_task_return_boolean(task, TRUE);
}

static void
ql_discovery_device_probed(GObject *source, GAsyncResult *res, gpointer user_data)
{
	QlDaemon *d = user_data;
	QlProbe *p = g_task_get_task_data(G_TASK(res));

	d->pending_probes--;
	if (d->stopping)
		return;
	if (p->snap == NULL) {
		g_warning("device %s (%s) is not exported: %s", p->name, p->spec,
			  p->error->message);
		return;
	}
	ql_discovery_add(d, p);
}

/* ---- ModemManager ---- */

typedef struct {
	QlConfig *cfg;	      /* borrowed: lives as long as the daemon */
	GHashTable *known;    /* device uids whose eUICC is exported: not probed again */
	GHashTable *failed;   /* modem paths found unusable before: not probed again */
	GPtrArray *modems;    /* QlModemInfo: every modem ModemManager shows */
	GPtrArray *probes;    /* QlProbe: new modems with an eUICC */
	GHashTable *failures; /* modem path -> why it is not exported (new ones) */
	GError *error;	      /* ModemManager could not be asked */
} QlRescan;

static void
ql_rescan_free(QlRescan *r)
{
	g_clear_pointer(&r->known, g_hash_table_unref);
	g_clear_pointer(&r->failed, g_hash_table_unref);
	g_clear_pointer(&r->modems, g_ptr_array_unref);
	g_clear_pointer(&r->probes, g_ptr_array_unref);
	g_clear_pointer(&r->failures, g_hash_table_unref);
	g_clear_error(&r->error);
	g_free(r);
}

static void
ql_discovery_rescan_thread(GTask *task, gpointer source, gpointer task_data,
			   GCancellable *cancellable)
{
	QlRescan *r = task_data;

	r->modems = ql_modem_list(NULL, &r->error);
	for (guint i = 0; r->modems != NULL && i < r->modems->len; i++) {
		QlModemInfo *m = g_ptr_array_index(r->modems, i);
		g_autofree gchar *extra = NULL;
		QlProbe *p;

		if (m->device != NULL && g_hash_table_contains(r->known, m->device))
			continue;
		if (g_hash_table_contains(r->failed, m->path))
			continue;
		if (m->spec == NULL) {
			g_hash_table_insert(
				r->failures, g_strdup(m->path),
				m->at_port != NULL
					? g_strdup_printf("no QMI or MBIM port (only the "
							  "AT port %s)",
							  m->at_port)
					: g_strdup("no QMI or MBIM port"));
			continue;
		}
		p = g_new0(QlProbe, 1);
		extra = ql_config_device_params(r->cfg, m->spec, m->model);
		p->spec = ql_config_spec_add_params(m->spec, extra);
		p->modem = ql_modem_info_copy(m);
		p->snap = ql_worker_probe(p->spec, &p->error);
		if (p->snap == NULL) {
			g_hash_table_insert(r->failures, g_strdup(m->path),
					    g_strdup_printf("no eUICC through %s: %s", p->spec,
							    p->error->message));
			ql_probe_free(p);
			continue;
		}
		g_ptr_array_add(r->probes, p);
	}
	g_task_return_boolean(task, TRUE);
}

static void ql_discovery_rescan_start(QlDaemon *d);

static void
ql_discovery_rescanned(GObject *source, GAsyncResult *res, gpointer user_data)
{
	QlDaemon *d = user_data;
	QlRescan *r = g_task_get_task_data(G_TASK(res));
	g_autoptr(GHashTable) present = g_hash_table_new(g_str_hash, g_str_equal);
	g_autoptr(GHashTable) paths = g_hash_table_new(g_str_hash, g_str_equal);
	g_autoptr(GPtrArray) gone = g_ptr_array_new();
	GHashTableIter it;
	gpointer key, value;

	d->rescan_running = FALSE;
	if (d->stopping)
		return;
	if (r->error != NULL)
		g_debug("ModemManager: %s", r->error->message);
	for (guint i = 0; r->modems != NULL && i < r->modems->len; i++) {
		QlModemInfo *m = g_ptr_array_index(r->modems, i);
		if (m->device != NULL)
			g_hash_table_insert(present, m->device, m);
		g_hash_table_add(paths, m->path);
	}
	/* modems that went (not the ones we inhibited ourselves), and those still here */
	g_hash_table_iter_init(&it, d->euiccs);
	while (g_hash_table_iter_next(&it, NULL, &value)) {
		QlEuicc *e = value;
		QlModemInfo *now;
		if (e->modem == NULL)
			continue;
		now = g_hash_table_lookup(present, e->modem->device);
		if (now != NULL)
			ql_euicc_set_modem(e, now);
		else if (!e->inhibit_held && e->running == NULL)
			g_ptr_array_add(gone, e);
	}
	for (guint i = 0; i < gone->len; i++)
		ql_euicc_remove(g_ptr_array_index(gone, i),
				"ModemManager no longer shows its modem");
	for (guint i = 0; i < r->probes->len; i++)
		ql_discovery_add(d, g_ptr_array_index(r->probes, i));
	g_hash_table_iter_init(&it, r->failures);
	while (g_hash_table_iter_next(&it, &key, &value)) {
		g_debug("modem %s is not exported: %s", (const gchar *)key, (const gchar *)value);
		g_hash_table_insert(d->modem_failures, g_strdup(key), g_strdup(value));
	}
	/* forget failures of modems that are gone: a new object is probed again */
	g_hash_table_iter_init(&it, d->modem_failures);
	while (g_hash_table_iter_next(&it, &key, NULL)) {
		if (!g_hash_table_contains(paths, key))
			g_hash_table_iter_remove(&it);
	}
	if (d->rescan_again)
		ql_discovery_rescan_start(d);
}

static void
ql_discovery_rescan_start(QlDaemon *d)
{
	g_autoptr(GTask) task = NULL;
	QlRescan *r = g_new0(QlRescan, 1);
	GHashTableIter it;
	gpointer key, value;

	d->rescan_running = TRUE;
	d->rescan_again = FALSE;
	r->cfg = d->cfg;
	r->known = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	r->failed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	r->probes = g_ptr_array_new_with_free_func((GDestroyNotify)ql_probe_free);
	r->failures = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g_hash_table_iter_init(&it, d->euiccs);
	while (g_hash_table_iter_next(&it, NULL, &value)) {
		QlEuicc *e = value;
		if (e->modem != NULL && e->modem->device != NULL)
			g_hash_table_add(r->known, g_strdup(e->modem->device));
	}
	g_hash_table_iter_init(&it, d->modem_failures);
	while (g_hash_table_iter_next(&it, &key, NULL))
		g_hash_table_add(r->failed, g_strdup(key));
	task = g_task_new(NULL, NULL, ql_discovery_rescanned, d);
	g_task_set_task_data(task, r, (GDestroyNotify)ql_rescan_free);
	g_task_run_in_thread(task, ql_discovery_rescan_thread);
}

void
ql_discovery_rescan(QlDaemon *d)
{
	if (d->stopping)
		return;
	if (d->rescan_running) {
		d->rescan_again = TRUE;
		return;
	}
	ql_discovery_rescan_start(d);
}

static void
ql_discovery_mm_signal(GDBusConnection *bus, const gchar *sender, const gchar *path,
		       const gchar *iface, const gchar *signal, GVariant *params,
		       gpointer user_data)
{
	g_debug("ModemManager: %s", signal);
	ql_discovery_rescan(user_data);
}

static void
ql_discovery_mm_appeared(GDBusConnection *bus, const gchar *name, const gchar *owner,
			 gpointer user_data)
{
	g_debug("ModemManager is running (%s)", owner);
	ql_discovery_rescan(user_data);
}

static void
ql_discovery_mm_vanished(GDBusConnection *bus, const gchar *name, gpointer user_data)
{
	g_debug("ModemManager is not running");
	ql_discovery_rescan(user_data);
}

void
ql_discovery_start(QlDaemon *d)
{
	for (guint i = 0; i < d->cfg->devices->len; i++) {
		QlConfigDevice *dev = g_ptr_array_index(d->cfg->devices, i);
		g_autoptr(GTask) task = g_task_new(NULL, NULL, ql_discovery_device_probed, d);
		QlProbe *p = g_new0(QlProbe, 1);
		p->name = g_strdup(dev->name);
		p->spec = g_strdup(dev->spec);
		g_task_set_task_data(task, p, (GDestroyNotify)ql_probe_free);
		d->pending_probes++;
		g_task_run_in_thread(task, ql_discovery_probe_thread);
	}
	d->mm_signal_id = g_dbus_connection_signal_subscribe(
		d->bus, QL_MM_NAME, "org.freedesktop.DBus.ObjectManager", NULL, QL_MM_PATH, NULL,
		G_DBUS_SIGNAL_FLAGS_NONE, ql_discovery_mm_signal, d, NULL);
	/* calls back at once, with the name there or not: the first scan */
	d->mm_watch_id = g_bus_watch_name_on_connection(
		d->bus, QL_MM_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE, ql_discovery_mm_appeared,
		ql_discovery_mm_vanished, d, NULL);
}

void
ql_discovery_stop(QlDaemon *d)
{
	if (d->mm_signal_id != 0)
		g_dbus_connection_signal_unsubscribe(d->bus, d->mm_signal_id);
	if (d->mm_watch_id != 0)
		g_bus_unwatch_name(d->mm_watch_id);
	d->mm_signal_id = d->mm_watch_id = 0;
	/* a probe or scan still running ends on its own and finds d->stopping set */
	while (d->pending_probes > 0 || d->rescan_running)
		g_main_context_iteration(d->main_ctx, TRUE);
}
