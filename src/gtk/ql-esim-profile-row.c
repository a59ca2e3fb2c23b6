/*
 * A profile row. See ql-esim-profile-row.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>

#include "ql-esim-profile-row.h"

struct _QlEsimProfileRow {
	AdwActionRow parent_instance;
	QlDbusProfile *profile;
	GtkWidget *icon;
	GtkWidget *state;
	GtkWidget *toggle;
	GtkWidget *rename;
	GtkWidget *details;
	GtkWidget *delete;
	gulong notify_id;
};

G_DEFINE_TYPE(QlEsimProfileRow, ql_esim_profile_row, ADW_TYPE_ACTION_ROW)

gchar *
ql_esim_profile_display_name(QlDbusProfile *profile)
{
	const gchar *nickname = ql_dbus_profile_get_nickname(profile);
	const gchar *name = ql_dbus_profile_get_name(profile);

	if (nickname != NULL && *nickname != '\0')
		return g_strdup(nickname);
	if (name != NULL && *name != '\0')
		return g_strdup(name);
	return g_strdup(ql_dbus_profile_get_iccid(profile));
}

GdkTexture *
ql_esim_profile_icon(QlDbusProfile *profile)
{
	GVariant *icon = ql_dbus_profile_get_icon(profile);
	g_autoptr(GBytes) bytes = NULL;

	if (icon == NULL || g_variant_n_children(icon) == 0)
		return NULL;
	bytes = g_variant_get_data_as_bytes(icon);
	/* a profile's icon comes from the operator: anything not an image is left out */
	return gdk_texture_new_from_bytes(bytes, NULL);
}

static void
ql_esim_profile_row_set_label(GtkWidget *button, const gchar *format, const gchar *name)
{
	g_autofree gchar *label = g_strdup_printf(format, name);
	gtk_widget_set_tooltip_text(button, label);
	gtk_accessible_update_property(GTK_ACCESSIBLE(button), GTK_ACCESSIBLE_PROPERTY_LABEL, label,
				       -1);
}

static void
ql_esim_profile_row_update(QlEsimProfileRow *self)
{
	QlDbusProfile *p = self->profile;
	g_autofree gchar *shown = ql_esim_profile_display_name(p);
	g_autoptr(GdkTexture) icon = ql_esim_profile_icon(p);
	g_autoptr(GString) subtitle = g_string_new(NULL);
	const gchar *name = ql_dbus_profile_get_name(p);
	const gchar *provider = ql_dbus_profile_get_service_provider(p);
	const gchar *nickname = ql_dbus_profile_get_nickname(p);
	gboolean enabled = g_strcmp0(ql_dbus_profile_get_state(p), "enabled") == 0;

	/* title: the name the operator gave; subtitle: provider and the user's nickname */
	adw_preferences_row_set_title(ADW_PREFERENCES_ROW(self),
				      name != NULL && *name != '\0' ? name
								    : ql_dbus_profile_get_iccid(p));
	if (provider != NULL && *provider != '\0')
		g_string_append(subtitle, provider);
	if (nickname != NULL && *nickname != '\0') {
		if (subtitle->len > 0)
			g_string_append(subtitle, " · ");
		/* TRANSLATORS: the nickname the user gave a profile */
		g_string_append_printf(subtitle, _("Nickname: %s"), nickname);
	}
	adw_action_row_set_subtitle(ADW_ACTION_ROW(self), subtitle->str);

	if (icon != NULL)
		gtk_image_set_from_paintable(GTK_IMAGE(self->icon), GDK_PAINTABLE(icon));
	else
		gtk_image_set_from_icon_name(GTK_IMAGE(self->icon), "network-cellular-symbolic");

	gtk_label_set_label(GTK_LABEL(self->state), enabled ? _("Enabled") : _("Disabled"));
	if (enabled) {
		gtk_widget_add_css_class(self->state, "success");
		gtk_widget_remove_css_class(self->state, "dim-label");
	} else {
		gtk_widget_remove_css_class(self->state, "success");
		gtk_widget_add_css_class(self->state, "dim-label");
	}
	gtk_button_set_label(GTK_BUTTON(self->toggle), enabled ? _("Disable") : _("Enable"));
	gtk_actionable_set_action_name(GTK_ACTIONABLE(self->toggle),
				       enabled ? "win.disable-profile" : "win.enable-profile");
	ql_esim_profile_row_set_label(self->toggle, enabled ? _("Disable %s") : _("Enable %s"),
				      shown);
	ql_esim_profile_row_set_label(self->rename, _("Rename %s"), shown);
	ql_esim_profile_row_set_label(self->details, _("Details of %s"), shown);
	ql_esim_profile_row_set_label(self->delete, _("Delete %s"), shown);
}

static void
ql_esim_profile_row_notify(GObject *object, GParamSpec *pspec, gpointer user_data)
{
	ql_esim_profile_row_update(QL_ESIM_PROFILE_ROW(user_data));
}

static GtkWidget *
ql_esim_profile_row_button(QlEsimProfileRow *self, const gchar *icon, const gchar *action)
{
	GtkWidget *button = gtk_button_new_from_icon_name(icon);
	const gchar *path = g_dbus_proxy_get_object_path(G_DBUS_PROXY(self->profile));

	gtk_widget_add_css_class(button, "flat");
	gtk_widget_set_valign(button, GTK_ALIGN_CENTER);
	gtk_actionable_set_action_name(GTK_ACTIONABLE(button), action);
	gtk_actionable_set_action_target(GTK_ACTIONABLE(button), "s", path);
	adw_action_row_add_suffix(ADW_ACTION_ROW(self), button);
	return button;
}

static void
ql_esim_profile_row_dispose(GObject *object)
{
	QlEsimProfileRow *self = QL_ESIM_PROFILE_ROW(object);

	if (self->notify_id != 0) {
		g_signal_handler_disconnect(self->profile, self->notify_id);
		self->notify_id = 0;
	}
	g_clear_object(&self->profile);
	G_OBJECT_CLASS(ql_esim_profile_row_parent_class)->dispose(object);
}

static void
ql_esim_profile_row_class_init(QlEsimProfileRowClass *klass)
{
	G_OBJECT_CLASS(klass)->dispose = ql_esim_profile_row_dispose;
}

static void
ql_esim_profile_row_init(QlEsimProfileRow *self)
{
}

GtkWidget *
ql_esim_profile_row_new(QlDbusProfile *profile)
{
	QlEsimProfileRow *self = g_object_new(QL_ESIM_TYPE_PROFILE_ROW, "use-markup", FALSE, NULL);
	const gchar *path = g_dbus_proxy_get_object_path(G_DBUS_PROXY(profile));

	self->profile = g_object_ref(profile);
	self->icon = gtk_image_new();
	gtk_image_set_pixel_size(GTK_IMAGE(self->icon), 32);
	gtk_accessible_update_property(GTK_ACCESSIBLE(self->icon), GTK_ACCESSIBLE_PROPERTY_LABEL,
				       _("Operator icon"), -1);
	adw_action_row_add_prefix(ADW_ACTION_ROW(self), self->icon);

	self->state = gtk_label_new(NULL);
	gtk_widget_set_valign(self->state, GTK_ALIGN_CENTER);
	adw_action_row_add_suffix(ADW_ACTION_ROW(self), self->state);

	self->toggle = gtk_button_new_with_label(_("Enable"));
	gtk_widget_set_valign(self->toggle, GTK_ALIGN_CENTER);
	gtk_actionable_set_action_target(GTK_ACTIONABLE(self->toggle), "s", path);
	adw_action_row_add_suffix(ADW_ACTION_ROW(self), self->toggle);

	self->rename =
		ql_esim_profile_row_button(self, "document-edit-symbolic", "win.rename-profile");
	self->details =
		ql_esim_profile_row_button(self, "help-about-symbolic", "win.profile-details");
	self->delete =
		ql_esim_profile_row_button(self, "user-trash-symbolic", "win.delete-profile");
	gtk_widget_add_css_class(self->delete, "error");

	self->notify_id =
		g_signal_connect(profile, "notify", G_CALLBACK(ql_esim_profile_row_notify), self);
	ql_esim_profile_row_update(self);
	return GTK_WIDGET(self);
}

QlDbusProfile *
ql_esim_profile_row_get_profile(QlEsimProfileRow *self)
{
	return self->profile;
}
