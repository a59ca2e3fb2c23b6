/*
 * quantra-esimd: the Euicc and Profile objects: their properties, kept in line with what the
 * worker read from the eUICC, and their method handlers, which hand every request to the queue
 * (ql_euicc_request) except ListNotifications, answered from what was read last.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include "ql-daemon.h"
#include "ql-json.h"
#include "ql-tlv.h"

void
ql_profile_obj_free(QlProfileObj *p)
{
	g_signal_handlers_disconnect_by_data(p->iface, p);
	g_object_unref(p->iface);
	g_object_unref(p->object);
	g_free(p->iccid);
	g_free(p->path);
	g_free(p);
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
		json_builder_set_member_name(b, "ci_key_ids_verification");
		ql_json_key_ids(b, info->ci_pkid_verification);
		json_builder_set_member_name(b, "ci_key_ids_signing");
		ql_json_key_ids(b, info->ci_pkid_signing);
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
void
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

/* aa{sv} of @list (QlNotification), or of those whose sequence number is not in @except */
GVariant *
ql_euicc_notifications_variant(GPtrArray *list, GPtrArray *except)
{
	GVariantBuilder b;

	g_variant_builder_init(&b, G_VARIANT_TYPE("aa{sv}"));
	for (guint i = 0; list != NULL && i < list->len; i++) {
		QlNotification *n = g_ptr_array_index(list, i);
		GVariantBuilder one;
		gboolean skip = FALSE;
		for (guint j = 0; except != NULL && j < except->len && !skip; j++)
			skip = ((QlNotification *)g_ptr_array_index(except, j))->seq == n->seq;
		if (skip)
			continue;
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
	return g_variant_builder_end(&b);
}

/* Reading: from what the last operation read, no queue, no authorisation */
static gboolean
ql_euicc_handle_list_notifications(QlDbusEuicc *iface, GDBusMethodInvocation *invocation,
				   gpointer user_data)
{
	GPtrArray *list = g_object_get_data(G_OBJECT(iface), "ql-notifications");
	ql_dbus_euicc_complete_list_notifications(iface, invocation,
						  ql_euicc_notifications_variant(list, NULL));
	return TRUE;
}

static void ql_euicc_update_background(QlEuicc *e);

void
ql_euicc_objects_init(QlEuicc *e, const QlModemInfo *modem, const QlOfonoModem *ofono)
{
	e->object = ql_dbus_object_skeleton_new(e->path);
	e->iface = ql_dbus_euicc_skeleton_new();
	ql_dbus_euicc_set_eid(e->iface, e->eid);
	ql_dbus_euicc_set_name(e->iface, ql_str0(e->name));
	ql_dbus_euicc_set_transport(e->iface, e->spec);
	ql_dbus_euicc_set_modem_object_path(e->iface, "/");
	ql_dbus_euicc_set_ofono_modem_path(e->iface, "/");
	ql_euicc_set_modem(e, modem);
	if (ofono != NULL)
		ql_euicc_set_ofono(e, ofono);
	ql_euicc_update_background(e);
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
	ql_euicc_update_background(e);
}

/* Whether the service delivers the eUICC's notifications by itself (see
 * ql_euicc_schedule_notifications()) */
static void
ql_euicc_update_background(QlEuicc *e)
{
	ql_dbus_euicc_set_background_delivery(
		e->iface, e->daemon->cfg->notification_retry_s != 0 &&
				  !ql_euicc_needs_hold(e, QL_OP_BACKGROUND_NOTIFICATIONS));
}

/* A modem as oFono shows it now: what changes (its power, its SIM) is taken; how its eUICC is
 * reached stays as discovery resolved it */
void
ql_euicc_set_ofono(QlEuicc *e, const QlOfonoModem *ofono)
{
	if (e->ofono == NULL) {
		e->ofono = ql_ofono_modem_copy(ofono);
	} else if (e->ofono != ofono) {
		e->ofono->powered = ofono->powered;
		e->ofono->online = ofono->online;
		e->ofono->lockdown = ofono->lockdown;
		e->ofono->has_sim_manager = ofono->has_sim_manager;
		e->ofono->sim_present = ofono->sim_present;
		g_free(e->ofono->iccid);
		e->ofono->iccid = g_strdup(ofono->iccid);
	}
	ql_dbus_euicc_set_ofono_modem_path(e->iface, e->ofono->path);
	ql_euicc_update_background(e);
}
