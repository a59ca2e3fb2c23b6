/*
 * The main window. See ql-esim-window.h.
 *
 * Pages (a GtkStack): "status" (no service, no eSIM chip), "euiccs" (one page per eUICC),
 * "add" (sources, options and the running download), "result" (the installed profile and the
 * security report in words), "details" (one profile). Every call to the service is
 * asynchronous, so the window keeps answering while the service works.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "ql-activation.h"
#include "ql-dbus-generated.h"
#include "ql-esim-agent.h"
#include "ql-esim-describe.h"
#include "ql-esim-euicc-page.h"
#include "ql-esim-portal.h"
#include "ql-esim-profile-row.h"
#include "ql-esim-window.h"
#include "ql-nm.h"
#include "ql-qr.h"

#define QL_SERVICE "org.quantra.Esim1"
#define QL_ROOT "/org/quantra/Esim1"
#define QL_OPERATION_IFACE "org.quantra.Esim1.Operation"

struct _QlEsimWindow {
	AdwApplicationWindow parent_instance;
	GCancellable *cancellable;
	GDBusConnection *bus;
	GDBusObjectManager *manager;
	QlEsimAgent *agent;
	guint op_subscription;

	/* chrome */
	GtkWidget *toasts;
	AdwToast *toast; /* the one shown (weak) */
	GtkWidget *back;
	GtkWidget *add;
	GtkWidget *titles;     /* GtkStack: the view switcher or a window title */
	GtkWidget *switcher;   /* AdwViewSwitcherTitle */
	GtkWidget *page_title; /* AdwWindowTitle */
	GtkWidget *stack;      /* the pages */
	GtkWidget *status;     /* AdwStatusPage */
	GtkWidget *euiccs;     /* AdwViewStack */
	GHashTable *pages;     /* eUICC object path -> QlEsimEuiccPage */

	/* add */
	GtkWidget *add_target;
	GtkWidget *file_button;
	GtkWidget *screenshot_row;
	GtkWidget *screenshot_button;
	GtkWidget *code_entry;
	GtkWidget *nickname_entry;
	GtkWidget *secure_switch;
	GtkWidget *download_button;
	GtkWidget *progress_group;
	GtkWidget *step_row;
	GtkWidget *progress_bar;
	GtkWidget *cancel_button;
	GtkFileChooserNative *chooser;
	gboolean screenshot_available;

	/* the download that runs */
	gchar *download_euicc;
	gboolean download_calling; /* DownloadProfile sent, no answer yet */
	gboolean download_running;
	gboolean cancel_requested;
	gchar *download_op;
	GPtrArray *early; /* (path, member, params) of operations not known yet */
	GtkWidget *code_dialog;
	GtkWidget *code_entry_dialog;
	GDBusMethodInvocation *code_invocation;

	/* result and details */
	GtkWidget *result_status;
	GtkWidget *result_group;
	GPtrArray *result_rows;
	gchar *result_profile;
	GtkWidget *details_group;
	GPtrArray *details_rows;
	gchar *details_profile;
};

G_DEFINE_TYPE(QlEsimWindow, ql_esim_window, ADW_TYPE_APPLICATION_WINDOW)

static void ql_esim_window_show_page(QlEsimWindow *self, const gchar *name);
static void ql_esim_window_start_download(QlEsimWindow *self, const gchar *code);
static void ql_esim_window_ask_enable(QlEsimWindow *self, const gchar *path);

/* ---- small helpers ---- */

static void ql_esim_window_label_buttons(GtkWidget *widget, const gchar *label);

static void
ql_esim_window_toast(QlEsimWindow *self, const gchar *text)
{
	GtkWidget *content = adw_toast_overlay_get_child(ADW_TOAST_OVERLAY(self->toasts));

	/* the last message replaces the one shown, so that it shows at once */
	if (self->toast != NULL)
		adw_toast_dismiss(self->toast);
	g_clear_weak_pointer(&self->toast);
	self->toast = adw_toast_new(text);
	g_object_add_weak_pointer(G_OBJECT(self->toast), (gpointer *)&self->toast);
	adw_toast_overlay_add_toast(ADW_TOAST_OVERLAY(self->toasts), self->toast);
	/* libadwaita 1.2 gives the toast's close button no accessible name */
	for (GtkWidget *c = gtk_widget_get_first_child(self->toasts); c != NULL;
	     c = gtk_widget_get_next_sibling(c)) {
		if (c != content)
			ql_esim_window_label_buttons(c, _("Close the notification"));
	}
}

static void
ql_esim_window_label(GtkWidget *widget, const gchar *label)
{
	gtk_accessible_update_property(GTK_ACCESSIBLE(widget), GTK_ACCESSIBLE_PROPERTY_LABEL, label,
				       -1);
}

/* libadwaita 1.2 leaves the buttons inside some rows (a password row's peek button) without
 * an accessible name: they get @label */
static void
ql_esim_window_label_buttons(GtkWidget *widget, const gchar *label)
{
	for (GtkWidget *c = gtk_widget_get_first_child(widget); c != NULL;
	     c = gtk_widget_get_next_sibling(c)) {
		if (GTK_IS_BUTTON(c))
			ql_esim_window_label(c, label);
		else
			ql_esim_window_label_buttons(c, label);
	}
}

static GtkWidget *
ql_esim_window_dialog(QlEsimWindow *self, const gchar *heading, const gchar *body)
{
	GtkWidget *dialog = adw_message_dialog_new(GTK_WINDOW(self), heading, body);
	gtk_window_set_modal(GTK_WINDOW(dialog), TRUE);
	return dialog;
}

/* An error in words, with what to do next, in a dialog that stays until it is read */
static void
ql_esim_window_error(QlEsimWindow *self, const gchar *heading, const GError *error)
{
	g_autofree gchar *body = ql_esim_describe_error(error);
	GtkWidget *dialog = ql_esim_window_dialog(self, heading, body);

	adw_message_dialog_add_response(ADW_MESSAGE_DIALOG(dialog), "close", _("_Close"));
	gtk_window_present(GTK_WINDOW(dialog));
}

static QlDbusProfile *
ql_esim_window_profile(QlEsimWindow *self, const gchar *path)
{
	g_autoptr(GDBusObject) object = NULL;
	QlDbusProfile *profile;

	if (self->manager == NULL || path == NULL)
		return NULL;
	object = g_dbus_object_manager_get_object(self->manager, path);
	if (object == NULL)
		return NULL;
	profile = ql_dbus_object_get_profile(QL_DBUS_OBJECT(object));
	return profile;
}

static QlEsimEuiccPage *
ql_esim_window_visible_page(QlEsimWindow *self)
{
	GtkWidget *child = adw_view_stack_get_visible_child(ADW_VIEW_STACK(self->euiccs));
	return child != NULL ? QL_ESIM_EUICC_PAGE(child) : NULL;
}

/* ---- calls to the service ---- */

typedef void (*QlEsimDone)(QlEsimWindow *self, GVariant *reply, gpointer data);

typedef struct {
	QlEsimWindow *self;
	gchar *heading; /* of the error dialog */
	gchar *toast;	/* on success */
	QlEsimDone done;
	gchar *data;
} QlEsimCall;

static void
ql_esim_call_free(QlEsimCall *call)
{
	g_object_unref(call->self);
	g_free(call->heading);
	g_free(call->toast);
	g_free(call->data);
	g_free(call);
}

static void
ql_esim_window_called(GObject *source, GAsyncResult *res, gpointer user_data)
{
	QlEsimCall *call = user_data;
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GError) error = NULL;

	reply = g_dbus_proxy_call_finish(G_DBUS_PROXY(source), res, &error);
	if (reply == NULL) {
		if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			ql_esim_window_error(call->self, call->heading, error);
	} else {
		if (call->toast != NULL)
			ql_esim_window_toast(call->self, call->toast);
		if (call->done != NULL)
			call->done(call->self, reply, call->data);
	}
	ql_esim_call_free(call);
}

/* Calls @method of @proxy; polkit may ask the user first, and the service may queue it, so
 * there is no deadline. Errors go to a dialog headed @heading. */
static void
ql_esim_window_call(QlEsimWindow *self, gpointer proxy, const gchar *method, GVariant *params,
		    const gchar *heading, const gchar *toast, QlEsimDone done, const gchar *data)
{
	QlEsimCall *call = g_new0(QlEsimCall, 1);

	call->self = g_object_ref(self);
	call->heading = g_strdup(heading);
	call->toast = g_strdup(toast);
	call->done = done;
	call->data = g_strdup(data);
	g_dbus_proxy_call(G_DBUS_PROXY(proxy), method, params,
			  G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION, G_MAXINT,
			  self->cancellable, ql_esim_window_called, call);
}

/* ---- NetworkManager ---- */

typedef struct {
	QlEsimWindow *self;
	gchar *iccid;
	gchar *id;
	QlNmApn *suggested; /* from the database, or NULL */
	GtkWidget *apn;
} QlEsimConnect;

static void
ql_esim_connect_free(gpointer data, GClosure *closure)
{
	QlEsimConnect *c = data;

	g_object_unref(c->self);
	g_free(c->iccid);
	g_free(c->id);
	ql_nm_apn_free(c->suggested);
	g_free(c);
}

static void
ql_esim_window_connected(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(QlEsimWindow) self = user_data;
	g_autoptr(QlNmOutcome) outcome = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *text = NULL;

	outcome = ql_nm_setup_connection_finish(res, &error);
	if (outcome == NULL) {
		if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			ql_esim_window_error(self, _("No Mobile Data Connection"), error);
		return;
	}
	if (outcome->activation_error != NULL)
		text = g_strdup_printf(_("Connection “%s” saved; NetworkManager could not activate "
					 "it yet: %s"),
				       outcome->id, outcome->activation_error);
	else if (outcome->created)
		text = g_strdup_printf(_("Connection “%s” created and activated"), outcome->id);
	else
		text = g_strdup_printf(_("Connection “%s” updated and activated"), outcome->id);
	ql_esim_window_toast(self, text);
}

static void
ql_esim_window_connect_response(AdwMessageDialog *dialog, const gchar *response, gpointer user_data)
{
	QlEsimConnect *c = user_data;
	const gchar *apn = gtk_editable_get_text(GTK_EDITABLE(c->apn));
	g_autofree gchar *trimmed = NULL;
	QlNmSetup setup = {
		.iccid = c->iccid,
		.id = c->id,
		.apn = apn,
		.activate = TRUE,
	};

	/* nothing is created unless the user said so */
	if (g_strcmp0(response, "connect") != 0)
		return;
	/* the database's user name and password go with its APN only */
	trimmed = g_strstrip(g_strdup(apn));
	if (c->suggested != NULL && g_strcmp0(trimmed, c->suggested->apn) == 0) {
		setup.username = c->suggested->username;
		setup.password = c->suggested->password;
	}
	ql_nm_setup_connection_async(&setup, c->self->cancellable, ql_esim_window_connected,
				     g_object_ref(c->self));
}

static void
ql_esim_window_apn_changed(GtkEditable *editable, gpointer user_data)
{
	AdwMessageDialog *dialog = ADW_MESSAGE_DIALOG(user_data);
	g_autofree gchar *text = g_strstrip(g_strdup(gtk_editable_get_text(editable)));
	adw_message_dialog_set_response_enabled(dialog, "connect", *text != '\0');
}

/* After a profile was enabled: offer a NetworkManager connection bound to its ICCID */
static void
ql_esim_window_offer_connection(QlEsimWindow *self, QlDbusProfile *profile)
{
	QlEsimConnect *c = g_new0(QlEsimConnect, 1);
	g_autofree gchar *mcc = NULL, *mnc = NULL;
	g_autofree gchar *body = NULL;
	g_autofree gchar *source = NULL;
	g_autoptr(GPtrArray) apns = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *name = ql_esim_profile_display_name(profile);
	GtkWidget *dialog, *list;

	c->self = g_object_ref(self);
	c->iccid = g_strdup(ql_dbus_profile_get_iccid(profile));
	c->id = g_strdup_printf(_("eSIM %s"), name);
	if (ql_nm_parse_mcc_mnc(ql_dbus_profile_get_owner_mcc_mnc(profile), &mcc, &mnc, &error)) {
		apns = ql_nm_lookup_apns(ql_nm_default_database(), mcc, mnc,
					 ql_dbus_profile_get_service_provider(profile), &error);
		if (apns == NULL)
			g_warning("%s", error->message);
		else if (apns->len > 0)
			c->suggested = g_steal_pointer(&apns->pdata[0]);
	}
	if (c->suggested != NULL)
		source = g_strdup_printf(_("The access point comes from the mobile broadband "
					   "provider database (%s); change it if your carrier told "
					   "you another."),
					 c->suggested->provider);
	else
		source = g_strdup(_("Your carrier’s access point is not in the mobile broadband "
				    "provider database: type the access point name (APN) your "
				    "carrier gave you."));
	body = g_strdup_printf(_("“%s” is enabled. Create a NetworkManager connection for it, so "
				 "this computer goes online through it?\n\n%s"),
			       name, source);
	dialog = ql_esim_window_dialog(self, _("Connect to Mobile Data?"), body);
	list = gtk_list_box_new();
	gtk_list_box_set_selection_mode(GTK_LIST_BOX(list), GTK_SELECTION_NONE);
	gtk_widget_add_css_class(list, "boxed-list");
	c->apn = adw_entry_row_new();
	adw_preferences_row_set_title(ADW_PREFERENCES_ROW(c->apn), _("Access Point Name (APN)"));
	ql_esim_window_label(c->apn, _("Access Point Name (APN)"));
	gtk_editable_set_text(GTK_EDITABLE(c->apn), c->suggested != NULL ? c->suggested->apn : "");
	gtk_list_box_append(GTK_LIST_BOX(list), c->apn);
	adw_message_dialog_set_extra_child(ADW_MESSAGE_DIALOG(dialog), list);
	adw_message_dialog_add_responses(ADW_MESSAGE_DIALOG(dialog), "cancel", _("_Not Now"),
					 "connect", _("_Connect"), NULL);
	adw_message_dialog_set_response_appearance(ADW_MESSAGE_DIALOG(dialog), "connect",
						   ADW_RESPONSE_SUGGESTED);
	adw_message_dialog_set_default_response(ADW_MESSAGE_DIALOG(dialog), "connect");
	adw_message_dialog_set_close_response(ADW_MESSAGE_DIALOG(dialog), "cancel");
	adw_message_dialog_set_response_enabled(ADW_MESSAGE_DIALOG(dialog), "connect",
						c->suggested != NULL);
	g_signal_connect(c->apn, "changed", G_CALLBACK(ql_esim_window_apn_changed), dialog);
	g_signal_connect_data(dialog, "response", G_CALLBACK(ql_esim_window_connect_response), c,
			      ql_esim_connect_free, 0);
	gtk_window_present(GTK_WINDOW(dialog));
}

/* ---- profile actions ---- */

static void
ql_esim_window_enabled(QlEsimWindow *self, GVariant *reply, gpointer data)
{
	g_autoptr(QlDbusProfile) profile = ql_esim_window_profile(self, data);

	if (profile != NULL)
		ql_esim_window_offer_connection(self, profile);
}

typedef struct {
	QlEsimWindow *self;
	gchar *path;
	GtkWidget *entry;
} QlEsimAsk;

static void
ql_esim_ask_free(gpointer data, GClosure *closure)
{
	QlEsimAsk *ask = data;

	g_object_unref(ask->self);
	g_free(ask->path);
	g_free(ask);
}

/* Shows @dialog about the profile at @path; its answer goes to @response with a QlEsimAsk
 * (@entry: the field the dialog holds, or NULL) */
static void
ql_esim_window_ask(QlEsimWindow *self, GtkWidget *dialog, const gchar *path, GtkWidget *entry,
		   GCallback response)
{
	QlEsimAsk *ask = g_new0(QlEsimAsk, 1);

	ask->self = g_object_ref(self);
	ask->path = g_strdup(path);
	ask->entry = entry;
	g_signal_connect_data(dialog, "response", response, ask, ql_esim_ask_free, 0);
	gtk_window_present(GTK_WINDOW(dialog));
}

static void
ql_esim_window_switch_response(AdwMessageDialog *dialog, const gchar *response, gpointer user_data)
{
	QlEsimAsk *ask = user_data;
	g_autoptr(QlDbusProfile) profile = ql_esim_window_profile(ask->self, ask->path);
	g_autofree gchar *name = NULL;
	g_autofree gchar *heading = NULL;
	g_autofree gchar *toast = NULL;
	gboolean enable = g_strcmp0(response, "enable") == 0;

	if (profile == NULL || (!enable && g_strcmp0(response, "disable") != 0))
		return;
	name = ql_esim_profile_display_name(profile);
	heading = g_strdup_printf(enable ? _("Could not enable “%s”") : _("Could not disable “%s”"),
				  name);
	toast = g_strdup_printf(enable ? _("“%s” enabled") : _("“%s” disabled"), name);
	ql_esim_window_call(ask->self, profile, enable ? "Enable" : "Disable",
			    g_variant_new_parsed("(@a{sv} {},)"), heading, toast,
			    enable ? ql_esim_window_enabled : NULL, ask->path);
}

static void
ql_esim_window_ask_switch(QlEsimWindow *self, const gchar *path, gboolean enable)
{
	g_autoptr(QlDbusProfile) profile = ql_esim_window_profile(self, path);
	g_autofree gchar *name = NULL;
	g_autofree gchar *heading = NULL;
	GtkWidget *dialog;

	if (profile == NULL)
		return;
	name = ql_esim_profile_display_name(profile);
	heading = g_strdup_printf(enable ? _("Enable “%s”?") : _("Disable “%s”?"), name);
	dialog = ql_esim_window_dialog(
		self, heading,
		enable ? _("The eSIM chip switches to this profile. The mobile data connection "
			   "of the profile enabled now drops, and the modem takes a moment to come "
			   "back on the new one.")
		       : _("The mobile data connection through this profile drops, and the modem "
			   "stays offline until a profile is enabled again."));
	adw_message_dialog_add_responses(ADW_MESSAGE_DIALOG(dialog), "cancel", _("_Cancel"),
					 enable ? "enable" : "disable",
					 enable ? _("_Enable") : _("_Disable"), NULL);
	adw_message_dialog_set_response_appearance(
		ADW_MESSAGE_DIALOG(dialog), enable ? "enable" : "disable",
		enable ? ADW_RESPONSE_SUGGESTED : ADW_RESPONSE_DESTRUCTIVE);
	adw_message_dialog_set_close_response(ADW_MESSAGE_DIALOG(dialog), "cancel");
	ql_esim_window_ask(self, dialog, path, NULL, G_CALLBACK(ql_esim_window_switch_response));
}

static void
ql_esim_window_ask_enable(QlEsimWindow *self, const gchar *path)
{
	ql_esim_window_ask_switch(self, path, TRUE);
}

static void
ql_esim_window_rename_response(AdwMessageDialog *dialog, const gchar *response, gpointer user_data)
{
	QlEsimAsk *ask = user_data;
	g_autoptr(QlDbusProfile) profile = ql_esim_window_profile(ask->self, ask->path);
	g_autofree gchar *nickname = NULL;
	g_autofree gchar *heading = NULL;

	if (profile == NULL || g_strcmp0(response, "rename") != 0)
		return;
	nickname = g_strstrip(g_strdup(gtk_editable_get_text(GTK_EDITABLE(ask->entry))));
	heading = g_strdup_printf(_("Could not rename “%s”"), ql_dbus_profile_get_iccid(profile));
	ql_esim_window_call(
		ask->self, profile, "SetNickname", g_variant_new("(s)", nickname), heading,
		*nickname != '\0' ? _("Nickname saved") : _("Nickname removed"), NULL, NULL);
}

static void
ql_esim_window_ask_rename(QlEsimWindow *self, const gchar *path)
{
	g_autoptr(QlDbusProfile) profile = ql_esim_window_profile(self, path);
	g_autofree gchar *name = NULL;
	g_autofree gchar *heading = NULL;
	GtkWidget *entry;
	GtkWidget *dialog;

	if (profile == NULL)
		return;
	name = ql_esim_profile_display_name(profile);
	heading = g_strdup_printf(_("Rename “%s”"), name);
	dialog = ql_esim_window_dialog(self, heading,
				       _("The nickname is yours: it is kept on the eSIM chip and "
					 "shown instead of the operator’s name. Leave it empty to "
					 "remove it."));
	entry = gtk_entry_new();
	gtk_entry_set_max_length(GTK_ENTRY(entry), 64);
	gtk_entry_set_activates_default(GTK_ENTRY(entry), TRUE);
	gtk_editable_set_text(GTK_EDITABLE(entry), ql_dbus_profile_get_nickname(profile));
	ql_esim_window_label(entry, _("Nickname"));
	adw_message_dialog_set_extra_child(ADW_MESSAGE_DIALOG(dialog), entry);
	adw_message_dialog_add_responses(ADW_MESSAGE_DIALOG(dialog), "cancel", _("_Cancel"),
					 "rename", _("_Rename"), NULL);
	adw_message_dialog_set_response_appearance(ADW_MESSAGE_DIALOG(dialog), "rename",
						   ADW_RESPONSE_SUGGESTED);
	adw_message_dialog_set_default_response(ADW_MESSAGE_DIALOG(dialog), "rename");
	adw_message_dialog_set_close_response(ADW_MESSAGE_DIALOG(dialog), "cancel");
	ql_esim_window_ask(self, dialog, path, entry, G_CALLBACK(ql_esim_window_rename_response));
}

static void
ql_esim_window_delete_response(AdwMessageDialog *dialog, const gchar *response, gpointer user_data)
{
	QlEsimAsk *ask = user_data;
	g_autoptr(QlDbusProfile) profile = ql_esim_window_profile(ask->self, ask->path);
	g_autofree gchar *name = NULL;
	g_autofree gchar *heading = NULL;
	g_autofree gchar *toast = NULL;

	if (profile == NULL || g_strcmp0(response, "delete") != 0)
		return;
	name = ql_esim_profile_display_name(profile);
	heading = g_strdup_printf(_("Could not delete “%s”"), name);
	toast = g_strdup_printf(_("“%s” deleted"), name);
	ql_esim_window_call(ask->self, profile, "Delete", NULL, heading, toast, NULL, NULL);
}

static void
ql_esim_window_ask_delete(QlEsimWindow *self, const gchar *path)
{
	g_autoptr(QlDbusProfile) profile = ql_esim_window_profile(self, path);
	g_autofree gchar *name = NULL;
	g_autofree gchar *heading = NULL;
	GtkWidget *dialog;
	gboolean enabled;

	if (profile == NULL)
		return;
	name = ql_esim_profile_display_name(profile);
	enabled = g_strcmp0(ql_dbus_profile_get_state(profile), "enabled") == 0;
	heading = g_strdup_printf(_("Delete “%s”?"), name);
	dialog = ql_esim_window_dialog(
		self, heading,
		enabled ? _("This profile is enabled: disable it first, then delete it.")
			: _("The profile is erased from the eSIM chip for good. This cannot be "
			    "undone: to use this subscription again you need a new QR code from "
			    "the carrier."));
	adw_message_dialog_add_response(ADW_MESSAGE_DIALOG(dialog), "cancel", _("_Cancel"));
	if (!enabled) {
		adw_message_dialog_add_response(ADW_MESSAGE_DIALOG(dialog), "delete", _("_Delete"));
		adw_message_dialog_set_response_appearance(ADW_MESSAGE_DIALOG(dialog), "delete",
							   ADW_RESPONSE_DESTRUCTIVE);
	}
	adw_message_dialog_set_close_response(ADW_MESSAGE_DIALOG(dialog), "cancel");
	ql_esim_window_ask(self, dialog, path, NULL, G_CALLBACK(ql_esim_window_delete_response));
}

/* ---- details ---- */

static GtkWidget *
ql_esim_window_property_row(GtkWidget *group, GPtrArray *rows, const gchar *title,
			    const gchar *value)
{
	GtkWidget *row = adw_action_row_new();

	adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), title);
	adw_preferences_row_set_use_markup(ADW_PREFERENCES_ROW(row), FALSE);
	adw_action_row_set_subtitle(ADW_ACTION_ROW(row), value);
	adw_action_row_set_subtitle_lines(ADW_ACTION_ROW(row), 0);
	gtk_widget_add_css_class(row, "property");
	adw_preferences_group_add(ADW_PREFERENCES_GROUP(group), row);
	g_ptr_array_add(rows, row);
	return row;
}

static void
ql_esim_window_clear_rows(GtkWidget *group, GPtrArray *rows)
{
	for (guint i = 0; i < rows->len; i++)
		adw_preferences_group_remove(ADW_PREFERENCES_GROUP(group),
					     g_ptr_array_index(rows, i));
	g_ptr_array_set_size(rows, 0);
}

static const gchar *
ql_esim_or(const gchar *value, const gchar *otherwise)
{
	return value != NULL && *value != '\0' ? value : otherwise;
}

static void
ql_esim_window_show_details(QlEsimWindow *self, const gchar *path)
{
	g_autoptr(QlDbusProfile) p = ql_esim_window_profile(self, path);
	g_autofree gchar *mcc = NULL, *mnc = NULL, *plmn = NULL;
	g_autofree gchar *name = NULL;
	const gchar *cls, *state;
	GtkWidget *row, *copy;

	if (p == NULL)
		return;
	name = ql_esim_profile_display_name(p);
	ql_esim_window_clear_rows(self->details_group, self->details_rows);
	adw_preferences_group_set_title(ADW_PREFERENCES_GROUP(self->details_group), name);
	ql_esim_window_property_row(self->details_group, self->details_rows, _("Name"),
				    ql_esim_or(ql_dbus_profile_get_name(p), _("None given")));
	ql_esim_window_property_row(
		self->details_group, self->details_rows, _("Service Provider"),
		ql_esim_or(ql_dbus_profile_get_service_provider(p), _("None given")));
	ql_esim_window_property_row(self->details_group, self->details_rows, _("Nickname"),
				    ql_esim_or(ql_dbus_profile_get_nickname(p), _("None")));
	row = ql_esim_window_property_row(self->details_group, self->details_rows, _("ICCID"),
					  ql_dbus_profile_get_iccid(p));
	copy = gtk_button_new_from_icon_name("edit-copy-symbolic");
	gtk_widget_add_css_class(copy, "flat");
	gtk_widget_set_valign(copy, GTK_ALIGN_CENTER);
	gtk_widget_set_tooltip_text(copy, _("Copy the ICCID"));
	ql_esim_window_label(copy, _("Copy the ICCID"));
	gtk_actionable_set_action_name(GTK_ACTIONABLE(copy), "win.copy");
	gtk_actionable_set_action_target(GTK_ACTIONABLE(copy), "s", ql_dbus_profile_get_iccid(p));
	adw_action_row_add_suffix(ADW_ACTION_ROW(row), copy);
	state = ql_dbus_profile_get_state(p);
	ql_esim_window_property_row(self->details_group, self->details_rows, _("State"),
				    g_strcmp0(state, "enabled") == 0 ? _("Enabled")
								     : _("Disabled"));
	cls = ql_dbus_profile_get_class(p);
	ql_esim_window_property_row(self->details_group, self->details_rows, _("Class"),
				    g_strcmp0(cls, "test") == 0		  ? _("Test")
				    : g_strcmp0(cls, "provisioning") == 0 ? _("Provisioning")
									  : _("Operational"));
	if (ql_nm_parse_mcc_mnc(ql_dbus_profile_get_owner_mcc_mnc(p), &mcc, &mnc, NULL))
		/* TRANSLATORS: a mobile network operator's country and network codes */
		plmn = g_strdup_printf(_("MCC %s, MNC %s"), mcc, mnc);
	ql_esim_window_property_row(self->details_group, self->details_rows, _("Operator"),
				    plmn != NULL ? plmn : _("Not given"));
	ql_esim_window_property_row(self->details_group, self->details_rows, _("ISD-P AID"),
				    ql_dbus_profile_get_isdp_aid(p));
	g_free(self->details_profile);
	self->details_profile = g_strdup(path);
	adw_window_title_set_subtitle(ADW_WINDOW_TITLE(self->page_title), name);
	ql_esim_window_show_page(self, "details");
}

/* ---- the download ---- */

static const gchar *
ql_esim_step_words(const gchar *step)
{
	const struct {
		const gchar *step;
		const gchar *words;
	} steps[] = {
		{"reading the eUICC", N_("Reading the eSIM chip")},
		{"initiateAuthentication",
		 N_("Contacting the carrier’s server (initiateAuthentication)")},
		{"AuthenticateServer", N_("The chip checks the server (AuthenticateServer)")},
		{"authenticateClient", N_("The server checks the chip (authenticateClient)")},
		{"confirmation code", N_("Waiting for the confirmation code")},
		{"PrepareDownload", N_("Preparing the chip (PrepareDownload)")},
		{"getBoundProfilePackage", N_("Downloading the profile (getBoundProfilePackage)")},
		{"LoadBoundProfilePackage", N_("Installing the profile (LoadBoundProfilePackage)")},
		{"handleNotification", N_("Telling the carrier (handleNotification)")},
		{"done", N_("Done")},
	};
	for (guint i = 0; i < G_N_ELEMENTS(steps); i++) {
		if (g_strcmp0(steps[i].step, step) == 0)
			return _(steps[i].words);
	}
	return step;
}

/* The inputs: usable while no download runs */
static void
ql_esim_window_set_busy(QlEsimWindow *self, gboolean busy)
{
	gtk_widget_set_sensitive(self->file_button, !busy);
	gtk_widget_set_sensitive(self->screenshot_button, !busy && self->screenshot_available);
	gtk_widget_set_sensitive(self->download_button, !busy);
	gtk_widget_set_sensitive(self->secure_switch, !busy);
	gtk_widget_set_visible(self->progress_group, busy);
	gtk_widget_set_sensitive(self->cancel_button, busy);
}

static void
ql_esim_window_close_code_dialog(QlEsimWindow *self)
{
	if (self->code_invocation != NULL)
		ql_esim_agent_refuse(g_steal_pointer(&self->code_invocation));
	if (self->code_dialog != NULL)
		gtk_window_destroy(GTK_WINDOW(g_steal_pointer(&self->code_dialog)));
	self->code_entry_dialog = NULL;
}

static void
ql_esim_window_show_result(QlEsimWindow *self, GVariant *report)
{
	g_autoptr(GPtrArray) lines = ql_esim_describe_report(report);
	const gchar *iccid = NULL, *name = NULL, *provider = NULL;
	g_autofree gchar *description = NULL;

	g_variant_lookup(report, "iccid", "&s", &iccid);
	g_variant_lookup(report, "name", "&s", &name);
	g_variant_lookup(report, "service_provider", "&s", &provider);
	description =
		g_strdup_printf(_("“%s” from %s is on the eSIM chip now. It stays disabled "
				  "until you enable it."),
				ql_esim_or(name, iccid), ql_esim_or(provider, _("the carrier")));
	adw_status_page_set_description(ADW_STATUS_PAGE(self->result_status), description);
	ql_esim_window_clear_rows(self->result_group, self->result_rows);
	for (guint i = 0; i < lines->len; i++) {
		QlEsimReportLine *line = g_ptr_array_index(lines, i);
		ql_esim_window_property_row(self->result_group, self->result_rows, line->title,
					    line->text);
	}
	g_free(self->result_profile);
	self->result_profile = iccid != NULL ? g_strdup_printf(QL_ROOT "/Profile/%s", iccid) : NULL;
	ql_esim_window_show_page(self, "result");
}

static void
ql_esim_window_finished(QlEsimWindow *self, GVariant *report)
{
	const gchar *result = NULL;

	if (!self->download_running)
		return;
	self->download_running = FALSE;
	g_clear_pointer(&self->download_op, g_free);
	ql_esim_window_close_code_dialog(self);
	ql_esim_window_set_busy(self, FALSE);
	g_variant_lookup(report, "result", "&s", &result);
	if (g_strcmp0(result, "ok") == 0) {
		/* the code did its work: it does not stay on screen */
		gtk_editable_set_text(GTK_EDITABLE(self->code_entry), "");
		gtk_editable_set_text(GTK_EDITABLE(self->nickname_entry), "");
		ql_esim_window_show_result(self, report);
	} else {
		g_autoptr(GError) error = ql_esim_report_error(report);
		g_autofree gchar *name = g_dbus_error_get_remote_error(error);
		if (g_strcmp0(name, "org.quantra.Esim1.Error.Cancelled") == 0) {
			GtkWidget *dialog = ql_esim_window_dialog(
				self, _("Download Cancelled"),
				_("Nothing was installed on the eSIM chip, and the carrier’s "
				  "server was told. The activation code can still be used."));
			adw_message_dialog_add_response(ADW_MESSAGE_DIALOG(dialog), "close",
							_("_Close"));
			gtk_window_present(GTK_WINDOW(dialog));
		} else {
			ql_esim_window_error(self, _("The Profile Could Not Be Downloaded"), error);
		}
	}
}

static void
ql_esim_window_progress(QlEsimWindow *self, const gchar *step, guint percent)
{
	g_autofree gchar *text = g_strdup_printf(_("%u %%"), percent);

	if (self->cancel_requested)
		return;
	adw_action_row_set_subtitle(ADW_ACTION_ROW(self->step_row), ql_esim_step_words(step));
	gtk_progress_bar_set_fraction(GTK_PROGRESS_BAR(self->progress_bar),
				      MIN(percent, 100) / 100.0);
	gtk_progress_bar_set_text(GTK_PROGRESS_BAR(self->progress_bar), text);
}

static void
ql_esim_window_op_signal(QlEsimWindow *self, const gchar *path, const gchar *member,
			 GVariant *params)
{
	if (g_strcmp0(path, self->download_op) != 0)
		return;
	if (g_strcmp0(member, "Progress") == 0 &&
	    g_variant_is_of_type(params, G_VARIANT_TYPE("(su)"))) {
		const gchar *step;
		guint percent;
		g_variant_get(params, "(&su)", &step, &percent);
		ql_esim_window_progress(self, step, percent);
	} else if (g_strcmp0(member, "Finished") == 0 &&
		   g_variant_is_of_type(params, G_VARIANT_TYPE("(a{sv})"))) {
		g_autoptr(GVariant) report = g_variant_get_child_value(params, 0);
		ql_esim_window_finished(self, report);
	}
}

/* Every Operation signal of the service: the operation's path is known only when
 * DownloadProfile answers, and it may have moved on already, so what comes before is kept */
static void
ql_esim_window_on_op_signal(GDBusConnection *bus, const gchar *sender, const gchar *path,
			    const gchar *iface, const gchar *member, GVariant *params,
			    gpointer user_data)
{
	QlEsimWindow *self = QL_ESIM_WINDOW(user_data);

	if (self->download_calling) {
		g_ptr_array_add(self->early,
				g_variant_ref_sink(g_variant_new("(ss@*)", path, member, params)));
		return;
	}
	ql_esim_window_op_signal(self, path, member, params);
}

/* Why a call on the bus failed; NULL when it succeeded or was cancelled (the window closed) */
static GError *
ql_esim_window_call_error(GObject *source, GAsyncResult *res)
{
	g_autoptr(GVariant) reply = NULL;
	GError *error = NULL;

	reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
	if (reply == NULL && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		g_clear_error(&error);
	return error;
}

static void
ql_esim_window_cancelled(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(QlEsimWindow) self = user_data;
	g_autoptr(GError) error = ql_esim_window_call_error(source, res);

	/* it may have ended meanwhile: Finished tells what happened */
	if (error != NULL)
		g_debug("Cancel: %s", error->message);
}

static void
ql_esim_window_send_cancel(QlEsimWindow *self)
{
	g_dbus_connection_call(self->bus, QL_SERVICE, self->download_op, QL_OPERATION_IFACE,
			       "Cancel", NULL, NULL, G_DBUS_CALL_FLAGS_NONE, -1, self->cancellable,
			       ql_esim_window_cancelled, g_object_ref(self));
}

/* What the operation's properties say, in case it ended before the signals could be matched */
static void
ql_esim_window_op_props(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(QlEsimWindow) self = user_data;
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GVariant) props = NULL;
	g_autoptr(GVariant) report = NULL;
	const gchar *state = NULL;

	reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, NULL);
	if (reply == NULL || !self->download_running)
		return;
	props = g_variant_get_child_value(reply, 0);
	g_variant_lookup(props, "State", "&s", &state);
	report = g_variant_lookup_value(props, "Report", G_VARIANT_TYPE_VARDICT);
	if (report != NULL && g_variant_n_children(report) > 0 &&
	    (g_strcmp0(state, "done") == 0 || g_strcmp0(state, "failed") == 0 ||
	     g_strcmp0(state, "cancelled") == 0))
		ql_esim_window_finished(self, report);
}

static void
ql_esim_window_download_started(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(QlEsimWindow) self = user_data;
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) early = g_steal_pointer(&self->early);

	self->early = g_ptr_array_new_with_free_func((GDestroyNotify)g_variant_unref);
	self->download_calling = FALSE;
	reply = g_dbus_proxy_call_finish(G_DBUS_PROXY(source), res, &error);
	if (reply == NULL) {
		self->download_running = FALSE;
		ql_esim_window_set_busy(self, FALSE);
		if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			ql_esim_window_error(self, _("The Download Did Not Start"), error);
		return;
	}
	g_variant_get(reply, "(o)", &self->download_op);
	for (guint i = 0; i < early->len && self->download_running; i++) {
		const gchar *path, *member;
		g_autoptr(GVariant) params = NULL;
		g_variant_get(g_ptr_array_index(early, i), "(&s&s@*)", &path, &member, &params);
		ql_esim_window_op_signal(self, path, member, params);
	}
	if (!self->download_running)
		return;
	if (self->cancel_requested)
		ql_esim_window_send_cancel(self);
	g_dbus_connection_call(self->bus, QL_SERVICE, self->download_op,
			       "org.freedesktop.DBus.Properties", "GetAll",
			       g_variant_new("(s)", QL_OPERATION_IFACE), G_VARIANT_TYPE("(a{sv})"),
			       G_DBUS_CALL_FLAGS_NONE, -1, self->cancellable,
			       ql_esim_window_op_props, g_object_ref(self));
}

static void
ql_esim_window_start_download(QlEsimWindow *self, const gchar *text)
{
	g_autoptr(QlActivationCode) parsed = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GDBusObject) object = NULL;
	g_autoptr(QlDbusEuicc) euicc = NULL;
	g_autofree gchar *code = g_strstrip(g_strdup(text != NULL ? text : ""));
	g_autofree gchar *nickname = NULL;
	GVariantBuilder options;

	if (self->download_running)
		return;
	parsed = ql_activation_code_parse(code, &error);
	if (parsed == NULL) {
		g_prefix_error(&error, _("This is not an activation code: "));
		ql_esim_window_error(self, _("No Activation Code"), error);
		return;
	}
	if (self->download_euicc != NULL)
		object = g_dbus_object_manager_get_object(self->manager, self->download_euicc);
	if (object != NULL)
		euicc = ql_dbus_object_get_euicc(QL_DBUS_OBJECT(object));
	if (euicc == NULL) {
		g_autoptr(GError) gone =
			g_error_new_literal(G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT,
					    _("The eSIM chip is not there any more"));
		ql_esim_window_error(self, _("The Download Did Not Start"), gone);
		return;
	}
	g_variant_builder_init(&options, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&options, "{sv}", "activation-code", g_variant_new_string(code));
	nickname = g_strstrip(g_strdup(gtk_editable_get_text(GTK_EDITABLE(self->nickname_entry))));
	if (*nickname != '\0')
		g_variant_builder_add(&options, "{sv}", "nickname", g_variant_new_string(nickname));
	if (gtk_switch_get_active(GTK_SWITCH(self->secure_switch)))
		g_variant_builder_add(&options, "{sv}", "secure", g_variant_new_boolean(TRUE));

	self->download_running = TRUE;
	self->download_calling = TRUE;
	self->cancel_requested = FALSE;
	g_ptr_array_set_size(self->early, 0);
	adw_action_row_set_subtitle(ADW_ACTION_ROW(self->step_row),
				    _("Waiting for the eSIM service"));
	gtk_progress_bar_set_fraction(GTK_PROGRESS_BAR(self->progress_bar), 0.0);
	gtk_progress_bar_set_text(GTK_PROGRESS_BAR(self->progress_bar), _("0 %"));
	ql_esim_window_set_busy(self, TRUE);
	g_dbus_proxy_call(G_DBUS_PROXY(euicc), "DownloadProfile",
			  g_variant_new("(a{sv})", &options),
			  G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION, G_MAXINT,
			  self->cancellable, ql_esim_window_download_started, g_object_ref(self));
}

static void
ql_esim_window_cancel_clicked(GtkButton *button, gpointer user_data)
{
	QlEsimWindow *self = QL_ESIM_WINDOW(user_data);

	if (!self->download_running || self->cancel_requested)
		return;
	self->cancel_requested = TRUE;
	gtk_widget_set_sensitive(self->cancel_button, FALSE);
	adw_action_row_set_subtitle(ADW_ACTION_ROW(self->step_row), _("Cancelling…"));
	ql_esim_window_close_code_dialog(self);
	if (self->download_op != NULL)
		ql_esim_window_send_cancel(self);
}

static void
ql_esim_window_download_clicked(GtkButton *button, gpointer user_data)
{
	QlEsimWindow *self = QL_ESIM_WINDOW(user_data);
	ql_esim_window_start_download(self, gtk_editable_get_text(GTK_EDITABLE(self->code_entry)));
}

/* ---- the confirmation code (the agent) ---- */

static void
ql_esim_window_code_response(AdwMessageDialog *dialog, const gchar *response, gpointer user_data)
{
	QlEsimWindow *self = QL_ESIM_WINDOW(user_data);
	GDBusMethodInvocation *invocation = g_steal_pointer(&self->code_invocation);

	if (invocation != NULL) {
		if (g_strcmp0(response, "continue") == 0)
			ql_esim_agent_answer(invocation, gtk_editable_get_text(GTK_EDITABLE(
								 self->code_entry_dialog)));
		else
			ql_esim_agent_refuse(invocation);
	}
	/* the code is not kept anywhere */
	if (self->code_entry_dialog != NULL)
		gtk_editable_set_text(GTK_EDITABLE(self->code_entry_dialog), "");
	self->code_dialog = NULL;
	self->code_entry_dialog = NULL;
}

static void
ql_esim_window_code_changed(GtkEditable *editable, gpointer user_data)
{
	adw_message_dialog_set_response_enabled(ADW_MESSAGE_DIALOG(user_data), "continue",
						*gtk_editable_get_text(editable) != '\0');
}

static void
ql_esim_window_agent_request(QlEsimAgent *agent, GDBusMethodInvocation *invocation,
			     const gchar *operation, const gchar *host, gpointer user_data)
{
	QlEsimWindow *self = QL_ESIM_WINDOW(user_data);
	g_autofree gchar *body = NULL;
	GtkWidget *dialog;

	/* one question at a time; a second one while the first is open is refused */
	if (self->code_dialog != NULL) {
		ql_esim_agent_refuse(invocation);
		return;
	}
	body = g_strdup_printf(_("The carrier’s server %s asks for the confirmation code that "
				 "came with your activation code."),
			       host);
	dialog = ql_esim_window_dialog(self, _("Confirmation Code"), body);
	self->code_entry_dialog = gtk_password_entry_new();
	gtk_password_entry_set_show_peek_icon(GTK_PASSWORD_ENTRY(self->code_entry_dialog), TRUE);
	g_object_set(self->code_entry_dialog, "activates-default", TRUE, NULL);
	ql_esim_window_label(self->code_entry_dialog, _("Confirmation code"));
	adw_message_dialog_set_extra_child(ADW_MESSAGE_DIALOG(dialog), self->code_entry_dialog);
	adw_message_dialog_add_responses(ADW_MESSAGE_DIALOG(dialog), "cancel",
					 _("_Cancel Download"), "continue", _("C_ontinue"), NULL);
	adw_message_dialog_set_response_appearance(ADW_MESSAGE_DIALOG(dialog), "continue",
						   ADW_RESPONSE_SUGGESTED);
	adw_message_dialog_set_default_response(ADW_MESSAGE_DIALOG(dialog), "continue");
	adw_message_dialog_set_close_response(ADW_MESSAGE_DIALOG(dialog), "cancel");
	adw_message_dialog_set_response_enabled(ADW_MESSAGE_DIALOG(dialog), "continue", FALSE);
	g_signal_connect(self->code_entry_dialog, "changed",
			 G_CALLBACK(ql_esim_window_code_changed), dialog);
	g_signal_connect(dialog, "response", G_CALLBACK(ql_esim_window_code_response), self);
	self->code_invocation = invocation;
	self->code_dialog = dialog;
	gtk_window_present(GTK_WINDOW(dialog));
	gtk_widget_grab_focus(self->code_entry_dialog);
}

/* ---- QR codes: from a file or a screenshot ---- */

static void
ql_esim_qr_decode_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
	GError *error = NULL;
	gchar *code = ql_qr_decode_file(data, &error);

	if (code == NULL)
		g_task_return_error(task, error);
	else
		g_task_return_pointer(task, code, g_free);
}

static void
ql_esim_window_qr_decoded(GObject *source, GAsyncResult *res, gpointer user_data)
{
	QlEsimWindow *self = QL_ESIM_WINDOW(source);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *code = g_task_propagate_pointer(G_TASK(res), &error);
	const gchar *remove = g_task_get_task_data(G_TASK(res));

	gtk_widget_set_sensitive(self->file_button, TRUE);
	gtk_widget_set_sensitive(self->screenshot_button, self->screenshot_available);
	if (remove != NULL && g_object_get_data(G_OBJECT(res), "remove") != NULL)
		g_unlink(remove);
	if (code == NULL) {
		g_autoptr(GError) hinted = g_error_new(
			error->domain, error->code, "%s. %s", error->message,
			_("Make sure the whole QR code is in the image, sharp and not cut off"));
		ql_esim_window_error(self, _("No Activation Code Found"), hinted);
		return;
	}
	ql_esim_window_start_download(self, code);
}

/* Reads the QR code in @path in a thread (a photo takes a while); with @remove, the file is
 * deleted afterwards (a screenshot taken only to read the code) */
static void
ql_esim_window_read_qr(QlEsimWindow *self, const gchar *path, gboolean remove)
{
	g_autoptr(GTask) task =
		g_task_new(self, self->cancellable, ql_esim_window_qr_decoded, NULL);

	gtk_widget_set_sensitive(self->file_button, FALSE);
	gtk_widget_set_sensitive(self->screenshot_button, FALSE);
	g_task_set_task_data(task, g_strdup(path), g_free);
	if (remove)
		g_object_set_data(G_OBJECT(task), "remove", GINT_TO_POINTER(1));
	g_task_run_in_thread(task, ql_esim_qr_decode_thread);
}

/* The same for @file, which must be on this computer: else @why goes to a dialog headed
 * @heading */
static void
ql_esim_window_read_qr_file(QlEsimWindow *self, GFile *file, gboolean remove, const gchar *heading,
			    const gchar *why)
{
	g_autofree gchar *path = g_file_get_path(file);

	if (path == NULL) {
		g_autoptr(GError) error =
			g_error_new_literal(G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, why);
		ql_esim_window_error(self, heading, error);
		return;
	}
	ql_esim_window_read_qr(self, path, remove);
}

static void
ql_esim_window_chooser_response(GtkNativeDialog *native, gint response, gpointer user_data)
{
	QlEsimWindow *self = QL_ESIM_WINDOW(user_data);
	g_autoptr(GFile) file = NULL;

	if (response == GTK_RESPONSE_ACCEPT)
		file = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(native));
	g_clear_object(&self->chooser);
	if (file == NULL)
		return;
	ql_esim_window_read_qr_file(
		self, file, FALSE, _("No Activation Code Found"),
		_("Only images on this computer can be read; save the image first"));
}

static void
ql_esim_window_file_clicked(GtkButton *button, gpointer user_data)
{
	QlEsimWindow *self = QL_ESIM_WINDOW(user_data);
	GtkFileFilter *filter = gtk_file_filter_new();

	if (self->chooser != NULL)
		return;
	self->chooser =
		gtk_file_chooser_native_new(_("Choose the QR Code Image"), GTK_WINDOW(self),
					    GTK_FILE_CHOOSER_ACTION_OPEN, _("_Open"), _("_Cancel"));
	gtk_file_filter_set_name(filter, _("Images"));
	gtk_file_filter_add_pixbuf_formats(filter);
	gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(self->chooser), filter);
	g_object_unref(filter);
	g_signal_connect(self->chooser, "response", G_CALLBACK(ql_esim_window_chooser_response),
			 self);
	gtk_native_dialog_show(GTK_NATIVE_DIALOG(self->chooser));
}

static void
ql_esim_window_screenshot_taken(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(QlEsimWindow) self = user_data;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *uri = ql_esim_portal_screenshot_finish(res, &error);
	g_autoptr(GFile) file = NULL;

	gtk_widget_set_sensitive(self->screenshot_button, self->screenshot_available);
	if (uri == NULL) {
		if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			ql_esim_window_error(self, _("No Screenshot"), error);
		return;
	}
	file = g_file_new_for_uri(uri);
	ql_esim_window_read_qr_file(
		self, file, TRUE, _("No Screenshot"),
		_("The desktop portal saved the screenshot where it cannot be read"));
}

static void
ql_esim_window_screenshot_clicked(GtkButton *button, gpointer user_data)
{
	QlEsimWindow *self = QL_ESIM_WINDOW(user_data);

	gtk_widget_set_sensitive(self->screenshot_button, FALSE);
	ql_esim_portal_screenshot_async("", self->cancellable, ql_esim_window_screenshot_taken,
					g_object_ref(self));
}

static void
ql_esim_window_portal_checked(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(QlEsimWindow) self = user_data;
	g_autoptr(GError) error = NULL;

	self->screenshot_available = ql_esim_portal_check_finish(res, &error);
	if (self->screenshot_available) {
		adw_action_row_set_subtitle(ADW_ACTION_ROW(self->screenshot_row),
					    _("Show the QR code on screen, then take a screenshot "
					      "of it"));
	} else {
		g_autofree gchar *text = g_strdup_printf(
			"%s. %s", error->message,
			_("Save the QR code as an image and choose the file instead."));
		adw_action_row_set_subtitle(ADW_ACTION_ROW(self->screenshot_row), text);
	}
	gtk_widget_set_sensitive(self->screenshot_button,
				 self->screenshot_available && !self->download_running);
}

/* ---- pages ---- */

static void
ql_esim_window_show_page(QlEsimWindow *self, const gchar *name)
{
	gboolean main_page = g_strcmp0(name, "euiccs") == 0 || g_strcmp0(name, "status") == 0;
	const gchar *title = NULL;

	GtkWidget *target = gtk_stack_get_child_by_name(GTK_STACK(self->stack), name);

	/* only the page shown is visible, to assistive technologies too */
	gtk_widget_set_visible(target, TRUE);
	gtk_stack_set_visible_child(GTK_STACK(self->stack), target);
	for (GtkWidget *c = gtk_widget_get_first_child(self->stack); c != NULL;
	     c = gtk_widget_get_next_sibling(c))
		gtk_widget_set_visible(c, c == target);
	gtk_widget_set_visible(self->back, !main_page);
	gtk_widget_set_visible(self->add, g_strcmp0(name, "euiccs") == 0);
	if (g_strcmp0(name, "euiccs") == 0) {
		gtk_stack_set_visible_child(GTK_STACK(self->titles), self->switcher);
		return;
	}
	if (g_strcmp0(name, "add") == 0)
		title = _("Add a Profile");
	else if (g_strcmp0(name, "result") == 0)
		title = _("Profile Installed");
	else if (g_strcmp0(name, "details") == 0)
		title = _("Profile Details");
	else
		title = _("eSIM");
	adw_window_title_set_title(ADW_WINDOW_TITLE(self->page_title), title);
	if (g_strcmp0(name, "details") != 0)
		adw_window_title_set_subtitle(ADW_WINDOW_TITLE(self->page_title), "");
	gtk_stack_set_visible_child(GTK_STACK(self->titles), self->page_title);
}

static void
ql_esim_window_update_status(QlEsimWindow *self)
{
	g_autofree gchar *owner = NULL;
	const gchar *shown = gtk_stack_get_visible_child_name(GTK_STACK(self->stack));

	if (self->manager != NULL)
		owner = g_dbus_object_manager_client_get_name_owner(
			G_DBUS_OBJECT_MANAGER_CLIENT(self->manager));
	if (owner == NULL) {
		adw_status_page_set_icon_name(ADW_STATUS_PAGE(self->status),
					      "network-cellular-offline-symbolic");
		adw_status_page_set_title(ADW_STATUS_PAGE(self->status),
					  _("The eSIM Service Is Not Running"));
		adw_status_page_set_description(
			ADW_STATUS_PAGE(self->status),
			_("Start it with “systemctl start quantra-esimd”. This window follows it "
			  "as soon as it runs."));
		ql_esim_window_show_page(self, "status");
		return;
	}
	if (g_hash_table_size(self->pages) == 0) {
		adw_status_page_set_icon_name(ADW_STATUS_PAGE(self->status),
					      "network-cellular-disabled-symbolic");
		adw_status_page_set_title(ADW_STATUS_PAGE(self->status), _("No eSIM Chip Found"));
		adw_status_page_set_description(
			ADW_STATUS_PAGE(self->status),
			_("Connect a modem or card reader with an eSIM. If one is connected, check "
			  "that ModemManager sees it, or name it in the service’s configuration."));
		ql_esim_window_show_page(self, "status");
		return;
	}
	if (g_strcmp0(shown, "status") == 0)
		ql_esim_window_show_page(self, "euiccs");
}

static void
ql_esim_window_agent_registered(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(QlEsimWindow) self = user_data;
	g_autoptr(GError) error = ql_esim_window_call_error(source, res);

	if (error != NULL)
		g_warning("cannot register the confirmation code agent: %s", error->message);
}

static void
ql_esim_window_owner_changed(QlEsimWindow *self)
{
	g_autofree gchar *owner = g_dbus_object_manager_client_get_name_owner(
		G_DBUS_OBJECT_MANAGER_CLIENT(self->manager));

	if (self->agent != NULL)
		ql_esim_agent_set_service(self->agent, owner);
	if (owner != NULL && self->agent != NULL)
		g_dbus_connection_call(self->bus, QL_SERVICE, QL_ROOT, "org.quantra.Esim1.Manager",
				       "RegisterAgent", g_variant_new("(o)", QL_ESIM_AGENT_PATH),
				       NULL, G_DBUS_CALL_FLAGS_NONE, -1, self->cancellable,
				       ql_esim_window_agent_registered, g_object_ref(self));
	if (owner == NULL && self->download_running) {
		g_autoptr(GVariant) report = g_variant_ref_sink(g_variant_new_parsed(
			"{'result': <'error'>, 'error_name': "
			"<'org.freedesktop.DBus.Error.ServiceUnknown'>, 'error_message': "
			"<%s>}",
			_("The eSIM service stopped during the download")));
		ql_esim_window_finished(self, report);
	}
	ql_esim_window_update_status(self);
}

static void
ql_esim_window_notify_owner(GObject *object, GParamSpec *pspec, gpointer user_data)
{
	ql_esim_window_owner_changed(QL_ESIM_WINDOW(user_data));
}

static void
ql_esim_window_add_euicc(QlEsimWindow *self, QlDbusEuicc *euicc)
{
	const gchar *path = g_dbus_proxy_get_object_path(G_DBUS_PROXY(euicc));
	g_autofree gchar *title = NULL;
	GtkWidget *page;
	AdwViewStackPage *stack_page;

	if (g_hash_table_contains(self->pages, path))
		return;
	g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(euicc), G_MAXINT);
	title = ql_esim_euicc_title(euicc);
	page = ql_esim_euicc_page_new(euicc, self->manager);
	stack_page = adw_view_stack_add_titled(ADW_VIEW_STACK(self->euiccs), page, path, title);
	adw_view_stack_page_set_icon_name(stack_page, "network-cellular-symbolic");
	g_hash_table_insert(self->pages, g_strdup(path), page);
}

static void
ql_esim_window_sync_pages(QlEsimWindow *self)
{
	GHashTableIter iter;
	gpointer page;

	g_hash_table_iter_init(&iter, self->pages);
	while (g_hash_table_iter_next(&iter, NULL, &page))
		ql_esim_euicc_page_sync(QL_ESIM_EUICC_PAGE(page));
}

static void
ql_esim_window_object_added(GDBusObjectManager *manager, GDBusObject *object, gpointer user_data)
{
	QlEsimWindow *self = QL_ESIM_WINDOW(user_data);
	g_autoptr(QlDbusEuicc) euicc = ql_dbus_object_get_euicc(QL_DBUS_OBJECT(object));
	g_autoptr(QlDbusProfile) profile = ql_dbus_object_get_profile(QL_DBUS_OBJECT(object));

	if (euicc != NULL) {
		ql_esim_window_add_euicc(self, euicc);
		ql_esim_window_update_status(self);
	}
	if (profile != NULL) {
		g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(profile), G_MAXINT);
		ql_esim_window_sync_pages(self);
	}
}

static void
ql_esim_window_object_removed(GDBusObjectManager *manager, GDBusObject *object, gpointer user_data)
{
	QlEsimWindow *self = QL_ESIM_WINDOW(user_data);
	const gchar *path = g_dbus_object_get_object_path(object);
	GtkWidget *page = g_hash_table_lookup(self->pages, path);

	if (page != NULL) {
		adw_view_stack_remove(ADW_VIEW_STACK(self->euiccs), page);
		g_hash_table_remove(self->pages, path);
		ql_esim_window_update_status(self);
	}
	ql_esim_window_sync_pages(self);
	if (g_strcmp0(path, self->details_profile) == 0 &&
	    g_strcmp0(gtk_stack_get_visible_child_name(GTK_STACK(self->stack)), "details") == 0)
		ql_esim_window_show_page(self, "euiccs");
}

/* @title and why on the status page, unless the window is closing */
static void
ql_esim_window_unreachable(QlEsimWindow *self, const gchar *title, const GError *error)
{
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	adw_status_page_set_title(ADW_STATUS_PAGE(self->status), title);
	adw_status_page_set_description(ADW_STATUS_PAGE(self->status), error->message);
}

static void
ql_esim_window_manager_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(QlEsimWindow) self = user_data;
	g_autoptr(GError) error = NULL;
	GList *objects;

	self->manager = ql_dbus_object_manager_client_new_finish(res, &error);
	if (self->manager == NULL) {
		ql_esim_window_unreachable(self, _("Cannot Reach the eSIM Service"), error);
		return;
	}
	g_signal_connect(self->manager, "object-added", G_CALLBACK(ql_esim_window_object_added),
			 self);
	g_signal_connect(self->manager, "object-removed", G_CALLBACK(ql_esim_window_object_removed),
			 self);
	g_signal_connect(self->manager, "notify::name-owner",
			 G_CALLBACK(ql_esim_window_notify_owner), self);
	objects = g_dbus_object_manager_get_objects(self->manager);
	for (GList *l = objects; l != NULL; l = l->next)
		ql_esim_window_object_added(self->manager, l->data, self);
	g_list_free_full(objects, g_object_unref);
	ql_esim_window_owner_changed(self);
}

static void
ql_esim_window_bus_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(QlEsimWindow) self = user_data;
	g_autoptr(GError) error = NULL;

	self->bus = g_bus_get_finish(res, &error);
	if (self->bus == NULL) {
		ql_esim_window_unreachable(self, _("Cannot Reach the System Bus"), error);
		return;
	}
	self->agent = ql_esim_agent_new(self->bus, &error);
	if (self->agent == NULL)
		g_warning("cannot export the confirmation code agent: %s", error->message);
	else
		g_signal_connect(self->agent, "request", G_CALLBACK(ql_esim_window_agent_request),
				 self);
	self->op_subscription = g_dbus_connection_signal_subscribe(
		self->bus, QL_SERVICE, QL_OPERATION_IFACE, NULL, NULL, NULL,
		G_DBUS_SIGNAL_FLAGS_NONE, ql_esim_window_on_op_signal, self, NULL);
	ql_dbus_object_manager_client_new(self->bus, G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_NONE,
					  QL_SERVICE, QL_ROOT, self->cancellable,
					  ql_esim_window_manager_ready, g_object_ref(self));
}

/* ---- actions ---- */

static void
ql_esim_window_action_add(GSimpleAction *action, GVariant *param, gpointer user_data)
{
	QlEsimWindow *self = QL_ESIM_WINDOW(user_data);
	QlEsimEuiccPage *page = ql_esim_window_visible_page(self);
	g_autofree gchar *title = NULL;
	g_autofree gchar *text = NULL;
	QlDbusEuicc *euicc;

	if (page == NULL)
		return;
	/* the download goes to the eUICC shown (or to the one of the download running) */
	if (!self->download_running) {
		euicc = ql_esim_euicc_page_get_euicc(page);
		g_free(self->download_euicc);
		self->download_euicc = g_strdup(g_dbus_proxy_get_object_path(G_DBUS_PROXY(euicc)));
		title = ql_esim_euicc_title(euicc);
		text = g_strdup_printf(_("Onto %s (EID %s)"), title, ql_dbus_euicc_get_eid(euicc));
		adw_action_row_set_subtitle(ADW_ACTION_ROW(self->add_target), text);
	}
	ql_esim_portal_check_async(self->cancellable, ql_esim_window_portal_checked,
				   g_object_ref(self));
	ql_esim_window_show_page(self, "add");
	gtk_widget_grab_focus(self->file_button);
}

static void
ql_esim_window_action_back(GSimpleAction *action, GVariant *param, gpointer user_data)
{
	QlEsimWindow *self = QL_ESIM_WINDOW(user_data);

	if (g_hash_table_size(self->pages) > 0)
		ql_esim_window_show_page(self, "euiccs");
	else
		ql_esim_window_update_status(self);
}

static void
ql_esim_window_action_copy(GSimpleAction *action, GVariant *param, gpointer user_data)
{
	QlEsimWindow *self = QL_ESIM_WINDOW(user_data);

	gdk_clipboard_set_text(gtk_widget_get_clipboard(GTK_WIDGET(self)),
			       g_variant_get_string(param, NULL));
	ql_esim_window_toast(self, _("Copied to the clipboard"));
}

static void
ql_esim_window_action_refresh(GSimpleAction *action, GVariant *param, gpointer user_data)
{
	QlEsimWindow *self = QL_ESIM_WINDOW(user_data);
	QlEsimEuiccPage *page = ql_esim_window_visible_page(self);

	if (page != NULL)
		ql_esim_window_call(self, ql_esim_euicc_page_get_euicc(page), "Refresh", NULL,
				    _("Could not read the eSIM chip again"), NULL, NULL, NULL);
}

static void
ql_esim_window_action_profile(GSimpleAction *action, GVariant *param, gpointer user_data)
{
	QlEsimWindow *self = QL_ESIM_WINDOW(user_data);
	const gchar *name = g_action_get_name(G_ACTION(action));
	const gchar *path = g_variant_get_string(param, NULL);

	if (g_strcmp0(name, "enable-profile") == 0)
		ql_esim_window_ask_enable(self, path);
	else if (g_strcmp0(name, "disable-profile") == 0)
		ql_esim_window_ask_switch(self, path, FALSE);
	else if (g_strcmp0(name, "rename-profile") == 0)
		ql_esim_window_ask_rename(self, path);
	else if (g_strcmp0(name, "delete-profile") == 0)
		ql_esim_window_ask_delete(self, path);
	else if (g_strcmp0(name, "profile-details") == 0)
		ql_esim_window_show_details(self, path);
}

static void
ql_esim_window_action_enable_new(GSimpleAction *action, GVariant *param, gpointer user_data)
{
	QlEsimWindow *self = QL_ESIM_WINDOW(user_data);

	ql_esim_window_show_page(self, "euiccs");
	if (self->result_profile != NULL)
		ql_esim_window_ask_enable(self, self->result_profile);
}

static void
ql_esim_window_action_about(GSimpleAction *action, GVariant *param, gpointer user_data)
{
	GtkWidget *about = adw_about_window_new();

	adw_about_window_set_application_name(ADW_ABOUT_WINDOW(about), _("eSIM"));
	adw_about_window_set_application_icon(ADW_ABOUT_WINDOW(about), "org.quantra.Esim");
	adw_about_window_set_version(ADW_ABOUT_WINDOW(about), PACKAGE_VERSION);
	adw_about_window_set_developer_name(ADW_ABOUT_WINDOW(about), _("The Quantra-L authors"));
	adw_about_window_set_license_type(ADW_ABOUT_WINDOW(about), GTK_LICENSE_GPL_2_0);
	adw_about_window_set_comments(ADW_ABOUT_WINDOW(about),
				      _("Manage the eSIM profiles of this computer’s modems"));
	gtk_window_set_transient_for(GTK_WINDOW(about), GTK_WINDOW(user_data));
	gtk_window_present(GTK_WINDOW(about));
}

/* ---- building ---- */

/* A row of @group: @title, @subtitle, and at its end @suffix (a button or a switch), named
 * @label for assistive technologies */
static GtkWidget *
ql_esim_window_suffix_row(GtkWidget *group, const gchar *title, const gchar *subtitle,
			  GtkWidget *suffix, const gchar *label)
{
	GtkWidget *row = adw_action_row_new();

	adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), title);
	adw_action_row_set_subtitle(ADW_ACTION_ROW(row), subtitle);
	gtk_widget_set_valign(suffix, GTK_ALIGN_CENTER);
	ql_esim_window_label(suffix, label);
	adw_action_row_add_suffix(ADW_ACTION_ROW(row), suffix);
	adw_preferences_group_add(ADW_PREFERENCES_GROUP(group), row);
	return row;
}

static GtkWidget *
ql_esim_window_build_add(QlEsimWindow *self)
{
	GtkWidget *page = adw_preferences_page_new();
	GtkWidget *target = adw_preferences_group_new();
	GtkWidget *qr = adw_preferences_group_new();
	GtkWidget *typed = adw_preferences_group_new();
	GtkWidget *options = adw_preferences_group_new();
	GtkWidget *row, *box;

	self->add_target = adw_action_row_new();
	adw_preferences_row_set_title(ADW_PREFERENCES_ROW(self->add_target), _("eSIM Chip"));
	gtk_widget_add_css_class(self->add_target, "property");
	adw_preferences_group_add(ADW_PREFERENCES_GROUP(target), self->add_target);
	adw_preferences_page_add(ADW_PREFERENCES_PAGE(page), ADW_PREFERENCES_GROUP(target));

	/* the download that runs: step, percent, Cancel */
	self->progress_group = adw_preferences_group_new();
	adw_preferences_group_set_title(ADW_PREFERENCES_GROUP(self->progress_group),
					_("Downloading"));
	self->step_row = adw_action_row_new();
	adw_preferences_row_set_title(ADW_PREFERENCES_ROW(self->step_row), _("Step"));
	adw_preferences_row_set_use_markup(ADW_PREFERENCES_ROW(self->step_row), FALSE);
	gtk_widget_add_css_class(self->step_row, "property");
	self->cancel_button = gtk_button_new_with_mnemonic(_("_Cancel"));
	gtk_widget_set_valign(self->cancel_button, GTK_ALIGN_CENTER);
	ql_esim_window_label(self->cancel_button, _("Cancel the download"));
	gtk_widget_add_css_class(self->cancel_button, "destructive-action");
	g_signal_connect(self->cancel_button, "clicked", G_CALLBACK(ql_esim_window_cancel_clicked),
			 self);
	adw_action_row_add_suffix(ADW_ACTION_ROW(self->step_row), self->cancel_button);
	adw_preferences_group_add(ADW_PREFERENCES_GROUP(self->progress_group), self->step_row);
	self->progress_bar = gtk_progress_bar_new();
	gtk_progress_bar_set_show_text(GTK_PROGRESS_BAR(self->progress_bar), TRUE);
	gtk_widget_set_margin_top(self->progress_bar, 12);
	ql_esim_window_label(self->progress_bar, _("Download progress"));
	adw_preferences_group_add(ADW_PREFERENCES_GROUP(self->progress_group), self->progress_bar);
	gtk_widget_set_visible(self->progress_group, FALSE);
	adw_preferences_page_add(ADW_PREFERENCES_PAGE(page),
				 ADW_PREFERENCES_GROUP(self->progress_group));

	adw_preferences_group_set_title(ADW_PREFERENCES_GROUP(qr), _("From the Carrier’s QR Code"));
	self->file_button = gtk_button_new_with_mnemonic(_("_Choose Image…"));
	g_signal_connect(self->file_button, "clicked", G_CALLBACK(ql_esim_window_file_clicked),
			 self);
	ql_esim_window_suffix_row(qr, _("Image File"),
				  _("A picture or a saved copy of the QR code"), self->file_button,
				  _("Choose the QR code image"));
	self->screenshot_button = gtk_button_new_with_mnemonic(_("_Take Screenshot…"));
	gtk_widget_set_sensitive(self->screenshot_button, FALSE);
	g_signal_connect(self->screenshot_button, "clicked",
			 G_CALLBACK(ql_esim_window_screenshot_clicked), self);
	self->screenshot_row = ql_esim_window_suffix_row(
		qr, _("Screenshot"), _("Looking for the screenshot service…"),
		self->screenshot_button, _("Take a screenshot of the QR code"));
	adw_action_row_set_subtitle_lines(ADW_ACTION_ROW(self->screenshot_row), 0);
	adw_preferences_page_add(ADW_PREFERENCES_PAGE(page), ADW_PREFERENCES_GROUP(qr));

	adw_preferences_group_set_title(ADW_PREFERENCES_GROUP(typed), _("Or Paste the Code"));
	adw_preferences_group_set_description(
		ADW_PREFERENCES_GROUP(typed),
		_("The activation code starts with “LPA:1$”; the carrier may print it under the QR "
		  "code."));
	self->code_entry = adw_password_entry_row_new();
	adw_preferences_row_set_title(ADW_PREFERENCES_ROW(self->code_entry), _("Activation Code"));
	ql_esim_window_label(self->code_entry, _("Activation code"));
	ql_esim_window_label_buttons(self->code_entry, _("Show or hide the activation code"));
	adw_preferences_group_add(ADW_PREFERENCES_GROUP(typed), self->code_entry);
	box = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 0);
	gtk_widget_set_halign(box, GTK_ALIGN_END);
	gtk_widget_set_margin_top(box, 12);
	self->download_button = gtk_button_new_with_mnemonic(_("_Download"));
	gtk_widget_add_css_class(self->download_button, "suggested-action");
	ql_esim_window_label(self->download_button, _("Download the profile"));
	g_signal_connect(self->download_button, "clicked",
			 G_CALLBACK(ql_esim_window_download_clicked), self);
	g_signal_connect_swapped(self->code_entry, "entry-activated",
				 G_CALLBACK(gtk_widget_activate), self->download_button);
	gtk_box_append(GTK_BOX(box), self->download_button);
	adw_preferences_group_add(ADW_PREFERENCES_GROUP(typed), box);
	adw_preferences_page_add(ADW_PREFERENCES_PAGE(page), ADW_PREFERENCES_GROUP(typed));

	adw_preferences_group_set_title(ADW_PREFERENCES_GROUP(options), _("Options"));
	self->nickname_entry = adw_entry_row_new();
	adw_preferences_row_set_title(ADW_PREFERENCES_ROW(self->nickname_entry),
				      _("Nickname (optional)"));
	ql_esim_window_label(self->nickname_entry, _("Nickname for the new profile"));
	adw_preferences_group_add(ADW_PREFERENCES_GROUP(options), self->nickname_entry);
	self->secure_switch = gtk_switch_new();
	row = ql_esim_window_suffix_row(options, _("Secure Mode"),
					_("TLS 1.3 only, with AES-256-GCM or ChaCha20-Poly1305"),
					self->secure_switch, _("Secure mode"));
	adw_action_row_set_activatable_widget(ADW_ACTION_ROW(row), self->secure_switch);
	adw_preferences_page_add(ADW_PREFERENCES_PAGE(page), ADW_PREFERENCES_GROUP(options));
	return page;
}

static GtkWidget *
ql_esim_window_build_result(QlEsimWindow *self)
{
	GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 24);
	GtkWidget *buttons = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 12);
	GtkWidget *enable = gtk_button_new_with_mnemonic(_("_Enable Now"));
	GtkWidget *done = gtk_button_new_with_mnemonic(_("_Done"));
	GtkWidget *clamp = adw_clamp_new();

	self->result_status = adw_status_page_new();
	adw_status_page_set_icon_name(ADW_STATUS_PAGE(self->result_status), "emblem-ok-symbolic");
	adw_status_page_set_title(ADW_STATUS_PAGE(self->result_status), _("Profile Installed"));
	self->result_group = adw_preferences_group_new();
	adw_preferences_group_set_title(ADW_PREFERENCES_GROUP(self->result_group),
					_("How the Download Was Secured"));
	gtk_widget_set_halign(buttons, GTK_ALIGN_CENTER);
	gtk_widget_add_css_class(enable, "suggested-action");
	gtk_widget_add_css_class(enable, "pill");
	gtk_widget_add_css_class(done, "pill");
	gtk_actionable_set_action_name(GTK_ACTIONABLE(enable), "win.enable-new");
	gtk_actionable_set_action_name(GTK_ACTIONABLE(done), "win.back");
	ql_esim_window_label(enable, _("Enable the new profile now"));
	gtk_box_append(GTK_BOX(buttons), done);
	gtk_box_append(GTK_BOX(buttons), enable);
	gtk_box_append(GTK_BOX(box), buttons);
	gtk_box_append(GTK_BOX(box), self->result_group);
	gtk_widget_set_margin_bottom(box, 24);
	adw_clamp_set_child(ADW_CLAMP(clamp), box);
	adw_status_page_set_child(ADW_STATUS_PAGE(self->result_status), clamp);
	return self->result_status;
}

static void
ql_esim_window_build(QlEsimWindow *self)
{
	const GActionEntry actions[] = {
		{.name = "add-profile", .activate = ql_esim_window_action_add},
		{.name = "back", .activate = ql_esim_window_action_back},
		{.name = "refresh", .activate = ql_esim_window_action_refresh},
		{.name = "about", .activate = ql_esim_window_action_about},
		{.name = "enable-new", .activate = ql_esim_window_action_enable_new},
		{.name = "copy", .activate = ql_esim_window_action_copy, .parameter_type = "s"},
		{.name = "enable-profile",
		 .activate = ql_esim_window_action_profile,
		 .parameter_type = "s"},
		{.name = "disable-profile",
		 .activate = ql_esim_window_action_profile,
		 .parameter_type = "s"},
		{.name = "rename-profile",
		 .activate = ql_esim_window_action_profile,
		 .parameter_type = "s"},
		{.name = "delete-profile",
		 .activate = ql_esim_window_action_profile,
		 .parameter_type = "s"},
		{.name = "profile-details",
		 .activate = ql_esim_window_action_profile,
		 .parameter_type = "s"},
	};
	g_autoptr(GMenu) menu = g_menu_new();
	GtkWidget *header = adw_header_bar_new();
	GtkWidget *content = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
	GtkWidget *menu_button = gtk_menu_button_new();
	GtkWidget *details = adw_preferences_page_new();
	GtkWidget *bar;

	g_action_map_add_action_entries(G_ACTION_MAP(self), actions, G_N_ELEMENTS(actions), self);
	gtk_window_set_title(GTK_WINDOW(self), _("eSIM"));
	gtk_window_set_icon_name(GTK_WINDOW(self), "org.quantra.Esim");
	gtk_window_set_default_size(GTK_WINDOW(self), 760, 700);

	self->back = gtk_button_new_from_icon_name("go-previous-symbolic");
	gtk_actionable_set_action_name(GTK_ACTIONABLE(self->back), "win.back");
	gtk_widget_set_tooltip_text(self->back, _("Back"));
	ql_esim_window_label(self->back, _("Back"));
	adw_header_bar_pack_start(ADW_HEADER_BAR(header), self->back);
	self->add = gtk_button_new_from_icon_name("list-add-symbolic");
	gtk_actionable_set_action_name(GTK_ACTIONABLE(self->add), "win.add-profile");
	gtk_widget_set_tooltip_text(self->add, _("Add a Profile"));
	ql_esim_window_label(self->add, _("Add a profile"));
	adw_header_bar_pack_start(ADW_HEADER_BAR(header), self->add);
	g_menu_append(menu, _("_Read the Chip Again"), "win.refresh");
	g_menu_append(menu, _("_About eSIM"), "win.about");
	gtk_menu_button_set_icon_name(GTK_MENU_BUTTON(menu_button), "open-menu-symbolic");
	gtk_menu_button_set_menu_model(GTK_MENU_BUTTON(menu_button), G_MENU_MODEL(menu));
	gtk_widget_set_tooltip_text(menu_button, _("Main Menu"));
	ql_esim_window_label(menu_button, _("Main menu"));
	adw_header_bar_pack_end(ADW_HEADER_BAR(header), menu_button);

	self->euiccs = adw_view_stack_new();
	self->switcher = adw_view_switcher_title_new();
	adw_view_switcher_title_set_stack(ADW_VIEW_SWITCHER_TITLE(self->switcher),
					  ADW_VIEW_STACK(self->euiccs));
	adw_view_switcher_title_set_title(ADW_VIEW_SWITCHER_TITLE(self->switcher), _("eSIM"));
	self->page_title = adw_window_title_new(_("eSIM"), NULL);
	self->titles = gtk_stack_new();
	gtk_stack_add_child(GTK_STACK(self->titles), self->switcher);
	gtk_stack_add_child(GTK_STACK(self->titles), self->page_title);
	adw_header_bar_set_title_widget(ADW_HEADER_BAR(header), self->titles);
	gtk_box_append(GTK_BOX(content), header);

	self->stack = gtk_stack_new();
	gtk_widget_set_vexpand(self->stack, TRUE);
	self->status = adw_status_page_new();
	adw_status_page_set_icon_name(ADW_STATUS_PAGE(self->status), "network-cellular-symbolic");
	adw_status_page_set_title(ADW_STATUS_PAGE(self->status),
				  _("Connecting to the eSIM Service…"));
	gtk_stack_add_named(GTK_STACK(self->stack), self->status, "status");
	gtk_stack_add_named(GTK_STACK(self->stack), self->euiccs, "euiccs");
	gtk_stack_add_named(GTK_STACK(self->stack), ql_esim_window_build_add(self), "add");
	gtk_stack_add_named(GTK_STACK(self->stack), ql_esim_window_build_result(self), "result");
	self->details_group = adw_preferences_group_new();
	adw_preferences_page_add(ADW_PREFERENCES_PAGE(details),
				 ADW_PREFERENCES_GROUP(self->details_group));
	gtk_stack_add_named(GTK_STACK(self->stack), details, "details");
	gtk_box_append(GTK_BOX(content), self->stack);
	bar = adw_view_switcher_bar_new();
	adw_view_switcher_bar_set_stack(ADW_VIEW_SWITCHER_BAR(bar), ADW_VIEW_STACK(self->euiccs));
	g_object_bind_property(self->switcher, "title-visible", bar, "reveal",
			       G_BINDING_SYNC_CREATE);
	gtk_box_append(GTK_BOX(content), bar);

	self->toasts = adw_toast_overlay_new();
	adw_toast_overlay_set_child(ADW_TOAST_OVERLAY(self->toasts), content);
	adw_application_window_set_content(ADW_APPLICATION_WINDOW(self), self->toasts);
	ql_esim_window_show_page(self, "status");
}

/* ---- the object ---- */

static void
ql_esim_window_dispose(GObject *object)
{
	QlEsimWindow *self = QL_ESIM_WINDOW(object);

	g_cancellable_cancel(self->cancellable);
	if (self->code_invocation != NULL)
		ql_esim_agent_refuse(g_steal_pointer(&self->code_invocation));
	if (self->op_subscription != 0) {
		g_dbus_connection_signal_unsubscribe(self->bus, self->op_subscription);
		self->op_subscription = 0;
	}
	if (self->manager != NULL)
		g_signal_handlers_disconnect_by_data(self->manager, self);
	g_clear_weak_pointer(&self->toast);
	g_clear_object(&self->chooser);
	g_clear_object(&self->agent);
	g_clear_object(&self->manager);
	g_clear_object(&self->bus);
	g_clear_object(&self->cancellable);
	g_clear_pointer(&self->pages, g_hash_table_unref);
	g_clear_pointer(&self->early, g_ptr_array_unref);
	g_clear_pointer(&self->result_rows, g_ptr_array_unref);
	g_clear_pointer(&self->details_rows, g_ptr_array_unref);
	g_clear_pointer(&self->download_euicc, g_free);
	g_clear_pointer(&self->download_op, g_free);
	g_clear_pointer(&self->result_profile, g_free);
	g_clear_pointer(&self->details_profile, g_free);
	G_OBJECT_CLASS(ql_esim_window_parent_class)->dispose(object);
}

static void
ql_esim_window_class_init(QlEsimWindowClass *klass)
{
	G_OBJECT_CLASS(klass)->dispose = ql_esim_window_dispose;
}

static void
ql_esim_window_init(QlEsimWindow *self)
{
	self->cancellable = g_cancellable_new();
	self->pages = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	self->early = g_ptr_array_new_with_free_func((GDestroyNotify)g_variant_unref);
	self->result_rows = g_ptr_array_new();
	self->details_rows = g_ptr_array_new();
	ql_esim_window_build(self);
	g_bus_get(G_BUS_TYPE_SYSTEM, self->cancellable, ql_esim_window_bus_ready,
		  g_object_ref(self));
}

GtkWidget *
ql_esim_window_new(AdwApplication *app)
{
	return g_object_new(QL_ESIM_TYPE_WINDOW, "application", app, NULL);
}
