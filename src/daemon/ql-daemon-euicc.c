/*
 * quantra-esimd: one eUICC: its D-Bus objects (the Euicc and its Profiles), its FIFO queue and
 * its worker thread, the ModemManager inhibition shared by back-to-back switches, and the
 * background delivery of its notifications.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-activation.h"
#include "ql-daemon.h"
#include "ql-tlv.h"

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
	g_clear_object(&e->object);
	g_clear_object(&e->iface);
	g_clear_pointer(&e->profiles, g_hash_table_unref);
	if (e->waiting != NULL)
		g_queue_free_full(e->waiting, (GDestroyNotify)ql_op_unref);
	g_free(e->expected_iccid);
	g_clear_pointer(&e->inhibit, ql_modem_inhibit_free);
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

static void
ql_profile_obj_free(QlProfileObj *p)
{
	g_signal_handlers_disconnect_by_data(p->iface, p);
	g_object_unref(p->iface);
	g_object_unref(p->object);
	g_free(p->iccid);
	g_free(p->path);
	g_free(p);
}

/* ---- requests: authorise, check the arguments, queue ---- */

static const gchar *
ql_euicc_action(QlOpKind kind)
{
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

static gboolean ql_euicc_bad(GError **error, const gchar *format, ...) G_GNUC_PRINTF(2, 3);
static gboolean
ql_euicc_bad(GError **error, const gchar *format, ...)
{
	va_list args;
	g_autofree gchar *msg = NULL;
	va_start(args, format);
	msg = g_strdup_vprintf(format, args);
	va_end(args);
	g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT, msg);
	return FALSE;
}

/* One a{sv} option of the type wanted, or an error that names it */
static gboolean
ql_euicc_option(GVariant *value, const gchar *key, const GVariantType *type, GError **error)
{
	if (!g_variant_is_of_type(value, type))
		return ql_euicc_bad(error, "option '%s' must be of type '%s', not '%s'", key,
				    (const gchar *)type, g_variant_get_type_string(value));
	return TRUE;
}

static gboolean
ql_euicc_parse_download(QlOp *op, GVariant *options, GError **error)
{
	const gchar *code = NULL, *smdp = NULL, *matching_id = NULL, *event = NULL;
	const gchar *nickname = NULL;
	GVariantIter it;
	const gchar *key;
	GVariant *value;
	guint sources;

	g_variant_iter_init(&it, options);
	while (g_variant_iter_loop(&it, "{&sv}", &key, &value)) {
		const gchar **str = NULL;
		gboolean ok;
		if (g_strcmp0(key, "activation-code") == 0)
			str = &code;
		else if (g_strcmp0(key, "smdp") == 0)
			str = &smdp;
		else if (g_strcmp0(key, "matching-id") == 0)
			str = &matching_id;
		else if (g_strcmp0(key, "event") == 0)
			str = &event;
		else if (g_strcmp0(key, "nickname") == 0)
			str = &nickname;
		if (str != NULL) {
			ok = ql_euicc_option(value, key, G_VARIANT_TYPE_STRING, error);
			if (ok)
				*str = g_variant_get_string(value, NULL); /* @options holds it */
		} else if (g_strcmp0(key, "secure") == 0) {
			ok = ql_euicc_option(value, key, G_VARIANT_TYPE_BOOLEAN, error);
			if (ok)
				op->secure = g_variant_get_boolean(value);
		} else {
			ok = ql_euicc_bad(
				error,
				"unknown option '%s' (activation-code, smdp, matching-id, "
				"event, secure, nickname)",
				key);
		}
		if (!ok) {
			g_variant_unref(value);
			return FALSE;
		}
	}
	if (nickname != NULL && strlen(nickname) > 64)
		return ql_euicc_bad(error, "a nickname has at most 64 bytes");
	op->text = g_strdup(nickname);
	sources = (code != NULL) + (smdp != NULL) + (event != NULL);
	if (sources != 1)
		return ql_euicc_bad(error, "give exactly one of the options activation-code, smdp "
					   "(with matching-id) or event");
	if (matching_id != NULL && smdp == NULL)
		return ql_euicc_bad(error, "the option matching-id goes with smdp");
	if (code != NULL) {
		op->ac = ql_activation_code_parse(code, error);
		return op->ac != NULL;
	}
	op->ac = g_new0(QlActivationCode, 1);
	if (smdp != NULL) {
		op->ac->smdp_address = g_strdup(smdp);
		op->ac->matching_id = g_strdup(matching_id != NULL ? matching_id : "");
	} else {
		const gchar *at = strchr(event, '@');
		if (at == NULL || at == event)
			return ql_euicc_bad(error, "the option event is EVENT-ID@SMDP-ADDRESS, as "
						   "DiscoverProfiles reports it");
		op->ac->matching_id = g_strndup(event, at - event);
		op->ac->smdp_address = g_strdup(at + 1);
	}
	return ql_activation_check_address(op->ac->smdp_address, error);
}

static gboolean
ql_euicc_parse_options(QlOp *op, GVariant *options, GError **error)
{
	GVariantIter it;
	const gchar *key;
	GVariant *value;

	g_variant_iter_init(&it, options);
	while (g_variant_iter_loop(&it, "{&sv}", &key, &value)) {
		gboolean ok = FALSE;
		if (op->kind == QL_OP_DISCOVER && g_strcmp0(key, "smds") == 0) {
			ok = ql_euicc_option(value, key, G_VARIANT_TYPE_STRING, error);
			if (ok) {
				g_free(op->text);
				op->text = g_variant_dup_string(value, NULL);
				ok = ql_activation_check_address(op->text, error);
			}
		} else if (op->kind == QL_OP_PROCESS_NOTIFICATIONS && g_strcmp0(key, "seq") == 0) {
			ok = ql_euicc_option(value, key, G_VARIANT_TYPE_UINT32, error);
			if (ok)
				op->seq = g_variant_get_uint32(value);
		} else if ((op->kind == QL_OP_ENABLE || op->kind == QL_OP_DISABLE) &&
			   g_strcmp0(key, "refresh") == 0) {
			ok = ql_euicc_option(value, key, G_VARIANT_TYPE_BOOLEAN, error);
			if (ok)
				op->refresh = g_variant_get_boolean(value);
		} else if (op->kind == QL_OP_RESET &&
			   (g_strcmp0(key, "operational") == 0 || g_strcmp0(key, "test") == 0 ||
			    g_strcmp0(key, "default-smdp") == 0)) {
			ok = ql_euicc_option(value, key, G_VARIANT_TYPE_BOOLEAN, error);
			if (ok && g_variant_get_boolean(value))
				op->reset_options |= key[0] == 'o'   ? QL_RESET_DELETE_OPERATIONAL
						     : key[0] == 't' ? QL_RESET_DELETE_TEST
								     : QL_RESET_DEFAULT_SMDP;
		} else {
			ql_euicc_bad(error, "unknown option '%s' for %s", key,
				     ql_op_kind_to_string(op->kind));
		}
		if (!ok) {
			g_variant_unref(value);
			return FALSE;
		}
	}
	if (op->kind == QL_OP_RESET && op->reset_options == 0)
		op->reset_options =
			QL_RESET_DELETE_OPERATIONAL | QL_RESET_DELETE_TEST | QL_RESET_DEFAULT_SMDP;
	return TRUE;
}

/* Checks a method's arguments (main thread) before anything is queued */
static gboolean
ql_euicc_parse(QlOp *op, GVariant *params, GError **error)
{
	switch (op->kind) {
	case QL_OP_DOWNLOAD: {
		g_autoptr(GVariant) options = g_variant_get_child_value(params, 0);
		return ql_euicc_parse_download(op, options, error);
	}
	case QL_OP_DISCOVER:
	case QL_OP_PROCESS_NOTIFICATIONS:
	case QL_OP_ENABLE:
	case QL_OP_DISABLE:
	case QL_OP_RESET: {
		g_autoptr(GVariant) options = g_variant_get_child_value(params, 0);
		return ql_euicc_parse_options(op, options, error);
	}
	case QL_OP_SET_NICKNAME:
		g_variant_get(params, "(s)", &op->text);
		if (strlen(op->text) > 64)
			return ql_euicc_bad(error, "a nickname has at most 64 bytes");
		return TRUE;
	case QL_OP_SET_DEFAULT_SMDP:
		g_variant_get(params, "(s)", &op->text);
		return op->text[0] == '\0' || ql_activation_check_address(op->text, error);
	case QL_OP_REMOVE_NOTIFICATION: {
		guint32 seq = 0;
		g_variant_get(params, "(u)", &seq);
		op->seq = seq;
		return TRUE;
	}
	default:
		return TRUE;
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
	if (!ql_euicc_parse(op, g_dbus_method_invocation_get_parameters(invocation), &error)) {
		ql_op_unref(op);
		ql_daemon_return_error(invocation, error);
		return;
	}
	ql_euicc_submit(e, op, invocation);
}

static gboolean
ql_euicc_request(QlEuicc *e, GDBusMethodInvocation *invocation, QlOpKind kind, const gchar *iccid)
{
	QlRequest *r = g_new0(QlRequest, 1);
	r->euicc = ql_euicc_ref(e);
	r->kind = kind;
	r->iccid = g_strdup(iccid);
	ql_daemon_authorize(e->daemon, invocation, ql_euicc_action(kind), ql_euicc_authorized, r,
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
	if (e->modem != NULL) {
		op->modem = ql_modem_info_copy(e->modem);
		op->inhibit = ql_euicc_switches(op->kind);
		if (op->inhibit)
			e->inhibit_held = TRUE;
	}
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

static void ql_euicc_apply(QlEuicc *e, QlSnapshot *snap);

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
		ql_discovery_rescan(d);
		break;
	case QL_OP_BACKGROUND_NOTIFICATIONS:
		e->notify_queued = FALSE;
		if (op->error != NULL || op->failed > 0) {
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
	QlEuicc *e = op->euicc;
	QlDaemon *d = e->daemon;

	e->running = NULL;
	if (!e->removed && op->snapshot != NULL)
		ql_euicc_apply(e, op->snapshot);
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
	if (e->running != NULL || !g_queue_is_empty(e->waiting))
		return; /* op_done calls again */
	e->notify_id = g_timeout_add_seconds(e->notify_delay_s, ql_euicc_notifications_due, e);
}

/* ---- D-Bus objects ---- */

static void
ql_json_string(JsonBuilder *b, const gchar *key, const gchar *value)
{
	json_builder_set_member_name(b, key);
	if (value != NULL)
		json_builder_add_string_value(b, value);
	else
		json_builder_add_null_value(b);
}

static void
ql_json_int(JsonBuilder *b, const gchar *key, gint64 value)
{
	json_builder_set_member_name(b, key);
	if (value >= 0)
		json_builder_add_int_value(b, value);
	else
		json_builder_add_null_value(b);
}

static void
ql_json_key_ids(JsonBuilder *b, const gchar *key, GPtrArray *ids)
{
	json_builder_set_member_name(b, key);
	json_builder_begin_array(b);
	for (guint i = 0; ids != NULL && i < ids->len; i++) {
		GBytes *id = g_ptr_array_index(ids, i);
		g_autofree gchar *hex =
			ql_hex_encode(g_bytes_get_data(id, NULL), g_bytes_get_size(id));
		json_builder_begin_object(b);
		ql_json_string(b, "key_id", hex);
		ql_json_string(b, "name", ql_ci_key_id_name(id));
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
}

/* EuiccInfo: the fields of `chip info --json` the other properties do not carry */
static GVariant *
ql_euicc_info_variant(QlSnapshot *s)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) root = NULL;
	QlEuiccInfo2 *info = s->info2;

	json_builder_begin_object(b);
	if (info != NULL) {
		ql_json_string(b, "svn", info->svn);
		ql_json_string(b, "profile_version", info->profile_version);
		ql_json_string(b, "firmware_version", info->firmware_version);
		ql_json_int(b, "installed_apps", info->installed_apps);
		ql_json_int(b, "free_nvm", info->free_nvm);
		ql_json_int(b, "free_ram", info->free_ram);
		ql_json_int(b, "category", info->category);
		ql_json_string(b, "pp_version", info->pp_version);
		ql_json_string(b, "sas_accreditation", info->sas_accreditation);
		ql_json_key_ids(b, "ci_key_ids_verification", info->ci_pkid_verification);
		ql_json_key_ids(b, "ci_key_ids_signing", info->ci_pkid_signing);
	}
	ql_json_string(b, "root_smds", s->root_ds);
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	return ql_json_to_variant(root);
}

static gboolean
ql_profile_handle_enable(QlDbusProfile *iface, GDBusMethodInvocation *invocation, GVariant *options,
			 gpointer user_data)
{
	QlProfileObj *p = user_data;
	return ql_euicc_request(p->euicc, invocation, QL_OP_ENABLE, p->iccid);
}

static gboolean
ql_profile_handle_disable(QlDbusProfile *iface, GDBusMethodInvocation *invocation,
			  GVariant *options, gpointer user_data)
{
	QlProfileObj *p = user_data;
	return ql_euicc_request(p->euicc, invocation, QL_OP_DISABLE, p->iccid);
}

static gboolean
ql_profile_handle_delete(QlDbusProfile *iface, GDBusMethodInvocation *invocation,
			 gpointer user_data)
{
	QlProfileObj *p = user_data;
	return ql_euicc_request(p->euicc, invocation, QL_OP_DELETE, p->iccid);
}

static gboolean
ql_profile_handle_set_nickname(QlDbusProfile *iface, GDBusMethodInvocation *invocation,
			       const gchar *nickname, gpointer user_data)
{
	QlProfileObj *p = user_data;
	return ql_euicc_request(p->euicc, invocation, QL_OP_SET_NICKNAME, p->iccid);
}

static const gchar *
ql_str0(const gchar *s)
{
	return s != NULL ? s : "";
}

static void
ql_profile_obj_update(QlProfileObj *p, QlProfileInfo *info)
{
	QlDbusProfile *iface = p->iface;
	const guint8 *icon = info->icon != NULL ? g_bytes_get_data(info->icon, NULL) : NULL;
	gsize icon_len = info->icon != NULL ? g_bytes_get_size(info->icon) : 0;

	ql_dbus_profile_set_iccid(iface, info->iccid);
	ql_dbus_profile_set_isdp_aid(iface, ql_str0(info->isdp_aid));
	ql_dbus_profile_set_euicc(iface, p->euicc->path);
	ql_dbus_profile_set_name(iface, ql_str0(info->name));
	ql_dbus_profile_set_service_provider(iface, ql_str0(info->service_provider));
	ql_dbus_profile_set_nickname(iface, ql_str0(info->nickname));
	ql_dbus_profile_set_class(iface, ql_profile_class_to_string(info->profile_class));
	ql_dbus_profile_set_state(iface, ql_profile_state_to_string(info->state));
	ql_dbus_profile_set_icon_type(iface, info->icon_type == 0   ? "jpg"
					     : info->icon_type == 1 ? "png"
								    : "");
	/* only when it changed: the setter would signal a new array every time */
	{
		GVariant *old = ql_dbus_profile_get_icon(iface);
		if (old == NULL || g_variant_get_size(old) != icon_len ||
		    (icon_len > 0 && memcmp(g_variant_get_data(old), icon, icon_len) != 0))
			ql_dbus_profile_set_icon(
				iface,
				g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, icon, icon_len, 1));
	}
	ql_dbus_profile_set_owner_mcc_mnc(iface, ql_str0(info->owner_mccmnc));
}

static QlProfileObj *
ql_profile_obj_new(QlEuicc *e, QlProfileInfo *info)
{
	QlProfileObj *p = g_new0(QlProfileObj, 1);
	p->euicc = e;
	p->iccid = g_strdup(info->iccid);
	p->path = g_strdup_printf(QL_DBUS_PATH "/Profile/%s", info->iccid);
	p->object = ql_dbus_object_skeleton_new(p->path);
	p->iface = ql_dbus_profile_skeleton_new();
	g_signal_connect(p->iface, "handle-enable", G_CALLBACK(ql_profile_handle_enable), p);
	g_signal_connect(p->iface, "handle-disable", G_CALLBACK(ql_profile_handle_disable), p);
	g_signal_connect(p->iface, "handle-delete", G_CALLBACK(ql_profile_handle_delete), p);
	g_signal_connect(p->iface, "handle-set-nickname",
			 G_CALLBACK(ql_profile_handle_set_nickname), p);
	ql_profile_obj_update(p, info);
	ql_dbus_object_skeleton_set_profile(p->object, p->iface);
	return p;
}

static gboolean
ql_profile_path_ok(const gchar *iccid)
{
	/* an ICCID becomes an object path element: digits (and the F filler) only */
	if (iccid == NULL || iccid[0] == '\0')
		return FALSE;
	for (const gchar *c = iccid; *c != '\0'; c++) {
		if (!g_ascii_isalnum(*c))
			return FALSE;
	}
	return TRUE;
}

/* Brings the objects in line with what the worker read */
static void
ql_euicc_apply(QlEuicc *e, QlSnapshot *snap)
{
	QlDaemon *d = e->daemon;
	g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
	g_autoptr(GPtrArray) paths = g_ptr_array_new();
	GHashTableIter it;
	gpointer key, value;

	for (guint i = 0; i < snap->profiles->len; i++) {
		QlProfileInfo *info = g_ptr_array_index(snap->profiles, i);
		QlProfileObj *p;
		if (!ql_profile_path_ok(info->iccid)) {
			g_debug("eUICC %s: a profile without a usable ICCID is not exported",
				e->eid);
			continue;
		}
		p = g_hash_table_lookup(e->profiles, info->iccid);
		if (p == NULL) {
			p = ql_profile_obj_new(e, info);
			g_hash_table_insert(e->profiles, g_strdup(info->iccid), p);
			if (g_dbus_object_manager_server_is_exported(
				    d->manager, G_DBUS_OBJECT_SKELETON(e->object)))
				g_dbus_object_manager_server_export(
					d->manager, G_DBUS_OBJECT_SKELETON(p->object));
		} else {
			ql_profile_obj_update(p, info);
		}
		g_hash_table_add(seen, p->iccid);
		g_ptr_array_add(paths, p->path);
	}
	g_hash_table_iter_init(&it, e->profiles);
	while (g_hash_table_iter_next(&it, &key, &value)) {
		QlProfileObj *p = value;
		if (g_hash_table_contains(seen, key))
			continue;
		g_dbus_object_manager_server_unexport(d->manager, p->path);
		g_hash_table_iter_remove(&it);
	}
	g_ptr_array_add(paths, NULL);
	ql_dbus_euicc_set_profiles(e->iface, (const gchar *const *)paths->pdata);
	ql_dbus_euicc_set_euicc_info(e->iface, ql_euicc_info_variant(snap));
	ql_dbus_euicc_set_default_smdp(e->iface, ql_str0(snap->default_dp));
	ql_dbus_euicc_set_pending_notifications(e->iface, snap->notifications->len);
	g_object_set_data_full(G_OBJECT(e->iface), "ql-notifications",
			       g_ptr_array_ref(snap->notifications),
			       (GDestroyNotify)g_ptr_array_unref);
}

static gboolean
ql_euicc_handle_download(QlDbusEuicc *iface, GDBusMethodInvocation *invocation, GVariant *options,
			 gpointer user_data)
{
	return ql_euicc_request(user_data, invocation, QL_OP_DOWNLOAD, NULL);
}

static gboolean
ql_euicc_handle_discover(QlDbusEuicc *iface, GDBusMethodInvocation *invocation, GVariant *options,
			 gpointer user_data)
{
	return ql_euicc_request(user_data, invocation, QL_OP_DISCOVER, NULL);
}

static gboolean
ql_euicc_handle_process(QlDbusEuicc *iface, GDBusMethodInvocation *invocation, GVariant *options,
			gpointer user_data)
{
	return ql_euicc_request(user_data, invocation, QL_OP_PROCESS_NOTIFICATIONS, NULL);
}

static gboolean
ql_euicc_handle_remove_notification(QlDbusEuicc *iface, GDBusMethodInvocation *invocation,
				    guint seq, gpointer user_data)
{
	return ql_euicc_request(user_data, invocation, QL_OP_REMOVE_NOTIFICATION, NULL);
}

static gboolean
ql_euicc_handle_set_default_smdp(QlDbusEuicc *iface, GDBusMethodInvocation *invocation,
				 const gchar *address, gpointer user_data)
{
	return ql_euicc_request(user_data, invocation, QL_OP_SET_DEFAULT_SMDP, NULL);
}

static gboolean
ql_euicc_handle_reset(QlDbusEuicc *iface, GDBusMethodInvocation *invocation, GVariant *options,
		      gpointer user_data)
{
	return ql_euicc_request(user_data, invocation, QL_OP_RESET, NULL);
}

static gboolean
ql_euicc_handle_refresh(QlDbusEuicc *iface, GDBusMethodInvocation *invocation, gpointer user_data)
{
	return ql_euicc_request(user_data, invocation, QL_OP_REFRESH, NULL);
}

/* Reading: from what the last operation read, no queue, no authorisation */
static gboolean
ql_euicc_handle_list_notifications(QlDbusEuicc *iface, GDBusMethodInvocation *invocation,
				   gpointer user_data)
{
	GPtrArray *list = g_object_get_data(G_OBJECT(iface), "ql-notifications");
	GVariantBuilder b;

	g_variant_builder_init(&b, G_VARIANT_TYPE("aa{sv}"));
	for (guint i = 0; list != NULL && i < list->len; i++) {
		QlNotification *n = g_ptr_array_index(list, i);
		GVariantBuilder one;
		g_variant_builder_init(&one, G_VARIANT_TYPE_VARDICT);
		g_variant_builder_add(&one, "{sv}", "seq", g_variant_new_int64(n->seq));
		g_variant_builder_add(
			&one, "{sv}", "operation",
			g_variant_new_string(ql_notification_event_to_string(n->operation)));
		g_variant_builder_add(&one, "{sv}", "address",
				      g_variant_new_string(ql_str0(n->address)));
		if (n->iccid != NULL)
			g_variant_builder_add(&one, "{sv}", "iccid",
					      g_variant_new_string(n->iccid));
		g_variant_builder_add_value(&b, g_variant_builder_end(&one));
	}
	ql_dbus_euicc_complete_list_notifications(iface, invocation, g_variant_builder_end(&b));
	return TRUE;
}

QlEuicc *
ql_euicc_new(QlDaemon *d, const gchar *eid, const gchar *name, const gchar *spec,
	     const QlModemInfo *modem)
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
	e->object = ql_dbus_object_skeleton_new(e->path);
	e->iface = ql_dbus_euicc_skeleton_new();
	ql_dbus_euicc_set_eid(e->iface, eid);
	ql_dbus_euicc_set_name(e->iface, ql_str0(name));
	ql_dbus_euicc_set_transport(e->iface, spec);
	ql_dbus_euicc_set_modem_object_path(e->iface, "/");
	ql_euicc_set_modem(e, modem);
	g_signal_connect(e->iface, "handle-download-profile", G_CALLBACK(ql_euicc_handle_download),
			 e);
	g_signal_connect(e->iface, "handle-discover-profiles", G_CALLBACK(ql_euicc_handle_discover),
			 e);
	g_signal_connect(e->iface, "handle-process-notifications",
			 G_CALLBACK(ql_euicc_handle_process), e);
	g_signal_connect(e->iface, "handle-list-notifications",
			 G_CALLBACK(ql_euicc_handle_list_notifications), e);
	g_signal_connect(e->iface, "handle-remove-notification",
			 G_CALLBACK(ql_euicc_handle_remove_notification), e);
	g_signal_connect(e->iface, "handle-set-default-smdp",
			 G_CALLBACK(ql_euicc_handle_set_default_smdp), e);
	g_signal_connect(e->iface, "handle-reset-memory", G_CALLBACK(ql_euicc_handle_reset), e);
	g_signal_connect(e->iface, "handle-refresh", G_CALLBACK(ql_euicc_handle_refresh), e);
	ql_dbus_object_skeleton_set_euicc(e->object, e->iface);

	e->ctx = g_main_context_new();
	e->loop = g_main_loop_new(e->ctx, FALSE);
	e->thread = g_thread_new(thread_name, ql_euicc_worker_main, ql_euicc_ref(e));
	return e;
}

void
ql_euicc_set_modem(QlEuicc *e, const QlModemInfo *modem)
{
	guint slot = 0;

	if (modem != NULL && e->modem != modem) {
		g_clear_pointer(&e->modem, ql_modem_info_free);
		e->modem = ql_modem_info_copy(modem);
	}
	ql_dbus_euicc_set_modem_object_path(e->iface, e->modem != NULL ? e->modem->path : "/");
	if (e->modem != NULL) {
		slot = e->modem->slot;
	} else {
		g_autofree gchar *scheme = NULL;
		g_autofree gchar *path = NULL;
		g_autoptr(GHashTable) params = NULL;
		guint64 v = 0;
		if (ql_device_spec_parse(e->spec, &scheme, &path, &params, NULL) &&
		    g_hash_table_contains(params, "slot") &&
		    g_ascii_string_to_unsigned(g_hash_table_lookup(params, "slot"), 10, 1, 255, &v,
					       NULL))
			slot = (guint)v;
	}
	ql_dbus_euicc_set_slot(e->iface, slot);
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
		  e->modem != NULL ? " of modem " : "", e->modem != NULL ? e->modem->path : "");
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
	e->uninhibit_id = e->notify_id = 0;
}

static gboolean
ql_euicc_worker_quit(gpointer user_data)
{
	QlEuicc *e = user_data;
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
