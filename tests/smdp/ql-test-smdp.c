/*
 * ql-test-smdp: the project's test SM-DP+ (and SM-DS), on loopback only.
 *
 *   ql-test-smdp --listen 127.0.0.1:PORT --pki DIR [--fault NAME[@function]]... [--event ID]...
 *                [--tls-chain FILE --tls-key FILE] [--tls-priority PRIORITY]
 *                [--rtt MS] [--profile-size BYTES[K]]
 *   ql-test-smdp --pki DIR --confirmation-code MATCHINGID
 *
 * Prints "listening on 127.0.0.1:PORT" when ready (PORT 0 picks a free one), then one line per
 * request, and "connection ended (...): N request bytes" when a connection ends. See
 * ql-smdp-pki.c for the PKI it writes into DIR.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-smdp.h"

/* Parses HOST:PORT ([::1]:PORT for IPv6) and refuses anything but a loopback IP literal */
static GSocketAddress *
ql_smdp_parse_listen(const gchar *spec, GError **error)
{
	g_autofree gchar *host = NULL;
	g_autoptr(GInetAddress) addr = NULL;
	const gchar *colon = strrchr(spec, ':');
	gchar *end = NULL;
	guint64 port;

	if (colon == NULL || colon == spec || colon[1] == '\0') {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "--listen takes HOST:PORT, not '%s'", spec);
		return NULL;
	}
	host = g_strndup(spec, (gsize)(colon - spec));
	if (host[0] == '[' && g_str_has_suffix(host, "]")) {
		gchar *inner = g_strndup(host + 1, strlen(host) - 2);
		g_free(host);
		host = inner;
	}
	port = g_ascii_strtoull(colon + 1, &end, 10);
	if (end == NULL || *end != '\0' || port > 65535) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT, "bad port in '%s'", spec);
		return NULL;
	}
	addr = g_inet_address_new_from_string(host);
	if (addr == NULL || !g_inet_address_get_is_loopback(addr)) {
		/* a test server with public test keys must never be reachable from outside */
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "refusing to listen on '%s': only loopback addresses are allowed",
			    host);
		return NULL;
	}
	return g_inet_socket_address_new(addr, (guint16)port);
}

int
main(int argc, char **argv)
{
	g_autoptr(GOptionContext) ctx = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GSocketAddress) want = NULL;
	g_autoptr(GSocketAddress) bound = NULL;
	g_autoptr(GSocket) listener = NULL;
	g_autoptr(QlSmdpServer) server = NULL;
	g_autofree gchar *listen = NULL;
	g_autofree gchar *pki_dir = NULL;
	g_autofree gchar *cc_for = NULL;
	g_autofree gchar *host = NULL;
	g_autofree gchar *address = NULL;
	g_auto(GStrv) faults = NULL;
	g_auto(GStrv) events = NULL;
	g_autofree gchar *tls_chain = NULL;
	g_autofree gchar *tls_key = NULL;
	g_autofree gchar *tls_priority = NULL;
	g_autofree gchar *profile_size = NULL;
	gint rtt = 0;
	guint64 size = 0;
	QlSmdpTlsOverride tls = {0};
	QlSmdpPki pki = {0};
	GInetAddress *inet;
	const GOptionEntry entries[] = {
		{"listen", 0, 0, G_OPTION_ARG_STRING, &listen, "Loopback address to serve on",
		 "HOST:PORT"},
		{"pki", 0, 0, G_OPTION_ARG_FILENAME, &pki_dir, "Folder of the test PKI", "DIR"},
		{"fault", 0, 0, G_OPTION_ARG_STRING_ARRAY, &faults,
		 "Misbehave (repeatable): bad-signature, wrong-transaction-id, http-500, reset, "
		 "slow, tls12, weak-cipher, expired, not-yet-valid, wrong-host, unknown-ci, "
		 "revoked, wrong-role, client-cert, truncated-bpp, tamper-86, auth-wrong-role, "
		 "pb-wrong-role, trickle, trickle-handshake, garbage, huge, status-text, "
		 "hostile-names, unknown-ci-pkid",
		 "NAME[@function]"},
		{"event", 0, 0, G_OPTION_ARG_STRING_ARRAY, &events,
		 "An SM-DS event to hand out over ES11 (repeatable)", "ID"},
		{"tls-chain", 0, 0, G_OPTION_ARG_FILENAME, &tls_chain,
		 "Serve this TLS chain (PEM, leaf first) instead of the PKI's", "FILE"},
		{"tls-key", 0, 0, G_OPTION_ARG_FILENAME, &tls_key,
		 "The key of --tls-chain's leaf (PEM)", "FILE"},
		{"tls-priority", 0, 0, G_OPTION_ARG_STRING, &tls_priority,
		 "GnuTLS priority string of the server", "PRIORITY"},
		{"rtt", 0, 0, G_OPTION_ARG_INT, &rtt,
		 "Latency model: every round trip to this server takes MS (default 0)", "MS"},
		{"profile-size", 0, 0, G_OPTION_ARG_STRING, &profile_size,
		 "Size of the profiles it binds, in bytes or with K (default 2600)", "BYTES[K]"},
		{"confirmation-code", 0, 0, G_OPTION_ARG_STRING, &cc_for,
		 "Print the confirmation code of a matching id and exit", "MATCHINGID"},
		{NULL},
	};

	setlocale(LC_ALL, "");
	/* a peer that goes away must not kill the server */
	signal(SIGPIPE, SIG_IGN);

	ctx = g_option_context_new("- the Quantra-L test SM-DP+");
	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
		g_printerr("ql-test-smdp: %s\n", error->message);
		return 2;
	}
	if (pki_dir == NULL) {
		g_printerr("ql-test-smdp: --pki DIR is required\n");
		return 2;
	}
	for (guint i = 0; faults != NULL && faults[i] != NULL; i++) {
		if (!ql_smdp_fault_is_known(faults[i])) {
			g_printerr("ql-test-smdp: unknown fault '%s'\n", faults[i]);
			return 2;
		}
	}
	if (rtt < 0 || rtt > 10000) {
		g_printerr("ql-test-smdp: --rtt takes 0 to 10000 ms\n");
		return 2;
	}
	if (profile_size != NULL) {
		gboolean kib = g_str_has_suffix(profile_size, "K");
		g_autofree gchar *digits =
			g_strndup(profile_size, strlen(profile_size) - (kib ? 1 : 0));
		if (!g_ascii_string_to_unsigned(digits, 10, 1, QL_SMDP_MAX_PROFILE_SIZE, &size,
						NULL) ||
		    (kib && size * 1024 > QL_SMDP_MAX_PROFILE_SIZE)) {
			g_printerr("ql-test-smdp: --profile-size takes 1 to %u bytes (or 1K to "
				   "%uK)\n",
				   (guint)QL_SMDP_MAX_PROFILE_SIZE,
				   (guint)QL_SMDP_MAX_PROFILE_SIZE / 1024);
			return 2;
		}
		if (kib)
			size *= 1024;
	}
	if (cc_for == NULL && listen == NULL) {
		g_printerr("ql-test-smdp: --listen HOST:PORT is required\n");
		return 2;
	}
	if (listen != NULL) {
		want = ql_smdp_parse_listen(listen, &error);
		if (want == NULL) {
			g_printerr("ql-test-smdp: %s\n", error->message);
			return 2;
		}
	}
	if (!gnutls_check_version("3.7.9")) {
		g_printerr("ql-test-smdp: GnuTLS 3.7.9 or later is needed\n");
		return 1;
	}
	tls.chain_file = tls_chain;
	tls.key_file = tls_key;
	tls.priority = tls_priority;
	if (!ql_smdp_http_check_tls(&tls, &error)) {
		g_printerr("ql-test-smdp: %s\n", error->message);
		return 2;
	}
	if (!ql_smdp_pki_open(pki_dir, &pki, &error)) {
		g_printerr("ql-test-smdp: %s\n", error->message);
		return 1;
	}
	if (cc_for != NULL) {
		/* the one deliberate output of a secret, for the tests that type the code */
		g_autofree gchar *code = ql_smdp_confirmation_code(&pki, cc_for);
		g_print("%s\n", code);
		ql_smdp_pki_clear(&pki);
		return 0;
	}

	listener = g_socket_new(g_socket_address_get_family(want), G_SOCKET_TYPE_STREAM,
				G_SOCKET_PROTOCOL_TCP, &error);
	if (listener == NULL || !g_socket_bind(listener, want, TRUE, &error) ||
	    !g_socket_listen(listener, &error)) {
		g_printerr("ql-test-smdp: cannot listen on %s: %s\n", listen, error->message);
		ql_smdp_pki_clear(&pki);
		return 1;
	}
	g_socket_set_blocking(listener, TRUE);
	bound = g_socket_get_local_address(listener, &error);
	if (bound == NULL) {
		g_printerr("ql-test-smdp: %s\n", error->message);
		ql_smdp_pki_clear(&pki);
		return 1;
	}
	inet = g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(bound));
	host = g_inet_address_to_string(inet);
	if (g_inet_address_get_family(inet) == G_SOCKET_FAMILY_IPV6)
		address = g_strdup_printf(
			"[%s]:%u", host,
			g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound)));
	else
		address = g_strdup_printf(
			"%s:%u", host,
			g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound)));

	server = ql_smdp_server_new(&pki, address, (const gchar *const *)faults,
				    (const gchar *const *)events);
	if (size > 0)
		ql_smdp_server_set_profile_size(server, (gsize)size);
	ql_smdp_http_set_rtt((guint)rtt);
	ql_smdp_print("listening on %s", address);
	if (!ql_smdp_http_run(server, listener, &tls, &error)) {
		g_printerr("ql-test-smdp: %s\n", error->message);
		return 1;
	}
	return 0;
}
