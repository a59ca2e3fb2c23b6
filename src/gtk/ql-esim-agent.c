/*
 * The agent. See ql-esim-agent.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>

#include "ql-dbus-generated.h"
#include "ql-esim-agent.h"

struct _QlEsimAgent {
	GObject parent_instance;
	QlDbusAgent *skeleton;
	gchar *service;
};

G_DEFINE_TYPE(QlEsimAgent, ql_esim_agent, G_TYPE_OBJECT)

enum { SIGNAL_REQUEST, N_SIGNALS };
static guint ql_esim_agent_signals[N_SIGNALS];

static gboolean
ql_esim_agent_handle_request(QlDbusAgent *skeleton, GDBusMethodInvocation *invocation,
			     const gchar *operation, const gchar *smdp_host, gpointer user_data)
{
	QlEsimAgent *self = QL_ESIM_AGENT(user_data);

	/* the code goes only to the service: nobody else on the bus may ask for it */
	if (self->service == NULL ||
	    g_strcmp0(g_dbus_method_invocation_get_sender(invocation), self->service) != 0) {
		g_dbus_method_invocation_return_dbus_error(
			invocation, "org.quantra.Esim1.Error.NotAuthorized",
			"Only the eSIM service may ask this agent");
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	}
	g_signal_emit(self, ql_esim_agent_signals[SIGNAL_REQUEST], 0, invocation, operation,
		      smdp_host);
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

void
ql_esim_agent_answer(GDBusMethodInvocation *invocation, const gchar *code)
{
	ql_dbus_agent_complete_request_confirmation_code(NULL, invocation, code);
}

void
ql_esim_agent_refuse(GDBusMethodInvocation *invocation)
{
	g_dbus_method_invocation_return_dbus_error(invocation, "org.quantra.Esim1.Error.Cancelled",
						   "The user did not give the confirmation code");
}

void
ql_esim_agent_set_service(QlEsimAgent *self, const gchar *unique_name)
{
	g_free(self->service);
	self->service = g_strdup(unique_name);
}

static void
ql_esim_agent_dispose(GObject *object)
{
	QlEsimAgent *self = QL_ESIM_AGENT(object);

	if (self->skeleton != NULL)
		g_dbus_interface_skeleton_unexport(G_DBUS_INTERFACE_SKELETON(self->skeleton));
	g_clear_object(&self->skeleton);
	g_clear_pointer(&self->service, g_free);
	G_OBJECT_CLASS(ql_esim_agent_parent_class)->dispose(object);
}

static void
ql_esim_agent_class_init(QlEsimAgentClass *klass)
{
	G_OBJECT_CLASS(klass)->dispose = ql_esim_agent_dispose;
	ql_esim_agent_signals[SIGNAL_REQUEST] = g_signal_new(
		"request", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
		G_TYPE_NONE, 3, G_TYPE_DBUS_METHOD_INVOCATION, G_TYPE_STRING, G_TYPE_STRING);
}

static void
ql_esim_agent_init(QlEsimAgent *self)
{
}

QlEsimAgent *
ql_esim_agent_new(GDBusConnection *bus, GError **error)
{
	g_autoptr(QlEsimAgent) self = g_object_new(QL_ESIM_TYPE_AGENT, NULL);

	self->skeleton = ql_dbus_agent_skeleton_new();
	g_signal_connect(self->skeleton, "handle-request-confirmation-code",
			 G_CALLBACK(ql_esim_agent_handle_request), self);
	if (!g_dbus_interface_skeleton_export(G_DBUS_INTERFACE_SKELETON(self->skeleton), bus,
					      QL_ESIM_AGENT_PATH, error)) {
		g_clear_object(&self->skeleton);
		return NULL;
	}
	return g_steal_pointer(&self);
}
