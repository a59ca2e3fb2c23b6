/*
 * Modems through ModemManager (libmm-glib).
 *
 * Each public call builds its own MMManager on a private main context: nothing is left
 * attached to the caller's context, the call works from any worker thread, and a fresh
 * GetManagedObjects answer is what re-querying needs after ModemManager re-creates a modem.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <libmm-glib.h>
#include <string.h>
#include <sys/stat.h>

#include "quantra-l/ql-error.h"
#include "ql-modem.h"

#define QL_MODEM_PATH_PREFIX MM_DBUS_PATH "/Modem/"
#define QL_MODEM_POLL_US (200 * 1000)
#define QL_MODEM_RELEASE_POLL_US (50 * 1000)
#define QL_MODEM_RELEASE_TIMEOUT_US (15 * G_USEC_PER_SEC)

struct _QlModemInhibit {
	GMainContext *ctx;  /* the context the manager's proxies were made on */
	MMManager *manager; /* keeps our bus connection, which holds the inhibition */
	gchar *uid;
	gboolean held;
};

void
ql_modem_info_free(QlModemInfo *info)
{
	if (info == NULL)
		return;
	g_free(info->path);
	g_free(info->manufacturer);
	g_free(info->model);
	g_free(info->device);
	g_free(info->primary_port);
	g_free(info->control_port);
	g_free(info->at_port);
	g_free(info->transport);
	g_free(info->spec);
	g_free(info->sim_path);
	g_free(info->eid);
	g_free(info->sim_type);
	g_free(info->esim_status);
	g_free(info->iccid);
	g_free(info->operator_name);
	g_free(info->state);
	g_free(info);
}

QlModemInfo *
ql_modem_info_copy(const QlModemInfo *info)
{
	QlModemInfo *c = g_new0(QlModemInfo, 1);
	c->index = info->index;
	c->path = g_strdup(info->path);
	c->manufacturer = g_strdup(info->manufacturer);
	c->model = g_strdup(info->model);
	c->device = g_strdup(info->device);
	c->primary_port = g_strdup(info->primary_port);
	c->control_port = g_strdup(info->control_port);
	c->at_port = g_strdup(info->at_port);
	c->transport = g_strdup(info->transport);
	c->spec = g_strdup(info->spec);
	c->exclusive = info->exclusive;
	c->n_slots = info->n_slots;
	c->slot = info->slot;
	c->sim_path = g_strdup(info->sim_path);
	c->eid = g_strdup(info->eid);
	c->sim_type = g_strdup(info->sim_type);
	c->esim_status = g_strdup(info->esim_status);
	c->iccid = g_strdup(info->iccid);
	c->operator_name = g_strdup(info->operator_name);
	c->state = g_strdup(info->state);
	return c;
}

/* ModemManager reports empty strings for properties it could not read */
static gchar *
ql_modem_dup_nonempty(const gchar *s)
{
	return s != NULL && *s != '\0' ? g_strdup(s) : NULL;
}

/* Port names are kernel names ("cdc-wdm0", "wwan0mbim0"); test mocks may give a full path */
static gchar *
ql_modem_port_path(const gchar *name)
{
	if (name[0] == '/')
		return g_strdup(name);
	return g_strconcat("/dev/", name, NULL);
}

/* Drops what the private context still holds (signal subscriptions unwinding), then leaves it. */
static void
ql_modem_context_leave(GMainContext *ctx)
{
	while (g_main_context_iteration(ctx, FALSE))
		;
	g_main_context_pop_thread_default(ctx);
}

static MMManager *
ql_modem_manager_new(GDBusConnection *bus, GError **error)
{
	g_autoptr(GDBusConnection) conn = NULL;
	g_autoptr(MMManager) manager = NULL;
	g_autofree gchar *owner = NULL;
	g_autoptr(GError) error_local = NULL;

	if (bus != NULL) {
		conn = g_object_ref(bus);
	} else {
		conn = g_bus_get_sync(G_BUS_TYPE_SYSTEM, NULL, &error_local);
		if (conn == NULL) {
			g_set_error(error, QL_ERROR, QL_ERROR_IO,
				    "cannot reach ModemManager: no system D-Bus (%s)",
				    error_local->message);
			return NULL;
		}
	}
	/* no auto-start: a missing ModemManager must be reported, not waited for */
	manager = mm_manager_new_sync(conn, G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_DO_NOT_AUTO_START,
				      NULL, &error_local);
	if (manager == NULL) {
		g_dbus_error_strip_remote_error(error_local);
		g_set_error(error, QL_ERROR, QL_ERROR_IO, "cannot talk to ModemManager: %s",
			    error_local->message);
		return NULL;
	}
	owner = g_dbus_object_manager_client_get_name_owner(G_DBUS_OBJECT_MANAGER_CLIENT(manager));
	if (owner == NULL) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_IO,
				    "ModemManager is not running (nobody owns " MM_DBUS_SERVICE
				    " on the system bus): start it, or name the device with "
				    "--direct (e.g. qmi:/dev/cdc-wdm0)");
		return NULL;
	}
	return g_steal_pointer(&manager);
}

static const gchar *
ql_modem_sim_type_str(MMSimType type)
{
	switch (type) {
	case MM_SIM_TYPE_PHYSICAL:
		return "physical";
	case MM_SIM_TYPE_ESIM:
		return "esim";
	default:
		return "unknown";
	}
}

static const gchar *
ql_modem_esim_status_str(MMSimEsimStatus status)
{
	switch (status) {
	case MM_SIM_ESIM_STATUS_NO_PROFILES:
		return "no profiles";
	case MM_SIM_ESIM_STATUS_WITH_PROFILES:
		return "with profiles";
	default:
		return "unknown";
	}
}

/* The active SIM, and where the eUICC is when another slot holds it. A SIM that cannot be
 * read (ModemManager is still probing it) is left out rather than failing the listing. */
static void
ql_modem_fill_sim(QlModemInfo *info, MMModem *modem)
{
	const gchar *sim_path = mm_modem_get_sim_path(modem);
	g_autoptr(MMSim) sim = NULL;
	g_autoptr(GError) error_local = NULL;

	info->sim_type = g_strdup("unknown");
	info->esim_status = g_strdup("unknown");
	if (sim_path != NULL && g_strcmp0(sim_path, "/") != 0) {
		sim = mm_modem_get_sim_sync(modem, NULL, &error_local);
		if (sim == NULL)
			g_debug("modem %u: SIM %s unreadable: %s", info->index, sim_path,
				error_local->message);
	}
	if (sim != NULL) {
		info->sim_path = g_strdup(sim_path);
		info->iccid = ql_modem_dup_nonempty(mm_sim_get_identifier(sim));
		info->operator_name = ql_modem_dup_nonempty(mm_sim_get_operator_name(sim));
		info->eid = ql_modem_dup_nonempty(mm_sim_get_eid(sim));
		g_free(info->sim_type);
		info->sim_type = g_strdup(ql_modem_sim_type_str(mm_sim_get_sim_type(sim)));
		g_free(info->esim_status);
		info->esim_status = g_strdup(ql_modem_esim_status_str(mm_sim_get_esim_status(sim)));
	}

	/* A physical SIM may be active while the eUICC sits in another slot: point the device
	 * spec at the eUICC's slot, since that is the card this tool manages. */
	if (info->eid == NULL && info->n_slots > 1) {
		g_autoptr(GPtrArray) slots = NULL;
		g_clear_error(&error_local);
		slots = mm_modem_list_sim_slots_sync(modem, NULL, &error_local);
		if (slots == NULL) {
			g_debug("modem %u: SIM slots unreadable: %s", info->index,
				error_local->message);
			return;
		}
		for (guint i = 0; i < slots->len; i++) {
			MMSim *s = g_ptr_array_index(slots, i);
			if (s == NULL || mm_sim_get_eid(s) == NULL || *mm_sim_get_eid(s) == '\0')
				continue;
			info->eid = g_strdup(mm_sim_get_eid(s));
			info->slot = i + 1;
			g_free(info->esim_status);
			info->esim_status =
				g_strdup(ql_modem_esim_status_str(mm_sim_get_esim_status(s)));
			break;
		}
	}
}

static QlModemInfo *
ql_modem_info_new(MMModem *modem)
{
	g_autoptr(QlModemInfo) info = g_new0(QlModemInfo, 1);
	const gchar *path = mm_modem_get_path(modem);
	const gchar *primary = mm_modem_get_primary_port(modem);
	const gchar *const *slot_paths = mm_modem_get_sim_slot_paths(modem);
	const MMModemPortInfo *ports = NULL;
	guint n_ports = 0;
	const MMModemPortInfo *control = NULL;
	guint64 index = 0;

	info->path = g_strdup(path);
	if (g_str_has_prefix(path, QL_MODEM_PATH_PREFIX) &&
	    g_ascii_string_to_unsigned(path + strlen(QL_MODEM_PATH_PREFIX), 10, 0, G_MAXUINT,
				       &index, NULL))
		info->index = (guint)index;
	info->manufacturer = ql_modem_dup_nonempty(mm_modem_get_manufacturer(modem));
	info->model = ql_modem_dup_nonempty(mm_modem_get_model(modem));
	info->device = ql_modem_dup_nonempty(mm_modem_get_device(modem));
	info->primary_port = ql_modem_dup_nonempty(primary);
	info->state = g_strdup(mm_modem_state_get_string(mm_modem_get_state(modem)));

	/* ModemManager talks through the primary port: prefer it when it is the control port */
	if (mm_modem_peek_ports(modem, &ports, &n_ports)) {
		for (guint i = 0; i < n_ports; i++) {
			gboolean is_ctl = ports[i].type == MM_MODEM_PORT_TYPE_QMI ||
					  ports[i].type == MM_MODEM_PORT_TYPE_MBIM;
			if (ports[i].type == MM_MODEM_PORT_TYPE_AT && info->at_port == NULL)
				info->at_port = ql_modem_port_path(ports[i].name);
			if (!is_ctl)
				continue;
			if (control == NULL || g_strcmp0(ports[i].name, primary) == 0)
				control = &ports[i];
		}
	}
	if (control != NULL) {
		info->control_port = ql_modem_port_path(control->name);
		info->transport =
			g_strdup(control->type == MM_MODEM_PORT_TYPE_QMI ? "qmi" : "mbim");
	}

	info->n_slots = slot_paths != NULL ? g_strv_length((gchar **)slot_paths) : 0;
	info->slot = mm_modem_get_primary_sim_slot(modem);
	ql_modem_fill_sim(info, modem);

	if (info->control_port != NULL) {
		if (info->n_slots > 1 && info->slot > 0)
			info->spec = g_strdup_printf("%s:%s?slot=%u", info->transport,
						     info->control_port, info->slot);
		else
			info->spec = g_strdup_printf("%s:%s", info->transport, info->control_port);
	} else if (info->at_port != NULL) {
		/* ModemManager keeps its TTYs open with TIOCEXCL: the port is ours only while the
		 * modem is inhibited (and root would get in regardless, and talk across it) */
		info->transport = g_strdup("at");
		info->spec = g_strdup_printf("at:%s", info->at_port);
		info->exclusive = TRUE;
	}
	return g_steal_pointer(&info);
}

static gint
ql_modem_info_cmp(gconstpointer a, gconstpointer b)
{
	const QlModemInfo *x = *(QlModemInfo *const *)a;
	const QlModemInfo *y = *(QlModemInfo *const *)b;
	return x->index < y->index ? -1 : x->index > y->index;
}

static GPtrArray *
ql_modem_list_in_context(GDBusConnection *bus, GError **error)
{
	g_autoptr(MMManager) manager = NULL;
	g_autoptr(GPtrArray) result =
		g_ptr_array_new_with_free_func((GDestroyNotify)ql_modem_info_free);
	GList *objects;

	manager = ql_modem_manager_new(bus, error);
	if (manager == NULL)
		return NULL;
	objects = g_dbus_object_manager_get_objects(G_DBUS_OBJECT_MANAGER(manager));
	for (GList *l = objects; l != NULL; l = l->next) {
		MMModem *modem = mm_object_peek_modem(MM_OBJECT(l->data));
		if (modem != NULL)
			g_ptr_array_add(result, ql_modem_info_new(modem));
	}
	g_list_free_full(objects, g_object_unref);
	g_ptr_array_sort(result, ql_modem_info_cmp);
	return g_steal_pointer(&result);
}

GPtrArray *
ql_modem_list(GDBusConnection *bus, GError **error)
{
	g_autoptr(GMainContext) ctx = g_main_context_new();
	GPtrArray *result;

	g_main_context_push_thread_default(ctx);
	result = ql_modem_list_in_context(bus, error);
	ql_modem_context_leave(ctx);
	return result;
}

QlModemInfo *
ql_modem_resolve(GDBusConnection *bus, const gchar *which, GError **error)
{
	g_autoptr(GPtrArray) modems = NULL;
	QlModemInfo *found = NULL;
	guint64 index = 0;
	gboolean by_index = FALSE;
	gboolean any = g_strcmp0(which, "any") == 0;

	g_return_val_if_fail(which != NULL, NULL);
	if (!any && which[0] != '/') {
		if (!g_ascii_string_to_unsigned(which, 10, 0, G_MAXUINT, &index, NULL)) {
			g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "'%s' names no modem: give its index N or its object path "
				    "%sN, as `quantra-l modems` lists them",
				    which, QL_MODEM_PATH_PREFIX);
			return NULL;
		}
		by_index = TRUE;
	}

	modems = ql_modem_list(bus, error);
	if (modems == NULL)
		return NULL;
	if (modems->len == 0) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_NOT_FOUND,
				    "ModemManager knows no modem (is it plugged in and "
				    "enabled? `mmcli -L` lists what ModemManager sees)");
		return NULL;
	}
	for (guint i = 0; i < modems->len && found == NULL; i++) {
		QlModemInfo *m = g_ptr_array_index(modems, i);
		if (any || (by_index && m->index == index) ||
		    (!by_index && g_strcmp0(m->path, which) == 0))
			found = m;
	}
	if (found == NULL) {
		g_set_error(error, QL_ERROR, QL_ERROR_NOT_FOUND,
			    "ModemManager has no modem %s (`quantra-l modems` lists them)", which);
		return NULL;
	}
	if (found->spec == NULL) {
		g_set_error(error, QL_ERROR, QL_ERROR_NOT_FOUND,
			    "modem %u (%s %s) has no QMI, MBIM or AT port to reach its SIM through",
			    found->index,
			    found->manufacturer != NULL ? found->manufacturer : "unknown",
			    found->model != NULL ? found->model : "model");
		return NULL;
	}
	return ql_modem_info_copy(found);
}

/* Whether process @pid has the file @port_st names open (its /proc/PID/fd links) */
static gboolean
ql_modem_pid_holds(guint32 pid, const struct stat *port_st)
{
	g_autofree gchar *fds = g_strdup_printf("/proc/%u/fd", pid);
	g_autoptr(GDir) dir = g_dir_open(fds, 0, NULL);
	const gchar *fd;

	while (dir != NULL && (fd = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *link = g_build_filename(fds, fd, NULL);
		struct stat st;
		if (stat(link, &st) == 0 && st.st_dev == port_st->st_dev &&
		    st.st_ino == port_st->st_ino)
			return TRUE;
	}
	return FALSE;
}

/* ModemManager answers InhibitDevice once the modem is gone from the bus, but may close the
 * TTY later (a command still pending on it keeps the port until it times out): wait until its
 * process has really let go of the port, which it holds exclusively. */
static gboolean
ql_modem_wait_port_released(MMManager *manager, const QlModemInfo *info, GError **error)
{
	GDBusConnection *conn =
		g_dbus_object_manager_client_get_connection(G_DBUS_OBJECT_MANAGER_CLIENT(manager));
	g_autoptr(GVariant) ret = NULL;
	g_autoptr(GError) error_local = NULL;
	gint64 deadline = g_get_monotonic_time() + QL_MODEM_RELEASE_TIMEOUT_US;
	struct stat port_st;
	guint32 pid = 0;

	if (stat(info->at_port, &port_st) != 0)
		return TRUE; /* no such port any more: nothing holds it */
	ret = g_dbus_connection_call_sync(
		conn, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
		"GetConnectionUnixProcessID", g_variant_new("(s)", MM_DBUS_SERVICE),
		G_VARIANT_TYPE("(u)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error_local);
	if (ret == NULL) {
		g_debug("ModemManager's process unknown (%s): not waiting for %s",
			error_local->message, info->at_port);
		return TRUE;
	}
	g_variant_get(ret, "(u)", &pid);
	while (ql_modem_pid_holds(pid, &port_st)) {
		if (g_get_monotonic_time() > deadline) {
			g_set_error(error, QL_ERROR, QL_ERROR_BUSY,
				    "ModemManager released modem %u but still holds %s open after "
				    "%d s: try again when it has let go of the port",
				    info->index, info->at_port,
				    (gint)(QL_MODEM_RELEASE_TIMEOUT_US / G_USEC_PER_SEC));
			return FALSE;
		}
		g_usleep(QL_MODEM_RELEASE_POLL_US);
	}
	return TRUE;
}

QlModemInhibit *
ql_modem_inhibit(GDBusConnection *bus, const QlModemInfo *info, GError **error)
{
	g_autoptr(GMainContext) ctx = g_main_context_new();
	g_autoptr(MMManager) manager = NULL;
	g_autoptr(GError) error_local = NULL;
	QlModemInhibit *inhibit;

	if (info->device == NULL) {
		g_set_error(error, QL_ERROR, QL_ERROR_NOT_FOUND,
			    "modem %u has no device id: ModemManager cannot inhibit it",
			    info->index);
		return NULL;
	}
	g_main_context_push_thread_default(ctx);
	manager = ql_modem_manager_new(bus, error);
	if (manager == NULL) {
		ql_modem_context_leave(ctx);
		return NULL;
	}
	if (!mm_manager_inhibit_device_sync(manager, info->device, NULL, &error_local)) {
		g_dbus_error_strip_remote_error(error_local);
		g_set_error(error, QL_ERROR, QL_ERROR_IO,
			    "ModemManager would not release modem %u (%s): %s", info->index,
			    info->device, error_local->message);
		g_clear_object(&manager);
		ql_modem_context_leave(ctx);
		return NULL;
	}
	g_debug("modem %u inhibited (%s)", info->index, info->device);
	ql_modem_context_leave(ctx);

	inhibit = g_new0(QlModemInhibit, 1);
	inhibit->ctx = g_steal_pointer(&ctx);
	inhibit->manager = g_steal_pointer(&manager);
	inhibit->uid = g_strdup(info->device);
	inhibit->held = TRUE;
	if (info->exclusive && info->at_port != NULL &&
	    !ql_modem_wait_port_released(inhibit->manager, info, error)) {
		ql_modem_inhibit_free(inhibit); /* gives the modem back */
		return NULL;
	}
	return inhibit;
}

gboolean
ql_modem_uninhibit(QlModemInhibit *inhibit, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	gboolean ok;

	if (!inhibit->held)
		return TRUE;
	/* whatever ModemManager answers, our claim is gone: do not try again on free */
	inhibit->held = FALSE;
	g_main_context_push_thread_default(inhibit->ctx);
	ok = mm_manager_uninhibit_device_sync(inhibit->manager, inhibit->uid, NULL, &error_local);
	ql_modem_context_leave(inhibit->ctx);
	if (!ok) {
		g_dbus_error_strip_remote_error(error_local);
		g_set_error(error, QL_ERROR, QL_ERROR_IO,
			    "ModemManager did not take the modem back (%s): %s", inhibit->uid,
			    error_local->message);
		return FALSE;
	}
	g_debug("modem uninhibited (%s)", inhibit->uid);
	return TRUE;
}

void
ql_modem_inhibit_free(QlModemInhibit *inhibit)
{
	g_autoptr(GError) error_local = NULL;

	if (inhibit == NULL)
		return;
	if (!ql_modem_uninhibit(inhibit, &error_local))
		g_warning("%s", error_local->message);
	g_main_context_push_thread_default(inhibit->ctx);
	g_clear_object(&inhibit->manager);
	ql_modem_context_leave(inhibit->ctx);
	g_main_context_unref(inhibit->ctx);
	g_free(inhibit->uid);
	g_free(inhibit);
}

/* ICCIDs are compared as digits: some stacks keep the trailing filler 'F', some do not */
static gboolean
ql_modem_iccid_equal(const gchar *a, const gchar *b)
{
	gsize la = strlen(a);
	gsize lb = strlen(b);
	while (la > 0 && g_ascii_toupper(a[la - 1]) == 'F')
		la--;
	while (lb > 0 && g_ascii_toupper(b[lb - 1]) == 'F')
		lb--;
	return la == lb && g_ascii_strncasecmp(a, b, la) == 0;
}

QlModemInfo *
ql_modem_wait_for_iccid(GDBusConnection *bus, const QlModemInfo *info, const gchar *expected_iccid,
			guint timeout_ms, GError **error)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	g_autoptr(GError) last_error = NULL;
	g_autofree gchar *last_iccid = NULL;
	gboolean seen_modem = FALSE;
	gboolean seen_sim = FALSE;
	gdouble secs = timeout_ms / 1000.0;

	if (info->device == NULL) {
		g_set_error(error, QL_ERROR, QL_ERROR_NOT_FOUND,
			    "modem %u has no device id: cannot follow it through ModemManager",
			    info->index);
		return NULL;
	}
	for (;;) {
		g_autoptr(GPtrArray) modems = NULL;
		g_autoptr(GError) error_local = NULL;

		modems = ql_modem_list(bus, &error_local);
		seen_modem = seen_sim = FALSE;
		g_clear_pointer(&last_iccid, g_free);
		g_clear_error(&last_error);
		if (modems == NULL)
			last_error = g_steal_pointer(&error_local);
		for (guint i = 0; modems != NULL && i < modems->len; i++) {
			QlModemInfo *m = g_ptr_array_index(modems, i);
			/* the object path changes when ModemManager re-probes: follow the device */
			if (g_strcmp0(m->device, info->device) != 0)
				continue;
			seen_modem = TRUE;
			if (expected_iccid == NULL)
				return ql_modem_info_copy(m);
			if (m->iccid == NULL)
				continue;
			seen_sim = TRUE;
			if (ql_modem_iccid_equal(m->iccid, expected_iccid))
				return ql_modem_info_copy(m);
			g_free(last_iccid);
			last_iccid = g_strdup(m->iccid);
		}
		if (g_get_monotonic_time() + QL_MODEM_POLL_US > deadline)
			break;
		g_usleep(QL_MODEM_POLL_US);
	}

	if (last_error != NULL) {
		g_set_error(error, QL_ERROR, QL_ERROR_IO, "waited %.1f s for the modem, but: %s",
			    secs, last_error->message);
	} else if (!seen_modem) {
		g_set_error(error, QL_ERROR, QL_ERROR_IO,
			    "the modem (%s) did not come back in ModemManager within %.1f s",
			    info->device, secs);
	} else if (!seen_sim) {
		g_set_error(error, QL_ERROR, QL_ERROR_TIMEOUT,
			    "ModemManager still shows the modem (%s) without a readable SIM after "
			    "%.1f s",
			    info->device, secs);
	} else {
		g_set_error(error, QL_ERROR, QL_ERROR_TIMEOUT,
			    "ModemManager still shows the SIM %s, not %s, after %.1f s", last_iccid,
			    expected_iccid, secs);
	}
	return NULL;
}
