/*
 * quantra-esimd: what the service keeps on the host. The audit trail (ql-audit.h) of the state
 * directory takes a record for every change the service makes, with the same actions and fields
 * as the CLI's; a change the trail cannot record is refused before the eUICC is touched. And the
 * CIs' CRLs are kept fresh (ql-crl.h) every crl-refresh= seconds, on a thread of their own.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <stdarg.h>

#include "quantra-l/ql-error.h"
#include "ql-audit.h"
#include "ql-crl.h"
#include "ql-daemon.h"

/* ---- the audit trail ---- */

gboolean
ql_op_is_audited(QlOpKind kind)
{
	switch (kind) {
	case QL_OP_DOWNLOAD:
	case QL_OP_PROCESS_NOTIFICATIONS:
	case QL_OP_BACKGROUND_NOTIFICATIONS:
	case QL_OP_ENABLE:
	case QL_OP_DISABLE:
	case QL_OP_DELETE:
	case QL_OP_SET_NICKNAME:
	case QL_OP_SET_DEFAULT_SMDP:
	case QL_OP_RESET:
	case QL_OP_REMOVE_NOTIFICATION:
		return TRUE;
	case QL_OP_DISCOVER:
	case QL_OP_REFRESH:
	case QL_OP_UNINHIBIT:
	default:
		return FALSE;
	}
}

const gchar *
ql_daemon_state_dir(const QlConfig *cfg)
{
	return cfg->state_dir != NULL ? cfg->state_dir : QL_VAULT_DEFAULT_STATE_DIR;
}

QlVault *
ql_daemon_audit_open(QlDaemon *d, GError **error)
{
	const gchar *dir = ql_daemon_state_dir(d->cfg);
	g_autoptr(QlVault) vault = NULL;
	g_autoptr(GError) local = NULL;

	vault = ql_vault_open(dir, d->cfg->vault_key, &local);
	if (vault == NULL || !ql_audit_check_ready(vault, &local)) {
		g_set_error(
			error, QL_ERROR, local->domain == QL_ERROR ? local->code : QL_ERROR_IO,
			"refused before the eUICC was touched: the audit trail in %s cannot "
			"record this change (set state-dir= in [storage] of the configuration to "
			"a usable directory): %s",
			dir, local->message);
		return NULL;
	}
	return g_steal_pointer(&vault);
}

gboolean
ql_daemon_audit_note(QlVault *vault, const gchar *eid, const gchar *action, GError **error, ...)
{
	g_autoptr(GPtrArray) fields = g_ptr_array_new();
	g_autoptr(GError) local = NULL;
	const gchar *k;
	va_list ap;

	if (eid != NULL) {
		g_ptr_array_add(fields, (gpointer) "eid");
		g_ptr_array_add(fields, (gpointer)eid);
	}
	va_start(ap, error);
	while ((k = va_arg(ap, const gchar *)) != NULL) {
		g_ptr_array_add(fields, (gpointer)k);
		g_ptr_array_add(fields, (gpointer)va_arg(ap, const gchar *));
	}
	va_end(ap);
	g_ptr_array_add(fields, NULL);
	if (!ql_audit_appendv(vault, action, (const gchar *const *)fields->pdata, &local)) {
		g_set_error(error, QL_ERROR, QL_ERROR_FAILED,
			    "the change was made, but its audit record could not be written: %s",
			    local->message);
		return FALSE;
	}
	return TRUE;
}

/* ---- the CRLs ---- */

#define QL_DAEMON_CRL_FIRST_DELAY_S 10 /* after start-up, when the refresh interval is longer */

typedef struct {
	gchar *crl_dir;
	GPtrArray *trust_anchor_files;
	GHashTable *urls;
	gsize max_size;
	guint timeout_ms;
} QlCrlJob;

static void
ql_crl_job_free(QlCrlJob *job)
{
	g_free(job->crl_dir);
	g_ptr_array_unref(job->trust_anchor_files);
	g_hash_table_unref(job->urls);
	g_free(job);
}

static void
ql_daemon_crl_thread(GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
	QlCrlJob *job = task_data;
	QlCrlUpdateOptions opts = {0};
	GError *error = NULL;
	GPtrArray *results;

	opts.crl_dir = job->crl_dir;
	opts.trust_anchor_files = job->trust_anchor_files;
	opts.urls = job->urls;
	opts.max_size = job->max_size;
	opts.timeout_ms = job->timeout_ms;
	results = ql_crl_update(&opts, &error);
	if (results == NULL)
		g_task_return_error(task, error);
	else
		g_task_return_pointer(task, results, (GDestroyNotify)g_ptr_array_unref);
}

static void ql_daemon_crl_schedule(QlDaemon *d, guint seconds);

static void
ql_daemon_crl_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
	QlDaemon *d = user_data;
	g_autoptr(GPtrArray) results = NULL;
	g_autoptr(GError) error = NULL;
	guint stored = 0, failed = 0;

	d->crl_running = FALSE;
	results = g_task_propagate_pointer(G_TASK(res), &error);
	if (results == NULL) {
		g_warning("CRL update: %s (tried again in %u s)", error->message,
			  d->cfg->crl_refresh_s);
	} else {
		for (guint i = 0; i < results->len; i++) {
			QlCrlResult *r = g_ptr_array_index(results, i);
			const gchar *what = ql_crl_outcome_to_string(r->outcome);
			const gchar *kid = r->ci_key_id != NULL ? r->ci_key_id : "-";
			switch (r->outcome) {
			case QL_CRL_STORED:
				stored++;
				g_info("CRL update: %s (%s): %s from %s into %s", r->ci_name, kid,
				       what, r->url, r->file);
				break;
			case QL_CRL_CURRENT:
			case QL_CRL_SKIPPED:
				g_debug("CRL update: %s (%s): %s%s%s", r->ci_name, kid, what,
					r->error != NULL ? ": " : "",
					r->error != NULL ? r->error->message : "");
				break;
			case QL_CRL_REFUSED:
			case QL_CRL_FAILED:
			default:
				failed++;
				g_warning("CRL update: %s (%s): %s: %s (tried again in %u s)",
					  r->ci_name, kid, what,
					  r->error != NULL ? r->error->message : "?",
					  d->cfg->crl_refresh_s);
				break;
			}
		}
		g_debug("CRL update: %u CI(s), %u stored, %u failed", results->len, stored, failed);
	}
	if (!d->stopping)
		ql_daemon_crl_schedule(d, d->cfg->crl_refresh_s);
}

static gboolean
ql_daemon_crl_tick(gpointer user_data)
{
	QlDaemon *d = user_data;
	g_autoptr(GTask) task = NULL;
	QlCrlJob *job;

	d->crl_timer_id = 0;
	if (d->stopping || d->crl_running)
		return G_SOURCE_REMOVE;
	job = g_new0(QlCrlJob, 1);
	job->crl_dir = g_strdup(d->cfg->crl_dir);
	job->trust_anchor_files = g_ptr_array_ref(d->cfg->trust_anchor_files);
	job->urls = g_hash_table_ref(d->cfg->crl_urls);
	job->max_size = d->cfg->crl_max_size;
	job->timeout_ms = d->cfg->timeout_ms;
	d->crl_running = TRUE;
	/* the thread has its own references: the configuration may go before it ends */
	task = g_task_new(NULL, NULL, ql_daemon_crl_done, d);
	g_task_set_task_data(task, job, (GDestroyNotify)ql_crl_job_free);
	g_task_run_in_thread(task, ql_daemon_crl_thread);
	return G_SOURCE_REMOVE;
}

static void
ql_daemon_crl_schedule(QlDaemon *d, guint seconds)
{
	if (d->crl_timer_id != 0)
		g_source_remove(d->crl_timer_id);
	d->crl_timer_id = g_timeout_add_seconds(seconds, ql_daemon_crl_tick, d);
}

void
ql_daemon_crl_start(QlDaemon *d)
{
	if (d->cfg->crl_dir == NULL || d->cfg->crl_refresh_s == 0) {
		g_debug("CRL refresh off (%s)",
			d->cfg->crl_dir == NULL ? "no crl-dir= in [tls]" : "crl-refresh=0");
		return;
	}
	g_debug("CRL refresh every %u s into %s", d->cfg->crl_refresh_s, d->cfg->crl_dir);
	ql_daemon_crl_schedule(d, MIN(d->cfg->crl_refresh_s, QL_DAEMON_CRL_FIRST_DELAY_S));
}

void
ql_daemon_crl_stop(QlDaemon *d)
{
	if (d->crl_timer_id != 0)
		g_source_remove(d->crl_timer_id);
	d->crl_timer_id = 0;
	/* an update under way ends within its own timeout; the process does not end under it */
	if (d->crl_running)
		g_debug("CRL update: waiting for the one under way");
	while (d->crl_running)
		g_main_context_iteration(d->main_ctx, TRUE);
}
