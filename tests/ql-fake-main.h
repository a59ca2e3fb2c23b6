/*
 * What the fake modems and readers (at, mbim, qmi, pcsc) do alike around what they serve: open
 * the virtual eUICC (state, identity, seeded profiles, APDU latency), print the channels it holds
 * open on SIGUSR1, and stop on SIGTERM or SIGINT. What they serve differs (a pty, the real
 * mbim-proxy, a qmi-proxy socket, the real pcscd), so that stays in each.
 * Header only: each fake's build line stays one source.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <glib-unix.h>
#include <glib.h>
#include <signal.h>
#include <stdio.h>

#include "ql-vcard.h"

/* Opens the card in @state with @identity, seeds @seed test profiles into it and makes it answer
 * each APDU @apdu_delay ms after it came. 0 when done; else, after a message on stderr headed
 * @prog, the exit code: 2 for an --apdu-delay out of range, 1 when the card cannot be opened
 * or seeded. */
static inline gint
ql_fake_main_open_card(const gchar *prog, const gchar *state, const gchar *identity, gint seed,
		       gint apdu_delay, QlVcard **card)
{
	g_autoptr(GError) error = NULL;

	if (apdu_delay < 0 || apdu_delay > 10000) {
		g_printerr("%s: --apdu-delay takes 0 to 10000 ms\n", prog);
		return 2;
	}
	*card = ql_vcard_open(state, identity, &error);
	if (*card == NULL || (seed > 0 && !ql_vcard_seed(*card, (guint)seed, &error))) {
		g_printerr("%s: %s\n", prog, error->message);
		return 1;
	}
	ql_vcard_set_apdu_delay(*card, (guint)apdu_delay);
	return 0;
}

static inline gboolean
ql_fake_main_report_cb(gpointer card)
{
	printf("open-channels %u\n", ql_vcard_get_open_channels(card));
	fflush(stdout);
	return G_SOURCE_CONTINUE;
}

/* SIGUSR1 prints "open-channels N": the logical channels @card holds open now */
static inline void
ql_fake_main_report_on_usr1(QlVcard *card)
{
	g_unix_signal_add(SIGUSR1, ql_fake_main_report_cb, card);
}

static inline gboolean
ql_fake_main_quit_cb(gpointer loop)
{
	g_main_loop_quit(loop);
	return G_SOURCE_REMOVE;
}

/* SIGTERM and SIGINT end @loop, so the fake can say what was left open */
static inline void
ql_fake_main_quit_on_signals(GMainLoop *loop)
{
	g_unix_signal_add(SIGTERM, ql_fake_main_quit_cb, loop);
	g_unix_signal_add(SIGINT, ql_fake_main_quit_cb, loop);
}
