/*
 * quantra-esim: manage the eSIM profiles of this computer's modems, through quantra-esimd.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>

#include "ql-esim-window.h"

#define QL_ESIM_APP_ID "org.quantra.Esim"

static void
ql_esim_activate(GApplication *app, gpointer user_data)
{
	GtkWindow *window = gtk_application_get_active_window(GTK_APPLICATION(app));

	if (window == NULL)
		window = GTK_WINDOW(ql_esim_window_new(ADW_APPLICATION(app)));
	gtk_window_present(window);
}

static void
ql_esim_startup(GApplication *app, gpointer user_data)
{
	const gchar *add[] = {"<Control>n", NULL};
	const gchar *back[] = {"<Alt>Left", NULL};
	const gchar *refresh[] = {"F5", "<Control>r", NULL};
	const gchar *quit[] = {"<Control>q", NULL};

	gtk_application_set_accels_for_action(GTK_APPLICATION(app), "win.add-profile", add);
	gtk_application_set_accels_for_action(GTK_APPLICATION(app), "win.back", back);
	gtk_application_set_accels_for_action(GTK_APPLICATION(app), "win.refresh", refresh);
	gtk_application_set_accels_for_action(GTK_APPLICATION(app), "app.quit", quit);
}

static void
ql_esim_quit(GSimpleAction *action, GVariant *param, gpointer user_data)
{
	g_application_quit(G_APPLICATION(user_data));
}

static gint
ql_esim_local_options(GApplication *app, GVariantDict *options, gpointer user_data)
{
	if (g_variant_dict_contains(options, "version")) {
		g_print("quantra-esim %s\n", PACKAGE_VERSION);
		return 0;
	}
	return -1;
}

int
main(int argc, char **argv)
{
	g_autoptr(AdwApplication) app = NULL;
	const GActionEntry actions[] = {{.name = "quit", .activate = ql_esim_quit}};
	const GOptionEntry entries[] = {
		{"version", 0, 0, G_OPTION_ARG_NONE, NULL, N_("Print the version and exit"), NULL},
		{NULL},
	};

	setlocale(LC_ALL, "");
	bindtextdomain(GETTEXT_PACKAGE, QL_LOCALEDIR);
	bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
	textdomain(GETTEXT_PACKAGE);
	g_set_application_name(_("eSIM"));

	app = adw_application_new(QL_ESIM_APP_ID, G_APPLICATION_DEFAULT_FLAGS);
	g_application_add_main_option_entries(G_APPLICATION(app), entries);
	g_application_set_option_context_summary(
		G_APPLICATION(app),
		_("Manage the eSIM profiles of this computer’s modems: add a profile from the QR "
		  "code the carrier sent, switch, rename and delete profiles, and get a mobile "
		  "data "
		  "connection for them. Needs the eSIM service, quantra-esimd."));
	g_action_map_add_action_entries(G_ACTION_MAP(app), actions, G_N_ELEMENTS(actions), app);
	g_signal_connect(app, "handle-local-options", G_CALLBACK(ql_esim_local_options), NULL);
	g_signal_connect(app, "startup", G_CALLBACK(ql_esim_startup), NULL);
	g_signal_connect(app, "activate", G_CALLBACK(ql_esim_activate), NULL);
	return g_application_run(G_APPLICATION(app), argc, argv);
}
