/*
 * ql-pcsc-client: another PC/SC client beside quantra-l, for the tests. It connects to a reader
 * through pcscd asking for the protocols given (as lpac asks T=0 only), prints
 *   connected T=N
 * or
 *   error 0xXXXXXXXX TEXT
 * and exits 0 or 1. With --hold it keeps the card connected until its stdin closes (another
 * program holding the card in a protocol), printing "holding" once connected.
 *
 *   ql-pcsc-client --socket PATH --reader NAME --protocol t0|t1|any [--hold]
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib.h>
#include <stdio.h>
#include <winscard.h>

int
main(int argc, char **argv)
{
	g_autofree gchar *socket = NULL;
	g_autofree gchar *reader = NULL;
	g_autofree gchar *protocol = NULL;
	gboolean hold = FALSE;
	g_autoptr(GOptionContext) ctx = g_option_context_new("- connect to a PC/SC reader");
	g_autoptr(GError) error = NULL;
	const GOptionEntry entries[] = {
		{"socket", 0, 0, G_OPTION_ARG_FILENAME, &socket, "pcscd's socket", "PATH"},
		{"reader", 0, 0, G_OPTION_ARG_STRING, &reader, "Reader name", "NAME"},
		{"protocol", 0, 0, G_OPTION_ARG_STRING, &protocol, "t0, t1 or any", "P"},
		{"hold", 0, 0, G_OPTION_ARG_NONE, &hold, "Stay connected until stdin closes", NULL},
		{NULL},
	};
	SCARDCONTEXT sc = 0;
	SCARDHANDLE card = 0;
	DWORD want;
	DWORD got = 0;
	LONG rv;

	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &error) || reader == NULL ||
	    protocol == NULL) {
		g_printerr("ql-pcsc-client: %s\n",
			   error != NULL ? error->message : "--reader and --protocol are required");
		return 2;
	}
	if (g_strcmp0(protocol, "t0") == 0)
		want = SCARD_PROTOCOL_T0;
	else if (g_strcmp0(protocol, "t1") == 0)
		want = SCARD_PROTOCOL_T1;
	else if (g_strcmp0(protocol, "any") == 0)
		want = SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1;
	else {
		g_printerr("ql-pcsc-client: --protocol takes t0, t1 or any\n");
		return 2;
	}
	/* pcsc-lite reads the socket's path from the environment when the context is made */
	if (socket != NULL)
		g_setenv("PCSCLITE_CSOCK_NAME", socket, TRUE);

	rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &sc);
	if (rv == SCARD_S_SUCCESS)
		rv = SCardConnect(sc, reader, SCARD_SHARE_SHARED, want, &card, &got);
	if (rv != SCARD_S_SUCCESS) {
		printf("error 0x%08lX %s\n", (unsigned long)rv, pcsc_stringify_error(rv));
		if (sc != 0)
			SCardReleaseContext(sc);
		return 1;
	}
	printf("connected T=%d\n", got == SCARD_PROTOCOL_T1 ? 1 : 0);
	if (hold) {
		printf("holding\n");
		fflush(stdout);
		while (getchar() != EOF) {
		}
	}
	SCardDisconnect(card, SCARD_LEAVE_CARD);
	SCardReleaseContext(sc);
	return 0;
}
