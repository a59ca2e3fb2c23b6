/*
 * quantra-esimd: one eUICC: its FIFO queue and worker thread, the ModemManager inhibition (or
 * oFono lockdown) shared by back-to-back operations, and the background delivery of its
 * notifications. Its D-Bus
 * objects are in ql-daemon-objects.c, the checks of method arguments in ql-daemon-args.c.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-daemon.h"

static void ql_euicc_kick(QlEuicc *e);
static void ql_euicc_schedule_notifications(QlEuicc *e);

/* ---- lifetime ---- */

static void
ql_euicc_free(QlEuicc *e)
{
	g_free(e->eid);
	g_free(e->name);
	g_free(e->spec);
	g_free(e->path);
	g_clear_pointer(&e->modem, ql_modem_info_free);
	g_clear_pointer(&e->ofono, ql_ofono_modem_free);
	g_clear_object(&e->object);
	g_clear_object(&e->iface);
	g_clear_pointer(&e->profiles, g_hash_table_unref);
	if (e->waiting != NULL)
		g_queue_free_full(e->waiting, (GDestroyNotify)ql_op_unref);
	g_free(e->expected_iccid);
	g_clear_pointer(&e->inhibit, ql_modem_inhibit_free);
	g_clear_pointer(&e->ofono_lock, ql_ofono_lock_free);
	g_clear_pointer(&e->loop, g_main_loop_unref);
	g_clear_pointer(&e->ctx, g_main_context_unref);
	g_clear_pointer(&e->thread, g_thread_unref);
	g_free(e);
}

QlEuicc *
ql_euicc_ref(QlEuicc *e)
{
	g_atomic_int_inc(&e->ref);
	return e;
}

void
ql_euicc_unref(QlEuicc *e)
{
	if (e != NULL && g_atomic_int_dec_and_test(&e->ref))
		ql_euicc_free(e);
}

static gpointer
ql_euicc_worker_main(gpointer user_data)
{
	QlEuicc *e = user_data;
	g_main_context_push_thread_default(e->ctx);
	g_main_loop_run(e->loop);
	g_main_context_pop_thread_default(e->ctx);
	ql_euicc_unref(e); /* the thread's */
	return NULL;
}

/* ---- requests: authorise, check the arguments, queue ---- */

static const gchar *
ql_euicc_action(QlEuicc *e, QlOpKind kind)
{
	/* a read that takes the modem away from ModemManager or oFono (its calls, its data) is
	 * not anybody's to make */
	if (kind == QL_OP_REFRESH && ql_euicc_needs_hold(e, kind))
		return QL_ACTION_MANAGE;
	switch (kind) {
	case QL_OP_DOWNLOAD:
	case QL_OP_DISCOVER:
		return QL_ACTION_DOWNLOAD;
	case QL_OP_RESET:
		return QL_ACTION_RESET;
	case QL_OP_REFRESH:
		return NULL; /* reading */
	default:
		return QL_ACTION_MANAGE;
	}
}

static guint
ql_euicc_queue_length(QlEuicc *e)
{
	guint n = e->running != NULL && e->running->client != NULL ? 1 : 0;
	for (GList *l = e->waiting->head; l != NULL; l = l->next) {
		QlOp *op = l->data;
		if (op->client != NULL)
			n++;
	}
	return n;
}

/* Queues @op (taking the reference). A long operation's caller gets its Operation at once,
 * a short one's when it ended. */
static void
ql_euicc_submit(QlEuicc *e, QlOp *op, GDBusMethodInvocation *invocation)
{
	QlDaemon *d = e->daemon;

	if (op->client != NULL && ql_euicc_queue_length(e) >= QL_DAEMON_QUEUE_MAX) {
		g_dbus_method_invocation_return_error(
			invocation, QL_ERROR, QL_ERROR_BUSY,
			"the eUICC %s is busy: %u operations are queued already; try again when "
			"one has ended",
			e->eid, (guint)QL_DAEMON_QUEUE_MAX);
		ql_op_unref(op);
		return;
	}
	if (op->client != NULL)
		ql_daemon_client_track(d, op->client);
	/* clients first: a background delivery (slow servers, long timeouts) makes way, and
	 * comes back when the queue is empty */
	if (op->client != NULL && e->running != NULL &&
	    e->running->kind == QL_OP_BACKGROUND_NOTIFICATIONS)
		g_cancellable_cancel(e->running->cancellable);
	/* a switch that follows another shares its inhibition */
	if (e->uninhibit_id != 0) {
		g_source_remove(e->uninhibit_id);
		e->uninhibit_id = 0;
	}
	if (ql_op_is_long(op)) {
		ql_op_export(d, op);
		g_dbus_method_invocation_return_value(invocation, g_variant_new("(o)", op->path));
	} else if (invocation != NULL) {
		op->invocation = invocation;
	}
	g_debug("eUICC %s: %s queued (%u waiting)", e->eid, ql_op_kind_to_string(op->kind),
		g_queue_get_length(e->waiting));
	g_queue_push_tail(e->waiting, op);
	ql_euicc_kick(e);
}

typedef struct {
	QlEuicc *euicc;
	QlOpKind kind;
	gchar *iccid;
} QlRequest;

static void
ql_request_free(QlRequest *r)
{
	ql_euicc_unref(r->euicc);
	g_free(r->iccid);
	g_free(r);
}

static void
ql_euicc_authorized(QlDaemon *d, GDBusMethodInvocation *invocation, gpointer user_data)
{
	QlRequest *r = user_data;
	QlEuicc *e = r->euicc;
	g_autoptr(GError) error = NULL;
	QlOp *op;

	if (e->removed || d->stopping) {
		g_dbus_method_invocation_return_error(invocation, QL_ERROR, QL_ERROR_NOT_FOUND,
						      "the eUICC %s is gone", e->eid);
		return;
	}
	op = ql_op_new(d, r->kind, e, g_dbus_method_invocation_get_sender(invocation));
	op->iccid = g_strdup(r->iccid);
	if (!ql_op_parse_args(op, g_dbus_method_invocation_get_parameters(invocation), &error)) {
		ql_op_unref(op);
		ql_daemon_return_error(invocation, error);
		return;
	}
	ql_euicc_submit(e, op, invocation);
}

gboolean
ql_euicc_request(QlEuicc *e, GDBusMethodInvocation *invocation, QlOpKind kind, const gchar *iccid)
{
	QlRequest *r = g_new0(QlRequest, 1);
	r->euicc = ql_euicc_ref(e);
	r->kind = kind;
	r->iccid = g_strdup(iccid);
	ql_daemon_authorize(e->daemon, invocation, ql_euicc_action(e, kind), ql_euicc_authorized, r,
			    (GDestroyNotify)ql_request_free);
	return TRUE;
}

/* ---- running: main thread -> worker -> main thread ---- */

static gboolean ql_euicc_op_done(gpointer user_data);

static gboolean
ql_euicc_op_run(gpointer user_data)
{
	QlOp *op = user_data;
	ql_worker_run(op);
	g_main_context_invoke_full(op->euicc->daemon->main_ctx, G_PRIORITY_DEFAULT,
				   ql_euicc_op_done, op, NULL);
	return G_SOURCE_REMOVE;
}

static gboolean
ql_euicc_switches(QlOpKind kind)
{
	return kind == QL_OP_ENABLE || kind == QL_OP_DISABLE || kind == QL_OP_RESET;
}

gboolean
ql_euicc_needs_hold(QlEuicc *e, QlOpKind kind)
{
	if (kind == QL_OP_UNINHIBIT)
		return FALSE;
	if (e->ofono != NULL)
		return ql_euicc_switches(kind) || !e->ofono->shared_port;
	/* a TTY ModemManager holds open is reached only while it is inhibited */
	return e->modem != NULL && (ql_euicc_switches(kind) || e->modem->exclusive);
}

static void
ql_euicc_kick(QlEuicc *e)
{
	QlOp *op;

	if (e->running != NULL || g_queue_is_empty(e->waiting))
		return;
	op = g_queue_pop_head(e->waiting);
	e->running = op;
	op->state = QL_OP_STATE_RUNNING;
	if (op->iface != NULL)
		ql_dbus_operation_set_state(op->iface, "running");
	if (e->modem != NULL)
		op->modem = ql_modem_info_copy(e->modem);
	if (e->ofono != NULL)
		op->ofono = ql_ofono_modem_copy(e->ofono);
	op->inhibit = ql_euicc_needs_hold(e, op->kind);
	if (op->inhibit)
		e->inhibit_held = TRUE;
	if (op->kind == QL_OP_UNINHIBIT)
		op->text = g_strdup(e->expected_iccid);
	g_debug("eUICC %s: %s starts", e->eid, ql_op_kind_to_string(op->kind));
	g_main_context_invoke_full(e->ctx, G_PRIORITY_DEFAULT, ql_euicc_op_run, op, NULL);
}

static gboolean
ql_euicc_uninhibit_due(gpointer user_data)
{
	QlEuicc *e = user_data;
	e->uninhibit_id = 0;
	if (e->running != NULL || !g_queue_is_empty(e->waiting) || e->removed)
		return G_SOURCE_REMOVE;
	ql_euicc_submit(e, ql_op_new(e->daemon, QL_OP_UNINHIBIT, e, NULL), NULL);
	return G_SOURCE_REMOVE;
}

static void
ql_euicc_after(QlEuicc *e, QlOp *op)
{
	QlDaemon *d = e->daemon;

	switch (op->kind) {
	case QL_OP_ENABLE:
	case QL_OP_DISABLE:
	case QL_OP_RESET:
		if (op->error == NULL) {
			/* ModemManager should then show the enabled profile (or none) */
			g_free(e->expected_iccid);
			e->expected_iccid =
				op->kind == QL_OP_ENABLE && op->refresh && strlen(op->iccid) < 32
					? g_strdup(op->iccid)
					: NULL;
		}
		break;
	case QL_OP_UNINHIBIT:
		e->inhibit_held = FALSE;
		if (op->error != NULL)
			g_warning("eUICC %s: after giving the modem back: %s", e->eid,
				  op->error->message);
		if (op->modem_after != NULL)
			ql_euicc_set_modem(e, op->modem_after);
		if (op->ofono_after != NULL)
			ql_euicc_set_ofono(e, op->ofono_after);
		ql_discovery_rescan(d);
		break;
	case QL_OP_BACKGROUND_NOTIFICATIONS:
		e->notify_queued = FALSE;
		if (g_error_matches(op->error, QL_ERROR, QL_ERROR_CANCELLED)) {
			g_debug("eUICC %s: background delivery postponed for a client's operation",
				e->eid);
		} else if (op->error != NULL || op->failed > 0) {
			/* 30 s, 1 min, 2 min ... up to 6 h (configurable) */
			e->notify_delay_s = e->notify_delay_s == 0
						    ? d->cfg->notification_retry_s
						    : MIN(e->notify_delay_s * 2,
							  d->cfg->notification_retry_max_s);
			g_info("eUICC %s: %u notification(s) not delivered (%s); next try in %u s",
			       e->eid, op->failed,
			       op->error != NULL ? op->error->message : "kept on the eUICC",
			       e->notify_delay_s);
		} else {
			e->notify_delay_s = 0;
			if (op->delivered > 0)
				g_info("eUICC %s: %d notification(s) delivered", e->eid,
				       op->delivered);
		}
		break;
	default:
		break;
	}
	/* the inhibit itself failed: nothing is held */
	if (op->inhibit && !op->inhibited)
		e->inhibit_held = FALSE;
}

static gboolean
ql_euicc_op_done(gpointer user_data)
{
	QlOp *op = user_data; /* the queue's reference, back from the worker */
	/* a removed eUICC's last references are the operation's and its ending worker's */
	g_autoptr(QlEuicc) e = ql_euicc_ref(op->euicc);
	QlDaemon *d = e->daemon;

	e->running = NULL;
	if (!e->removed && op->snapshot != NULL) {
		/* what a delivery run removed from the eUICC reached its SM-DP+ */
		if (op->kind == QL_OP_PROCESS_NOTIFICATIONS ||
		    op->kind == QL_OP_BACKGROUND_NOTIFICATIONS) {
			GPtrArray *before =
				g_object_get_data(G_OBJECT(e->iface), "ql-notifications");
			g_autoptr(GVariant) gone =
				g_variant_ref_sink(ql_euicc_notifications_variant(
					before, op->snapshot->notifications));
			if (g_variant_n_children(gone) > 0)
				ql_dbus_euicc_emit_notifications_delivered(e->iface, gone);
		}
		ql_euicc_apply(e, op->snapshot);
	}
	ql_euicc_after(e, op);
	ql_op_finish(d, op);
	ql_op_unref(op);
	if (e->removed || d->stopping)
		return G_SOURCE_REMOVE;
	ql_euicc_kick(e);
	if (e->running == NULL && e->inhibit_held && e->uninhibit_id == 0)
		e->uninhibit_id =
			g_timeout_add(d->cfg->uninhibit_delay_ms, ql_euicc_uninhibit_due, e);
	ql_euicc_schedule_notifications(e);
	return G_SOURCE_REMOVE;
}

/* ---- background notification delivery ---- */

static gboolean
ql_euicc_notifications_due(gpointer user_data)
{
	QlEuicc *e = user_data;
	e->notify_id = 0;
	/* client operations first; this comes back when the queue is empty */
	if (e->running != NULL || !g_queue_is_empty(e->waiting) || e->removed)
		return G_SOURCE_REMOVE;
	e->notify_queued = TRUE;
	ql_euicc_submit(e, ql_op_new(e->daemon, QL_OP_BACKGROUND_NOTIFICATIONS, e, NULL), NULL);
	return G_SOURCE_REMOVE;
}

static void
ql_euicc_schedule_notifications(QlEuicc *e)
{
	QlDaemon *d = e->daemon;

	if (d->cfg->notification_retry_s == 0 || e->notify_id != 0 || e->notify_queued ||
	    e->removed || ql_dbus_euicc_get_pending_notifications(e->iface) == 0)
		return;
	/* reading the eUICC would power the modem off, and with it perhaps the only network the
	 * notifications could go over: they wait for a client's operation */
	if (ql_euicc_needs_hold(e, QL_OP_BACKGROUND_NOTIFICATIONS))
		return;
	if (e->running != NULL || !g_queue_is_empty(e->waiting))
		return; /* op_done calls again */
	e->notify_id = g_timeout_add_seconds(e->notify_delay_s, ql_euicc_notifications_due, e);
}

QlEuicc *
ql_euicc_new(QlDaemon *d, const gchar *eid, const gchar *name, const gchar *spec,
	     const QlModemInfo *modem, const QlOfonoModem *ofono)
{
	QlEuicc *e = g_new0(QlEuicc, 1);
	g_autofree gchar *thread_name = g_strdup_printf("euicc-%.8s", eid);

	e->ref = 1;
	e->daemon = d;
	e->eid = g_strdup(eid);
	e->name = g_strdup(name);
	e->spec = g_strdup(spec);
	e->path = g_strdup_printf(QL_DBUS_PATH "/Euicc/%s", eid);
	e->profiles = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					    (GDestroyNotify)ql_profile_obj_free);
	e->waiting = g_queue_new();
	ql_euicc_objects_init(e, modem, ofono);

	e->ctx = g_main_context_new();
	e->loop = g_main_loop_new(e->ctx, FALSE);
	e->thread = g_thread_new(thread_name, ql_euicc_worker_main, ql_euicc_ref(e));
	return e;
}

void
ql_euicc_export(QlEuicc *e, QlSnapshot *snap)
{
	QlDaemon *d = e->daemon;
	GHashTableIter it;
	gpointer value;

	ql_euicc_apply(e, snap);
	g_dbus_object_manager_server_export(d->manager, G_DBUS_OBJECT_SKELETON(e->object));
	g_hash_table_iter_init(&it, e->profiles);
	while (g_hash_table_iter_next(&it, NULL, &value)) {
		QlProfileObj *p = value;
		g_dbus_object_manager_server_export(d->manager, G_DBUS_OBJECT_SKELETON(p->object));
	}
	g_hash_table_insert(d->euiccs, g_strdup(e->eid), e);
	g_message("eUICC %s on %s%s%s exported", e->eid, e->spec,
		  e->modem != NULL || e->ofono != NULL ? " of modem " : "",
		  e->modem != NULL   ? e->modem->path
		  : e->ofono != NULL ? e->ofono->path
				     : "");
	ql_euicc_schedule_notifications(e);
}

static void
ql_euicc_drop_waiting(QlEuicc *e, const gchar *client, QlError code, const gchar *why)
{
	GList *l = e->waiting->head;

	while (l != NULL) {
		GList *next = l->next;
		QlOp *op = l->data;
		if (client == NULL || g_strcmp0(op->client, client) == 0) {
			g_queue_delete_link(e->waiting, l);
			g_set_error_literal(&op->error, QL_ERROR, code, why);
			ql_op_finish(e->daemon, op);
			ql_op_unref(op);
		}
		l = next;
	}
}

void
ql_euicc_client_gone(QlEuicc *e, const gchar *client)
{
	ql_euicc_drop_waiting(e, client, QL_ERROR_CANCELLED,
			      "cancelled: the caller left the bus before it started");
	if (e->running != NULL && g_strcmp0(e->running->client, client) == 0) {
		g_info("eUICC %s: %s left the bus: its %s is cancelled", e->eid, client,
		       ql_op_kind_to_string(e->running->kind));
		g_cancellable_cancel(e->running->cancellable);
	}
}

static void
ql_euicc_stop_timers(QlEuicc *e)
{
	if (e->uninhibit_id != 0)
		g_source_remove(e->uninhibit_id);
	if (e->notify_id != 0)
		g_source_remove(e->notify_id);
	if (e->gone_id != 0)
		g_source_remove(e->gone_id);
	e->uninhibit_id = e->notify_id = e->gone_id = 0;
}

static gboolean
ql_euicc_worker_quit(gpointer user_data)
{
	QlEuicc *e = user_data;
	ql_worker_release(e);
	g_main_loop_quit(e->loop);
	return G_SOURCE_REMOVE;
}

void
ql_euicc_remove(QlEuicc *e, const gchar *why)
{
	QlDaemon *d = e->daemon;
	GHashTableIter it;
	gpointer value;

	g_message("eUICC %s removed: %s", e->eid, why);
	e->removed = TRUE;
	ql_euicc_stop_timers(e);
	ql_euicc_drop_waiting(e, NULL, QL_ERROR_IO, why);
	if (e->running != NULL)
		g_cancellable_cancel(e->running->cancellable);
	g_hash_table_iter_init(&it, e->profiles);
	while (g_hash_table_iter_next(&it, NULL, &value))
		g_dbus_object_manager_server_unexport(d->manager, ((QlProfileObj *)value)->path);
	g_hash_table_remove_all(e->profiles);
	g_dbus_object_manager_server_unexport(d->manager, e->path);
	/* the worker ends after the operation it runs; the thread holds its own reference */
	g_main_context_invoke(e->ctx, ql_euicc_worker_quit, e);
	g_hash_table_remove(d->euiccs, e->eid); /* drops the table's reference */
}

void
ql_euicc_shutdown(QlEuicc *e)
{
	g_autoptr(GError) error = NULL;

	e->removed = TRUE;
	ql_euicc_stop_timers(e);
	ql_euicc_drop_waiting(e, NULL, QL_ERROR_CANCELLED, "cancelled: the service is stopping");
	if (e->running != NULL)
		g_cancellable_cancel(e->running->cancellable);
	g_main_context_invoke(e->ctx, ql_euicc_worker_quit, e);
	g_thread_join(g_steal_pointer(&e->thread));
	/* the worker is gone: its inhibition is ours to give back */
	if (e->inhibit != NULL && !ql_modem_uninhibit(e->inhibit, &error))
		g_warning("eUICC %s: ModemManager did not take the modem back: %s", e->eid,
			  error->message);
	g_clear_pointer(&e->inhibit, ql_modem_inhibit_free);
}
