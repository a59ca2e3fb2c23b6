/*
 * quantra-esimd: what an eUICC's worker thread runs, one operation at a time, as plain
 * sequential code: take the modem from ModemManager when the operation switches profiles (from
 * oFono, by its lockdown, for every operation unless the port is shared), open
 * the device and the ISD-R channel, do the work, read the eUICC's state again, release the
 * channel and the device on every path.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-crypto.h"
#include "ql-daemon.h"

void
ql_snapshot_free(QlSnapshot *s)
{
	if (s == NULL)
		return;
	g_free(s->eid);
	g_clear_pointer(&s->info2, ql_euicc_info2_free);
	g_free(s->default_dp);
	g_free(s->root_ds);
	g_clear_pointer(&s->profiles, g_ptr_array_unref);
	g_clear_pointer(&s->notifications, g_ptr_array_unref);
	g_free(s);
}

QlSnapshot *
ql_snapshot_read(QlChannel *ch, GError **error)
{
	g_autoptr(QlSnapshot) s = g_new0(QlSnapshot, 1);
	g_autoptr(GError) local = NULL;

	s->eid = ql_es10_get_eid(ch, error);
	if (s->eid == NULL)
		return NULL;
	s->profiles = ql_es10_get_profiles(ch, NULL, error);
	if (s->profiles == NULL)
		return NULL;
	s->notifications = ql_es10_list_notifications(ch, error);
	if (s->notifications == NULL)
		return NULL;
	/* optional in practice: an eUICC that cannot say more is still usable */
	s->info2 = ql_es10_get_euicc_info2(ch, &local);
	if (s->info2 == NULL) {
		g_debug("eUICC %s: no EuiccInfo2: %s", s->eid, local->message);
		g_clear_error(&local);
	}
	if (!ql_es10_get_configured_addresses(ch, &s->default_dp, &s->root_ds, &local))
		g_debug("eUICC %s: no configured addresses: %s", s->eid, local->message);
	return g_steal_pointer(&s);
}

QlSnapshot *
ql_worker_probe(const gchar *spec, GError **error)
{
	g_autoptr(QlDevice) dev = ql_device_open(spec, error);
	g_autoptr(QlChannel) ch = NULL;

	if (dev == NULL)
		return NULL;
	ch = ql_channel_open_isdr(dev, error);
	if (ch == NULL)
		return NULL;
	return ql_snapshot_read(ch, error);
}

/* Opens the TTY ModemManager holds only once it let go of it, gives the modem back and waits
 * until ModemManager shows it again, so that the next scan finds it (and does not read it
 * again). */
QlSnapshot *
ql_worker_probe_exclusive(const QlModemInfo *modem, const gchar *spec, guint wait_ms,
			  QlModemInfo **now, GError **error)
{
	g_autoptr(QlModemInhibit) inhibit = NULL;
	g_autoptr(GError) local = NULL;
	QlSnapshot *snap;

	inhibit = ql_modem_inhibit(NULL, modem, &local);
	if (inhibit == NULL) {
		g_propagate_prefixed_error(error, g_steal_pointer(&local),
					   "ModemManager would not release the modem: ");
		return NULL;
	}
	snap = ql_worker_probe(spec, error);
	if (!ql_modem_uninhibit(inhibit, &local)) {
		g_warning("after reading the eUICC of modem %s: %s", modem->path, local->message);
		g_clear_error(&local);
	}
	*now = ql_modem_wait_for_iccid(NULL, modem, NULL, wait_ms, &local);
	if (*now == NULL)
		g_warning("after reading the eUICC of modem %s: %s", modem->path, local->message);
	return snap;
}

/* oFono's lockdown of @modem, noted in the state directory with the modem's power before */
static QlOfonoLock *
ql_worker_lockdown(GDBusConnection *bus, const QlConfig *cfg, const QlOfonoModem *modem,
		   GError **error)
{
	QlOfonoLock *lock = ql_ofono_lockdown(bus, modem, error);
	if (lock != NULL)
		ql_ofono_lockdown_note(ql_daemon_state_dir(cfg), lock);
	return lock;
}

/* Clears it and powers the modem as it was (then the note goes; also when oFono no longer has
 * the modem), and frees it */
static gboolean
ql_worker_unlock(const QlConfig *cfg, QlOfonoLock *lock, const gchar *modem, GError **error)
{
	g_autoptr(GError) local = NULL;
	gboolean ok = ql_ofono_unlock(lock, &local);

	if (ok || g_error_matches(local, QL_ERROR, QL_ERROR_NOT_FOUND))
		ql_ofono_lockdown_forget(ql_daemon_state_dir(cfg), modem);
	ql_ofono_lock_free(lock);
	if (!ok)
		g_propagate_error(error, g_steal_pointer(&local));
	return ok;
}

/* Opens the port oFono holds only while it is locked down; the lockdown is cleared (and the modem
 * powered again as it was) on every path before this returns. */
QlSnapshot *
ql_worker_probe_ofono(GDBusConnection *bus, const QlConfig *cfg, const QlOfonoModem *modem,
		      const gchar *spec, GError **error)
{
	QlOfonoLock *lock = NULL;
	g_autoptr(GError) local = NULL;
	QlSnapshot *snap;

	if (!modem->shared_port) {
		lock = ql_worker_lockdown(bus, cfg, modem, error);
		if (lock == NULL)
			return NULL;
	}
	snap = ql_worker_probe(spec, error);
	if (lock != NULL && !ql_worker_unlock(cfg, lock, modem->path, &local))
		g_warning("after reading the eUICC of oFono's modem %s: %s", modem->path,
			  local->message);
	return snap;
}

static void
ql_worker_progress(QlDownloadStep step, guint percent, gpointer user_data)
{
	ql_op_progress(user_data, ql_download_step_to_string(step), percent);
}

/* The confirmation code, from the agent of the client that started the download. It is
 * handed to the core, which sends it only as hashCc and wipes it. */
static gchar *
ql_worker_ask_code(gpointer user_data)
{
	QlOp *op = user_data;
	QlDaemon *d = op->euicc->daemon;
	g_autofree gchar *agent = ql_daemon_client_dup_agent(d, op->client);
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GError) error = NULL;
	gchar *code = NULL;

	if (agent == NULL) {
		g_set_error_literal(&op->error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "this profile needs a confirmation code, and the caller has no "
				    "agent registered (org.quantra.Esim1.Manager.RegisterAgent) to "
				    "ask the user for it");
		return NULL;
	}
	ql_op_progress(op, "confirmation code", 35);
	reply = g_dbus_connection_call_sync(d->bus, op->client, agent, QL_DBUS_NAME ".Agent",
					    "RequestConfirmationCode",
					    g_variant_new("(os)", op->path, op->ac->smdp_address),
					    G_VARIANT_TYPE("(s)"), G_DBUS_CALL_FLAGS_NO_AUTO_START,
					    QL_DAEMON_AGENT_TIMEOUT_MS, op->cancellable, &error);
	if (reply == NULL) {
		if (!g_cancellable_is_cancelled(op->cancellable)) {
			g_dbus_error_strip_remote_error(error);
			g_set_error(&op->error, QL_ERROR, QL_ERROR_CANCELLED,
				    "the agent gave no confirmation code (%s)", error->message);
		}
		return NULL;
	}
	g_variant_get(reply, "(s)", &code);
	/* the reply's own copy of the code goes too (the message it came in is freed later) */
	ql_crypto_wipe((gpointer)g_variant_get_data(reply), g_variant_get_size(reply));
	return code;
}

static gboolean
ql_worker_download(QlOp *op, QlChannel *ch, QlVault *vault, GError **error)
{
	QlDaemon *d = op->euicc->daemon;
	g_autoptr(QlDownloadReport) report = NULL;
	g_autoptr(JsonBuilder) b = NULL;
	g_autoptr(JsonNode) root = NULL;
	g_autoptr(GError) local = NULL;
	g_autofree gchar *host = NULL;
	guint16 port = 0;
	QlDownloadOptions opts;

	if (!ql_activation_split_address(op->ac->smdp_address, &host, &port, error))
		return FALSE;
	ql_config_download_options(d->cfg, host, &opts);
	if (op->secure)
		opts.policy = QL_TLS_POLICY_STRICT;
	opts.nickname = op->text;
	opts.ask_confirmation_code = ql_worker_ask_code;
	opts.progress = ql_worker_progress;
	opts.user_data = op;
	opts.cancellable = op->cancellable;
	report = ql_download_profile(ch, op->ac, &opts, &local);
	if (report == NULL) {
		/* the trail takes a failure too; the download's own error stays the one reported */
		g_autoptr(GError) audit_error = NULL;
		const GError *why = op->error != NULL ? op->error : local;
		if (!ql_daemon_audit_note(vault, op->euicc->eid, "profile-download", &audit_error,
					  "smdp", op->ac->smdp_address, "outcome", "failed",
					  "error", why != NULL ? why->message : NULL, NULL))
			g_warning("eUICC %s: %s", op->euicc->eid, audit_error->message);
		/* the agent's own failure says more than "needs a confirmation code" */
		if (op->error != NULL && !g_error_matches(local, QL_ERROR, QL_ERROR_CANCELLED)) {
			g_propagate_error(error, g_steal_pointer(&op->error));
			return FALSE;
		}
		g_clear_error(&op->error);
		g_propagate_error(error, g_steal_pointer(&local));
		return FALSE;
	}
	b = json_builder_new();
	json_builder_begin_object(b);
	ql_download_report_to_json(report, b);
	if (!ql_daemon_audit_note(vault, op->euicc->eid, "profile-download", error, "smdp",
				  op->ac->smdp_address, "iccid", report->iccid, "outcome",
				  "installed", "notification",
				  report->notification_delivered ? "delivered" : "kept", NULL))
		return FALSE;
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	op->report = g_variant_ref_sink(ql_json_to_variant(root));
	return TRUE;
}

static gboolean
ql_worker_discover(QlOp *op, QlChannel *ch, GError **error)
{
	QlDaemon *d = op->euicc->daemon;
	g_autoptr(GPtrArray) events = NULL;
	g_autofree gchar *root_ds = NULL;
	g_autofree gchar *host = NULL;
	const gchar *smds = op->text;
	guint16 port = 0;
	QlDownloadOptions opts;
	GVariantBuilder b, list;

	if (smds == NULL) {
		if (!ql_es10_get_configured_addresses(ch, NULL, &root_ds, error))
			return FALSE;
		smds = root_ds != NULL && root_ds[0] != '\0' ? root_ds : "lpa.ds.gsma.com";
	}
	if (!ql_activation_check_address(smds, error) ||
	    !ql_activation_split_address(smds, &host, &port, error))
		return FALSE;
	ql_config_download_options(d->cfg, host, &opts);
	opts.cancellable = op->cancellable;
	ql_op_progress(op, "ES11 authenticateClient", 10);
	events = ql_download_discover(ch, smds, &opts, error);
	if (events == NULL)
		return FALSE;
	g_variant_builder_init(&list, G_VARIANT_TYPE("aa{sv}"));
	for (guint i = 0; i < events->len; i++) {
		QlEvent *e = g_ptr_array_index(events, i);
		GVariantBuilder one;
		g_variant_builder_init(&one, G_VARIANT_TYPE_VARDICT);
		g_variant_builder_add(&one, "{sv}", "event_id", g_variant_new_string(e->event_id));
		g_variant_builder_add(&one, "{sv}", "smdp_address",
				      g_variant_new_string(e->rsp_server_address));
		g_variant_builder_add_value(&list, g_variant_builder_end(&one));
	}
	g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&b, "{sv}", "result", g_variant_new_string("ok"));
	g_variant_builder_add(&b, "{sv}", "smds_address", g_variant_new_string(smds));
	g_variant_builder_add(&b, "{sv}", "events", g_variant_builder_end(&list));
	op->report = g_variant_ref_sink(g_variant_builder_end(&b));
	return TRUE;
}

static gboolean
ql_worker_notifications(QlOp *op, QlChannel *ch, QlVault *vault, GError **error)
{
	QlDaemon *d = op->euicc->daemon;
	g_autoptr(GPtrArray) failures = g_ptr_array_new_with_free_func(g_free);
	QlDownloadOptions opts;
	GVariantBuilder b;
	gint delivered;

	ql_config_download_options(d->cfg, NULL, &opts);
	opts.cancellable = op->cancellable;
	if (op->kind == QL_OP_PROCESS_NOTIFICATIONS)
		ql_op_progress(op, "handleNotification", 10);
	delivered = ql_download_process_notifications(ch, op->seq, &opts, failures, error);
	if (delivered < 0)
		return FALSE;
	op->delivered = delivered;
	op->failed = failures->len;
	if (delivered > 0) {
		g_autofree gchar *n = g_strdup_printf("%d", delivered);
		g_autofree gchar *which =
			op->seq >= 0 ? g_strdup_printf("%" G_GINT64_FORMAT, op->seq) : NULL;
		if (!ql_daemon_audit_note(vault, op->euicc->eid, "notification-deliver", error,
					  "delivered", n, "notification",
					  which != NULL ? which : "all", NULL))
			return FALSE;
	}
	g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&b, "{sv}", "result", g_variant_new_string("ok"));
	g_variant_builder_add(&b, "{sv}", "delivered", g_variant_new_int64(delivered));
	g_variant_builder_add(
		&b, "{sv}", "failed",
		g_variant_new_strv((const gchar *const *)failures->pdata, failures->len));
	op->report = g_variant_ref_sink(g_variant_builder_end(&b));
	if (failures->len > 0 && op->kind == QL_OP_PROCESS_NOTIFICATIONS) {
		g_set_error(error, QL_ERROR, QL_ERROR_HTTP,
			    "%u notification(s) could not be delivered and stay on the eUICC",
			    failures->len);
		return FALSE;
	}
	return TRUE;
}

/* Does the work; each change is recorded in @vault's trail (NULL for kinds that change nothing)
 * with the same actions and fields as the CLI's. */
static gboolean
ql_worker_execute(QlOp *op, QlChannel *ch, QlVault *vault, GError **error)
{
	const gchar *eid = op->euicc->eid;

	switch (op->kind) {
	case QL_OP_DOWNLOAD:
		return ql_worker_download(op, ch, vault, error);
	case QL_OP_DISCOVER:
		return ql_worker_discover(op, ch, error);
	case QL_OP_PROCESS_NOTIFICATIONS:
	case QL_OP_BACKGROUND_NOTIFICATIONS:
		return ql_worker_notifications(op, ch, vault, error);
	case QL_OP_ENABLE:
		return ql_es10_enable_profile(ch, op->iccid, op->refresh, error) &&
		       ql_daemon_audit_note(vault, eid, "profile-enable", error, "iccid", op->iccid,
					    NULL);
	case QL_OP_DISABLE:
		return ql_es10_disable_profile(ch, op->iccid, op->refresh, error) &&
		       ql_daemon_audit_note(vault, eid, "profile-disable", error, "iccid",
					    op->iccid, NULL);
	case QL_OP_DELETE:
		return ql_es10_delete_profile(ch, op->iccid, error) &&
		       ql_daemon_audit_note(vault, eid, "profile-delete", error, "iccid", op->iccid,
					    NULL);
	case QL_OP_SET_NICKNAME:
		return ql_es10_set_nickname(ch, op->iccid, op->text, error) &&
		       ql_daemon_audit_note(vault, eid, "profile-nickname", error, "iccid",
					    op->iccid, "nickname", op->text, NULL);
	case QL_OP_SET_DEFAULT_SMDP:
		return ql_es10_set_default_dp_address(ch, op->text, error) &&
		       ql_daemon_audit_note(vault, eid, "default-smdp", error, "address", op->text,
					    NULL);
	case QL_OP_RESET:
		return ql_es10_memory_reset(ch, op->reset_options, error) &&
		       ql_daemon_audit_note(
			       vault, eid, "chip-reset", error, "operational",
			       op->reset_options & QL_RESET_DELETE_OPERATIONAL ? "yes" : "no",
			       "test", op->reset_options & QL_RESET_DELETE_TEST ? "yes" : "no",
			       "default-smdp",
			       op->reset_options & QL_RESET_DEFAULT_SMDP ? "yes" : "no", NULL);
	case QL_OP_REMOVE_NOTIFICATION: {
		g_autofree gchar *text = g_strdup_printf("%" G_GINT64_FORMAT, op->seq);
		return ql_es10_remove_notification(ch, op->seq, error) &&
		       ql_daemon_audit_note(vault, eid, "notification-remove", error,
					    "notification", text, NULL);
	}
	case QL_OP_REFRESH:
		return TRUE; /* the snapshot below is the work */
	case QL_OP_UNINHIBIT:
	default:
		g_assert_not_reached();
	}
	return FALSE;
}

void
ql_worker_release(QlEuicc *e)
{
	g_autoptr(GError) error = NULL;

	if (e->ofono_lock != NULL &&
	    !ql_worker_unlock(e->daemon->cfg, g_steal_pointer(&e->ofono_lock), e->ofono->path,
			      &error))
		g_warning("eUICC %s: %s", e->eid, error->message);
}

/* Clears oFono's lockdown and, when the modem was powered before it, waits until oFono shows it
 * powered again with the SIM the switch asked for (or any, or none). */
static void
ql_worker_unlock_ofono(QlOp *op)
{
	QlEuicc *e = op->euicc;
	g_autoptr(GError) error = NULL;
	gboolean was_powered = ql_ofono_lock_was_powered(e->ofono_lock);

	if (!ql_worker_unlock(e->daemon->cfg, g_steal_pointer(&e->ofono_lock), op->ofono->path,
			      &error)) {
		g_propagate_prefixed_error(&op->error, g_steal_pointer(&error),
					   "giving the modem back to oFono: ");
		return;
	}
	if (!was_powered)
		return; /* oFono leaves it off, as it was: no SIM to read */
	op->ofono_after = ql_ofono_wait_for_iccid(e->daemon->bus, op->ofono->path, op->text,
						  e->daemon->cfg->modem_wait_ms, &error);
	if (op->ofono_after == NULL)
		g_propagate_error(&op->error, g_steal_pointer(&error));
	else
		g_debug("eUICC %s: oFono shows modem %s again with SIM %s", e->eid,
			op->ofono_after->path,
			op->ofono_after->iccid != NULL ? op->ofono_after->iccid : "-");
}

/* Gives the modem back to ModemManager (or oFono) and waits until it shows the SIM again. */
static void
ql_worker_uninhibit(QlOp *op)
{
	QlEuicc *e = op->euicc;
	g_autoptr(GError) error = NULL;

	if (e->ofono_lock != NULL) {
		ql_worker_unlock_ofono(op);
		return;
	}
	if (e->inhibit == NULL)
		return;
	if (!ql_modem_uninhibit(e->inhibit, &error))
		g_warning("eUICC %s: ModemManager did not take the modem back: %s", e->eid,
			  error->message);
	g_clear_pointer(&e->inhibit, ql_modem_inhibit_free);
	g_clear_error(&error);
	op->modem_after = ql_modem_wait_for_iccid(NULL, op->modem, op->text,
						  e->daemon->cfg->modem_wait_ms, &error);
	if (op->modem_after == NULL)
		g_propagate_error(&op->error, g_steal_pointer(&error));
	else
		g_debug("eUICC %s: ModemManager shows the modem again as %s with SIM %s", e->eid,
			op->modem_after->path,
			op->modem_after->iccid != NULL ? op->modem_after->iccid : "-");
}

void
ql_worker_run(QlOp *op)
{
	QlEuicc *e = op->euicc;
	g_autoptr(QlDevice) dev = NULL;
	g_autoptr(QlChannel) ch = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) snap_error = NULL;
	g_autoptr(QlVault) vault = NULL;

	if (op->kind == QL_OP_UNINHIBIT) {
		ql_worker_uninhibit(op);
		return;
	}
	if (g_cancellable_is_cancelled(op->cancellable)) {
		g_set_error_literal(&op->error, QL_ERROR, QL_ERROR_CANCELLED, "cancelled");
		return;
	}
	/* a change the trail cannot record is refused before the modem or the eUICC is touched */
	if (ql_op_is_audited(op->kind)) {
		vault = ql_daemon_audit_open(e->daemon, &op->error);
		if (vault == NULL)
			return;
	}
	/* ModemManager lets go of the modem before a switch; released by QL_OP_UNINHIBIT */
	if (op->inhibit && e->inhibit == NULL && op->modem != NULL) {
		e->inhibit = ql_modem_inhibit(NULL, op->modem, &error);
		if (e->inhibit == NULL) {
			g_propagate_prefixed_error(&op->error, g_steal_pointer(&error),
						   "ModemManager would not release the modem: ");
			return;
		}
	}
	/* oFono closes the modem's ports while it is locked down; released by QL_OP_UNINHIBIT */
	if (op->inhibit && e->ofono_lock == NULL && op->ofono != NULL) {
		e->ofono_lock =
			ql_worker_lockdown(e->daemon->bus, e->daemon->cfg, op->ofono, &op->error);
		if (e->ofono_lock == NULL)
			return;
	}
	op->inhibited = e->inhibit != NULL || e->ofono_lock != NULL;
	dev = ql_device_open(e->spec, &error);
	if (dev != NULL)
		ch = ql_channel_open_isdr(dev, &error);
	if (ch == NULL) {
		g_propagate_error(&op->error, g_steal_pointer(&error));
		return;
	}
	if (!ql_worker_execute(op, ch, vault, &error))
		g_propagate_error(&op->error, g_steal_pointer(&error));
	op->snapshot = ql_snapshot_read(ch, &snap_error);
	if (op->snapshot == NULL)
		g_debug("eUICC %s: cannot read it after %s: %s", e->eid,
			ql_op_kind_to_string(op->kind), snap_error->message);
	/* channel and device are released here, on every path (g_autoptr) */
}
