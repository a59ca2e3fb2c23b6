/*
 * Modems through ModemManager's public API (libmm-glib): list them, resolve `-m N` / `-m PATH`
 * to a device spec, inhibit a modem around a profile switch, and wait until ModemManager shows
 * the new SIM.
 *
 * Every call that takes a GDBusConnection accepts NULL for the system bus (GLib honours
 * DBUS_SYSTEM_BUS_ADDRESS, which is how the tests point it at a private bus). Calls run their
 * D-Bus work on a private main context, so they may be used from any worker thread.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct {
	guint index;	      /* the N of /org/freedesktop/ModemManager1/Modem/N */
	gchar *path;	      /* the modem's object path */
	gchar *manufacturer;  /* may be NULL */
	gchar *model;	      /* may be NULL */
	gchar *device;	      /* the physical device (sysfs path): the uid for inhibiting */
	gchar *primary_port;  /* may be NULL */
	gchar *control_port;  /* "/dev/cdc-wdm0": the QMI or MBIM port, NULL when there is none */
	gchar *at_port;	      /* the first AT port ("/dev/ttyUSB2"), may be NULL */
	gchar *transport;     /* "qmi", "mbim", "at" (an AT port only), or NULL (no port we use) */
	gchar *spec;	      /* "qmi:/dev/cdc-wdm0[?slot=N]", "at:/dev/ttyUSB2", or NULL */
	gboolean exclusive;   /* the spec's port is a TTY ModemManager holds open exclusively
				 (TIOCEXCL): inhibit the modem before opening it, for every
				 operation; QMI and MBIM ports are shared through the proxies */
	guint n_slots;	      /* SIM slots ModemManager reports (0 when it does not know) */
	guint slot;	      /* the active (primary) slot, 1-based; 0 when not reported */
	gchar *sim_path;      /* the active SIM's object path, NULL when there is no SIM */
	gchar *eid;	      /* the active SIM's EID, NULL when not an eUICC or not known */
	gchar *sim_type;      /* "physical", "esim" or "unknown" */
	gchar *esim_status;   /* "no profiles", "with profiles" or "unknown" */
	gchar *iccid;	      /* the active SIM's ICCID, may be NULL */
	gchar *operator_name; /* may be NULL */
	gchar *state;	      /* ModemManager's modem state in words ("registered", ...) */
} QlModemInfo;

typedef struct _QlModemInhibit QlModemInhibit;

void ql_modem_info_free(QlModemInfo *info);
QlModemInfo *ql_modem_info_copy(const QlModemInfo *info);

/* Every modem ModemManager knows, sorted by index; element type QlModemInfo (the array frees
 * them). An empty array when there are none; an error when ModemManager is not running. */
GPtrArray *ql_modem_list(GDBusConnection *bus, GError **error);

/* @which is "N" or a full object path, as `mmcli -m` accepts. Fails when ModemManager is not
 * running, when there is no such modem, and when the modem has no QMI, MBIM or AT port. A
 * modem with an AT port only resolves to "at:PORT" with @exclusive set. */
QlModemInfo *ql_modem_resolve(GDBusConnection *bus, const gchar *which, GError **error);

/* Asks ModemManager to let go of the modem (InhibitDevice(device, TRUE)). ModemManager keeps
 * the inhibition while this process stays on the bus, so keep the handle for as long as the
 * modem must stay released. */
QlModemInhibit *ql_modem_inhibit(GDBusConnection *bus, const QlModemInfo *info, GError **error);
/* Gives the modem back (InhibitDevice(device, FALSE)); ModemManager then re-probes it and
 * creates a new modem object. A second call does nothing. */
gboolean ql_modem_uninhibit(QlModemInhibit *inhibit, GError **error);
/* Uninhibits when still held (a failure is logged), then frees. */
void ql_modem_inhibit_free(QlModemInhibit *inhibit);

/* Waits up to @timeout_ms until ModemManager shows the modem of @info's physical device again
 * with a SIM whose ICCID is @expected_iccid (trailing F fillers ignored), re-querying the modem
 * list (the modem object is re-created under a new index after an uninhibit). With
 * @expected_iccid NULL (after a disable, when no profile may be enabled) it only waits for the
 * modem to be back. Returns the modem as it is now; on a timeout the error says what
 * ModemManager showed last (no modem: QL_ERROR_IO, no SIM or another ICCID: QL_ERROR_TIMEOUT). */
QlModemInfo *ql_modem_wait_for_iccid(GDBusConnection *bus, const QlModemInfo *info,
				     const gchar *expected_iccid, guint timeout_ms, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlModemInfo, ql_modem_info_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlModemInhibit, ql_modem_inhibit_free)

G_END_DECLS
