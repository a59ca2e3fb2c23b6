/*
 * The screenshot portal. See ql-esim-portal.h.
 *
 * The portal answers Screenshot() with a Request object and later emits Response on it; the
 * request's path is known in advance from our unique name and a handle_token, so the
 * subscription is in place before the call (no Response can be missed).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>

#include "quantra-l/ql-error.h"
#include "ql-esim-portal.h"

#define QL_PORTAL_NAME "org.freedesktop.portal.Desktop"
#define QL_PORTAL_PATH "/org/freedesktop/portal/desktop"
#define QL_PORTAL_SCREENSHOT "org.freedesktop.portal.Screenshot"
#define QL_PORTAL_REQUEST "org.freedesktop.portal.Request"

static void
ql_esim_portal_checked(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GTask) task = user_data;
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GError) error = NULL;

	reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
	if (reply == NULL) {
		g_task_return_new_error(task, QL_ERROR, QL_ERROR_NOT_FOUND,
					_("No screenshot service (desktop portal) is running"));
		return;
	}
	g_task_return_boolean(task, TRUE);
}

static void
ql_esim_portal_bus_for_check(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = user_data;
	g_autoptr(GDBusConnection) bus = NULL;
	g_autoptr(GError) error = NULL;

	bus = g_bus_get_finish(res, &error);
	if (bus == NULL) {
		g_task_return_new_error(
			task, QL_ERROR, QL_ERROR_NOT_FOUND,
			_("No desktop session bus to reach a screenshot service: %s"),
			error->message);
		g_object_unref(task);
		return;
	}
	/* the interface's version property: present only where the portal implements it */
	g_dbus_connection_call(bus, QL_PORTAL_NAME, QL_PORTAL_PATH,
			       "org.freedesktop.DBus.Properties", "Get",
			       g_variant_new("(ss)", QL_PORTAL_SCREENSHOT, "version"),
			       G_VARIANT_TYPE("(v)"), G_DBUS_CALL_FLAGS_NONE, 10000,
			       g_task_get_cancellable(task), ql_esim_portal_checked, task);
}

void
ql_esim_portal_check_async(GCancellable *cancellable, GAsyncReadyCallback callback,
			   gpointer user_data)
{
	GTask *task = g_task_new(NULL, cancellable, callback, user_data);
	g_bus_get(G_BUS_TYPE_SESSION, cancellable, ql_esim_portal_bus_for_check, task);
}

gboolean
ql_esim_portal_check_finish(GAsyncResult *result, GError **error)
{
	return g_task_propagate_boolean(G_TASK(result), error);
}

typedef struct {
	GDBusConnection *bus;
	guint subscription;
	gchar *request;
} QlPortalShot;

static void
ql_portal_shot_free(QlPortalShot *shot)
{
	if (shot->subscription != 0)
		g_dbus_connection_signal_unsubscribe(shot->bus, shot->subscription);
	g_clear_object(&shot->bus);
	g_free(shot->request);
	g_free(shot);
}

static void
ql_esim_portal_response(GDBusConnection *bus, const gchar *sender, const gchar *path,
			const gchar *iface, const gchar *member, GVariant *params,
			gpointer user_data)
{
	GTask *task = user_data;
	QlPortalShot *shot = g_task_get_task_data(task);
	g_autoptr(GVariant) results = NULL;
	const gchar *uri = NULL;
	guint32 response = 2;

	if (g_task_get_completed(task) || !g_variant_is_of_type(params, G_VARIANT_TYPE("(ua{sv})")))
		return;
	g_dbus_connection_signal_unsubscribe(bus, shot->subscription);
	shot->subscription = 0;
	g_variant_get(params, "(u@a{sv})", &response, &results);
	if (response == 1) {
		g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
					_("The screenshot was cancelled"));
	} else if (response != 0 || !g_variant_lookup(results, "uri", "&s", &uri)) {
		g_task_return_new_error(task, QL_ERROR, QL_ERROR_FAILED,
					_("The desktop portal could not take a screenshot"));
	} else {
		g_task_return_pointer(task, g_strdup(uri), g_free);
	}
	g_object_unref(task);
}

static void
ql_esim_portal_called(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = user_data;
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GError) error = NULL;

	reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
	if (reply == NULL && !g_task_get_completed(task)) {
		g_dbus_error_strip_remote_error(error);
		g_task_return_new_error(task, QL_ERROR, QL_ERROR_NOT_FOUND,
					_("The desktop portal refused the screenshot: %s"),
					error->message);
		g_object_unref(task); /* the Response will not come */
		return;
	}
	/* an old portal may answer with another request path: the Response comes there */
	if (reply != NULL) {
		QlPortalShot *shot = g_task_get_task_data(task);
		const gchar *path = NULL;
		g_variant_get(reply, "(&o)", &path);
		if (g_strcmp0(path, shot->request) != 0 && shot->subscription != 0) {
			g_dbus_connection_signal_unsubscribe(shot->bus, shot->subscription);
			shot->subscription = g_dbus_connection_signal_subscribe(
				shot->bus, QL_PORTAL_NAME, QL_PORTAL_REQUEST, "Response", path,
				NULL, G_DBUS_SIGNAL_FLAGS_NO_MATCH_RULE, ql_esim_portal_response,
				task, NULL);
		}
	}
}

static void
ql_esim_portal_bus_for_shot(GObject *source, GAsyncResult *res, gpointer user_data)
{
	GTask *task = user_data;
	QlPortalShot *shot = g_task_get_task_data(task);
	const gchar *parent = g_object_get_data(G_OBJECT(task), "parent");
	g_autoptr(GError) error = NULL;
	g_autofree gchar *sender = NULL;
	g_autofree gchar *token = NULL;
	GVariantBuilder options;

	shot->bus = g_bus_get_finish(res, &error);
	if (shot->bus == NULL) {
		g_task_return_new_error(
			task, QL_ERROR, QL_ERROR_NOT_FOUND,
			_("No desktop session bus to reach a screenshot service: %s"),
			error->message);
		g_object_unref(task);
		return;
	}
	/* ":1.42" -> "1_42", as the portal names its request objects */
	sender = g_strdup(g_dbus_connection_get_unique_name(shot->bus) + 1);
	g_strdelimit(sender, ".", '_');
	token = g_strdup_printf("quantra_esim_%u", g_random_int());
	shot->request = g_strdup_printf(QL_PORTAL_PATH "/request/%s/%s", sender, token);
	shot->subscription = g_dbus_connection_signal_subscribe(
		shot->bus, QL_PORTAL_NAME, QL_PORTAL_REQUEST, "Response", shot->request, NULL,
		G_DBUS_SIGNAL_FLAGS_NONE, ql_esim_portal_response, task, NULL);
	g_variant_builder_init(&options, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&options, "{sv}", "handle_token", g_variant_new_string(token));
	g_variant_builder_add(&options, "{sv}", "interactive", g_variant_new_boolean(TRUE));
	g_dbus_connection_call(shot->bus, QL_PORTAL_NAME, QL_PORTAL_PATH, QL_PORTAL_SCREENSHOT,
			       "Screenshot",
			       g_variant_new("(sa{sv})", parent != NULL ? parent : "", &options),
			       G_VARIANT_TYPE("(o)"), G_DBUS_CALL_FLAGS_NONE, G_MAXINT,
			       g_task_get_cancellable(task), ql_esim_portal_called, task);
}

void
ql_esim_portal_screenshot_async(const gchar *parent_window, GCancellable *cancellable,
				GAsyncReadyCallback callback, gpointer user_data)
{
	GTask *task = g_task_new(NULL, cancellable, callback, user_data);

	g_task_set_task_data(task, g_new0(QlPortalShot, 1), (GDestroyNotify)ql_portal_shot_free);
	g_object_set_data_full(G_OBJECT(task), "parent", g_strdup(parent_window), g_free);
	g_bus_get(G_BUS_TYPE_SESSION, cancellable, ql_esim_portal_bus_for_shot, task);
}

gchar *
ql_esim_portal_screenshot_finish(GAsyncResult *result, GError **error)
{
	return g_task_propagate_pointer(G_TASK(result), error);
}
