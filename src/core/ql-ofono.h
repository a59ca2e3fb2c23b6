/*
 * Modems through oFono's D-Bus API (org.ofono.Manager, org.ofono.Modem, org.ofono.SimManager):
 * list them, resolve `-o PATH` to a device spec the plugins serve, lock a modem down around an
 * operation (oFono's counterpart of ModemManager's inhibit: it powers the modem off and lets go
 * of its ports), and wait until oFono reads the new SIM after a profile switch.
 *
 * oFono gives plugins no way to open a logical channel (the SIM driver's open_channel is only
 * reached through ofonod's private session API), so the eUICC is reached through the modem's
 * ports while oFono is locked out. oFono itself clears a lockdown when its owner leaves the bus;
 * the modem then stays powered off, which is why ql_ofono_unlock() also powers it back on.
 *
 * Every call that takes a GDBusConnection accepts NULL for the system bus (GLib honours
 * DBUS_SYSTEM_BUS_ADDRESS). Calls are synchronous and may be used from any thread.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "ql-config.h"

G_BEGIN_DECLS

#define QL_OFONO_SERVICE "org.ofono"

typedef struct {
	gchar *path;		  /* the modem's object path ("/phonesim", "/quectelqmi_0") */
	gboolean powered;	  /* Powered */
	gboolean online;	  /* Online */
	gboolean lockdown;	  /* Lockdown */
	gchar *type;		  /* Type: "hardware", "sim", "test", ... */
	gchar *manufacturer;	  /* may be NULL */
	gchar *model;		  /* may be NULL */
	gchar *serial;		  /* may be NULL */
	gchar *system_path;	  /* SystemPath (a sysfs device), NULL when oFono has none */
	gboolean has_sim_manager; /* the SimManager interface is up (the modem is powered) */
	gboolean sim_present;	  /* SimManager's Present */
	gchar *iccid;		  /* SimManager's CardIdentifier, may be NULL */
	gchar *transport;	  /* "qmi", "mbim" or "at"; NULL when not resolved */
	gchar *spec;		  /* the device spec of its eUICC; NULL when not resolved */
	gchar *spec_origin;	  /* "configuration" or "sysfs"; NULL when not resolved */
	gchar *unresolved;	  /* why spec is NULL, in words */
	gboolean shared_port;	  /* the configuration says oFono does not use that port */
	gchar *eid;		  /* oFono does not read it: NULL unless a client filled it in */
} QlOfonoModem;

typedef struct _QlOfonoLock QlOfonoLock;

void ql_ofono_modem_free(QlOfonoModem *modem);
QlOfonoModem *ql_ofono_modem_copy(const QlOfonoModem *modem);

/* Every modem oFono knows, in oFono's order, each resolved to a device spec where it can be
 * (@cfg's [ofono PATH] sections first, else the ports under its SystemPath; @cfg may be NULL).
 * An empty array when there are none; an error when oFono is not running. */
GPtrArray *ql_ofono_list(GDBusConnection *bus, const QlConfig *cfg, GError **error);

/* The modem at object path @path, resolved. Fails when oFono is not running, when it has no such
 * modem, and when no device spec can be found for it (the message says what to configure). */
QlOfonoModem *ql_ofono_resolve(GDBusConnection *bus, const QlConfig *cfg, const gchar *path,
			       GError **error);

/* The device spec of the modem's eUICC from the ports found below @system_path (a sysfs device
 * directory): a QMI or MBIM control port (cdc-wdm with qmi_wwan / cdc_mbim, wwanNqmiN,
 * wwanNmbimN) first, then one AT port (wwanNatN, or the only ttyUSB / ttyACM). @transport gets
 * "qmi", "mbim" or "at". Fails (QL_ERROR_NOT_FOUND) when there is none, or several AT ports and
 * no control port (the message lists them). */
gchar *ql_ofono_spec_from_sysfs(const gchar *system_path, gchar **transport, GError **error);

/* Sets the modem's Lockdown, so oFono powers it off and closes its ports, and remembers whether
 * it was powered and online. Fails with QL_ERROR_BUSY when another program holds the lockdown,
 * QL_ERROR_NOT_FOUND when oFono no longer has the modem, QL_ERROR_AUTH when refused. */
QlOfonoLock *ql_ofono_lockdown(GDBusConnection *bus, const QlOfonoModem *modem, GError **error);
/* Clears the lockdown and powers the modem (and brings it online) again as it was before. A
 * second call does nothing. Thread-safe: a signal handler's thread may call it while the main
 * thread is working. Fails with QL_ERROR_NOT_FOUND when oFono removed the modem meanwhile. */
gboolean ql_ofono_unlock(QlOfonoLock *lock, GError **error);
/* Whether the modem was powered (online) when it was locked down. */
gboolean ql_ofono_lock_was_powered(QlOfonoLock *lock);
gboolean ql_ofono_lock_was_online(QlOfonoLock *lock);
/* Powers the modem @path on and, with @online, brings it online (waiting for its SIM), as
 * ql_ofono_unlock() does after a lockdown; for a lockdown oFono cleared itself when its owner
 * died, which leaves the modem off. @went_online (may be NULL) is set when oFono took it online
 * (a failure to is logged, and is not an error). */
gboolean ql_ofono_power_on(GDBusConnection *bus, const gchar *path, gboolean online,
			   gboolean *went_online, GError **error);
/* Unlocks when still held (a failure is logged), then frees. */
void ql_ofono_lock_free(QlOfonoLock *lock);

/* Lockdowns held, noted in @state_dir/ofono-lockdowns with the modem's power before, so that
 * when the process holding one dies (oFono then clears the lockdown and leaves the modem off)
 * the next one puts the modem back as it was. Thread-safe within a process; a failure to write
 * the note is logged. */
void ql_ofono_lockdown_note(const gchar *state_dir, QlOfonoLock *lock);
void ql_ofono_lockdown_forget(const gchar *state_dir, const gchar *modem);
/* When a note of a lockdown of @modem is found and nobody holds one now: powers the modem on
 * (and online) as the note says it was, and drops the note. FALSE when oFono would not power
 * it (the note goes all the same). */
gboolean ql_ofono_lockdown_recover(GDBusConnection *bus, const gchar *state_dir,
				   const QlOfonoModem *modem, GError **error);

/* Waits up to @timeout_ms until oFono shows the modem @path powered with a SIM whose ICCID is
 * @expected_iccid (trailing F fillers ignored); with @expected_iccid NULL only until it is
 * powered again. Returns the modem as it is then; on a timeout the error says what oFono showed
 * last (QL_ERROR_NOT_FOUND: the modem is gone, QL_ERROR_TIMEOUT: no SIM or another ICCID). */
QlOfonoModem *ql_ofono_wait_for_iccid(GDBusConnection *bus, const gchar *path,
				      const gchar *expected_iccid, guint timeout_ms,
				      GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlOfonoModem, ql_ofono_modem_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlOfonoLock, ql_ofono_lock_free)

G_END_DECLS
