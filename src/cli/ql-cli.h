/*
 * quantra-l: what the command line's files share.
 *
 * A command asks a backend for objects (a chip, profiles, notifications, a download report) and
 * prints them; the backend is either this process running the core on a device (--direct, -m
 * without the service) or quantra-esimd over D-Bus. Both hand back the same core structures, and
 * one printer per object prints them, from one field table that drives both the human output and
 * the JSON (mmcli's way), so the two modes and the two formats cannot drift apart.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "ql-activation.h"
#include "ql-cli-state.h"
#include "ql-config.h"
#include "ql-download.h"
#include "ql-es10.h"
#include "ql-modem.h"
#include "ql-text.h"

G_BEGIN_DECLS

/* Exit codes, documented in the README */
enum {
	QL_EXIT_OK = 0,
	QL_EXIT_FAILED = 1,
	QL_EXIT_USAGE = 2,
	QL_EXIT_NOT_FOUND = 3,
	QL_EXIT_REFUSED = 4, /* the eUICC or the SM-DP+ said no */
	QL_EXIT_DEVICE = 5,  /* plugin, modem, reader, state file, the service */
	QL_EXIT_MALFORMED = 6,
	QL_EXIT_TRUST = 7, /* TLS / certificate refused */
	QL_EXIT_NETWORK = 8,
	QL_EXIT_TIMEOUT = 9,	 /* the modem, card or server did not answer in time */
	QL_EXIT_CANCELLED = 130, /* Ctrl-C, as a shell reports SIGINT */
};

#define QL_CLI_SERVICE_NAME "org.quantra.Esim1"
#define QL_CLI_SERVICE_PATH "/org/quantra/Esim1"

typedef struct _QlCliBackend QlCliBackend;

typedef struct {
	gchar *direct;
	gchar *modem;
	gchar *ofono; /* -o PATH: oFono's modem, always in this process */
	gchar *euicc; /* -e: EID, configured device name or transport of the service's eUICC */
	gchar *bus_address;
	gboolean json;
	gboolean verbose;
	gboolean version;
	gboolean yes;
	gboolean all;
	gboolean no_refresh;
	gchar **reset_options;
	gchar **args;
	/* download */
	gchar *activation_code; /* secret */
	gchar *qr;
	gchar *smdp;
	gchar *matching_id;	  /* secret */
	gchar *confirmation_code; /* secret */
	gchar *event;
	gchar *smds;
	gchar *nickname;
	gchar *carrier;
	gchar *plan;
	gboolean secure;
	gchar **trust_anchors;
	gchar *crl_dir;
	gboolean crl_required;
	gchar **pins;
	gchar *client_cert;
	gchar *client_key;
	gboolean system_store;
	gint timeout;
	gint download_timeout;
	gchar *config;
	gchar *carriers;
	gboolean power_cycle;
	gboolean switch_slot;
	gboolean connect; /* profile enable --connect */
	gchar *apn;	  /* profile enable --connect --apn */

	JsonBuilder *out;	   /* --json result */
	QlCliState st;		   /* state dir, wallet, audit trail (ql-cli-state.h) */
	QlCliBackend *backend;	   /* NULL for commands that need no eUICC */
	GCancellable *cancellable; /* Ctrl-C cancels it while a long operation runs */
	gint long_running;	   /* atomic: a cancellable operation runs (Ctrl-C cancels it) */
	gboolean progress_shown;   /* a progress line is on the terminal */
} QlCli;

typedef gboolean (*QlCliFunc)(QlCli *cli, gchar **args, GError **error);

typedef enum {
	QL_CLI_FLAG_NONE = 0,
	QL_CLI_FLAG_NO_DEVICE = 1 << 0,	       /* runs without an eUICC (no backend) */
	QL_CLI_FLAG_SWITCHES_PROFILE = 1 << 1, /* with -m in process: inhibit, then wait */
	QL_CLI_FLAG_SERVICE_ONLY = 1 << 2,     /* needs quantra-esimd (monitor) */
	/* changes state: in this process, the audit trail must take it (through the service,
	 * the service makes the change and the CLI's trail is not written) */
	QL_CLI_FLAG_AUDITED = 1 << 3,
} QlCliFlags;

typedef struct {
	const gchar *object;
	const gchar *verb;
	guint min_args;
	guint max_args;
	const gchar *usage; /* arguments, for --help */
	const gchar *summary;
	QlCliFunc func;
	QlCliFlags flags;
} QlCliCommand;

/* ---- the objects the backends produce ---- */

/* chip info: GetEuiccInfo2 and the configured addresses, flat */
typedef struct {
	gchar *eid;
	gchar *svn;
	gchar *profile_version;
	gchar *firmware_version;
	gint64 installed_apps; /* -1: not given */
	gint64 free_nvm;
	gint64 free_ram;
	gint64 category;
	gchar *pp_version;
	gchar *sas_accreditation;
	gchar *default_smdp;
	gchar *root_smds;
	GPtrArray *ci_key_ids_verification; /* GBytes */
	GPtrArray *ci_key_ids_signing;
} QlCliChip;

QlCliChip *ql_cli_chip_new(void);
void ql_cli_chip_free(QlCliChip *chip);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlCliChip, ql_cli_chip_free)

typedef enum {
	QL_CLI_PROFILE_ENABLE,
	QL_CLI_PROFILE_DISABLE,
	QL_CLI_PROFILE_DELETE,
	QL_CLI_PROFILE_NICKNAME,
} QlCliProfileAction;

/* ---- backends ---- */

typedef struct {
	QlCliChip *(*chip_info)(QlCliBackend *b, GError **error);
	/* the default SM-DP+ address, "" or NULL when none */
	gboolean (*get_default_smdp)(QlCliBackend *b, gchar **address, GError **error);
	gboolean (*set_default_smdp)(QlCliBackend *b, const gchar *address, GError **error);
	gboolean (*reset)(QlCliBackend *b, guint options, GError **error); /* QlResetOptions */
	GPtrArray *(*profiles)(QlCliBackend *b, GError **error);	   /* QlProfileInfo */
	/* @id an ICCID or an ISD-P AID; @nickname for QL_CLI_PROFILE_NICKNAME */
	gboolean (*profile)(QlCliBackend *b, QlCliProfileAction action, const gchar *id,
			    const gchar *nickname, GError **error);
	GPtrArray *(*notifications)(QlCliBackend *b, GError **error); /* QlNotification */
	gboolean (*remove_notification)(QlCliBackend *b, gint64 seq, GError **error);
	/* long operations (Ctrl-C cancels them) */
	/* the report, the same from both backends (the service's is its JSON read back) */
	QlDownloadReport *(*download)(QlCliBackend *b, const QlActivationCode *ac, GError **error);
	/* QlEvent; @smds NULL: the eUICC's root SM-DS, whose address goes to @smds_used */
	GPtrArray *(*discover)(QlCliBackend *b, const gchar *smds, gchar **smds_used,
			       GError **error);
	/* how many were delivered, -1 on error; @failures gets a message per one kept */
	gint (*process_notifications)(QlCliBackend *b, gint64 seq, GPtrArray *failures,
				      GError **error);
	/* after the command: give back what it holds (the channel, the modem) */
	gboolean (*finish)(QlCliBackend *b, const QlCliCommand *cmd, gchar **args, GError **error);
	void (*free)(QlCliBackend *b);
} QlCliBackendFuncs;

struct _QlCliBackend {
	const QlCliBackendFuncs *funcs;
	QlCli *cli;
};

/* ql-cli-direct.c: the core in this process, on --direct DEVICE or -m MODEM */
QlCliBackend *ql_cli_direct_open(QlCli *cli, const QlCliCommand *cmd, GError **error);
/* ql-cli-dbus.c: quantra-esimd; the bus, and whether the service owns its name on it */
GDBusConnection *ql_cli_dbus_connect(QlCli *cli, GError **error);
gboolean ql_cli_dbus_service_running(GDBusConnection *bus);
/* The EIDs quantra-esimd shows, by their modem's ModemManager and oFono object paths; empty
 * when it does not run (it is not started for this) */
GHashTable *ql_cli_dbus_modem_eids(QlCli *cli);
QlCliBackend *ql_cli_dbus_open(QlCli *cli, GDBusConnection *bus, GError **error);
/* @error is the service's NotAuthorized: polkit refused the caller (exit code 4; a local
 * QL_ERROR_AUTH, such as a vault or signature check, is a failure, 1) */
gboolean ql_cli_dbus_refused(const GError *error);
void ql_cli_backend_free(QlCliBackend *b);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlCliBackend, ql_cli_backend_free)

/* ---- output: one table printer, one key/value printer, one JSON builder ---- */

typedef enum {
	QL_CLI_FIELD_STRING, /* gchar * at offset; NULL and "" print "-", JSON null */
	QL_CLI_FIELD_INT,    /* gint64 at offset; negative: "-", JSON null */
	QL_CLI_FIELD_CUSTOM, /* value() */
} QlCliFieldType;

typedef enum {
	QL_CLI_FIELD_FLAG_NONE = 0,
	QL_CLI_FIELD_FLAG_BLOCK = 1 << 0,     /* key/value: the text is lines under the label */
	QL_CLI_FIELD_FLAG_TEXT_ONLY = 1 << 1, /* a column or line only, no JSON member */
} QlCliFieldFlags;

typedef struct {
	const gchar *key;   /* the JSON member */
	const gchar *label; /* the human column or label (translatable); NULL: JSON only */
	QlCliFieldType type;
	gsize offset;
	JsonNode *(*value)(gconstpointer obj); /* QL_CLI_FIELD_CUSTOM: the JSON value */
	gchar *(*text)(gconstpointer obj);     /* the human text, when not the value's */
	QlCliFieldFlags flags;
} QlCliField;

/* the members of @obj, one per field, into the JSON object open in @b */
void ql_cli_fields_json(const QlCliField *fields, gconstpointer obj, JsonBuilder *b);
/* "KEY: [ {...}, ... ]" into the JSON object open in @b */
void ql_cli_fields_json_array(const QlCliField *fields, const gchar *key, GPtrArray *objs,
			      JsonBuilder *b);
/* one line per labelled field: "  Label    value" */
void ql_cli_fields_print(const QlCliField *fields, gconstpointer obj);
/* a table: a header of the labels, then a row per object */
void ql_cli_fields_table(const QlCliField *fields, GPtrArray *objs);
/* one table of objects of @n kinds, each with its field table (the same labelled columns, in
 * the same order; the header is the first's) */
void ql_cli_fields_table_multi(const QlCliField *const *fields, GPtrArray *const *objs, guint n);
/* Everything printed for a person goes through here: names, addresses, codes and messages come
 * from the eUICC, the modem or a server, and a terminal must not act on what they hold
 * (ql_text_escape; QL_TEXT_MAX_FIELD for cells, QL_TEXT_MAX_MESSAGE for lines) */
gchar *ql_cli_safe(const gchar *text, gsize max_chars);
/* the key/value line the printers share (the value escaped) */
void ql_cli_kv(const gchar *key, const gchar *value);
JsonNode *ql_cli_json_string_node(const gchar *value);
void ql_cli_json_string(JsonBuilder *b, const gchar *key, const gchar *value);
/* the result JSON of --json, printed */
void ql_cli_print_json(JsonNode *root);

/* ---- commands, by object ---- */

/* ql-cli-chip.c */
gboolean ql_cli_chip_info(QlCli *cli, gchar **args, GError **error);
gboolean ql_cli_chip_default_smdp(QlCli *cli, gchar **args, GError **error);
gboolean ql_cli_chip_reset(QlCli *cli, gchar **args, GError **error);
/* ql-cli-profile.c */
gboolean ql_cli_profile_list(QlCli *cli, gchar **args, GError **error);
gboolean ql_cli_profile_enable(QlCli *cli, gchar **args, GError **error);
gboolean ql_cli_profile_disable(QlCli *cli, gchar **args, GError **error);
gboolean ql_cli_profile_delete(QlCli *cli, gchar **args, GError **error);
gboolean ql_cli_profile_nickname(QlCli *cli, gchar **args, GError **error);
/* ql-cli-notification.c */
gboolean ql_cli_notification_list(QlCli *cli, gchar **args, GError **error);
gboolean ql_cli_notification_remove(QlCli *cli, gchar **args, GError **error);
gboolean ql_cli_notification_process(QlCli *cli, gchar **args, GError **error);
/* the row fields of a notification, for the monitor's events too */
extern const QlCliField ql_cli_notification_fields[];
/* ql-cli-download.c */
gboolean ql_cli_profile_download(QlCli *cli, gchar **args, GError **error);
gboolean ql_cli_profile_discover(QlCli *cli, gchar **args, GError **error);
gboolean ql_cli_provision_esim(QlCli *cli, gchar **args, GError **error);
/* the options of a download in this process: the config file first, the command line over it */
gboolean ql_cli_download_options(QlCli *cli, QlConfig **cfg_out, QlDownloadOptions *opts,
				 const gchar *host, GError **error);
/* the progress bar on a terminal (nothing on a pipe or with --json) */
void ql_cli_progress(QlCli *cli, const gchar *step, guint percent);
void ql_cli_progress_end(QlCli *cli);
/* the confirmation code: --confirmation-code, else asked without echo; NULL when neither */
gchar *ql_cli_confirmation_code(QlCli *cli);
/* ql-cli-modems.c */
gboolean ql_cli_modems(QlCli *cli, gchar **args, GError **error);
gboolean ql_cli_modem_settle(QlCli *cli, const QlCliCommand *cmd, gchar **args, QlModemInfo *modem,
			     QlModemInhibit *inhibit, GError **error);
/* ql-cli-monitor.c */
gboolean ql_cli_monitor(QlCli *cli, gchar **args, GError **error);

/* ql-cli.c: Ctrl-C cancels what runs between these two */
void ql_cli_long_begin(QlCli *cli);
void ql_cli_long_end(QlCli *cli);
/* ql-cli.c: @undo runs (in the signal thread) before a SIGINT or SIGTERM ends the process, such
 * as an oFono lockdown to clear; NULL unsets it, after an undo that runs has finished. */
void ql_cli_on_exit_signal(void (*undo)(gpointer data), gpointer data);

/* ---- profile enable --connect (ql-cli-connect.c) ---- */

typedef struct _QlCliConnect QlCliConnect;
/* Before the enable: the connection to make for @iccid (the APN from --apn, the provider
 * database, or asked on a terminal). NULL with @error when it cannot be made (nothing is
 * enabled then); an empty answer at the prompt declines (enable, create nothing). */
QlCliConnect *ql_cli_connect_prepare(QlCli *cli, const gchar *iccid, GError **error);
/* After the enable: creates or updates the connection and prints what was done. */
gboolean ql_cli_connect_run(QlCli *cli, QlCliConnect *c, GError **error);
void ql_cli_connect_free(QlCliConnect *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlCliConnect, ql_cli_connect_free)

G_END_DECLS
