/*
 * Modems through oFono's D-Bus API, with GDBus alone. See ql-ofono.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "quantra-l/ql-error.h"
#include "ql-ofono.h"

#define QL_OFONO_MANAGER "org.ofono.Manager"
#define QL_OFONO_MODEM "org.ofono.Modem"
#define QL_OFONO_SIM "org.ofono.SimManager"
/* oFono answers a Lockdown or Powered change once the modem driver is done (its own timeout
 * is 20 s by default) */
#define QL_OFONO_CALL_TIMEOUT_MS 45000
#define QL_OFONO_POLL_US (200 * 1000)
#define QL_OFONO_ONLINE_TRIES 50
#define QL_OFONO_SYSFS_DEPTH 8

struct _QlOfonoLock {
	GMutex mutex;
	GDBusConnection *bus; /* the connection oFono ties the lockdown to */
	gchar *path;
	gboolean held;
	gboolean was_powered;
	gboolean was_online;
};

void
ql_ofono_modem_free(QlOfonoModem *modem)
{
	if (modem == NULL)
		return;
	g_free(modem->path);
	g_free(modem->type);
	g_free(modem->manufacturer);
	g_free(modem->model);
	g_free(modem->serial);
	g_free(modem->system_path);
	g_free(modem->iccid);
	g_free(modem->transport);
	g_free(modem->spec);
	g_free(modem->spec_origin);
	g_free(modem->unresolved);
	g_free(modem->eid);
	g_free(modem);
}

QlOfonoModem *
ql_ofono_modem_copy(const QlOfonoModem *modem)
{
	QlOfonoModem *m = g_memdup2(modem, sizeof(*modem));
	m->path = g_strdup(modem->path);
	m->type = g_strdup(modem->type);
	m->manufacturer = g_strdup(modem->manufacturer);
	m->model = g_strdup(modem->model);
	m->serial = g_strdup(modem->serial);
	m->system_path = g_strdup(modem->system_path);
	m->iccid = g_strdup(modem->iccid);
	m->transport = g_strdup(modem->transport);
	m->spec = g_strdup(modem->spec);
	m->spec_origin = g_strdup(modem->spec_origin);
	m->unresolved = g_strdup(modem->unresolved);
	m->eid = g_strdup(modem->eid);
	return m;
}

static GDBusConnection *
ql_ofono_bus(GDBusConnection *bus, GError **error)
{
	g_autoptr(GError) local = NULL;
	GDBusConnection *conn;

	if (bus != NULL)
		return g_object_ref(bus);
	conn = g_bus_get_sync(G_BUS_TYPE_SYSTEM, NULL, &local);
	if (conn == NULL)
		g_set_error(error, QL_ERROR, QL_ERROR_IO,
			    "cannot reach oFono: no system D-Bus (%s)", local->message);
	return conn;
}

static gboolean
ql_ofono_remote_is(const GError *e, const gchar *name)
{
	g_autofree gchar *remote = g_dbus_error_get_remote_error(e);
	return g_strcmp0(remote, name) == 0;
}

/* The modem's object is gone (oFono removed it, or never had it) */
static gboolean
ql_ofono_error_is_gone(const GError *e)
{
	return ql_ofono_remote_is(e, "org.freedesktop.DBus.Error.UnknownObject") ||
	       ql_ofono_remote_is(e, "org.freedesktop.DBus.Error.UnknownMethod") ||
	       ql_ofono_remote_is(e, "org.freedesktop.DBus.Error.UnknownInterface");
}

/* A failed call to oFono as a QL_ERROR: "@what: why" */
static void
ql_ofono_set_error(GError **error, GError *remote, const gchar *what)
{
	gint code = QL_ERROR_IO;
	const gchar *hint = "";

	if (ql_ofono_remote_is(remote, "org.freedesktop.DBus.Error.ServiceUnknown") ||
	    ql_ofono_remote_is(remote, "org.freedesktop.DBus.Error.NameHasNoOwner")) {
		g_set_error(error, QL_ERROR, QL_ERROR_IO,
			    "%s: oFono is not running (nobody owns " QL_OFONO_SERVICE
			    " on the system bus)",
			    what);
		return;
	}
	if (ql_ofono_error_is_gone(remote)) {
		code = QL_ERROR_NOT_FOUND;
		hint = " (oFono has no such modem)";
	} else if (ql_ofono_remote_is(remote, "org.ofono.Error.InProgress")) {
		code = QL_ERROR_BUSY;
		hint = " (oFono is busy with the modem: try again)";
	} else if (ql_ofono_remote_is(remote, "org.ofono.Error.AccessDenied") ||
		   ql_ofono_remote_is(remote, "org.freedesktop.DBus.Error.AccessDenied")) {
		code = QL_ERROR_AUTH;
	} else if (g_error_matches(remote, G_IO_ERROR, G_IO_ERROR_TIMED_OUT) ||
		   ql_ofono_remote_is(remote, "org.freedesktop.DBus.Error.NoReply")) {
		code = QL_ERROR_TIMEOUT;
	}
	g_dbus_error_strip_remote_error(remote);
	g_set_error(error, QL_ERROR, code, "%s: %s%s", what, remote->message, hint);
}

static GVariant *
ql_ofono_call(GDBusConnection *bus, const gchar *path, const gchar *iface, const gchar *method,
	      GVariant *params, const GVariantType *reply_type, GError **error)
{
	/* no auto-start: a missing oFono is reported, not waited for */
	return g_dbus_connection_call_sync(bus, QL_OFONO_SERVICE, path, iface, method, params,
					   reply_type, G_DBUS_CALL_FLAGS_NO_AUTO_START,
					   QL_OFONO_CALL_TIMEOUT_MS, NULL, error);
}

static gboolean
ql_ofono_set_property(GDBusConnection *bus, const gchar *path, const gchar *name, gboolean value,
		      GError **error)
{
	g_autoptr(GVariant) r = ql_ofono_call(
		bus, path, QL_OFONO_MODEM, "SetProperty",
		g_variant_new("(sv)", name, g_variant_new_boolean(value)), NULL, error);
	return r != NULL;
}

static gchar *
ql_ofono_dup_string(GVariant *props, const gchar *key)
{
	const gchar *s = NULL;
	if (!g_variant_lookup(props, key, "&s", &s) || s[0] == '\0')
		return NULL;
	return g_strdup(s);
}

static gboolean
ql_ofono_get_bool(GVariant *props, const gchar *key)
{
	gboolean b = FALSE;
	return g_variant_lookup(props, key, "b", &b) && b;
}

/* The scheme of a device spec as a transport name ("at:/dev/ttyUSB2" -> "at") */
static gchar *
ql_ofono_spec_transport(const gchar *spec)
{
	const gchar *colon = strchr(spec, ':');
	return colon != NULL ? g_strndup(spec, colon - spec) : NULL;
}

/* --- the ports below a sysfs device --- */

typedef struct {
	GPtrArray *qmi; /* device node names */
	GPtrArray *mbim;
	GPtrArray *at;	/* wwanNatN */
	GPtrArray *tty; /* ttyUSBn, ttyACMn */
	GHashTable *seen;
} QlOfonoPorts;

static gboolean
ql_ofono_name_is(const gchar *name, const gchar *prefix)
{
	gsize n = strlen(prefix);
	if (strncmp(name, prefix, n) != 0 || name[n] == '\0')
		return FALSE;
	for (const gchar *p = name + n; *p != '\0'; p++)
		if (!g_ascii_isdigit(*p))
			return FALSE;
	return TRUE;
}

/* wwanNKINDM, the names the kernel's WWAN subsystem gives its ports */
static gboolean
ql_ofono_wwan_port_is(const gchar *name, const gchar *kind)
{
	const gchar *p = name + strlen("wwan");
	if (!g_str_has_prefix(name, "wwan") || !g_ascii_isdigit(*p))
		return FALSE;
	while (g_ascii_isdigit(*p))
		p++;
	return ql_ofono_name_is(p, kind);
}

/* The driver bound to the USB interface that holds a cdc-wdm node: .../IFACE/usbmisc/cdc-wdmN */
static gchar *
ql_ofono_wdm_driver(const gchar *wdm_dir)
{
	g_autofree gchar *class_dir = g_path_get_dirname(wdm_dir);
	g_autofree gchar *iface = g_path_get_dirname(class_dir);
	g_autofree gchar *link = g_build_filename(iface, "driver", NULL);
	g_autofree gchar *target = g_file_read_link(link, NULL);
	return target != NULL ? g_path_get_basename(target) : NULL;
}

static void
ql_ofono_ports_add(QlOfonoPorts *ports, GPtrArray *list, const gchar *name)
{
	if (g_hash_table_add(ports->seen, g_strdup(name)))
		g_ptr_array_add(list, g_strdup(name));
}

/* Walks the real directories below @dir (sysfs links are not followed: they lead out of the
 * device and into loops) */
static void
ql_ofono_ports_scan(QlOfonoPorts *ports, const gchar *dir, guint depth)
{
	g_autoptr(GDir) d = NULL;
	const gchar *name;

	if (depth > QL_OFONO_SYSFS_DEPTH || (d = g_dir_open(dir, 0, NULL)) == NULL)
		return;
	while ((name = g_dir_read_name(d)) != NULL) {
		g_autofree gchar *child = g_build_filename(dir, name, NULL);
		if (g_file_test(child, G_FILE_TEST_IS_SYMLINK) ||
		    !g_file_test(child, G_FILE_TEST_IS_DIR))
			continue;
		if (ql_ofono_name_is(name, "cdc-wdm")) {
			g_autofree gchar *driver = ql_ofono_wdm_driver(child);
			if (g_strcmp0(driver, "qmi_wwan") == 0)
				ql_ofono_ports_add(ports, ports->qmi, name);
			else if (g_strcmp0(driver, "cdc_mbim") == 0)
				ql_ofono_ports_add(ports, ports->mbim, name);
			continue;
		}
		if (ql_ofono_wwan_port_is(name, "qmi")) {
			ql_ofono_ports_add(ports, ports->qmi, name);
			continue;
		}
		if (ql_ofono_wwan_port_is(name, "mbim")) {
			ql_ofono_ports_add(ports, ports->mbim, name);
			continue;
		}
		if (ql_ofono_wwan_port_is(name, "at")) {
			ql_ofono_ports_add(ports, ports->at, name);
			continue;
		}
		if (ql_ofono_name_is(name, "ttyUSB") || ql_ofono_name_is(name, "ttyACM")) {
			ql_ofono_ports_add(ports, ports->tty, name);
			continue;
		}
		ql_ofono_ports_scan(ports, child, depth + 1);
	}
}

static gint
ql_ofono_name_cmp(gconstpointer a, gconstpointer b)
{
	const gchar *x = *(const gchar *const *)a, *y = *(const gchar *const *)b;
	gsize lx = strlen(x), ly = strlen(y);
	/* ttyUSB2 before ttyUSB10 */
	return lx != ly ? (lx < ly ? -1 : 1) : strcmp(x, y);
}

gchar *
ql_ofono_spec_from_sysfs(const gchar *system_path, gchar **transport, GError **error)
{
	QlOfonoPorts ports = {0};
	g_autoptr(GPtrArray) qmi = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) mbim = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) at = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) tty = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	const gchar *kind = NULL, *port = NULL;

	if (!g_file_test(system_path, G_FILE_TEST_IS_DIR)) {
		g_set_error(error, QL_ERROR, QL_ERROR_NOT_FOUND,
			    "the modem's device %s is not in sysfs", system_path);
		return NULL;
	}
	ports = (QlOfonoPorts){qmi, mbim, at, tty, seen};
	ql_ofono_ports_scan(&ports, system_path, 0);
	g_ptr_array_sort(qmi, ql_ofono_name_cmp);
	g_ptr_array_sort(mbim, ql_ofono_name_cmp);
	g_ptr_array_sort(at, ql_ofono_name_cmp);
	g_ptr_array_sort(tty, ql_ofono_name_cmp);
	if (qmi->len > 0) {
		kind = "qmi";
		port = g_ptr_array_index(qmi, 0);
	} else if (mbim->len > 0) {
		kind = "mbim";
		port = g_ptr_array_index(mbim, 0);
	} else if (at->len > 0) {
		kind = "at";
		port = g_ptr_array_index(at, 0);
	} else if (tty->len == 1) {
		kind = "at";
		port = g_ptr_array_index(tty, 0);
	} else if (tty->len > 1) {
		g_autoptr(GString) names = g_string_new(NULL);
		for (guint i = 0; i < tty->len; i++)
			g_string_append_printf(names, "%s/dev/%s", i > 0 ? ", " : "",
					       (const gchar *)g_ptr_array_index(tty, i));
		g_set_error(error, QL_ERROR, QL_ERROR_NOT_FOUND,
			    "the modem has several AT ports (%s) and no QMI or MBIM port: name the "
			    "one that answers AT+CCHO in the configuration ([ofono PATH] "
			    "device=at:/dev/...)",
			    names->str);
		return NULL;
	} else {
		g_set_error(error, QL_ERROR, QL_ERROR_NOT_FOUND,
			    "no QMI, MBIM or AT port was found under %s", system_path);
		return NULL;
	}
	if (transport != NULL)
		*transport = g_strdup(kind);
	return g_strdup_printf("%s:/dev/%s", kind, port);
}

/* --- modems --- */

static void
ql_ofono_resolve_spec(QlOfonoModem *m, const QlConfig *cfg)
{
	const QlOfonoRule *rule = cfg != NULL && cfg->ofono_rules != NULL
					  ? g_hash_table_lookup(cfg->ofono_rules, m->path)
					  : NULL;
	g_autoptr(GError) local = NULL;

	if (rule != NULL)
		m->shared_port = rule->shared_port;
	if (rule != NULL && rule->device != NULL) {
		m->spec = g_strdup(rule->device);
		m->transport = ql_ofono_spec_transport(m->spec);
		m->spec_origin = g_strdup("configuration");
		return;
	}
	if (m->system_path == NULL) {
		m->unresolved = g_strdup("oFono gives no SystemPath for this modem (phonesim, or a "
					 "modem it does not find through udev): name its eUICC's "
					 "port in the configuration ([ofono PATH] device=SPEC)");
		return;
	}
	m->spec = ql_ofono_spec_from_sysfs(m->system_path, &m->transport, &local);
	if (m->spec == NULL)
		m->unresolved = g_strdup(local->message);
	else
		m->spec_origin = g_strdup("sysfs");
}

/* SimManager's Present and CardIdentifier; a modem whose SIM atom is going away answers with an
 * error, which leaves "no SIM" */
static void
ql_ofono_read_sim(GDBusConnection *bus, QlOfonoModem *m)
{
	g_autoptr(GError) local = NULL;
	g_autoptr(GVariant) r = ql_ofono_call(bus, m->path, QL_OFONO_SIM, "GetProperties", NULL,
					      G_VARIANT_TYPE("(a{sv})"), &local);
	g_autoptr(GVariant) props = NULL;

	if (r == NULL) {
		g_debug("oFono modem %s: no SIM properties: %s", m->path, local->message);
		return;
	}
	props = g_variant_get_child_value(r, 0);
	m->sim_present = ql_ofono_get_bool(props, "Present");
	m->iccid = ql_ofono_dup_string(props, "CardIdentifier");
}

static QlOfonoModem *
ql_ofono_modem_new(GDBusConnection *bus, const gchar *path, GVariant *props)
{
	QlOfonoModem *m = g_new0(QlOfonoModem, 1);
	g_autofree const gchar **ifaces = NULL;

	m->path = g_strdup(path);
	m->powered = ql_ofono_get_bool(props, "Powered");
	m->online = ql_ofono_get_bool(props, "Online");
	m->lockdown = ql_ofono_get_bool(props, "Lockdown");
	m->type = ql_ofono_dup_string(props, "Type");
	m->manufacturer = ql_ofono_dup_string(props, "Manufacturer");
	m->model = ql_ofono_dup_string(props, "Model");
	m->serial = ql_ofono_dup_string(props, "Serial");
	m->system_path = ql_ofono_dup_string(props, "SystemPath");
	if (g_variant_lookup(props, "Interfaces", "^a&s", &ifaces) &&
	    g_strv_contains(ifaces, QL_OFONO_SIM)) {
		m->has_sim_manager = TRUE;
		ql_ofono_read_sim(bus, m);
	}
	return m;
}

static GPtrArray *
ql_ofono_get_modems(GDBusConnection *bus, GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autoptr(GVariant) r = ql_ofono_call(bus, "/", QL_OFONO_MANAGER, "GetModems", NULL,
					      G_VARIANT_TYPE("(a(oa{sv}))"), &local);
	g_autoptr(GVariant) list = NULL;
	g_autoptr(GPtrArray) modems = NULL;
	GVariantIter it;
	const gchar *path;
	GVariant *props;

	if (r == NULL) {
		ql_ofono_set_error(error, local, "cannot list oFono's modems");
		return NULL;
	}
	modems = g_ptr_array_new_with_free_func((GDestroyNotify)ql_ofono_modem_free);
	list = g_variant_get_child_value(r, 0);
	g_variant_iter_init(&it, list);
	while (g_variant_iter_next(&it, "(&o@a{sv})", &path, &props)) {
		g_ptr_array_add(modems, ql_ofono_modem_new(bus, path, props));
		g_variant_unref(props);
	}
	return g_steal_pointer(&modems);
}

GPtrArray *
ql_ofono_list(GDBusConnection *bus, const QlConfig *cfg, GError **error)
{
	g_autoptr(GDBusConnection) conn = ql_ofono_bus(bus, error);
	g_autoptr(GPtrArray) modems = NULL;

	if (conn == NULL || (modems = ql_ofono_get_modems(conn, error)) == NULL)
		return NULL;
	for (guint i = 0; i < modems->len; i++)
		ql_ofono_resolve_spec(g_ptr_array_index(modems, i), cfg);
	return g_steal_pointer(&modems);
}

static QlOfonoModem *
ql_ofono_find(GPtrArray *modems, const gchar *path)
{
	for (guint i = 0; i < modems->len; i++) {
		QlOfonoModem *m = g_ptr_array_index(modems, i);
		if (g_strcmp0(m->path, path) == 0)
			return g_ptr_array_steal_index(modems, i);
	}
	return NULL;
}

QlOfonoModem *
ql_ofono_resolve(GDBusConnection *bus, const QlConfig *cfg, const gchar *path, GError **error)
{
	g_autoptr(GPtrArray) modems = NULL;
	g_autoptr(QlOfonoModem) m = NULL;

	if (path == NULL || !g_variant_is_object_path(path)) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "'%s' is not an oFono modem path (they look like /phonesim or "
			    "/quectelqmi_0)",
			    path != NULL ? path : "");
		return NULL;
	}
	modems = ql_ofono_list(bus, cfg, error);
	if (modems == NULL)
		return NULL;
	m = ql_ofono_find(modems, path);
	if (m == NULL) {
		g_autoptr(GString) known = g_string_new(NULL);
		for (guint i = 0; i < modems->len; i++)
			g_string_append_printf(
				known, "%s%s", i > 0 ? ", " : "",
				((QlOfonoModem *)g_ptr_array_index(modems, i))->path);
		g_set_error(error, QL_ERROR, QL_ERROR_NOT_FOUND, "oFono has no modem %s (%s%s)",
			    path, modems->len > 0 ? "it has " : "it has none", known->str);
		return NULL;
	}
	if (m->spec == NULL) {
		g_set_error(error, QL_ERROR, QL_ERROR_NOT_FOUND,
			    "cannot tell how to reach the eUICC of oFono's modem %s: %s", path,
			    m->unresolved);
		return NULL;
	}
	return g_steal_pointer(&m);
}

/* --- lockdown --- */

QlOfonoLock *
ql_ofono_lockdown(GDBusConnection *bus, const QlOfonoModem *modem, GError **error)
{
	g_autoptr(GDBusConnection) conn = ql_ofono_bus(bus, error);
	g_autoptr(GError) local = NULL;
	g_autoptr(GVariant) r = NULL;
	g_autoptr(GVariant) props = NULL;
	QlOfonoLock *lock;

	if (conn == NULL)
		return NULL;
	/* the state to come back to, as it is now */
	r = ql_ofono_call(conn, modem->path, QL_OFONO_MODEM, "GetProperties", NULL,
			  G_VARIANT_TYPE("(a{sv})"), &local);
	if (r == NULL) {
		g_autofree gchar *what =
			g_strdup_printf("cannot read oFono's modem %s", modem->path);
		ql_ofono_set_error(error, local, what);
		return NULL;
	}
	props = g_variant_get_child_value(r, 0);
	if (ql_ofono_get_bool(props, "Lockdown")) {
		g_set_error(error, QL_ERROR, QL_ERROR_BUSY,
			    "oFono's modem %s is locked down already (by another program): nothing "
			    "was changed",
			    modem->path);
		return NULL;
	}
	if (!ql_ofono_set_property(conn, modem->path, "Lockdown", TRUE, &local)) {
		g_autofree gchar *what = g_strdup_printf(
			"oFono refused to lock modem %s down (to free its ports)", modem->path);
		if (ql_ofono_remote_is(local, "org.ofono.Error.AccessDenied")) {
			g_set_error(error, QL_ERROR, QL_ERROR_BUSY,
				    "%s: another program holds the lockdown; nothing was changed",
				    what);
			return NULL;
		}
		ql_ofono_set_error(error, local, what);
		return NULL;
	}
	lock = g_new0(QlOfonoLock, 1);
	g_mutex_init(&lock->mutex);
	lock->bus = g_steal_pointer(&conn);
	lock->path = g_strdup(modem->path);
	lock->held = TRUE;
	lock->was_powered = ql_ofono_get_bool(props, "Powered");
	lock->was_online = ql_ofono_get_bool(props, "Online");
	g_debug("oFono modem %s locked down (it was %s)", lock->path,
		lock->was_online    ? "online"
		: lock->was_powered ? "powered"
				    : "off");
	return lock;
}

gboolean
ql_ofono_lock_was_powered(QlOfonoLock *lock)
{
	return lock->was_powered;
}

gboolean
ql_ofono_lock_was_online(QlOfonoLock *lock)
{
	return lock->was_online;
}

/* Online needs the SIM read again after the power-on: oFono answers NotAvailable until then */
static gboolean
ql_ofono_bring_online(GDBusConnection *bus, const gchar *path)
{
	for (guint i = 0; i < QL_OFONO_ONLINE_TRIES; i++) {
		g_autoptr(GError) local = NULL;
		if (ql_ofono_set_property(bus, path, "Online", TRUE, &local))
			return TRUE;
		if (!ql_ofono_remote_is(local, "org.ofono.Error.NotAvailable")) {
			g_dbus_error_strip_remote_error(local);
			g_warning("oFono did not take modem %s online again: %s", path,
				  local->message);
			return FALSE;
		}
		g_usleep(QL_OFONO_POLL_US);
	}
	g_warning("oFono did not take modem %s online again: its SIM is not ready", path);
	return FALSE;
}

gboolean
ql_ofono_power_on(GDBusConnection *bus, const gchar *path, gboolean online, gboolean *went_online,
		  GError **error)
{
	g_autoptr(GDBusConnection) conn = ql_ofono_bus(bus, error);
	g_autoptr(GError) local = NULL;

	if (conn == NULL)
		return FALSE;
	if (!ql_ofono_set_property(conn, path, "Powered", TRUE, &local)) {
		g_autofree gchar *what =
			g_strdup_printf("oFono did not power modem %s on again", path);
		ql_ofono_set_error(error, local, what);
		return FALSE;
	}
	if (online && ql_ofono_bring_online(conn, path) && went_online != NULL)
		*went_online = TRUE;
	return TRUE;
}

gboolean
ql_ofono_unlock(QlOfonoLock *lock, GError **error)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&lock->mutex);
	g_autoptr(GError) local = NULL;

	if (!lock->held)
		return TRUE;
	lock->held = FALSE;
	if (!ql_ofono_set_property(lock->bus, lock->path, "Lockdown", FALSE, &local)) {
		if (ql_ofono_error_is_gone(local)) {
			g_set_error(error, QL_ERROR, QL_ERROR_NOT_FOUND,
				    "oFono removed modem %s during the operation", lock->path);
			return FALSE;
		}
		ql_ofono_set_error(error, local, "cannot clear the lockdown of oFono's modem");
		return FALSE;
	}
	g_debug("oFono modem %s: lockdown cleared", lock->path);
	if (!lock->was_powered)
		return TRUE;
	if (!ql_ofono_power_on(lock->bus, lock->path, lock->was_online, NULL, &local)) {
		g_propagate_prefixed_error(error, g_steal_pointer(&local),
					   "the lockdown is cleared, but ");
		return FALSE;
	}
	return TRUE;
}

void
ql_ofono_lock_free(QlOfonoLock *lock)
{
	g_autoptr(GError) local = NULL;

	if (lock == NULL)
		return;
	if (!ql_ofono_unlock(lock, &local))
		g_warning("%s", local->message);
	g_clear_object(&lock->bus);
	g_free(lock->path);
	g_mutex_clear(&lock->mutex);
	g_free(lock);
}

/* --- lockdowns held, noted in the state directory --- */

static GMutex ql_ofono_notes_mutex; /* threads of one process note and forget */

/* The notes file to itself, against the threads of this process and other processes (the
 * service, a quantra-l -o): the returned descriptor holds the lock until closed; -1 when the
 * state directory cannot be made (the notes then work unlocked, and their writing says why) */
static gint
ql_ofono_notes_lock(const gchar *path)
{
	g_autofree gchar *dir = g_path_get_dirname(path);
	g_autofree gchar *lock_path = g_strconcat(path, ".lock", NULL);
	gint fd;

	g_mutex_lock(&ql_ofono_notes_mutex);
	if (g_mkdir_with_parents(dir, 0700) != 0)
		return -1;
	fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	while (fd >= 0 && flock(fd, LOCK_EX) != 0 && errno == EINTR)
		;
	return fd;
}

static void
ql_ofono_notes_unlock(gint fd)
{
	if (fd >= 0)
		close(fd); /* drops the flock */
	g_mutex_unlock(&ql_ofono_notes_mutex);
}

static gchar *
ql_ofono_notes_path(const gchar *state_dir)
{
	return g_build_filename(state_dir, "ofono-lockdowns", NULL);
}

/* The notes as they are on disk (none yet: empty) */
static GKeyFile *
ql_ofono_notes_load(const gchar *path)
{
	GKeyFile *kf = g_key_file_new();
	g_autoptr(GError) local = NULL;

	if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &local) &&
	    !g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
		g_warning("%s: %s (started afresh)", path, local->message);
	return kf;
}

static void
ql_ofono_notes_save(const gchar *path, GKeyFile *kf, const gchar *modem)
{
	g_autofree gchar *dir = g_path_get_dirname(path);
	g_autoptr(GError) local = NULL;
	g_autofree gchar *data = NULL;
	gsize len = 0;

	data = g_key_file_to_data(kf, &len, NULL);
	if (g_mkdir_with_parents(dir, 0700) != 0)
		g_warning("cannot note oFono's lockdown of %s in %s: %s", modem, path,
			  g_strerror(errno));
	else if (!g_file_set_contents_full(path, data, (gssize)len, G_FILE_SET_CONTENTS_CONSISTENT,
					   0600, &local))
		g_warning("cannot note oFono's lockdown of %s: %s", modem, local->message);
}

void
ql_ofono_lockdown_note(const gchar *state_dir, QlOfonoLock *lock)
{
	g_autofree gchar *path = ql_ofono_notes_path(state_dir);
	gint fd = ql_ofono_notes_lock(path);
	g_autoptr(GKeyFile) kf = ql_ofono_notes_load(path);

	g_key_file_set_boolean(kf, lock->path, "powered", lock->was_powered);
	g_key_file_set_boolean(kf, lock->path, "online", lock->was_online);
	ql_ofono_notes_save(path, kf, lock->path);
	ql_ofono_notes_unlock(fd);
}

/* Drops the note of @modem; TRUE when there was one, with what it said */
static gboolean
ql_ofono_notes_take(const gchar *state_dir, const gchar *modem, gboolean *powered, gboolean *online)
{
	g_autofree gchar *path = ql_ofono_notes_path(state_dir);
	gint fd = ql_ofono_notes_lock(path);
	g_autoptr(GKeyFile) kf = ql_ofono_notes_load(path);
	gboolean found = g_key_file_has_group(kf, modem);

	if (found) {
		*powered = g_key_file_get_boolean(kf, modem, "powered", NULL);
		*online = g_key_file_get_boolean(kf, modem, "online", NULL);
		g_key_file_remove_group(kf, modem, NULL);
		ql_ofono_notes_save(path, kf, modem);
	}
	ql_ofono_notes_unlock(fd);
	return found;
}

void
ql_ofono_lockdown_forget(const gchar *state_dir, const gchar *modem)
{
	gboolean powered, online;
	ql_ofono_notes_take(state_dir, modem, &powered, &online);
}

gboolean
ql_ofono_lockdown_recover(GDBusConnection *bus, const gchar *state_dir, const QlOfonoModem *modem,
			  GError **error)
{
	gboolean powered = FALSE, online = FALSE, went_online = FALSE;

	/* locked down by another program now: the note stays for when that is cleared */
	if (modem->lockdown || !ql_ofono_notes_take(state_dir, modem->path, &powered, &online))
		return TRUE;
	if (!powered || modem->powered)
		return TRUE;
	if (!ql_ofono_power_on(bus, modem->path, online, &went_online, error))
		return FALSE;
	/* what oFono did, not what the note asked for */
	g_message("oFono modem %s powered on again%s: it was locked down when the program holding "
		  "the lockdown died",
		  modem->path, went_online ? " and online" : "");
	return TRUE;
}

/* --- after a switch --- */

static gboolean
ql_ofono_iccid_equal(const gchar *a, const gchar *b)
{
	gsize la, lb;
	if (a == NULL || b == NULL)
		return FALSE;
	la = strlen(a);
	lb = strlen(b);
	while (la > 0 && g_ascii_toupper(a[la - 1]) == 'F')
		la--;
	while (lb > 0 && g_ascii_toupper(b[lb - 1]) == 'F')
		lb--;
	return la == lb && g_ascii_strncasecmp(a, b, la) == 0;
}

QlOfonoModem *
ql_ofono_wait_for_iccid(GDBusConnection *bus, const gchar *path, const gchar *expected_iccid,
			guint timeout_ms, GError **error)
{
	g_autoptr(GDBusConnection) conn = ql_ofono_bus(bus, error);
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	g_autofree gchar *last = NULL;
	gboolean gone = FALSE;

	if (conn == NULL)
		return NULL;
	for (;;) {
		g_autoptr(GError) local = NULL;
		g_autoptr(GPtrArray) modems = ql_ofono_get_modems(conn, &local);
		g_autoptr(QlOfonoModem) m = modems != NULL ? ql_ofono_find(modems, path) : NULL;

		g_clear_pointer(&last, g_free);
		gone = m == NULL;
		if (modems == NULL)
			last = g_strdup(local->message);
		else if (m == NULL)
			last = g_strdup_printf("oFono has no modem %s any more", path);
		else if (!m->powered)
			last = g_strdup_printf("oFono's modem %s is not powered", path);
		else if (expected_iccid == NULL)
			return g_steal_pointer(&m);
		else if (!m->sim_present || m->iccid == NULL)
			last = g_strdup_printf("oFono shows no SIM in modem %s", path);
		else if (ql_ofono_iccid_equal(m->iccid, expected_iccid))
			return g_steal_pointer(&m);
		else
			last = g_strdup_printf("oFono shows SIM %s in modem %s", m->iccid, path);
		if (g_get_monotonic_time() >= deadline)
			break;
		g_usleep(QL_OFONO_POLL_US);
	}
	g_set_error(error, QL_ERROR, gone ? QL_ERROR_NOT_FOUND : QL_ERROR_TIMEOUT,
		    "%s after %u s%s%s", last, timeout_ms / 1000,
		    expected_iccid != NULL ? ", waiting for SIM " : "",
		    expected_iccid != NULL ? expected_iccid : "");
	return NULL;
}
