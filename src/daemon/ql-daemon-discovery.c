/*
 * quantra-esimd: which eUICCs are exported. The devices the configuration names
 * ([device NAME] spec=...) are read once at start; ModemManager's modems are listed again
 * whenever ModemManager comes, goes, or adds or removes a modem. A modem is exported when its
 * QMI, MBIM or AT port leads to an eUICC (the EID read through it names the object); otherwise
 * the debug log says why not. An AT port ModemManager holds open is read under an inhibit, once
 * per modem (its device) while the service runs. A modem the service itself inhibited (a profile
 * switch) disappears from ModemManager for a while: its eUICC stays.
 *
 * oFono's modems are listed again whenever oFono comes, goes, adds or removes a modem, or
 * clears a modem's lockdown (another program's lockdown kept it from being read). Each is
 * resolved to a device spec (its [ofono PATH] section, else the ports under its SystemPath) and
 * read once, locked down for the few seconds that takes unless its port is shared.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include "quantra-l/ql-error.h"
#include "ql-daemon.h"
#include "ql-text.h"

#define QL_MM_NAME "org.freedesktop.ModemManager1"
#define QL_MM_PATH "/org/freedesktop/ModemManager1"

typedef struct {
	gchar *name;	     /* [device NAME], NULL for a modem */
	gchar *spec;	     /* with the configuration's parameters */
	QlModemInfo *modem;  /* NULL for a configured device */
	QlOfonoModem *ofono; /* an oFono modem */
	QlSnapshot *snap;
	GError *error;
} QlProbe;

static void
ql_probe_free(QlProbe *p)
{
	g_free(p->name);
	g_free(p->spec);
	g_clear_pointer(&p->modem, ql_modem_info_free);
	g_clear_pointer(&p->ofono, ql_ofono_modem_free);
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
		/* a configured device that is oFono's modem's port: locked down from now on */
		else if (p->ofono != NULL && e->ofono == NULL)
			ql_euicc_set_ofono(e, p->ofono);
		else
			g_debug("%s: the eUICC %s is exported already through %s", p->spec,
				p->snap->eid, e->spec);
		return;
	}
	e = ql_euicc_new(d, p->snap->eid, p->name, p->spec, p->modem, p->ofono);
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

/* ---- the modem stacks: a scan lists the stack's modems and reads the new ones in a thread,
 * then the main thread brings the exported eUICCs in line ---- */

typedef struct {
	QlStack stack;
	QlConfig *cfg;	      /* borrowed: lives as long as the daemon */
	GDBusConnection *bus; /* the service's: oFono ties a lockdown to its connection */
	GHashTable *known;    /* modems whose eUICC is exported (device uid, oFono path) */
	GHashTable *failed;   /* modems found unusable before: not read again */
	GPtrArray *modems;    /* QlModemInfo or QlOfonoModem: every modem the stack shows */
	GPtrArray *probes;    /* QlProbe: new modems with an eUICC */
	GHashTable *failures; /* modem -> why it is not exported (new ones) */
	GError *error;	      /* the stack could not be asked */
} QlScan;

static const gchar *const ql_stack_names[QL_N_STACKS] = {"ModemManager", "oFono"};

static void
ql_scan_free(QlScan *r)
{
	g_clear_object(&r->bus);
	g_clear_pointer(&r->known, g_hash_table_unref);
	g_clear_pointer(&r->failed, g_hash_table_unref);
	g_clear_pointer(&r->modems, g_ptr_array_unref);
	g_clear_pointer(&r->probes, g_ptr_array_unref);
	g_clear_pointer(&r->failures, g_hash_table_unref);
	g_clear_error(&r->error);
	g_free(r);
}

/* A new modem's eUICC through @spec, its port read as the stack lets it (@modem or @ofono); a
 * failure is kept under @key */
static void
ql_scan_probe(QlScan *r, const gchar *key, const gchar *spec, const gchar *model,
	      const QlModemInfo *modem, const QlOfonoModem *ofono)
{
	g_autofree gchar *extra = ql_config_device_params(r->cfg, spec, model);
	QlProbe *p = g_new0(QlProbe, 1);

	p->spec = ql_config_spec_add_params(spec, extra);
	if (ofono != NULL) {
		p->ofono = ql_ofono_modem_copy(ofono);
		p->snap = ql_worker_probe_ofono(r->bus, r->cfg, ofono, p->spec, &p->error);
	} else if (modem->exclusive) {
		/* a TTY ModemManager holds open is read under an inhibit, once */
		QlModemInfo *now = NULL;
		g_debug("modem %s: reading its eUICC through %s under an inhibit", modem->path,
			modem->at_port);
		p->snap = ql_worker_probe_exclusive(modem, p->spec, r->cfg->modem_wait_ms, &now,
						    &p->error);
		p->modem = now != NULL ? now : ql_modem_info_copy(modem);
	} else {
		p->modem = ql_modem_info_copy(modem);
		p->snap = ql_worker_probe(p->spec, &p->error);
	}
	if (p->snap != NULL) {
		g_ptr_array_add(r->probes, p);
		return;
	}
	/* another program's lockdown ends some time: read again when it does */
	if (ofono != NULL && g_error_matches(p->error, QL_ERROR, QL_ERROR_BUSY))
		g_debug("oFono modem %s is not read now: %s", ofono->path, p->error->message);
	else
		g_hash_table_insert(
			r->failures, g_strdup(key),
			g_strdup_printf("no eUICC through %s: %s", p->spec, p->error->message));
	ql_probe_free(p);
}

static void
ql_scan_mm(QlScan *r)
{
	r->modems = ql_modem_list(NULL, &r->error);
	for (guint i = 0; r->modems != NULL && i < r->modems->len; i++) {
		QlModemInfo *m = g_ptr_array_index(r->modems, i);
		/* ModemManager re-creates a modem it was inhibited from under a new path: a
		 * failure of a TTY's modem is kept by device, or the new object would be read (and
		 * the modem taken away) again */
		const gchar *key = m->exclusive && m->device != NULL ? m->device : m->path;

		if ((m->device != NULL && g_hash_table_contains(r->known, m->device)) ||
		    g_hash_table_contains(r->failed, key))
			continue;
		if (m->spec == NULL)
			g_hash_table_insert(r->failures, g_strdup(key),
					    g_strdup("no QMI, MBIM or AT port"));
		else
			ql_scan_probe(r, key, m->spec, m->model, m, NULL);
	}
}

static void
ql_scan_ofono(QlScan *r)
{
	r->modems = ql_ofono_list(r->bus, r->cfg, &r->error);
	for (guint i = 0; r->modems != NULL && i < r->modems->len; i++) {
		QlOfonoModem *m = g_ptr_array_index(r->modems, i);
		g_autoptr(GError) local = NULL;

		if (g_hash_table_contains(r->known, m->path))
			continue;
		/* a lockdown a former run held when it died: the modem powered again */
		if (!ql_ofono_lockdown_recover(r->bus, ql_daemon_state_dir(r->cfg), m, &local))
			g_warning("oFono modem %s: %s", m->path, local->message);
		if (g_hash_table_contains(r->failed, m->path))
			continue;
		if (m->spec == NULL)
			g_hash_table_insert(r->failures, g_strdup(m->path),
					    g_strdup(m->unresolved));
		else
			ql_scan_probe(r, m->path, m->spec, m->model, NULL, m);
	}
}

static void
ql_scan_thread(GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
	QlScan *r = task_data;
	if (r->stack == QL_STACK_MM)
		ql_scan_mm(r);
	else
		ql_scan_ofono(r);
	g_task_return_boolean(task, TRUE);
}

static gboolean
ql_discovery_gone_due(gpointer user_data)
{
	QlEuicc *e = user_data;
	e->gone_id = 0;
	ql_euicc_remove(e, "ModemManager no longer shows its modem");
	return G_SOURCE_REMOVE;
}

/* The exported eUICCs of ModemManager's modems after a scan; @present: device uid -> modem */
static void
ql_scan_apply_mm(QlDaemon *d, GHashTable *present, GPtrArray *gone)
{
	GHashTableIter it;
	gpointer value;

	g_hash_table_iter_init(&it, d->euiccs);
	while (g_hash_table_iter_next(&it, NULL, &value)) {
		QlEuicc *e = value;
		QlModemInfo *now;
		if (e->modem == NULL)
			continue;
		now = g_hash_table_lookup(present, e->modem->device);
		if (now != NULL) {
			ql_euicc_set_modem(e, now);
			if (e->gone_id != 0) {
				g_source_remove(e->gone_id);
				e->gone_id = 0;
			}
		} else if (e->inhibit_held || e->running != NULL || e->gone_id != 0) {
			continue; /* ModemManager drops a modem while it is inhibited */
		} else if (e->modem->exclusive) {
			/* another program's inhibit (or ModemManager's own re-probe) re-creates the
			 * modem: reading its TTY again would take the modem away once more, so its
			 * eUICC waits for it as long as the service waits after its own */
			e->gone_id = g_timeout_add(d->cfg->modem_wait_ms, ql_discovery_gone_due, e);
		} else {
			g_ptr_array_add(gone, e);
		}
	}
}

/* The same for oFono's modems (@present: path -> modem). oFono does not drop a modem it locked
 * down: one it no longer shows is gone, even in the middle of an operation (which fails; the
 * worker then lets go of the lockdown). */
static void
ql_scan_apply_ofono(QlDaemon *d, GHashTable *present, GPtrArray *gone)
{
	GHashTableIter it;
	gpointer value;

	g_hash_table_iter_init(&it, d->euiccs);
	while (g_hash_table_iter_next(&it, NULL, &value)) {
		QlEuicc *e = value;
		QlOfonoModem *now;
		if (e->ofono == NULL)
			continue;
		now = g_hash_table_lookup(present, e->ofono->path);
		if (now != NULL)
			ql_euicc_set_ofono(e, now);
		else
			g_ptr_array_add(gone, e);
	}
}

static void ql_scan_start(QlDaemon *d, QlStack stack);

static void
ql_scan_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
	QlDaemon *d = user_data;
	QlScan *r = g_task_get_task_data(G_TASK(res));
	QlScanState *state = &d->scan[r->stack];
	const gchar *stack = ql_stack_names[r->stack];
	g_autoptr(GHashTable) present = g_hash_table_new(g_str_hash, g_str_equal);
	g_autoptr(GPtrArray) gone = g_ptr_array_new();
	g_autofree gchar *why = NULL;
	GHashTableIter it;
	gpointer key, value;

	state->running = FALSE;
	if (d->stopping)
		return;
	if (r->error != NULL)
		g_debug("%s: %s", stack, r->error->message);
	/* what the stack shows now, by what survives a re-created object (a failure kept by
	 * device stays as long as the device is there) */
	for (guint i = 0; r->modems != NULL && i < r->modems->len; i++) {
		if (r->stack == QL_STACK_MM) {
			QlModemInfo *m = g_ptr_array_index(r->modems, i);
			if (m->device != NULL)
				g_hash_table_insert(present, m->device, m);
			g_hash_table_insert(present, m->path, m);
		} else {
			QlOfonoModem *m = g_ptr_array_index(r->modems, i);
			g_hash_table_insert(present, m->path, m);
		}
	}
	if (r->stack == QL_STACK_MM)
		ql_scan_apply_mm(d, present, gone);
	else
		ql_scan_apply_ofono(d, present, gone);
	why = r->modems != NULL ? g_strdup_printf("%s no longer shows its modem", stack)
				: g_strdup_printf("%s is not running", stack);
	for (guint i = 0; i < gone->len; i++)
		ql_euicc_remove(g_ptr_array_index(gone, i), why);
	for (guint i = 0; i < r->probes->len; i++)
		ql_discovery_add(d, g_ptr_array_index(r->probes, i));
	g_hash_table_iter_init(&it, r->failures);
	while (g_hash_table_iter_next(&it, &key, &value)) {
		/* what the stack says (a device, a SystemPath) is not ours to print raw */
		g_autofree gchar *safe_key = ql_text_escape(key, -1, QL_TEXT_MAX_FIELD);
		g_autofree gchar *safe = ql_text_escape(value, -1, QL_TEXT_MAX_MESSAGE);
		g_debug("%s modem %s is not exported: %s", stack, safe_key, safe);
		g_hash_table_insert(state->failures, g_strdup(key), g_strdup(value));
	}
	/* a modem the stack no longer shows is read again when it comes back */
	g_hash_table_iter_init(&it, state->failures);
	while (g_hash_table_iter_next(&it, &key, NULL)) {
		if (!g_hash_table_contains(present, key))
			g_hash_table_iter_remove(&it);
	}
	if (state->again)
		ql_scan_start(d, r->stack);
}

static void
ql_scan_start(QlDaemon *d, QlStack stack)
{
	g_autoptr(GTask) task = NULL;
	QlScan *r = g_new0(QlScan, 1);
	GHashTableIter it;
	gpointer key, value;

	d->scan[stack].running = TRUE;
	d->scan[stack].again = FALSE;
	r->stack = stack;
	r->cfg = d->cfg;
	r->bus = g_object_ref(d->bus);
	r->known = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	r->failed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	r->probes = g_ptr_array_new_with_free_func((GDestroyNotify)ql_probe_free);
	r->failures = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g_hash_table_iter_init(&it, d->euiccs);
	while (g_hash_table_iter_next(&it, NULL, &value)) {
		QlEuicc *e = value;
		if (stack == QL_STACK_MM && e->modem != NULL && e->modem->device != NULL)
			g_hash_table_add(r->known, g_strdup(e->modem->device));
		else if (stack == QL_STACK_OFONO && e->ofono != NULL)
			g_hash_table_add(r->known, g_strdup(e->ofono->path));
	}
	g_hash_table_iter_init(&it, d->scan[stack].failures);
	while (g_hash_table_iter_next(&it, &key, NULL))
		g_hash_table_add(r->failed, g_strdup(key));
	task = g_task_new(NULL, NULL, ql_scan_done, d);
	g_task_set_task_data(task, r, (GDestroyNotify)ql_scan_free);
	g_task_run_in_thread(task, ql_scan_thread);
}

/* Lists the stack's modems again (once more after the scan that runs, when one does) */
static void
ql_scan_request(QlDaemon *d, QlStack stack)
{
	if (d->stopping)
		return;
	if (d->scan[stack].running) {
		d->scan[stack].again = TRUE;
		return;
	}
	ql_scan_start(d, stack);
}

void
ql_discovery_rescan(QlDaemon *d)
{
	ql_scan_request(d, QL_STACK_MM);
}

/* ---- ModemManager ---- */

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

/* ---- oFono ---- */

static void
ql_discovery_ofono_signal(GDBusConnection *bus, const gchar *sender, const gchar *path,
			  const gchar *iface, const gchar *signal, GVariant *params,
			  gpointer user_data)
{
	g_debug("oFono: %s %s", signal, path);
	ql_scan_request(user_data, QL_STACK_OFONO);
}

/* A lockdown cleared: a modem another program held may be read now */
static void
ql_discovery_ofono_property(GDBusConnection *bus, const gchar *sender, const gchar *path,
			    const gchar *iface, const gchar *signal, GVariant *params,
			    gpointer user_data)
{
	QlDaemon *d = user_data;
	const gchar *name = NULL;
	g_autoptr(GVariant) value = NULL;
	GHashTableIter it;
	gpointer v;

	if (!g_variant_is_of_type(params, G_VARIANT_TYPE("(sv)")))
		return;
	g_variant_get(params, "(&sv)", &name, &value);
	if (g_strcmp0(name, "Lockdown") != 0 ||
	    !g_variant_is_of_type(value, G_VARIANT_TYPE_BOOLEAN) || g_variant_get_boolean(value))
		return;
	g_hash_table_iter_init(&it, d->euiccs);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		QlEuicc *e = v;
		if (e->ofono != NULL && g_strcmp0(e->ofono->path, path) == 0)
			return; /* ours, or exported already */
	}
	if (g_hash_table_contains(d->scan[QL_STACK_OFONO].failures, path))
		return;
	g_debug("oFono: the lockdown of %s was cleared", path);
	ql_scan_request(d, QL_STACK_OFONO);
}

static void
ql_discovery_ofono_appeared(GDBusConnection *bus, const gchar *name, const gchar *owner,
			    gpointer user_data)
{
	g_debug("oFono is running (%s)", owner);
	ql_scan_request(user_data, QL_STACK_OFONO);
}

static void
ql_discovery_ofono_vanished(GDBusConnection *bus, const gchar *name, gpointer user_data)
{
	QlDaemon *d = user_data;
	g_debug("oFono is not running");
	/* its modems are gone with it; nothing to ask when none was exported */
	g_hash_table_remove_all(d->scan[QL_STACK_OFONO].failures);
	ql_scan_request(d, QL_STACK_OFONO);
}

void
ql_discovery_start(QlDaemon *d)
{
	for (guint i = 0; i < d->cfg->devices->len; i++) {
		QlConfigDevice *dev = g_ptr_array_index(d->cfg->devices, i);
		g_autoptr(GTask) task = g_task_new(NULL, NULL, ql_discovery_device_probed, d);
		QlProbe *p = g_new0(QlProbe, 1);
		/* [modem SPEC] quirks apply to a configured device too */
		g_autofree gchar *extra = ql_config_device_params(d->cfg, dev->spec, NULL);
		p->name = g_strdup(dev->name);
		p->spec = ql_config_spec_add_params(dev->spec, extra);
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
	d->ofono_signal_id = g_dbus_connection_signal_subscribe(
		d->bus, QL_OFONO_SERVICE, "org.ofono.Manager", NULL, "/", NULL,
		G_DBUS_SIGNAL_FLAGS_NONE, ql_discovery_ofono_signal, d, NULL);
	d->ofono_prop_signal_id = g_dbus_connection_signal_subscribe(
		d->bus, QL_OFONO_SERVICE, "org.ofono.Modem", "PropertyChanged", NULL, NULL,
		G_DBUS_SIGNAL_FLAGS_NONE, ql_discovery_ofono_property, d, NULL);
	d->ofono_watch_id = g_bus_watch_name_on_connection(
		d->bus, QL_OFONO_SERVICE, G_BUS_NAME_WATCHER_FLAGS_NONE,
		ql_discovery_ofono_appeared, ql_discovery_ofono_vanished, d, NULL);
}

void
ql_discovery_stop(QlDaemon *d)
{
	if (d->mm_signal_id != 0)
		g_dbus_connection_signal_unsubscribe(d->bus, d->mm_signal_id);
	if (d->mm_watch_id != 0)
		g_bus_unwatch_name(d->mm_watch_id);
	d->mm_signal_id = d->mm_watch_id = 0;
	if (d->ofono_signal_id != 0)
		g_dbus_connection_signal_unsubscribe(d->bus, d->ofono_signal_id);
	if (d->ofono_prop_signal_id != 0)
		g_dbus_connection_signal_unsubscribe(d->bus, d->ofono_prop_signal_id);
	if (d->ofono_watch_id != 0)
		g_bus_unwatch_name(d->ofono_watch_id);
	d->ofono_signal_id = d->ofono_prop_signal_id = d->ofono_watch_id = 0;
	/* a probe or scan still running ends on its own and finds d->stopping set */
	while (d->pending_probes > 0 || d->scan[QL_STACK_MM].running ||
	       d->scan[QL_STACK_OFONO].running)
		g_main_context_iteration(d->main_ctx, TRUE);
}
