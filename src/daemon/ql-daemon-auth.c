/*
 * quantra-esimd: polkit. Every state-changing method is checked before anything is queued.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include "quantra-l/ql-error.h"
#include "ql-daemon.h"

typedef struct {
	QlDaemon *daemon;
	GDBusMethodInvocation *invocation;
	gchar *action;
	QlAuthFunc func;
	gpointer user_data;
	GDestroyNotify destroy;
} QlAuthCheck;

static void
ql_auth_check_free(QlAuthCheck *c)
{
	if (c->destroy != NULL && c->user_data != NULL)
		c->destroy(c->user_data);
	g_object_unref(c->invocation);
	g_free(c->action);
	g_free(c);
}

static void
ql_auth_checked(GObject *source, GAsyncResult *res, gpointer user_data)
{
	QlAuthCheck *c = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(PolkitAuthorizationResult) result =
		polkit_authority_check_authorization_finish(POLKIT_AUTHORITY(source), res, &error);

	if (result == NULL) {
		g_dbus_method_invocation_return_error(c->invocation, QL_ERROR, QL_ERROR_AUTH,
						      "not authorised: the authorisation of %s "
						      "could not be checked: %s",
						      c->action, error->message);
	} else if (!polkit_authorization_result_get_is_authorized(result)) {
		g_debug("%s refused to %s", g_dbus_method_invocation_get_sender(c->invocation),
			c->action);
		g_dbus_method_invocation_return_error(
			c->invocation, QL_ERROR, QL_ERROR_AUTH,
			"not authorised: %s was refused (%s)", c->action,
			polkit_authorization_result_get_dismissed(result) ? "dismissed"
									  : "polkit said no");
	} else {
		c->func(c->daemon, c->invocation, c->user_data);
	}
	ql_auth_check_free(c);
}

void
ql_daemon_authorize(QlDaemon *d, GDBusMethodInvocation *invocation, const gchar *action,
		    QlAuthFunc func, gpointer user_data, GDestroyNotify destroy)
{
	QlAuthCheck *c;
	g_autoptr(PolkitSubject) subject = NULL;

	if (action == NULL) {
		func(d, invocation, user_data);
		if (destroy != NULL && user_data != NULL)
			destroy(user_data);
		return;
	}
	if (d->authority == NULL) {
		g_dbus_method_invocation_return_error(invocation, QL_ERROR, QL_ERROR_AUTH,
						      "not authorised: polkit is not available to "
						      "check %s",
						      action);
		if (destroy != NULL && user_data != NULL)
			destroy(user_data);
		return;
	}
	c = g_new0(QlAuthCheck, 1);
	c->daemon = d;
	c->invocation = g_object_ref(invocation);
	c->action = g_strdup(action);
	c->func = func;
	c->user_data = user_data;
	c->destroy = destroy;
	subject = polkit_system_bus_name_new(g_dbus_method_invocation_get_sender(invocation));
	polkit_authority_check_authorization(
		d->authority, subject, action, NULL,
		POLKIT_CHECK_AUTHORIZATION_FLAGS_ALLOW_USER_INTERACTION, NULL, ql_auth_checked, c);
}
