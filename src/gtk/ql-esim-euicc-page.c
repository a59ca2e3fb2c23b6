/*
 * An eUICC's page. See ql-esim-euicc-page.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "ql-esim-euicc-page.h"
#include "ql-esim-profile-row.h"

struct _QlEsimEuiccPage {
	AdwBin parent_instance;
	QlDbusEuicc *euicc;
	GDBusObjectManager *manager;
	GtkWidget *eid;
	GtkWidget
		*reached; /* the modem (ModemManager's, oFono's) or device it is reached through */
	GtkWidget *memory;
	GtkWidget *smdp;
	GtkWidget *notifications;
	GtkWidget *profiles; /* the GtkListBox of the profile rows */
	GtkWidget *empty;    /* the row shown when there is no profile */
	GHashTable *rows;    /* object path -> QlEsimProfileRow (owned by the list) */
	gulong notify_id;
};

G_DEFINE_TYPE(QlEsimEuiccPage, ql_esim_euicc_page, ADW_TYPE_BIN)

gchar *
ql_esim_euicc_title(QlDbusEuicc *euicc)
{
	const gchar *name = ql_dbus_euicc_get_name(euicc);
	const gchar *eid = ql_dbus_euicc_get_eid(euicc);
	gsize len = eid != NULL ? strlen(eid) : 0;

	if (name != NULL && *name != '\0')
		return g_strdup(name);
	/* TRANSLATORS: an eSIM chip named by the last digits of its EID */
	return g_strdup_printf(_("eSIM …%s"), len > 4 ? eid + len - 4 : (eid != NULL ? eid : ""));
}

static gint64
ql_esim_info_int(GVariant *info, const gchar *key)
{
	gint64 value = -1;

	if (info == NULL || !g_variant_lookup(info, key, "x", &value))
		return -1;
	return value;
}

static void
ql_esim_euicc_page_update(QlEsimEuiccPage *self)
{
	GVariant *info = ql_dbus_euicc_get_euicc_info(self->euicc);
	const gchar *smdp = ql_dbus_euicc_get_default_smdp(self->euicc);
	guint pending = ql_dbus_euicc_get_pending_notifications(self->euicc);
	gint64 nvm = ql_esim_info_int(info, "free_nvm");
	g_autofree gchar *memory = NULL;
	g_autofree gchar *notes = NULL;
	g_autofree gchar *reached = NULL;

	adw_action_row_set_subtitle(ADW_ACTION_ROW(self->eid), ql_dbus_euicc_get_eid(self->euicc));
	if (g_strcmp0(ql_dbus_euicc_get_ofono_modem_path(self->euicc), "/") != 0)
		/* TRANSLATORS: %s is oFono's object path of the modem, e.g. "/quectelqmi_0" */
		reached = g_strdup_printf(_("oFono modem %s"),
					  ql_dbus_euicc_get_ofono_modem_path(self->euicc));
	else if (g_strcmp0(ql_dbus_euicc_get_modem_object_path(self->euicc), "/") != 0)
		/* TRANSLATORS: %s is ModemManager's modem number, as `mmcli -m` takes it */
		reached = g_strdup_printf(
			_("ModemManager modem %s"),
			strrchr(ql_dbus_euicc_get_modem_object_path(self->euicc), '/') + 1);
	else
		reached = g_strdup(ql_dbus_euicc_get_transport(self->euicc));
	adw_action_row_set_subtitle(ADW_ACTION_ROW(self->reached), reached);
	if (nvm >= 0) {
		g_autofree gchar *size = g_format_size((guint64)nvm);
		/* TRANSLATORS: free memory on the eSIM chip, e.g. "412.3 kB free" */
		memory = g_strdup_printf(_("%s free"), size);
	}
	adw_action_row_set_subtitle(ADW_ACTION_ROW(self->memory),
				    memory != NULL ? memory : _("Not reported by the chip"));
	adw_action_row_set_subtitle(ADW_ACTION_ROW(self->smdp),
				    smdp != NULL && *smdp != '\0' ? smdp : _("None set"));
	if (pending == 0)
		notes = g_strdup(_("None waiting"));
	else if (ql_dbus_euicc_get_background_delivery(self->euicc))
		notes = g_strdup_printf(g_dngettext(GETTEXT_PACKAGE,
						    "%u waiting; delivered to the carrier in the "
						    "background",
						    "%u waiting; delivered to the carriers in the "
						    "background",
						    pending),
					pending);
	else
		/* the service does not send them by itself here (turned off, or each try would
		 * take the modem away) */
		notes = g_strdup_printf(g_dngettext(GETTEXT_PACKAGE,
						    "%u waiting; not sent in the background: "
						    "“quantra-l notification process” sends it",
						    "%u waiting; not sent in the background: "
						    "“quantra-l notification process” sends them",
						    pending),
					pending);
	adw_action_row_set_subtitle(ADW_ACTION_ROW(self->notifications), notes);
}

void
ql_esim_euicc_page_sync(QlEsimEuiccPage *self)
{
	const gchar *const *paths = ql_dbus_euicc_get_profiles(self->euicc);
	g_autoptr(GHashTable) wanted = g_hash_table_new(g_str_hash, g_str_equal);
	GHashTableIter iter;
	gpointer key, value;
	gint position = 0;

	/* rows in the order of the Profiles property, for the objects that exist */
	for (guint i = 0; paths != NULL && paths[i] != NULL; i++) {
		g_autoptr(GDBusObject) object =
			g_dbus_object_manager_get_object(self->manager, paths[i]);
		g_autoptr(QlDbusProfile) profile = NULL;
		GtkWidget *row;

		if (object == NULL)
			continue;
		profile = ql_dbus_object_get_profile(QL_DBUS_OBJECT(object));
		if (profile == NULL)
			continue;
		g_hash_table_add(wanted, (gpointer)paths[i]);
		row = g_hash_table_lookup(self->rows, paths[i]);
		if (row == NULL) {
			row = ql_esim_profile_row_new(profile);
			g_hash_table_insert(self->rows, g_strdup(paths[i]), row);
			gtk_list_box_insert(GTK_LIST_BOX(self->profiles), row, position);
		}
		position++;
	}
	g_hash_table_iter_init(&iter, self->rows);
	while (g_hash_table_iter_next(&iter, &key, &value)) {
		if (!g_hash_table_contains(wanted, key)) {
			gtk_list_box_remove(GTK_LIST_BOX(self->profiles), value);
			g_hash_table_iter_remove(&iter);
		}
	}
	gtk_widget_set_visible(self->empty, g_hash_table_size(self->rows) == 0);
}

static void
ql_esim_euicc_page_notify(GObject *object, GParamSpec *pspec, gpointer user_data)
{
	QlEsimEuiccPage *self = QL_ESIM_EUICC_PAGE(user_data);

	ql_esim_euicc_page_update(self);
	if (g_strcmp0(pspec->name, "profiles") == 0)
		ql_esim_euicc_page_sync(self);
}

static GtkWidget *
ql_esim_info_row(GtkWidget *group, const gchar *title)
{
	GtkWidget *row = adw_action_row_new();

	adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), title);
	adw_preferences_row_set_use_markup(ADW_PREFERENCES_ROW(row), FALSE);
	gtk_widget_add_css_class(row, "property");
	adw_preferences_group_add(ADW_PREFERENCES_GROUP(group), row);
	return row;
}

static void
ql_esim_euicc_page_build(QlEsimEuiccPage *self)
{
	GtkWidget *page = adw_preferences_page_new();
	GtkWidget *chip = adw_preferences_group_new();
	GtkWidget *group = adw_preferences_group_new();
	GtkWidget *copy = gtk_button_new_from_icon_name("edit-copy-symbolic");
	GtkWidget *add = gtk_button_new_from_icon_name("list-add-symbolic");

	adw_preferences_group_set_title(ADW_PREFERENCES_GROUP(chip), _("eSIM Chip"));
	self->eid = ql_esim_info_row(chip, _("EID"));
	gtk_widget_add_css_class(copy, "flat");
	gtk_widget_set_valign(copy, GTK_ALIGN_CENTER);
	gtk_widget_set_tooltip_text(copy, _("Copy the EID"));
	gtk_accessible_update_property(GTK_ACCESSIBLE(copy), GTK_ACCESSIBLE_PROPERTY_LABEL,
				       _("Copy the EID"), -1);
	gtk_actionable_set_action_name(GTK_ACTIONABLE(copy), "win.copy");
	gtk_actionable_set_action_target(GTK_ACTIONABLE(copy), "s",
					 ql_dbus_euicc_get_eid(self->euicc));
	adw_action_row_add_suffix(ADW_ACTION_ROW(self->eid), copy);
	self->reached = ql_esim_info_row(chip, _("Device"));
	self->memory = ql_esim_info_row(chip, _("Free Memory"));
	self->smdp = ql_esim_info_row(chip, _("Default SM-DP+"));
	self->notifications = ql_esim_info_row(chip, _("Pending Notifications"));
	adw_preferences_page_add(ADW_PREFERENCES_PAGE(page), ADW_PREFERENCES_GROUP(chip));

	adw_preferences_group_set_title(ADW_PREFERENCES_GROUP(group), _("Profiles"));
	gtk_widget_add_css_class(add, "flat");
	gtk_widget_set_tooltip_text(add, _("Add a profile"));
	gtk_accessible_update_property(GTK_ACCESSIBLE(add), GTK_ACCESSIBLE_PROPERTY_LABEL,
				       _("Add a profile to this eSIM"), -1);
	gtk_actionable_set_action_name(GTK_ACTIONABLE(add), "win.add-profile");
	adw_preferences_group_set_header_suffix(ADW_PREFERENCES_GROUP(group), add);
	self->profiles = gtk_list_box_new();
	gtk_list_box_set_selection_mode(GTK_LIST_BOX(self->profiles), GTK_SELECTION_NONE);
	gtk_widget_add_css_class(self->profiles, "boxed-list");
	gtk_accessible_update_property(GTK_ACCESSIBLE(self->profiles),
				       GTK_ACCESSIBLE_PROPERTY_LABEL, _("Profiles"), -1);
	self->empty = adw_action_row_new();
	adw_preferences_row_set_title(ADW_PREFERENCES_ROW(self->empty), _("No profiles yet"));
	adw_action_row_set_subtitle(ADW_ACTION_ROW(self->empty),
				    _("Add one from the QR code your carrier sent"));
	gtk_list_box_append(GTK_LIST_BOX(self->profiles), self->empty);
	adw_preferences_group_add(ADW_PREFERENCES_GROUP(group), self->profiles);
	adw_preferences_page_add(ADW_PREFERENCES_PAGE(page), ADW_PREFERENCES_GROUP(group));

	adw_bin_set_child(ADW_BIN(self), page);
}

static void
ql_esim_euicc_page_dispose(GObject *object)
{
	QlEsimEuiccPage *self = QL_ESIM_EUICC_PAGE(object);

	if (self->notify_id != 0) {
		g_signal_handler_disconnect(self->euicc, self->notify_id);
		self->notify_id = 0;
	}
	g_clear_object(&self->euicc);
	g_clear_object(&self->manager);
	g_clear_pointer(&self->rows, g_hash_table_unref);
	G_OBJECT_CLASS(ql_esim_euicc_page_parent_class)->dispose(object);
}

static void
ql_esim_euicc_page_class_init(QlEsimEuiccPageClass *klass)
{
	G_OBJECT_CLASS(klass)->dispose = ql_esim_euicc_page_dispose;
}

static void
ql_esim_euicc_page_init(QlEsimEuiccPage *self)
{
	self->rows = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
}

GtkWidget *
ql_esim_euicc_page_new(QlDbusEuicc *euicc, GDBusObjectManager *manager)
{
	QlEsimEuiccPage *self = g_object_new(QL_ESIM_TYPE_EUICC_PAGE, NULL);

	self->euicc = g_object_ref(euicc);
	self->manager = g_object_ref(manager);
	ql_esim_euicc_page_build(self);
	self->notify_id =
		g_signal_connect(euicc, "notify", G_CALLBACK(ql_esim_euicc_page_notify), self);
	ql_esim_euicc_page_update(self);
	ql_esim_euicc_page_sync(self);
	return GTK_WIDGET(self);
}

QlDbusEuicc *
ql_esim_euicc_page_get_euicc(QlEsimEuiccPage *self)
{
	return self->euicc;
}
