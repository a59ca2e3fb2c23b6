/*
 * The window's org.quantra.Esim1.Agent: the service asks it for a download's confirmation
 * code, and the window asks the user. Only the service may ask.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define QL_ESIM_AGENT_PATH "/org/quantra/Esim1/Client/Agent"

#define QL_ESIM_TYPE_AGENT (ql_esim_agent_get_type())
G_DECLARE_FINAL_TYPE(QlEsimAgent, ql_esim_agent, QL_ESIM, AGENT, GObject)

/* Exports the agent on @bus. Its "request" signal (invocation, operation path, SM-DP+ host)
 * is emitted for each question from the service; answer it with ql_esim_agent_answer() or
 * ql_esim_agent_refuse(). */
QlEsimAgent *ql_esim_agent_new(GDBusConnection *bus, GError **error);
/* The unique name of the service: questions from anyone else are refused */
void ql_esim_agent_set_service(QlEsimAgent *self, const gchar *unique_name);
void ql_esim_agent_answer(GDBusMethodInvocation *invocation, const gchar *code);
void ql_esim_agent_refuse(GDBusMethodInvocation *invocation);

G_END_DECLS
