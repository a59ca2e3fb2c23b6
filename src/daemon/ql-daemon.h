/*
 * quantra-esimd: what the daemon's files share.
 *
 * Threads: the main thread owns every D-Bus object, the queues and the client table; each eUICC
 * has one worker thread (its own GMainContext) that opens the device and runs one operation at
 * a time as plain sequential code, then hands the operation back to the main thread. Worker
 * code touches only its QlOp and the QlEuicc fields marked "worker".
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <polkit/polkit.h>

#include "ql-config.h"
#include "ql-download.h"
#include "ql-es10.h"
#include "ql-modem.h"
#include "ql-ofono.h"
#include "ql-vault.h"
#include "ql-dbus-generated.h"

G_BEGIN_DECLS

#define QL_DBUS_NAME "org.quantra.Esim1"
#define QL_DBUS_PATH "/org/quantra/Esim1"
#define QL_DAEMON_QUEUE_MAX 8 /* operations accepted per eUICC, the running one included */
#define QL_DAEMON_AGENT_TIMEOUT_MS (5 * 60 * 1000) /* a user typing a confirmation code */
#define QL_DAEMON_OPERATION_LINGER_S 60 /* a finished operation stays readable this long */

#define QL_ACTION_DOWNLOAD "org.quantra.esim.download"
#define QL_ACTION_MANAGE "org.quantra.esim.manage"
#define QL_ACTION_RESET "org.quantra.esim.reset"

typedef struct _QlDaemon QlDaemon;

/* the modem stacks whose modems discovery lists */
typedef enum {
	QL_STACK_MM,
	QL_STACK_OFONO,
	QL_N_STACKS,
} QlStack;

typedef struct {
	gboolean running;     /* a scan runs in a thread */
	gboolean again;	      /* something changed meanwhile: one more scan after it */
	GHashTable *failures; /* modem (path or device) -> why it is not exported */
} QlScanState;
typedef struct _QlEuicc QlEuicc;
typedef struct _QlOp QlOp;

/* What the eUICC looked like after an operation (read by the worker). */
typedef struct {
	gchar *eid;
	QlEuiccInfo2 *info2;
	gchar *default_dp;
	gchar *root_ds;
	GPtrArray *profiles;	  /* QlProfileInfo */
	GPtrArray *notifications; /* QlNotification */
} QlSnapshot;

typedef enum {
	QL_OP_DOWNLOAD,
	QL_OP_DISCOVER,
	QL_OP_PROCESS_NOTIFICATIONS,
	QL_OP_ENABLE,
	QL_OP_DISABLE,
	QL_OP_DELETE,
	QL_OP_SET_NICKNAME,
	QL_OP_SET_DEFAULT_SMDP,
	QL_OP_RESET,
	QL_OP_REMOVE_NOTIFICATION,
	QL_OP_REFRESH,
	/* the service's own, never counted against the queue's limit */
	QL_OP_BACKGROUND_NOTIFICATIONS,
	QL_OP_UNINHIBIT,
} QlOpKind;

typedef enum {
	QL_OP_STATE_QUEUED,
	QL_OP_STATE_RUNNING,
	QL_OP_STATE_DONE,
	QL_OP_STATE_FAILED,
	QL_OP_STATE_CANCELLED,
} QlOpState;

struct _QlOp {
	gint ref;
	guint id;
	QlOpKind kind;
	QlOpState state;
	QlEuicc *euicc; /* a reference */
	gchar *client;	/* the caller's unique bus name; NULL: the service's own */
	GDBusMethodInvocation *invocation; /* answered when the operation ends (short methods) */
	GCancellable *cancellable;

	/* long operations: the org.quantra.Esim1.Operation object */
	gchar *path;
	QlDbusObjectSkeleton *object;
	QlDbusOperation *iface;
	guint linger_id;

	/* arguments (checked in the main thread before the operation is queued) */
	gchar *iccid;	      /* profile methods */
	gchar *text;	      /* nickname, default SM-DP+ address, SM-DS address */
	gboolean refresh;     /* enable/disable */
	guint reset_options;  /* QlResetOptions */
	gint64 seq;	      /* -1: all */
	QlActivationCode *ac; /* secret: wiped when freed */
	gboolean secure;
	QlModemInfo *modem;  /* copy of the eUICC's modem when dispatched, for the inhibit */
	QlOfonoModem *ofono; /* copy of the eUICC's oFono modem when dispatched, for the lockdown */
	gboolean inhibit;    /* take (or keep) ModemManager's inhibition or oFono's lockdown */

	/* results (set by the worker) */
	GError *error;
	GVariant *report;	   /* a{sv}, floating-free */
	QlSnapshot *snapshot;	   /* NULL when the eUICC could not be read */
	gboolean inhibited;	   /* the worker holds the modem's inhibition after this */
	QlModemInfo *modem_after;  /* QL_OP_UNINHIBIT: the modem as ModemManager shows it again */
	QlOfonoModem *ofono_after; /* QL_OP_UNINHIBIT: the modem as oFono shows it again */
	gint delivered;		   /* background notifications */
	guint failed;
};

struct _QlEuicc {
	gint ref;
	QlDaemon *daemon;
	gchar *eid;
	gchar *name; /* [device NAME], NULL for a ModemManager modem */
	gchar *spec; /* with the configuration's parameters */
	gchar *path;
	QlModemInfo *modem;  /* NULL without ModemManager */
	QlOfonoModem *ofono; /* the oFono modem it is in, NULL for others */
	gboolean removed;

	QlDbusObjectSkeleton *object;
	QlDbusEuicc *iface;
	GHashTable *profiles; /* ICCID -> QlProfileObj */

	/* the queue (main thread) */
	GQueue *waiting; /* QlOp, oldest first */
	QlOp *running;
	gboolean inhibit_held; /* the worker holds (or is taking) the modem's inhibition/lockdown */
	guint uninhibit_id;
	guint gone_id; /* the modem of a TTY went from ModemManager: removed if it stays away */
	gchar *expected_iccid; /* what ModemManager or oFono should show after the uninhibit */

	/* background notification delivery (main thread) */
	guint notify_id;
	guint notify_delay_s; /* 0: at once; else the backoff's current step */
	gboolean notify_queued;

	/* the worker */
	GThread *thread;
	GMainContext *ctx;
	GMainLoop *loop;
	QlModemInhibit *inhibit; /* worker only */
	QlOfonoLock *ofono_lock; /* worker only */
};

typedef struct {
	QlEuicc *euicc; /* borrowed: the eUICC owns this */
	gchar *iccid;
	gchar *path;
	QlDbusObjectSkeleton *object;
	QlDbusProfile *iface;
} QlProfileObj;

struct _QlDaemon {
	GMainLoop *loop;
	GMainContext *main_ctx;
	GDBusConnection *bus;
	GDBusObjectManagerServer *manager;
	QlDbusManager *manager_iface;
	QlConfig *cfg;
	PolkitAuthority *authority;
	GHashTable *euiccs;	/* EID -> QlEuicc */
	GMutex clients_lock;	/* the agent paths are read by workers */
	GHashTable *clients;	/* unique name -> QlClient */
	GHashTable *operations; /* path -> QlOp (a reference), exported operations */
	guint next_op_id;
	gboolean stopping;
	gint exit_code;

	/* discovery */
	guint pending_probes; /* configured devices still being read */
	QlScanState scan[QL_N_STACKS];
	guint mm_watch_id;
	guint mm_signal_id;
	guint ofono_watch_id;
	guint ofono_signal_id;	    /* org.ofono.Manager ModemAdded, ModemRemoved */
	guint ofono_prop_signal_id; /* org.ofono.Modem PropertyChanged (Lockdown) */

	/* CRL refresh (ql-daemon-state.c) */
	guint crl_timer_id;
	gboolean crl_running;
};

/* ql-daemon.c */
gboolean ql_daemon_client_track(QlDaemon *d, const gchar *name);
gchar *ql_daemon_client_dup_agent(QlDaemon *d, const gchar *name);

/* ql-daemon-euicc.c */
QlEuicc *ql_euicc_new(QlDaemon *d, const gchar *eid, const gchar *name, const gchar *spec,
		      const QlModemInfo *modem, const QlOfonoModem *ofono);
QlEuicc *ql_euicc_ref(QlEuicc *e);
void ql_euicc_unref(QlEuicc *e);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlEuicc, ql_euicc_unref)
void ql_euicc_export(QlEuicc *e, QlSnapshot *snap);
/* unexports, fails what waits, cancels what runs; the worker ends after it */
void ql_euicc_remove(QlEuicc *e, const gchar *why);
void ql_euicc_set_modem(QlEuicc *e, const QlModemInfo *modem);
/* @ofono: the modem as oFono shows it now (its path does not change) */
void ql_euicc_set_ofono(QlEuicc *e, const QlOfonoModem *ofono);
/* whether an operation of @kind must lock the eUICC's modem away from its stack first (a
 * profile switch; on a modem whose port ModemManager or oFono holds, everything) */
gboolean ql_euicc_needs_hold(QlEuicc *e, QlOpKind kind);
/* queues a method call's operation once polkit allowed it (main thread) */
gboolean ql_euicc_request(QlEuicc *e, GDBusMethodInvocation *invocation, QlOpKind kind,
			  const gchar *iccid);

/* ql-daemon-objects.c */
/* the Euicc object (not exported yet) and its method handlers */
void ql_euicc_objects_init(QlEuicc *e, const QlModemInfo *modem, const QlOfonoModem *ofono);
/* brings the objects in line with what the worker read */
void ql_euicc_apply(QlEuicc *e, QlSnapshot *snap);
/* aa{sv} of @list (QlNotification) minus those in @except (may be NULL) */
GVariant *ql_euicc_notifications_variant(GPtrArray *list, GPtrArray *except);
void ql_profile_obj_free(QlProfileObj *p);

/* ql-daemon-args.c */
/* checks a method's arguments into @op; InvalidArgument errors name the option */
gboolean ql_op_parse_args(QlOp *op, GVariant *params, GError **error);
/* drops @client's waiting operations and cancels its running one */
void ql_euicc_client_gone(QlEuicc *e, const gchar *client);
/* the service stops: cancels everything, joins the worker, gives the modem back */
void ql_euicc_shutdown(QlEuicc *e);

/* ql-daemon-worker.c: runs in the worker thread */
void ql_worker_run(QlOp *op);
QlSnapshot *ql_snapshot_read(QlChannel *ch, GError **error);
void ql_snapshot_free(QlSnapshot *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlSnapshot, ql_snapshot_free)
/* opens @spec and reads the snapshot (probes, from any thread) */
QlSnapshot *ql_worker_probe(const gchar *spec, GError **error);
/* the same for a ModemManager modem whose port ModemManager holds open: inhibited around the
 * read; @now gets the modem as ModemManager shows it again afterwards (a new object) */
QlSnapshot *ql_worker_probe_exclusive(const QlModemInfo *modem, const gchar *spec, guint wait_ms,
				      QlModemInfo **now, GError **error);
/* the same for an oFono modem: locked down around the read unless its port is shared */
QlSnapshot *ql_worker_probe_ofono(GDBusConnection *bus, const QlConfig *cfg,
				  const QlOfonoModem *modem, const gchar *spec, GError **error);
/* the worker's last act: gives back what it holds (oFono's lockdown) */
void ql_worker_release(QlEuicc *e);

/* ql-daemon-op.c */
QlOp *ql_op_new(QlDaemon *d, QlOpKind kind, QlEuicc *e, const gchar *client);
QlOp *ql_op_ref(QlOp *op);
void ql_op_unref(QlOp *op);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlOp, ql_op_unref)
const gchar *ql_op_kind_to_string(QlOpKind kind);
gboolean ql_op_is_long(QlOp *op);
/* long operations: exports the Operation object (main thread) */
void ql_op_export(QlDaemon *d, QlOp *op);
/* from the worker: Progress, in order, through the main context */
void ql_op_progress(QlOp *op, const gchar *step, guint percent);
/* main thread, when it ended: Finished, the invocation's answer, the object's linger */
void ql_op_finish(QlDaemon *d, QlOp *op);
/* the caller left the bus: an ended operation is unexported at once */
void ql_op_client_gone(QlDaemon *d, QlOp *op);
/* a{sv} report of a failed operation: @partial's fields (may be NULL), then the error's */
GVariant *ql_op_error_report(const GError *error, GVariant *partial);

/* ql-daemon-auth.c */
typedef void (*QlAuthFunc)(QlDaemon *d, GDBusMethodInvocation *invocation, gpointer user_data);
/* Checks @action for the caller of @invocation (user interaction allowed); on success calls
 * @func, which takes over answering @invocation (and the reference that goes with it), else
 * answers NotAuthorized. @action NULL: reading, allowed at once. */
void ql_daemon_authorize(QlDaemon *d, GDBusMethodInvocation *invocation, const gchar *action,
			 QlAuthFunc func, gpointer user_data, GDestroyNotify destroy);

/* ql-daemon-discovery.c */
void ql_discovery_start(QlDaemon *d);
void ql_discovery_stop(QlDaemon *d);
void ql_discovery_rescan(QlDaemon *d);

/* ql-daemon-state.c */
/* whether @kind changes the eUICC's state, and so takes an audit record */
gboolean ql_op_is_audited(QlOpKind kind);
/* the trail of the state directory, checked ready to take a record (any thread) */
QlVault *ql_daemon_audit_open(QlDaemon *d, GError **error);
/* one record (the eUICC's EID first, then key, value, ..., NULL; NULL values left out) */
gboolean ql_daemon_audit_note(QlVault *vault, const gchar *eid, const gchar *action, GError **error,
			      ...) G_GNUC_NULL_TERMINATED;
/* the state directory: state-dir= of [storage], else the default */
const gchar *ql_daemon_state_dir(const QlConfig *cfg);
/* the CRLs: a first update shortly after start-up, then every crl-refresh= seconds */
void ql_daemon_crl_start(QlDaemon *d);
void ql_daemon_crl_stop(QlDaemon *d);

/* ql-daemon-util.c */
GVariant *ql_json_to_variant(JsonNode *node);
/* @error as a QL_ERROR (other domains become QL_ERROR_FAILED, keeping the message) */
GError *ql_daemon_error_copy(const GError *error);
void ql_daemon_return_error(GDBusMethodInvocation *invocation, const GError *error);
/* "expired", "wrong-host"... for a trust refusal, else NULL */
const gchar *ql_daemon_error_reason(const GError *error);

G_END_DECLS
