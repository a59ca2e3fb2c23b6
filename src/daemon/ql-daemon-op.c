/*
 * quantra-esimd: queued operations, and the org.quantra.Esim1.Operation objects of the long
 * ones (download, discover, process notifications).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-crypto.h"
#include "ql-daemon.h"

const gchar *
ql_op_kind_to_string(QlOpKind kind)
{
	static const gchar *names[] = {
		"download",
		"discover",
		"process-notifications",
		"enable",
		"disable",
		"delete",
		"set-nickname",
		"set-default-smdp",
		"reset",
		"remove-notification",
		"refresh",
		"background-notifications",
		"uninhibit",
	};
	return (guint)kind < G_N_ELEMENTS(names) ? names[kind] : "unknown";
}

static const gchar *
ql_op_state_to_string(QlOpState state)
{
	static const gchar *names[] = {"queued", "running", "done", "failed", "cancelled"};
	return (guint)state < G_N_ELEMENTS(names) ? names[state] : "unknown";
}

gboolean
ql_op_is_long(QlOp *op)
{
	return op->kind == QL_OP_DOWNLOAD || op->kind == QL_OP_DISCOVER ||
	       op->kind == QL_OP_PROCESS_NOTIFICATIONS;
}

QlOp *
ql_op_new(QlDaemon *d, QlOpKind kind, QlEuicc *e, const gchar *client)
{
	QlOp *op = g_new0(QlOp, 1);
	op->ref = 1;
	op->id = d->next_op_id++;
	op->kind = kind;
	op->state = QL_OP_STATE_QUEUED;
	op->euicc = ql_euicc_ref(e);
	op->client = g_strdup(client);
	op->cancellable = g_cancellable_new();
	op->seq = -1;
	op->refresh = TRUE;
	return op;
}

QlOp *
ql_op_ref(QlOp *op)
{
	g_atomic_int_inc(&op->ref);
	return op;
}

static void
ql_activation_code_wipe_free(QlActivationCode *ac)
{
	/* the matching id is a secret: nothing of it stays in freed memory */
	if (ac->matching_id != NULL)
		ql_crypto_wipe(ac->matching_id, strlen(ac->matching_id));
	ql_activation_code_free(ac);
}

void
ql_op_unref(QlOp *op)
{
	if (op == NULL || !g_atomic_int_dec_and_test(&op->ref))
		return;
	/* an invocation still here was never answered: a bug, but never leave a caller hanging */
	if (op->invocation != NULL)
		g_dbus_method_invocation_return_error(g_steal_pointer(&op->invocation), QL_ERROR,
						      QL_ERROR_FAILED, "the operation was lost");
	g_clear_pointer(&op->ac, ql_activation_code_wipe_free);
	g_clear_pointer(&op->euicc, ql_euicc_unref);
	g_free(op->client);
	g_clear_object(&op->cancellable);
	g_free(op->path);
	g_clear_object(&op->object);
	g_clear_object(&op->iface);
	g_free(op->iccid);
	g_free(op->text);
	g_clear_pointer(&op->modem, ql_modem_info_free);
	g_clear_error(&op->error);
	g_clear_pointer(&op->report, g_variant_unref);
	g_clear_pointer(&op->snapshot, ql_snapshot_free);
	g_clear_pointer(&op->modem_after, ql_modem_info_free);
	g_clear_pointer(&op->ofono, ql_ofono_modem_free);
	g_clear_pointer(&op->ofono_after, ql_ofono_modem_free);
	g_free(op);
}

static gboolean ql_op_handle_cancel_authorized(QlDaemon *d, GDBusMethodInvocation *invocation,
					       QlOp *op);

static void
ql_op_cancel_authorized(QlDaemon *d, GDBusMethodInvocation *invocation, gpointer user_data)
{
	ql_op_handle_cancel_authorized(d, invocation, user_data);
}

static gboolean
ql_op_handle_cancel_authorized(QlDaemon *d, GDBusMethodInvocation *invocation, QlOp *op)
{
	QlEuicc *e = op->euicc;

	if (op->state != QL_OP_STATE_QUEUED && op->state != QL_OP_STATE_RUNNING) {
		g_dbus_method_invocation_return_error(invocation, QL_ERROR, QL_ERROR_FAILED,
						      "the operation has already ended (%s)",
						      ql_op_state_to_string(op->state));
		return TRUE;
	}
	g_cancellable_cancel(op->cancellable);
	if (op->state == QL_OP_STATE_QUEUED && g_queue_remove(e->waiting, op)) {
		g_set_error_literal(&op->error, QL_ERROR, QL_ERROR_CANCELLED,
				    "cancelled before it started");
		ql_op_finish(d, op);
		ql_op_unref(op); /* the queue's */
	}
	/* a running one ends at its next step, segment or network wait */
	ql_dbus_operation_complete_cancel(op->iface, invocation);
	return TRUE;
}

static gboolean
ql_op_handle_cancel(QlDbusOperation *iface, GDBusMethodInvocation *invocation, gpointer user_data)
{
	QlOp *op = user_data;
	QlDaemon *d = op->euicc->daemon;
	const gchar *action =
		op->kind == QL_OP_PROCESS_NOTIFICATIONS ? QL_ACTION_MANAGE : QL_ACTION_DOWNLOAD;

	/* its caller may cancel it; anyone else needs the operation's own action */
	if (g_strcmp0(g_dbus_method_invocation_get_sender(invocation), op->client) == 0)
		action = NULL;
	ql_daemon_authorize(d, invocation, action, ql_op_cancel_authorized, ql_op_ref(op),
			    (GDestroyNotify)ql_op_unref);
	return TRUE;
}

void
ql_op_export(QlDaemon *d, QlOp *op)
{
	op->path = g_strdup_printf(QL_DBUS_PATH "/Operation/%u", op->id);
	op->object = ql_dbus_object_skeleton_new(op->path);
	op->iface = ql_dbus_operation_skeleton_new();
	ql_dbus_operation_set_kind(op->iface, ql_op_kind_to_string(op->kind));
	ql_dbus_operation_set_euicc(op->iface, op->euicc->path);
	ql_dbus_operation_set_state(op->iface, ql_op_state_to_string(op->state));
	ql_dbus_operation_set_step(op->iface, "");
	ql_dbus_operation_set_percent(op->iface, 0);
	ql_dbus_operation_set_report(op->iface, g_variant_new("a{sv}", NULL));
	g_signal_connect(op->iface, "handle-cancel", G_CALLBACK(ql_op_handle_cancel), op);
	ql_dbus_object_skeleton_set_operation(op->object, op->iface);
	g_dbus_object_manager_server_export(d->manager, G_DBUS_OBJECT_SKELETON(op->object));
	g_hash_table_insert(d->operations, g_strdup(op->path), ql_op_ref(op));
}

static void
ql_op_unexport(QlDaemon *d, QlOp *op)
{
	if (op->path == NULL || !g_hash_table_contains(d->operations, op->path))
		return;
	g_signal_handlers_disconnect_by_data(op->iface, op);
	g_dbus_object_manager_server_unexport(d->manager, op->path);
	g_hash_table_remove(d->operations, op->path); /* drops its reference */
}

typedef struct {
	QlOp *op;
	gchar *step;
	guint percent;
} QlOpProgress;

static gboolean
ql_op_progress_main(gpointer user_data)
{
	QlOpProgress *p = user_data;
	QlOp *op = p->op;

	if (op->iface != NULL && op->state == QL_OP_STATE_RUNNING) {
		ql_dbus_operation_set_step(op->iface, p->step);
		ql_dbus_operation_set_percent(op->iface, p->percent);
		ql_dbus_operation_emit_progress(op->iface, p->step, p->percent);
	}
	return G_SOURCE_REMOVE;
}

static void
ql_op_progress_free(QlOpProgress *p)
{
	ql_op_unref(p->op);
	g_free(p->step);
	g_free(p);
}

void
ql_op_progress(QlOp *op, const gchar *step, guint percent)
{
	QlOpProgress *p = g_new0(QlOpProgress, 1);
	p->op = ql_op_ref(op);
	p->step = g_strdup(step);
	p->percent = percent;
	/* idle sources of one priority run in the order they were added: Progress keeps its
	 * order, and comes before Finished */
	g_main_context_invoke_full(op->euicc->daemon->main_ctx, G_PRIORITY_DEFAULT,
				   ql_op_progress_main, p, (GDestroyNotify)ql_op_progress_free);
}

GVariant *
ql_op_error_report(const GError *error, GVariant *partial)
{
	g_autoptr(GError) copy = ql_daemon_error_copy(error);
	const gchar *reason = ql_daemon_error_reason(error);
	GVariantBuilder b;
	GVariantIter it;
	const gchar *key;
	GVariant *value;

	g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
	/* what the operation did before it failed (e.g. notifications delivered) stays */
	if (partial != NULL) {
		g_variant_iter_init(&it, partial);
		while (g_variant_iter_loop(&it, "{&sv}", &key, &value)) {
			if (!g_str_has_prefix(key, "error") && g_strcmp0(key, "result") != 0)
				g_variant_builder_add(&b, "{sv}", key, value);
		}
	}
	g_variant_builder_add(&b, "{sv}", "result", g_variant_new_string("error"));
	g_variant_builder_add(&b, "{sv}", "error_name",
			      g_variant_new_string(ql_error_dbus_name(copy->code)));
	g_variant_builder_add(&b, "{sv}", "error_message", g_variant_new_string(copy->message));
	if (reason != NULL)
		g_variant_builder_add(&b, "{sv}", "error_reason", g_variant_new_string(reason));
	return g_variant_ref_sink(g_variant_builder_end(&b));
}

static gboolean
ql_op_linger_done(gpointer user_data)
{
	QlOp *op = user_data;
	op->linger_id = 0;
	ql_op_unexport(op->euicc->daemon, op);
	return G_SOURCE_REMOVE;
}

void
ql_op_finish(QlDaemon *d, QlOp *op)
{
	if (op->error != NULL) {
		op->state = g_error_matches(op->error, QL_ERROR, QL_ERROR_CANCELLED)
				    ? QL_OP_STATE_CANCELLED
				    : QL_OP_STATE_FAILED;
		g_autoptr(GVariant) partial = g_steal_pointer(&op->report);
		op->report = ql_op_error_report(op->error, partial);
		if (op->kind != QL_OP_BACKGROUND_NOTIFICATIONS && op->kind != QL_OP_UNINHIBIT)
			g_info("%s on %s: %s", ql_op_kind_to_string(op->kind), op->euicc->eid,
			       op->error->message);
	} else {
		op->state = QL_OP_STATE_DONE;
		if (op->report == NULL) {
			GVariantBuilder b;
			g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
			g_variant_builder_add(&b, "{sv}", "result", g_variant_new_string("ok"));
			op->report = g_variant_ref_sink(g_variant_builder_end(&b));
		}
	}
	if (op->invocation != NULL) {
		if (op->error != NULL)
			ql_daemon_return_error(g_steal_pointer(&op->invocation), op->error);
		else
			g_dbus_method_invocation_return_value(g_steal_pointer(&op->invocation),
							      NULL);
	}
	if (op->iface != NULL) {
		ql_dbus_operation_set_state(op->iface, ql_op_state_to_string(op->state));
		ql_dbus_operation_set_report(op->iface, op->report);
		ql_dbus_operation_emit_finished(op->iface, op->report);
		op->linger_id = g_timeout_add_seconds_full(
			G_PRIORITY_DEFAULT, QL_DAEMON_OPERATION_LINGER_S, ql_op_linger_done,
			ql_op_ref(op), (GDestroyNotify)ql_op_unref);
	}
}

void
ql_op_client_gone(QlDaemon *d, QlOp *op)
{
	if (op->state == QL_OP_STATE_QUEUED || op->state == QL_OP_STATE_RUNNING)
		return;
	if (op->linger_id != 0) {
		g_source_remove(op->linger_id);
		op->linger_id = 0;
	}
	ql_op_unexport(d, op);
}
