/*
 * NetworkManager connections for eSIM profiles. See ql-nm.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <NetworkManager.h>
#include <glib/gi18n-lib.h>

#include "quantra-l/ql-error.h"
#include "ql-nm.h"

void
ql_nm_apn_free(QlNmApn *apn)
{
	if (apn == NULL)
		return;
	g_free(apn->provider);
	g_free(apn->apn);
	g_free(apn->username);
	g_free(apn->password);
	g_free(apn);
}

void
ql_nm_outcome_free(QlNmOutcome *outcome)
{
	if (outcome == NULL)
		return;
	g_free(outcome->uuid);
	g_free(outcome->id);
	g_free(outcome->activation_error);
	g_free(outcome);
}

const gchar *
ql_nm_default_database(void)
{
	return QL_NM_PROVIDERS_DATABASE;
}

/* ---- MCC and MNC ---- */

static gboolean
ql_nm_all_xdigits(const gchar *s)
{
	for (; *s != '\0'; s++) {
		if (!g_ascii_isxdigit(*s))
			return FALSE;
	}
	return TRUE;
}

/* The hex form of a PLMN: MCC2 MCC1 | MNC3 MCC3 | MNC2 MNC1, MNC3 = F for a 2-digit MNC */
static gboolean
ql_nm_parse_plmn_hex(const gchar *hex, gchar **mcc, gchar **mnc)
{
	gint n[6];
	gchar mcc_s[4], mnc_s[4];

	for (guint i = 0; i < 6; i++) {
		n[i] = g_ascii_xdigit_value(hex[i]);
		if (n[i] < 0)
			return FALSE;
	}
	/* nibbles: byte0 = n[0] n[1] (high, low), and so on */
	mcc_s[0] = (gchar)('0' + n[1]);
	mcc_s[1] = (gchar)('0' + n[0]);
	mcc_s[2] = (gchar)('0' + n[3]);
	mcc_s[3] = '\0';
	mnc_s[0] = (gchar)('0' + n[5]);
	mnc_s[1] = (gchar)('0' + n[4]);
	mnc_s[2] = n[2] == 0xF ? '\0' : (gchar)('0' + n[2]);
	mnc_s[3] = '\0';
	if (n[0] > 9 || n[1] > 9 || n[3] > 9 || n[4] > 9 || n[5] > 9 || (n[2] > 9 && n[2] != 0xF))
		return FALSE;
	*mcc = g_strdup(mcc_s);
	*mnc = g_strdup(mnc_s);
	return TRUE;
}

gboolean
ql_nm_parse_mcc_mnc(const gchar *text, gchar **mcc, gchar **mnc, GError **error)
{
	g_autoptr(GString) digits = g_string_new(NULL);
	gsize len;

	g_return_val_if_fail(mcc != NULL && mnc != NULL, FALSE);
	if (text == NULL || *text == '\0') {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_NOT_FOUND,
				    _("The profile does not name its operator's MCC and MNC"));
		return FALSE;
	}
	len = strlen(text);
	/* six characters are the PLMN bytes, as the service gives them (a 3-digit MNC makes them
	 * all digits); the digits alone are five, or come with a separator */
	if (len == 6 && ql_nm_all_xdigits(text)) {
		if (ql_nm_parse_plmn_hex(text, mcc, mnc))
			return TRUE;
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    _("“%s” is not an operator’s MCC and MNC"), text);
		return FALSE;
	}
	for (const gchar *p = text; *p != '\0'; p++) {
		if (g_ascii_isdigit(*p))
			g_string_append_c(digits, *p);
		else if (*p != '-' && *p != ' ' && *p != '/')
			break;
		if (p[1] == '\0' && (digits->len == 5 || digits->len == 6)) {
			*mcc = g_strndup(digits->str, 3);
			*mnc = g_strdup(digits->str + 3);
			return TRUE;
		}
	}
	g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
		    _("“%s” is not an operator’s MCC and MNC"), text);
	return FALSE;
}

/* ---- the provider database ---- */

typedef struct {
	const gchar *mcc;
	const gchar *mnc;
	/* the provider being read */
	GString *provider_name;
	gboolean provider_matches;
	GPtrArray *provider_apns; /* QlNmApn, internet ones */
	/* the APN being read */
	QlNmApn *apn;
	gboolean apn_internet; /* a usage "internet" seen */
	gboolean apn_other;    /* another usage seen (mms, wap, ...) */
	GString *text;	       /* the text of the element being read */
	/* what was found */
	GPtrArray *found;
} QlNmParse;

static const gchar *
ql_nm_parent(GMarkupParseContext *context)
{
	const GSList *stack = g_markup_parse_context_get_element_stack(context);
	return stack != NULL && stack->next != NULL ? stack->next->data : NULL;
}

static void
ql_nm_start(GMarkupParseContext *context, const gchar *element, const gchar **names,
	    const gchar **values, gpointer user_data, GError **error)
{
	QlNmParse *p = user_data;
	const gchar *parent = ql_nm_parent(context);

	g_string_truncate(p->text, 0);
	if (g_strcmp0(element, "provider") == 0) {
		g_string_truncate(p->provider_name, 0);
		p->provider_matches = FALSE;
		g_ptr_array_set_size(p->provider_apns, 0);
	} else if (g_strcmp0(element, "network-id") == 0) {
		const gchar *mcc = NULL, *mnc = NULL;
		for (guint i = 0; names[i] != NULL; i++) {
			if (g_strcmp0(names[i], "mcc") == 0)
				mcc = values[i];
			else if (g_strcmp0(names[i], "mnc") == 0)
				mnc = values[i];
		}
		if (g_strcmp0(mcc, p->mcc) == 0 && g_strcmp0(mnc, p->mnc) == 0)
			p->provider_matches = TRUE;
	} else if (g_strcmp0(element, "apn") == 0 && g_strcmp0(parent, "gsm") == 0) {
		ql_nm_apn_free(p->apn);
		p->apn = g_new0(QlNmApn, 1);
		p->apn_internet = FALSE;
		p->apn_other = FALSE;
		for (guint i = 0; names[i] != NULL; i++) {
			if (g_strcmp0(names[i], "value") == 0)
				p->apn->apn = g_strstrip(g_strdup(values[i]));
		}
	} else if (g_strcmp0(element, "usage") == 0 && p->apn != NULL) {
		for (guint i = 0; names[i] != NULL; i++) {
			if (g_strcmp0(names[i], "type") != 0)
				continue;
			if (g_strcmp0(values[i], "internet") == 0)
				p->apn_internet = TRUE;
			else
				p->apn_other = TRUE;
		}
	}
}

static void
ql_nm_text(GMarkupParseContext *context, const gchar *text, gsize len, gpointer user_data,
	   GError **error)
{
	QlNmParse *p = user_data;
	g_string_append_len(p->text, text, (gssize)len);
}

static void
ql_nm_replace(gchar **field, const gchar *text)
{
	g_free(*field);
	*field = g_strdup(text);
}

static void
ql_nm_end(GMarkupParseContext *context, const gchar *element, gpointer user_data, GError **error)
{
	QlNmParse *p = user_data;
	const gchar *parent = ql_nm_parent(context);
	g_autofree gchar *text = g_strstrip(g_strdup(p->text->str));

	g_string_truncate(p->text, 0);
	if (g_strcmp0(element, "name") == 0 && g_strcmp0(parent, "provider") == 0) {
		g_string_assign(p->provider_name, text);
	} else if (p->apn != NULL && g_strcmp0(parent, "apn") == 0 && *text != '\0') {
		if (g_strcmp0(element, "username") == 0)
			ql_nm_replace(&p->apn->username, text);
		else if (g_strcmp0(element, "password") == 0)
			ql_nm_replace(&p->apn->password, text);
	} else if (g_strcmp0(element, "apn") == 0 && p->apn != NULL) {
		/* an APN for the internet: said so, or said nothing about its use */
		if (p->apn->apn != NULL && *p->apn->apn != '\0' &&
		    (p->apn_internet || !p->apn_other))
			g_ptr_array_add(p->provider_apns, g_steal_pointer(&p->apn));
		g_clear_pointer(&p->apn, ql_nm_apn_free);
	} else if (g_strcmp0(element, "provider") == 0 && p->provider_matches) {
		for (guint i = 0; i < p->provider_apns->len; i++) {
			QlNmApn *apn = g_ptr_array_index(p->provider_apns, i);
			g_free(apn->provider);
			apn->provider = g_strdup(p->provider_name->str);
		}
		g_ptr_array_extend_and_steal(p->found, g_steal_pointer(&p->provider_apns));
		p->provider_apns = g_ptr_array_new_with_free_func((GDestroyNotify)ql_nm_apn_free);
	}
}

GPtrArray *
ql_nm_lookup_apns(const gchar *database, const gchar *mcc, const gchar *mnc,
		  const gchar *provider_hint, GError **error)
{
	static const GMarkupParser parser = {ql_nm_start, ql_nm_end, ql_nm_text, NULL, NULL};
	g_autoptr(GMarkupParseContext) context = NULL;
	g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func((GDestroyNotify)ql_nm_apn_free);
	g_autoptr(GPtrArray) sorted = NULL;
	g_autoptr(GError) local = NULL;
	g_autofree gchar *data = NULL;
	gsize len = 0;
	QlNmParse p = {
		.mcc = mcc,
		.mnc = mnc,
		.provider_name = g_string_new(NULL),
		.provider_apns = g_ptr_array_new_with_free_func((GDestroyNotify)ql_nm_apn_free),
		.text = g_string_new(NULL),
		.found = found,
	};
	gboolean ok;

	g_return_val_if_fail(database != NULL && mcc != NULL && mnc != NULL, NULL);
	if (!g_file_get_contents(database, &data, &len, &local)) {
		g_set_error(error, QL_ERROR, QL_ERROR_NOT_FOUND,
			    _("Cannot read the mobile broadband provider database: %s"),
			    local->message);
		ok = FALSE;
	} else {
		context =
			g_markup_parse_context_new(&parser, G_MARKUP_TREAT_CDATA_AS_TEXT, &p, NULL);
		ok = g_markup_parse_context_parse(context, data, (gssize)len, &local) &&
		     g_markup_parse_context_end_parse(context, &local);
		if (!ok)
			g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
				    _("The mobile broadband provider database %s is not valid: %s"),
				    database, local->message);
	}
	g_string_free(p.provider_name, TRUE);
	g_string_free(p.text, TRUE);
	g_ptr_array_unref(p.provider_apns);
	ql_nm_apn_free(p.apn);
	if (!ok)
		return NULL;

	/* the provider the profile names first, then the others in the database's order */
	sorted = g_ptr_array_new_with_free_func((GDestroyNotify)ql_nm_apn_free);
	for (guint pass = 0; pass < 2; pass++) {
		for (guint i = 0; i < found->len; i++) {
			QlNmApn *apn = g_ptr_array_index(found, i);
			gboolean hinted;

			if (apn == NULL) /* taken in the first pass */
				continue;
			hinted = provider_hint != NULL && *provider_hint != '\0' &&
				 g_ascii_strcasecmp(apn->provider, provider_hint) == 0;
			if (hinted == (pass == 0))
				g_ptr_array_add(sorted, g_steal_pointer(&found->pdata[i]));
		}
	}
	return g_steal_pointer(&sorted);
}

/* ---- the connection ---- */

typedef struct {
	gchar *iccid;
	gchar *id;
	gchar *apn;
	gchar *username;
	gchar *password;
	gboolean activate;
	NMClient *client;
	NMRemoteConnection *remote;
	QlNmOutcome *outcome;
} QlNmJob;

static void
ql_nm_job_free(QlNmJob *job)
{
	g_free(job->iccid);
	g_free(job->id);
	g_free(job->apn);
	g_free(job->username);
	g_free(job->password);
	g_clear_object(&job->client);
	g_clear_object(&job->remote);
	ql_nm_outcome_free(job->outcome);
	g_free(job);
}

static void
ql_nm_set_gsm(NMSettingGsm *gsm, QlNmJob *job)
{
	g_object_set(gsm, NM_SETTING_GSM_APN, job->apn, NM_SETTING_GSM_SIM_ID, job->iccid,
		     NM_SETTING_GSM_USERNAME, job->username, NM_SETTING_GSM_PASSWORD, job->password,
		     NULL);
	if (job->password != NULL)
		g_object_set(gsm, NM_SETTING_GSM_PASSWORD_FLAGS, NM_SETTING_SECRET_FLAG_NONE, NULL);
}

/* The connection that is bound to the profile already, if any */
static NMRemoteConnection *
ql_nm_find(NMClient *client, const gchar *iccid)
{
	const GPtrArray *connections = nm_client_get_connections(client);

	for (guint i = 0; connections != NULL && i < connections->len; i++) {
		NMRemoteConnection *c = g_ptr_array_index(connections, i);
		NMSettingGsm *gsm = nm_connection_get_setting_gsm(NM_CONNECTION(c));
		if (gsm != NULL && g_strcmp0(nm_setting_gsm_get_sim_id(gsm), iccid) == 0)
			return c;
	}
	return NULL;
}

static void
ql_nm_activated(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	QlNmJob *job = g_task_get_task_data(task);
	g_autoptr(NMActiveConnection) active = NULL;
	g_autoptr(GError) error = NULL;

	active = nm_client_activate_connection_finish(NM_CLIENT(source), res, &error);
	if (active == NULL) {
		if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
			g_task_return_error(task, g_steal_pointer(&error));
			return;
		}
		job->outcome->activation_error = g_strdup(error->message);
	} else {
		job->outcome->activated = TRUE;
	}
	g_task_return_pointer(task, g_steal_pointer(&job->outcome),
			      (GDestroyNotify)ql_nm_outcome_free);
}

/* Saved: activate it when asked */
static void
ql_nm_saved(GTask *task)
{
	QlNmJob *job = g_task_get_task_data(task);
	NMConnection *c = NM_CONNECTION(job->remote);

	job->outcome->uuid = g_strdup(nm_connection_get_uuid(c));
	job->outcome->id = g_strdup(nm_connection_get_id(c));
	if (!job->activate) {
		g_task_return_pointer(task, g_steal_pointer(&job->outcome),
				      (GDestroyNotify)ql_nm_outcome_free);
		g_object_unref(task);
		return;
	}
	nm_client_activate_connection_async(job->client, c, NULL, NULL,
					    g_task_get_cancellable(task), ql_nm_activated, task);
}

static void
ql_nm_added(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = user_data;
	QlNmJob *job = g_task_get_task_data(task);
	g_autoptr(GError) error = NULL;

	job->remote = nm_client_add_connection_finish(NM_CLIENT(source), res, &error);
	if (job->remote == NULL) {
		g_prefix_error(&error, _("NetworkManager did not save the connection: "));
		g_task_return_error(task, g_steal_pointer(&error));
		g_object_unref(task);
		return;
	}
	ql_nm_saved(task);
}

static void
ql_nm_updated(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = user_data;
	g_autoptr(GVariant) result = NULL;
	g_autoptr(GError) error = NULL;

	result = nm_remote_connection_update2_finish(NM_REMOTE_CONNECTION(source), res, &error);
	if (result == NULL) {
		g_prefix_error(&error, _("NetworkManager did not update the connection: "));
		g_task_return_error(task, g_steal_pointer(&error));
		g_object_unref(task);
		return;
	}
	ql_nm_saved(task);
}

static void
ql_nm_update(GTask *task, NMRemoteConnection *existing)
{
	QlNmJob *job = g_task_get_task_data(task);
	g_autoptr(NMConnection) copy = nm_simple_connection_new_clone(NM_CONNECTION(existing));
	NMSettingGsm *gsm = nm_connection_get_setting_gsm(copy);
	g_autoptr(GError) error = NULL;

	ql_nm_set_gsm(gsm, job);
	if (!nm_connection_verify(copy, &error)) {
		g_task_return_new_error(task, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
					_("The connection settings are not valid: %s"),
					error->message);
		g_object_unref(task);
		return;
	}
	job->remote = g_object_ref(existing);
	nm_remote_connection_update2(existing,
				     nm_connection_to_dbus(copy, NM_CONNECTION_SERIALIZE_ALL),
				     NM_SETTINGS_UPDATE2_FLAG_TO_DISK, NULL,
				     g_task_get_cancellable(task), ql_nm_updated, task);
}

static void
ql_nm_create(GTask *task)
{
	QlNmJob *job = g_task_get_task_data(task);
	g_autoptr(NMConnection) c = nm_simple_connection_new();
	NMSettingConnection *s_con = NM_SETTING_CONNECTION(nm_setting_connection_new());
	NMSetting *gsm = nm_setting_gsm_new();
	NMSetting *ip4 = nm_setting_ip4_config_new();
	NMSetting *ip6 = nm_setting_ip6_config_new();
	g_autofree gchar *uuid = nm_utils_uuid_generate();
	g_autoptr(GError) error = NULL;

	g_object_set(s_con, NM_SETTING_CONNECTION_ID, job->id, NM_SETTING_CONNECTION_UUID, uuid,
		     NM_SETTING_CONNECTION_TYPE, NM_SETTING_GSM_SETTING_NAME,
		     NM_SETTING_CONNECTION_AUTOCONNECT, TRUE, NULL);
	ql_nm_set_gsm(NM_SETTING_GSM(gsm), job);
	g_object_set(ip4, NM_SETTING_IP_CONFIG_METHOD, NM_SETTING_IP4_CONFIG_METHOD_AUTO, NULL);
	g_object_set(ip6, NM_SETTING_IP_CONFIG_METHOD, NM_SETTING_IP6_CONFIG_METHOD_AUTO, NULL);
	nm_connection_add_setting(c, NM_SETTING(s_con));
	nm_connection_add_setting(c, gsm);
	nm_connection_add_setting(c, ip4);
	nm_connection_add_setting(c, ip6);
	if (!nm_connection_normalize(c, NULL, NULL, &error)) {
		g_task_return_new_error(task, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
					_("The connection settings are not valid: %s"),
					error->message);
		g_object_unref(task);
		return;
	}
	job->outcome->created = TRUE;
	nm_client_add_connection_async(job->client, c, TRUE, g_task_get_cancellable(task),
				       ql_nm_added, task);
}

static void
ql_nm_client_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = user_data;
	QlNmJob *job = g_task_get_task_data(task);
	NMRemoteConnection *existing;
	g_autoptr(GError) error = NULL;

	job->client = nm_client_new_finish(res, &error);
	if (job->client == NULL) {
		g_task_return_new_error(task, QL_ERROR, QL_ERROR_IO,
					_("Cannot reach NetworkManager: %s"), error->message);
		g_object_unref(task);
		return;
	}
	if (!nm_client_get_nm_running(job->client)) {
		g_task_return_new_error(task, QL_ERROR, QL_ERROR_NOT_FOUND,
					_("NetworkManager is not running"));
		g_object_unref(task);
		return;
	}
	existing = ql_nm_find(job->client, job->iccid);
	if (existing != NULL)
		ql_nm_update(task, existing);
	else
		ql_nm_create(task);
}

void
ql_nm_setup_connection_async(const QlNmSetup *setup, GCancellable *cancellable,
			     GAsyncReadyCallback callback, gpointer user_data)
{
	GTask *task = g_task_new(NULL, cancellable, callback, user_data);
	QlNmJob *job = g_new0(QlNmJob, 1);
	g_autofree gchar *apn = g_strstrip(g_strdup(setup->apn != NULL ? setup->apn : ""));

	g_task_set_source_tag(task, ql_nm_setup_connection_async);
	g_task_set_task_data(task, job, (GDestroyNotify)ql_nm_job_free);
	job->iccid = g_strdup(setup->iccid);
	job->id = g_strdup(setup->id != NULL && *setup->id != '\0' ? setup->id : setup->iccid);
	job->apn = g_steal_pointer(&apn);
	job->username = setup->username != NULL && *setup->username != '\0'
				? g_strdup(setup->username)
				: NULL;
	job->password = setup->password != NULL && *setup->password != '\0'
				? g_strdup(setup->password)
				: NULL;
	job->activate = setup->activate;
	job->outcome = g_new0(QlNmOutcome, 1);
	if (job->iccid == NULL || *job->iccid == '\0') {
		g_task_return_new_error(task, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
					_("The profile has no ICCID"));
		g_object_unref(task);
		return;
	}
	if (*job->apn == '\0') {
		g_task_return_new_error(task, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
					_("An access point name (APN) is needed"));
		g_object_unref(task);
		return;
	}
	nm_client_new_async(cancellable, ql_nm_client_ready, task);
}

QlNmOutcome *
ql_nm_setup_connection_finish(GAsyncResult *result, GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
	return g_task_propagate_pointer(G_TASK(result), error);
}
