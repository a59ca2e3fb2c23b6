/*
 * oFono in the CLI. See ql-cli-ofono.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <glib/gi18n.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "ql-cli-ofono.h"
#include "ql-config.h"
#include "ql-ofono.h"
#include "ql-text.h"

/* how long oFono may take to read the SIM after a switch */
#define QL_CLI_OFONO_SETTLE_MS 60000

struct _QlCliOfono {
	QlOfonoModem *modem;
	QlOfonoLock *lock; /* NULL when the port is not oFono's and nothing is switched */
	gboolean ended;
	/* SIGINT / SIGTERM while locked down */
	GThread *watcher;
	struct sigaction old_int, old_term;
};

/* the write end is used from the signal handler: a plain int, set before the handler is */
static int ql_cli_ofono_pipe[2] = {-1, -1};

GPtrArray *
ql_cli_ofono_list(const gchar *config, GError **error)
{
	g_autoptr(QlConfig) cfg = ql_config_load(config, error);
	if (cfg == NULL)
		return NULL;
	return ql_ofono_list(NULL, cfg, error);
}

static void
ql_cli_ofono_json_string(JsonBuilder *b, const gchar *key, const gchar *value)
{
	g_autofree gchar *valid = ql_text_valid(value, -1, QL_TEXT_MAX_MESSAGE);
	json_builder_set_member_name(b, key);
	if (valid != NULL)
		json_builder_add_string_value(b, valid);
	else
		json_builder_add_null_value(b);
}

static void
ql_cli_ofono_json_bool(JsonBuilder *b, const gchar *key, gboolean value)
{
	json_builder_set_member_name(b, key);
	json_builder_add_boolean_value(b, value);
}

void
ql_cli_ofono_json(JsonBuilder *out, GPtrArray *modems)
{
	for (guint i = 0; i < modems->len; i++) {
		QlOfonoModem *m = g_ptr_array_index(modems, i);
		json_builder_begin_object(out);
		ql_cli_ofono_json_string(out, "stack", "oFono");
		ql_cli_ofono_json_string(out, "path", m->path);
		ql_cli_ofono_json_string(out, "manufacturer", m->manufacturer);
		ql_cli_ofono_json_string(out, "model", m->model);
		ql_cli_ofono_json_string(out, "serial", m->serial);
		ql_cli_ofono_json_string(out, "type", m->type);
		ql_cli_ofono_json_bool(out, "powered", m->powered);
		ql_cli_ofono_json_bool(out, "online", m->online);
		ql_cli_ofono_json_bool(out, "lockdown", m->lockdown);
		ql_cli_ofono_json_string(out, "system_path", m->system_path);
		ql_cli_ofono_json_string(out, "transport", m->transport);
		ql_cli_ofono_json_string(out, "spec", m->spec);
		ql_cli_ofono_json_string(out, "spec_origin", m->spec_origin);
		ql_cli_ofono_json_string(out, "unresolved", m->unresolved);
		ql_cli_ofono_json_bool(out, "sim_present", m->sim_present);
		ql_cli_ofono_json_string(out, "iccid", m->iccid);
		json_builder_end_object(out);
	}
}

void
ql_cli_ofono_rows(GPtrArray *rows, GPtrArray *modems)
{
	for (guint i = 0; i < modems->len; i++) {
		QlOfonoModem *m = g_ptr_array_index(modems, i);
		gchar **row = g_new0(gchar *, 10);
		row[0] = g_strdup(m->path);
		row[1] = g_strdup("oFono");
		row[2] = g_strdup_printf("[%s] %s", m->manufacturer != NULL ? m->manufacturer : "?",
					 m->model != NULL ? m->model : "?");
		row[3] = g_strdup(m->transport != NULL ? m->transport : "-");
		row[4] = m->spec != NULL ? g_strdup(m->spec) : g_strdup(_("unknown (see --json)"));
		row[5] = g_strdup("-"); /* oFono does not read the EID */
		row[6] = g_strdup("-");
		row[7] = m->iccid != NULL && m->sim_present ? g_strdup(m->iccid)
			 : m->powered			    ? g_strdup(_("no SIM"))
			 : m->lockdown			    ? g_strdup(_("locked down"))
							    : g_strdup(_("powered off"));
		row[8] = g_strdup("-");
		g_ptr_array_add(rows, row);
	}
}

/* --- SIGINT / SIGTERM while oFono is locked out --- */

static void
ql_cli_ofono_on_signal(int signo)
{
	guint8 b = (guint8)signo;
	/* async-signal-safe: the watcher thread does the D-Bus work */
	if (write(ql_cli_ofono_pipe[1], &b, 1) < 0)
		_exit(128 + signo);
}

static gpointer
ql_cli_ofono_watch(gpointer data)
{
	QlCliOfono *o = data;
	g_autoptr(GError) error = NULL;
	guint8 b = 0;
	ssize_t n;

	do
		n = read(ql_cli_ofono_pipe[0], &b, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1 || b == 0)
		return NULL; /* the command ended first */
	if (!ql_ofono_unlock(o->lock, &error)) {
		g_autofree gchar *safe = ql_text_escape(error->message, -1, QL_TEXT_MAX_MESSAGE);
		g_printerr("%s: %s\n", g_get_prgname(), safe);
	} else {
		g_printerr(_("%s: interrupted: oFono has modem %s back\n"), g_get_prgname(),
			   o->modem->path);
	}
	/* die of the signal, as without this handler */
	signal(b, SIG_DFL);
	kill(getpid(), b);
	return NULL;
}

static gboolean
ql_cli_ofono_watch_start(QlCliOfono *o, GError **error)
{
	struct sigaction sa = {.sa_handler = ql_cli_ofono_on_signal};

	if (!g_unix_open_pipe(ql_cli_ofono_pipe, FD_CLOEXEC, error))
		return FALSE;
	o->watcher = g_thread_new("ql-ofono-signals", ql_cli_ofono_watch, o);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &o->old_int);
	sigaction(SIGTERM, &sa, &o->old_term);
	return TRUE;
}

static void
ql_cli_ofono_watch_stop(QlCliOfono *o)
{
	guint8 stop = 0;

	if (o->watcher == NULL)
		return;
	sigaction(SIGINT, &o->old_int, NULL);
	sigaction(SIGTERM, &o->old_term, NULL);
	if (write(ql_cli_ofono_pipe[1], &stop, 1) != 1)
		g_warning("cannot stop the signal watcher: %s", g_strerror(errno));
	g_thread_join(g_steal_pointer(&o->watcher));
	close(ql_cli_ofono_pipe[0]);
	close(ql_cli_ofono_pipe[1]);
	ql_cli_ofono_pipe[0] = ql_cli_ofono_pipe[1] = -1;
}

/* --- -o PATH --- */

QlCliOfono *
ql_cli_ofono_begin(const gchar *config, const gchar *path, gboolean switches, GError **error)
{
	g_autoptr(QlConfig) cfg = ql_config_load(config, error);
	g_autoptr(QlCliOfono) o = NULL;

	if (cfg == NULL)
		return NULL;
	o = g_new0(QlCliOfono, 1);
	o->modem = ql_ofono_resolve(NULL, cfg, path, error);
	if (o->modem == NULL) {
		o->ended = TRUE;
		return NULL;
	}
	if (o->modem->shared_port && !switches)
		return g_steal_pointer(&o);
	/* watch the signals first: a SIGTERM just after the lockdown must still undo it */
	if (!ql_cli_ofono_watch_start(o, error))
		return NULL;
	o->lock = ql_ofono_lockdown(NULL, o->modem, error);
	if (o->lock == NULL)
		return NULL;
	return g_steal_pointer(&o);
}

const gchar *
ql_cli_ofono_spec(QlCliOfono *o)
{
	return o->modem->spec;
}

const gchar *
ql_cli_ofono_model(QlCliOfono *o)
{
	return o->modem->model;
}

gboolean
ql_cli_ofono_end(QlCliOfono *o, gboolean switched, const gchar *expected_iccid, JsonBuilder *out,
		 GError **error)
{
	g_autoptr(QlOfonoModem) now = NULL;
	const gchar *path = o->modem->path;
	gboolean ok = TRUE;

	if (o->ended)
		return TRUE;
	o->ended = TRUE;
	if (o->lock != NULL)
		ok = ql_ofono_unlock(o->lock, error);
	ql_cli_ofono_watch_stop(o);
	if (!ok || !switched)
		return ok;
	if (o->lock != NULL && !ql_ofono_lock_was_powered(o->lock)) {
		g_printerr(_("oFono's modem %s is powered off: oFono reads the new SIM when it is "
			     "powered on\n"),
			   path);
		return TRUE;
	}
	now = ql_ofono_wait_for_iccid(NULL, path, expected_iccid, QL_CLI_OFONO_SETTLE_MS, error);
	if (now == NULL)
		return FALSE;
	if (out != NULL) {
		json_builder_set_member_name(out, "modem");
		json_builder_begin_object(out);
		ql_cli_ofono_json_string(out, "stack", "oFono");
		ql_cli_ofono_json_string(out, "path", now->path);
		ql_cli_ofono_json_string(out, "iccid", now->sim_present ? now->iccid : NULL);
		json_builder_end_object(out);
	} else {
		g_autofree gchar *safe_path = ql_text_escape(now->path, -1, QL_TEXT_MAX_FIELD);
		g_autofree gchar *iccid =
			ql_text_escape(now->sim_present ? now->iccid : NULL, -1, QL_TEXT_MAX_FIELD);
		g_printerr(_("oFono shows modem %s again with SIM %s\n"), safe_path,
			   iccid != NULL ? iccid : "-");
	}
	return TRUE;
}

void
ql_cli_ofono_free(QlCliOfono *o)
{
	g_autoptr(GError) error = NULL;

	if (o == NULL)
		return;
	if (!o->ended && !ql_cli_ofono_end(o, FALSE, NULL, NULL, &error))
		g_warning("%s", error->message);
	ql_cli_ofono_watch_stop(o);
	g_clear_pointer(&o->lock, ql_ofono_lock_free);
	g_clear_pointer(&o->modem, ql_ofono_modem_free);
	g_free(o);
}
