/*
 * The "mbim" channel plugin: device spec mbim:/dev/wwan0mbim0[?params] (or /dev/cdc-wdm0).
 * Logical channels come from the modem's MS UICC low-level access service (Microsoft's MBIM
 * extension: open channel / APDU / close channel), through libmbim's MbimDevice.
 *
 * The port is opened through mbim-proxy by default, so that ModemManager keeps using it while we
 * talk to the eUICC; our channels carry their own channel group, so neither side ever closes the
 * other's channels (ModemManager tags its own with group 1).
 *
 * Parameters:
 *   proxy=0|1        0 opens the port directly (only when nothing else holds it); default 1
 *   slot=N           the UICC slot (1-based) to map to the modem before use, through MS Basic
 *                    Connect Extensions device slot mappings; the old mapping is put back on close.
 *                    Without it the slot mapping is never touched.
 *   timeout=S        seconds to wait for one answer from the modem, 1..600 (default 30)
 *   select_p2=N      P2 of the SELECT the modem sends when opening a channel (default 0)
 *   le=auto|keep     auto (default) adds the missing Le=00 to the last STORE DATA block
 *   power-cycle=1    when the core says the eUICC switched profiles, reset the UICC (MS UICC
 *                    low-level access Reset) and wait until the card answers again, so that a
 *                    modem that does not refresh the SIM itself reads the new profile
 *   block=, isd-r=   taken by the core
 *
 * libmbim's calls are asynchronous; every request here runs on a private GMainContext that only
 * this device iterates, so the plugin is synchronous for the core and may be used from any one
 * worker thread at a time.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <gio/gio.h>
#include <gmodule.h>
#include <libmbim-glib.h>
#include <string.h>

#include "quantra-l/ql-error.h"
#include "quantra-l/ql-hex.h"
#include "quantra-l/ql-plugin.h"
#include "ql-mbim-answer.h"

/* ModemManager opens its channels with group 1 and may close the whole group */
#define QL_MBIM_CHANNEL_GROUP 2
#define QL_MBIM_MAX_CHANNEL 19
#define QL_MBIM_DEFAULT_TIMEOUT 30
#define QL_MBIM_OPEN_TIMEOUT 15
/* MS UICC APDU CommandSize is 0..261: header, Lc, 255 bytes of data and Le */
#define QL_MBIM_MAX_COMMAND 261
/* how long a freshly mapped slot may take before its SIM answers */
#define QL_MBIM_SLOT_READY_MS 5000
/* how long a reset UICC may take before the modem has read it again */
#define QL_MBIM_RESET_READY_MS 10000

/* Microsoft's UICC low-level access status codes; libmbim names them only from 1.32 */
#define QL_MBIM_STATUS_MS_NO_LOGICAL_CHANNELS 0x87430001
#define QL_MBIM_STATUS_MS_SELECT_FAILED 0x87430002
#define QL_MBIM_STATUS_MS_INVALID_LOGICAL_CHANNEL 0x87430003

struct _QlPluginDevice {
	GMainContext *context; /* iterated only while a request waits */
	MbimDevice *device;
	gchar *path;
	GCancellable *pending; /* the request in flight, cancelled when the modem goes away */
	gulong removed_id;
	gboolean removed;
	gboolean proxy;
	guint timeout;	   /* seconds per request */
	guint32 channels;  /* bit n: channel n was opened through this device and not closed */
	guint32 select_p2; /* P2 of the modem's SELECT */
	gboolean le_auto;
	gboolean slot_switched;
	guint32 slot_restore;	/* 0-based slot mapped before we switched */
	gboolean power_cycle;	/* power-cycle=1 */
	guint32 reset_channels; /* bit n: channel n was open when the UICC was reset */
};

/* One outstanding libmbim call. Shared between the waiter and the callback, so a waiter that
 * gives up never leaves the callback writing into freed memory. */
typedef struct {
	gint ref;
	GAsyncResult *res;
} QlMbimWait;

static QlMbimWait *
ql_mbim_wait_new(void)
{
	QlMbimWait *w = g_new0(QlMbimWait, 1);
	w->ref = 2; /* the waiter and the callback */
	return w;
}

static void
ql_mbim_wait_unref(QlMbimWait *w)
{
	if (!g_atomic_int_dec_and_test(&w->ref))
		return;
	g_clear_object(&w->res);
	g_free(w);
}

static void
ql_mbim_wait_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
	QlMbimWait *w = user_data;
	w->res = g_object_ref(res);
	ql_mbim_wait_unref(w);
}

static gboolean
ql_mbim_deadline_cb(gpointer user_data)
{
	g_cancellable_cancel(G_CANCELLABLE(user_data));
	return G_SOURCE_REMOVE;
}

/* Iterates the private context until @w completes. libmbim times the request out itself after
 * @seconds; our own deadline a little later (cancel, then give up) keeps the loop bounded even
 * if it did not. Returns the result (owned) or NULL when the loop had to give up. */
static GAsyncResult *
ql_mbim_wait(QlPluginDevice *dev, QlMbimWait *w, GCancellable *cancellable, guint seconds)
{
	g_autoptr(GSource) deadline = g_timeout_source_new_seconds(seconds + 2);
	gint64 give_up = g_get_monotonic_time() + (gint64)(seconds + 5) * G_USEC_PER_SEC;
	GAsyncResult *res = NULL;

	g_source_set_callback(deadline, ql_mbim_deadline_cb, cancellable, NULL);
	g_source_attach(deadline, dev->context);
	while (w->res == NULL && g_get_monotonic_time() < give_up)
		g_main_context_iteration(dev->context, TRUE);
	g_source_destroy(deadline);
	if (w->res != NULL)
		res = g_object_ref(w->res);
	ql_mbim_wait_unref(w);
	return res;
}

static void
ql_mbim_removed_cb(MbimDevice *device, QlPluginDevice *dev)
{
	g_debug("%s: the modem went away", dev->path);
	dev->removed = TRUE;
	if (dev->pending != NULL)
		g_cancellable_cancel(dev->pending);
}

static const gchar *
ql_mbim_status_describe(guint32 status)
{
	switch (status) {
	case QL_MBIM_STATUS_MS_NO_LOGICAL_CHANNELS:
		return "no logical channel left on the UICC";
	case QL_MBIM_STATUS_MS_SELECT_FAILED:
		return "the UICC refused to select the application";
	case QL_MBIM_STATUS_MS_INVALID_LOGICAL_CHANNEL:
		return "the logical channel is not open";
	case MBIM_STATUS_ERROR_BUSY:
		return "the modem is busy";
	case MBIM_STATUS_ERROR_FAILURE:
		return "the modem reported a failure";
	case MBIM_STATUS_ERROR_SIM_NOT_INSERTED:
		return "no SIM card in the mapped slot";
	case MBIM_STATUS_ERROR_BAD_SIM:
		return "the SIM card is in an error state";
	case MBIM_STATUS_ERROR_NOT_INITIALIZED:
		return "the SIM card is not initialised yet";
	case MBIM_STATUS_ERROR_NO_DEVICE_SUPPORT:
		return "the modem does not support this request";
	case MBIM_STATUS_ERROR_INVALID_PARAMETERS:
		return "the modem refused the request's parameters";
	case MBIM_STATUS_ERROR_OPERATION_NOT_ALLOWED:
		return "the modem does not allow this operation";
	default:
		return mbim_status_error_get_string((MbimStatusError)status) != NULL
			       ? mbim_status_error_get_string((MbimStatusError)status)
			       : "unknown MBIM status";
	}
}

static QlError
ql_mbim_status_to_code(guint32 status)
{
	switch (status) {
	case MBIM_STATUS_ERROR_BUSY:
	case QL_MBIM_STATUS_MS_NO_LOGICAL_CHANNELS:
		return QL_ERROR_BUSY;
	case MBIM_STATUS_ERROR_SIM_NOT_INSERTED:
		return QL_ERROR_NOT_FOUND;
	case MBIM_STATUS_ERROR_BAD_SIM:
	case MBIM_STATUS_ERROR_NOT_INITIALIZED:
	case QL_MBIM_STATUS_MS_SELECT_FAILED:
		return QL_ERROR_CARD;
	case MBIM_STATUS_ERROR_INVALID_PARAMETERS:
		return QL_ERROR_INVALID_ARGUMENT;
	case MBIM_STATUS_ERROR_NO_DEVICE_SUPPORT:
	case MBIM_STATUS_ERROR_OPERATION_NOT_ALLOWED:
		return QL_ERROR_FAILED;
	default:
		/* the modem could not relay the request to the card */
		return QL_ERROR_IO;
	}
}

/* Turns a libmbim failure of request @what into a QL_ERROR in words */
static void
ql_mbim_set_error(QlPluginDevice *dev, GError **error, const GError *e, const gchar *what)
{
	if (dev->removed || g_error_matches(e, MBIM_CORE_ERROR, MBIM_CORE_ERROR_WRONG_STATE)) {
		g_set_error(error, QL_ERROR, QL_ERROR_IO,
			    "mbim: %s: the modem %s went away (unplugged or reset?)", what,
			    dev->path);
	} else if (g_error_matches(e, MBIM_CORE_ERROR, MBIM_CORE_ERROR_TIMEOUT) ||
		   g_error_matches(e, MBIM_CORE_ERROR, MBIM_CORE_ERROR_ABORTED) ||
		   g_error_matches(e, MBIM_PROTOCOL_ERROR, MBIM_PROTOCOL_ERROR_TIMEOUT_FRAGMENT)) {
		g_set_error(error, QL_ERROR, QL_ERROR_TIMEOUT,
			    "mbim: %s: the modem %s did not answer within %u s", what, dev->path,
			    dev->timeout);
	} else if (e->domain == MBIM_STATUS_ERROR) {
		g_set_error(error, QL_ERROR, ql_mbim_status_to_code((guint32)e->code),
			    "mbim: %s: %s (MBIM status 0x%08X)", what,
			    ql_mbim_status_describe((guint32)e->code), (guint32)e->code);
	} else if (e->domain == MBIM_PROTOCOL_ERROR) {
		/* e.g. NotOpened from mbim-proxy once it lost the port */
		g_set_error(error, QL_ERROR, QL_ERROR_IO, "mbim: %s: %s: %s", what, dev->path,
			    e->message);
	} else {
		g_set_error(error, QL_ERROR, QL_ERROR_IO, "mbim: %s: %s: %s", what, dev->path,
			    e->message);
	}
}

/* Sends @request (consumed) and waits for its COMMAND_DONE. On an MBIM status error the
 * response is still returned in @failed (when non-NULL), since the UICC requests carry the
 * card's status words in it. */
static MbimMessage *
ql_mbim_command(QlPluginDevice *dev, MbimMessage *request, const gchar *what, MbimMessage **failed,
		GError **error)
{
	g_autoptr(MbimMessage) req = request;
	g_autoptr(MbimMessage) response = NULL;
	g_autoptr(GCancellable) cancellable = NULL;
	g_autoptr(GAsyncResult) res = NULL;
	g_autoptr(GError) error_local = NULL;
	QlMbimWait *w;

	if (dev->removed) {
		g_set_error(error, QL_ERROR, QL_ERROR_IO,
			    "mbim: %s: the modem %s went away (unplugged or reset?)", what,
			    dev->path);
		return NULL;
	}
	cancellable = g_cancellable_new();
	dev->pending = cancellable;
	w = ql_mbim_wait_new();
	g_main_context_push_thread_default(dev->context);
	mbim_device_command(dev->device, req, dev->timeout, cancellable, ql_mbim_wait_ready, w);
	res = ql_mbim_wait(dev, w, cancellable, dev->timeout);
	if (res != NULL)
		response = mbim_device_command_finish(dev->device, res, &error_local);
	g_main_context_pop_thread_default(dev->context);
	dev->pending = NULL;

	if (res == NULL) {
		g_set_error(error, QL_ERROR, QL_ERROR_TIMEOUT,
			    "mbim: %s: the modem %s did not answer within %u s", what, dev->path,
			    dev->timeout);
		return NULL;
	}
	if (response == NULL) {
		ql_mbim_set_error(dev, error, error_local, what);
		return NULL;
	}
	if (!mbim_message_response_get_result(response, MBIM_MESSAGE_TYPE_COMMAND_DONE,
					      &error_local)) {
		ql_mbim_set_error(dev, error, error_local, what);
		if (failed != NULL &&
		    mbim_message_get_message_type(response) == MBIM_MESSAGE_TYPE_COMMAND_DONE)
			*failed = g_steal_pointer(&response);
		return NULL;
	}
	return g_steal_pointer(&response);
}

static gboolean
ql_mbim_query_slot(QlPluginDevice *dev, guint32 *slot, guint32 *count, GError **error)
{
	g_autoptr(MbimMessage) response = NULL;
	g_autoptr(MbimSlotArray) slots = NULL;
	g_autoptr(GError) error_local = NULL;

	response = ql_mbim_command(
		dev, mbim_message_ms_basic_connect_extensions_device_slot_mappings_query_new(NULL),
		"reading the SIM slot mapping", NULL, error);
	if (response == NULL)
		return FALSE;
	if (!mbim_message_ms_basic_connect_extensions_device_slot_mappings_response_parse(
		    response, count, &slots, &error_local) ||
	    *count == 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "mbim: the modem's slot mapping cannot be read: %s",
			    error_local != NULL ? error_local->message : "no slot mapped");
		return FALSE;
	}
	*slot = slots[0]->slot;
	return TRUE;
}

static gboolean
ql_mbim_map_slot(QlPluginDevice *dev, guint32 slot, GError **error)
{
	g_autoptr(MbimMessage) response = NULL;
	g_autoptr(MbimSlotArray) slots = NULL;
	g_autoptr(GError) error_local = NULL;
	MbimSlot want = {.slot = slot};
	const MbimSlot *map[] = {&want, NULL};
	MbimMessage *request;
	guint32 count = 0;

	request =
		mbim_message_ms_basic_connect_extensions_device_slot_mappings_set_new(1, map, NULL);
	response = ql_mbim_command(dev, request, "mapping the SIM slot", NULL, error);
	if (response == NULL)
		return FALSE;
	if (!mbim_message_ms_basic_connect_extensions_device_slot_mappings_response_parse(
		    response, &count, &slots, &error_local) ||
	    count == 0 || slots[0]->slot != slot) {
		g_set_error(error, QL_ERROR, QL_ERROR_FAILED,
			    "mbim: the modem did not map SIM slot %u%s%s", slot + 1,
			    error_local != NULL ? ": " : "",
			    error_local != NULL ? error_local->message : "");
		return FALSE;
	}
	return TRUE;
}

/* After a switch the SIM needs a moment; a modem that cannot tell us its state is trusted. */
static void
ql_mbim_wait_sim_ready(QlPluginDevice *dev)
{
	gint64 until = g_get_monotonic_time() + QL_MBIM_SLOT_READY_MS * 1000;
	while (g_get_monotonic_time() < until) {
		g_autoptr(MbimMessage) response = NULL;
		g_autoptr(GError) error_local = NULL;
		MbimSubscriberReadyState state = MBIM_SUBSCRIBER_READY_STATE_NOT_INITIALIZED;

		response =
			ql_mbim_command(dev, mbim_message_subscriber_ready_status_query_new(NULL),
					"reading the SIM state", NULL, &error_local);
		if (response == NULL ||
		    !mbim_message_subscriber_ready_status_response_parse(
			    response, &state, NULL, NULL, NULL, NULL, NULL, NULL))
			return;
		if (state == MBIM_SUBSCRIBER_READY_STATE_INITIALIZED ||
		    state == MBIM_SUBSCRIBER_READY_STATE_NO_ESIM_PROFILE ||
		    state == MBIM_SUBSCRIBER_READY_STATE_DEVICE_LOCKED)
			return;
		g_usleep(100 * 1000);
	}
}

static gboolean
ql_mbim_select_slot(QlPluginDevice *dev, guint32 slot, GError **error)
{
	guint32 current = 0, count = 0;
	if (!ql_mbim_query_slot(dev, &current, &count, error))
		return FALSE;
	if (current == slot)
		return TRUE;
	g_debug("%s: mapping SIM slot %u (was %u)", dev->path, slot + 1, current + 1);
	if (!ql_mbim_map_slot(dev, slot, error))
		return FALSE;
	dev->slot_switched = TRUE;
	dev->slot_restore = current;
	ql_mbim_wait_sim_ready(dev);
	return TRUE;
}

static gboolean
ql_mbim_close_channel_now(QlPluginDevice *dev, guint8 channel, GError **error)
{
	g_autoptr(MbimMessage) response = NULL;
	g_autoptr(MbimMessage) failed = NULL;
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *what = g_strdup_printf("closing logical channel %u", channel);

	response = ql_mbim_command(dev,
				   mbim_message_ms_uicc_low_level_access_close_channel_set_new(
					   channel, QL_MBIM_CHANNEL_GROUP, NULL),
				   what, &failed, &error_local);
	/* whatever the answer, only a timeout leaves a chance that the channel is still open */
	if (response == NULL && !g_error_matches(error_local, QL_ERROR, QL_ERROR_TIMEOUT))
		dev->channels &= ~(1u << channel);
	if (response == NULL) {
		g_propagate_error(error, g_steal_pointer(&error_local));
		return FALSE;
	}
	dev->channels &= ~(1u << channel);
	return ql_mbim_answer_close_channel(response, what, error);
}

static const gchar *
ql_mbim_ready_state_describe(MbimSubscriberReadyState state)
{
	switch (state) {
	case MBIM_SUBSCRIBER_READY_STATE_NOT_INITIALIZED:
		return "the SIM card is not initialised yet";
	case MBIM_SUBSCRIBER_READY_STATE_SIM_NOT_INSERTED:
		return "no SIM card in the mapped slot";
	case MBIM_SUBSCRIBER_READY_STATE_BAD_SIM:
		return "the SIM card is in an error state";
	case MBIM_SUBSCRIBER_READY_STATE_FAILURE:
		return "the modem failed to read the SIM card";
	default:
		return mbim_subscriber_ready_state_get_string(state) != NULL
			       ? mbim_subscriber_ready_state_get_string(state)
			       : "unknown SIM state";
	}
}

/* After a UICC reset the modem reads the card again (ATR, then its files); until then the
 * subscriber is not ready, or the modem answers with a status saying why. A modem that cannot
 * report the state at all is trusted to have finished. */
static gboolean
ql_mbim_wait_card_back(QlPluginDevice *dev, GError **error)
{
	const gchar *what = "reading the SIM state after the UICC reset";
	gint64 until = g_get_monotonic_time() + QL_MBIM_RESET_READY_MS * G_TIME_SPAN_MILLISECOND;
	const gchar *last = "no answer";

	for (;;) {
		g_autoptr(MbimMessage) response = NULL;
		g_autoptr(MbimMessage) failed = NULL;
		g_autoptr(GError) error_local = NULL;
		MbimSubscriberReadyState state = MBIM_SUBSCRIBER_READY_STATE_NOT_INITIALIZED;

		response =
			ql_mbim_command(dev, mbim_message_subscriber_ready_status_query_new(NULL),
					what, &failed, &error_local);
		if (response != NULL) {
			if (!mbim_message_subscriber_ready_status_response_parse(
				    response, &state, NULL, NULL, NULL, NULL, NULL, NULL)) {
				g_debug("%s: unreadable SIM state after the UICC reset: trusted",
					dev->path);
				return TRUE;
			}
			switch (state) {
			case MBIM_SUBSCRIBER_READY_STATE_INITIALIZED:
			case MBIM_SUBSCRIBER_READY_STATE_NO_ESIM_PROFILE:
			case MBIM_SUBSCRIBER_READY_STATE_DEVICE_LOCKED:
			case MBIM_SUBSCRIBER_READY_STATE_NOT_ACTIVATED:
				g_debug("%s: the SIM answers again (%s)", dev->path,
					mbim_subscriber_ready_state_get_string(state));
				return TRUE;
			default:
				last = ql_mbim_ready_state_describe(state);
				break;
			}
		} else if (failed != NULL) {
			guint32 status = (guint32)mbim_message_command_done_get_status_code(failed);
			switch (status) {
			case MBIM_STATUS_ERROR_NO_DEVICE_SUPPORT:
				return TRUE;
			case MBIM_STATUS_ERROR_BUSY:
			case MBIM_STATUS_ERROR_FAILURE:
			case MBIM_STATUS_ERROR_SIM_NOT_INSERTED:
			case MBIM_STATUS_ERROR_BAD_SIM:
			case MBIM_STATUS_ERROR_NOT_INITIALIZED:
				/* the card is still coming back */
				last = ql_mbim_status_describe(status);
				break;
			default:
				g_propagate_error(error, g_steal_pointer(&error_local));
				return FALSE;
			}
		} else {
			/* no answer at all, or the modem went away */
			g_propagate_error(error, g_steal_pointer(&error_local));
			return FALSE;
		}
		if (g_get_monotonic_time() >= until) {
			g_set_error(error, QL_ERROR, QL_ERROR_TIMEOUT,
				    "mbim: the SIM card of %s did not answer again within %u s of "
				    "the UICC reset (last: %s)",
				    dev->path, QL_MBIM_RESET_READY_MS / 1000, last);
			return FALSE;
		}
		g_usleep(200 * 1000);
	}
}

/* MS UICC low-level access Reset without pass-through: the modem resets the card and reads it
 * again as at power-on, so it sees the profile that is enabled now. A reset closes every
 * logical channel on the card, ours and anybody else's. */
static gboolean
ql_mbim_reset_uicc(QlPluginDevice *dev, GError **error)
{
	g_autoptr(MbimMessage) response = NULL;
	g_autoptr(GError) error_local = NULL;
	MbimUiccPassThroughStatus pass_through = MBIM_UICC_PASS_THROUGH_STATUS_DISABLED;

	g_debug("%s: resetting the UICC after the profile switch", dev->path);
	response = ql_mbim_command(dev,
				   mbim_message_ms_uicc_low_level_access_reset_set_new(
					   MBIM_UICC_PASS_THROUGH_ACTION_DISABLE, NULL),
				   "resetting the UICC", NULL, error);
	if (response == NULL)
		return FALSE;
	dev->channels = 0;
	if (!mbim_message_ms_uicc_low_level_access_reset_response_parse(response, &pass_through,
									&error_local)) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "mbim: resetting the UICC: unreadable answer: %s",
			    error_local->message);
		return FALSE;
	}
	if (pass_through != MBIM_UICC_PASS_THROUGH_STATUS_DISABLED) {
		/* in pass-through the modem leaves the card to the host and reads nothing */
		g_set_error(error, QL_ERROR, QL_ERROR_FAILED,
			    "mbim: resetting the UICC: the modem kept the card in pass-through "
			    "mode, so it will not read the new profile");
		return FALSE;
	}
	return ql_mbim_wait_card_back(dev, error);
}

static void
ql_plugin_mbim_close(QlPluginDevice *dev)
{
	if (dev == NULL)
		return;
	if (dev->device != NULL) {
		/* a device that goes away leaves no channel open on the card */
		for (guint8 ch = 1; ch <= QL_MBIM_MAX_CHANNEL && !dev->removed; ch++) {
			g_autoptr(GError) error_local = NULL;
			if ((dev->channels & (1u << ch)) == 0)
				continue;
			if (!ql_mbim_close_channel_now(dev, ch, &error_local))
				g_warning("%s", error_local->message);
		}
		if (dev->slot_switched && !dev->removed) {
			g_autoptr(GError) error_local = NULL;
			if (!ql_mbim_map_slot(dev, dev->slot_restore, &error_local))
				g_warning("mbim: putting back SIM slot %u: %s",
					  dev->slot_restore + 1, error_local->message);
		}
		if (!dev->removed && mbim_device_is_open(dev->device)) {
			QlMbimWait *w = ql_mbim_wait_new();
			g_autoptr(GCancellable) cancellable = g_cancellable_new();
			g_autoptr(GAsyncResult) res = NULL;
			g_main_context_push_thread_default(dev->context);
			mbim_device_close(dev->device, 5, cancellable, ql_mbim_wait_ready, w);
			res = ql_mbim_wait(dev, w, cancellable, 5);
			if (res != NULL)
				mbim_device_close_finish(dev->device, res, NULL);
			g_main_context_pop_thread_default(dev->context);
		}
		if (dev->removed_id != 0)
			g_signal_handler_disconnect(dev->device, dev->removed_id);
		g_main_context_push_thread_default(dev->context);
		g_clear_object(&dev->device);
		/* let libmbim's idle callbacks run, so nothing is left referencing the context */
		while (g_main_context_iteration(dev->context, FALSE))
			;
		g_main_context_pop_thread_default(dev->context);
	}
	g_main_context_unref(dev->context);
	g_free(dev->path);
	g_free(dev);
}

static gboolean
ql_plugin_mbim_parse_uint(GHashTable *params, const gchar *key, guint64 min, guint64 max,
			  guint64 *out, GError **error)
{
	const gchar *v = g_hash_table_lookup(params, key);
	if (v == NULL)
		return TRUE;
	if (!g_ascii_string_to_unsigned(v, 10, min, max, out, NULL)) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "mbim: %s=%s is not a number from %" G_GUINT64_FORMAT
			    " to %" G_GUINT64_FORMAT,
			    key, v, min, max);
		return FALSE;
	}
	return TRUE;
}

static gboolean
ql_plugin_mbim_open_port(QlPluginDevice *dev, GError **error)
{
	g_autoptr(GFile) file = g_file_new_for_path(dev->path);
	g_autoptr(GAsyncResult) res = NULL;
	g_autoptr(GError) error_local = NULL;
	g_autoptr(GCancellable) cancellable = g_cancellable_new();
	QlMbimWait *w = ql_mbim_wait_new();
	gboolean ok = FALSE;

	g_main_context_push_thread_default(dev->context);
	mbim_device_new(file, cancellable, ql_mbim_wait_ready, w);
	res = ql_mbim_wait(dev, w, cancellable, QL_MBIM_OPEN_TIMEOUT);
	if (res != NULL)
		dev->device = mbim_device_new_finish(res, &error_local);
	if (dev->device == NULL) {
		g_set_error(error, QL_ERROR, QL_ERROR_IO, "mbim: cannot use %s: %s", dev->path,
			    error_local != NULL ? error_local->message : "no answer");
		goto out;
	}
	dev->removed_id = g_signal_connect(dev->device, MBIM_DEVICE_SIGNAL_REMOVED,
					   G_CALLBACK(ql_mbim_removed_cb), dev);
	g_clear_object(&res);
	w = ql_mbim_wait_new();
	/* the proxy flag makes libmbim talk to mbim-proxy (started on demand) instead of the port
	 */
	mbim_device_open_full(dev->device,
			      dev->proxy ? MBIM_DEVICE_OPEN_FLAGS_PROXY
					 : MBIM_DEVICE_OPEN_FLAGS_NONE,
			      QL_MBIM_OPEN_TIMEOUT, cancellable, ql_mbim_wait_ready, w);
	res = ql_mbim_wait(dev, w, cancellable, QL_MBIM_OPEN_TIMEOUT);
	if (res == NULL || !mbim_device_open_full_finish(dev->device, res, &error_local)) {
		g_set_error(error, QL_ERROR,
			    g_error_matches(error_local, MBIM_CORE_ERROR, MBIM_CORE_ERROR_TIMEOUT)
				    ? QL_ERROR_TIMEOUT
				    : QL_ERROR_IO,
			    "mbim: cannot open %s%s: %s", dev->path,
			    dev->proxy ? " through mbim-proxy" : "",
			    error_local != NULL ? error_local->message : "no answer");
		goto out;
	}
	ok = TRUE;
out:
	g_main_context_pop_thread_default(dev->context);
	return ok;
}

static QlPluginDevice *
ql_plugin_mbim_open(const gchar *path, GHashTable *params, GError **error)
{
	/* switch-slot is QMI's way of asking for what slot=N always does here: accepted, a no-op */
	const gchar *const known[] = {"proxy", "slot",	      "timeout",     "select_p2",
				      "le",    "power-cycle", "switch-slot", "block",
				      "isd-r", "extended",    NULL};
	QlPluginDevice *dev;
	GHashTableIter it;
	gpointer key;
	guint64 proxy = 1, slot = 0, timeout = QL_MBIM_DEFAULT_TIMEOUT, p2 = 0, pc = 0;
	const gchar *le = NULL;

	if (path == NULL || path[0] != '/') {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "mbim: '%s' is not a device path (e.g. mbim:/dev/wwan0mbim0)",
			    path != NULL ? path : "");
		return NULL;
	}
	if (params != NULL) {
		g_hash_table_iter_init(&it, params);
		while (g_hash_table_iter_next(&it, &key, NULL)) {
			if (!g_strv_contains(known, key)) {
				g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
					    "mbim: unknown parameter '%s'", (const gchar *)key);
				return NULL;
			}
		}
		if (!ql_plugin_mbim_parse_uint(params, "proxy", 0, 1, &proxy, error) ||
		    !ql_plugin_mbim_parse_uint(params, "slot", 1, 16, &slot, error) ||
		    !ql_plugin_mbim_parse_uint(params, "timeout", 1, 600, &timeout, error) ||
		    !ql_plugin_mbim_parse_uint(params, "select_p2", 0, 255, &p2, error) ||
		    !ql_plugin_mbim_parse_uint(params, "power-cycle", 0, 1, &pc, error))
			return NULL;
		le = g_hash_table_lookup(params, "le");
	}
	if (le != NULL && g_strcmp0(le, "auto") != 0 && g_strcmp0(le, "keep") != 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "mbim: le=%s: use le=auto or le=keep", le);
		return NULL;
	}

	dev = g_new0(QlPluginDevice, 1);
	dev->context = g_main_context_new();
	dev->path = g_strdup(path);
	dev->proxy = proxy != 0;
	dev->timeout = (guint)timeout;
	dev->select_p2 = (guint32)p2;
	dev->le_auto = g_strcmp0(le, "keep") != 0;
	dev->power_cycle = pc == 1;
	if (!ql_plugin_mbim_open_port(dev, error) ||
	    (slot > 0 && !ql_mbim_select_slot(dev, (guint32)slot - 1, error))) {
		ql_plugin_mbim_close(dev);
		return NULL;
	}
	return dev;
}

static gboolean
ql_plugin_mbim_open_channel(QlPluginDevice *dev, const guint8 *aid, gsize aid_len, guint8 *channel,
			    GError **error)
{
	g_autoptr(MbimMessage) response = NULL;
	g_autoptr(MbimMessage) failed = NULL;
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *aid_hex = NULL;
	g_autofree gchar *what = NULL;
	guint32 status = 0, ch = 0;
	guint16 sw;

	if (aid_len < 5 || aid_len > 16) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "mbim: an AID of %" G_GSIZE_FORMAT " bytes", aid_len);
		return FALSE;
	}
	aid_hex = ql_hex_encode(aid, aid_len);
	what = g_strdup_printf("opening a logical channel in group %u", QL_MBIM_CHANNEL_GROUP);
	response = ql_mbim_command(
		dev,
		mbim_message_ms_uicc_low_level_access_open_channel_set_new(
			(guint32)aid_len, aid, dev->select_p2, QL_MBIM_CHANNEL_GROUP, NULL),
		what, &failed, &error_local);
	if (response == NULL) {
		/* a failed SELECT still tells which status word the card gave */
		if (failed != NULL &&
		    mbim_message_command_done_get_status_code(failed) ==
			    (MbimStatusError)QL_MBIM_STATUS_MS_SELECT_FAILED &&
		    mbim_message_ms_uicc_low_level_access_open_channel_response_parse(
			    failed, &status, NULL, NULL, NULL, NULL)) {
			sw = ql_mbim_answer_sw(status);
			g_set_error(error, QL_ERROR,
				    sw == 0x6A82 ? QL_ERROR_NOT_FOUND : QL_ERROR_CARD,
				    "mbim: SELECT %s failed with status %04X", aid_hex, sw);
			return FALSE;
		}
		g_propagate_error(error, g_steal_pointer(&error_local));
		return FALSE;
	}
	if (!ql_mbim_answer_open_channel(response, what, &ch, &sw, error))
		return FALSE;
	if (ch >= 1 && ch <= QL_MBIM_MAX_CHANNEL)
		dev->channels |= 1u << ch;
	if ((sw != 0x9000 && (sw & 0xFF00) != 0x6100) || ch < 1 || ch > QL_MBIM_MAX_CHANNEL) {
		if (ch >= 1 && ch <= QL_MBIM_MAX_CHANNEL)
			ql_mbim_close_channel_now(dev, (guint8)ch, NULL);
		g_set_error(error, QL_ERROR, sw == 0x6A82 ? QL_ERROR_NOT_FOUND : QL_ERROR_CARD,
			    "mbim: %s: the modem answered channel %u, status %04X", what, ch, sw);
		return FALSE;
	}
	g_debug("%s: channel %u open to %s", dev->path, ch, aid_hex);
	*channel = (guint8)ch;
	return TRUE;
}

/* The modem rewrites the CLA from the type, channel and secure-messaging fields (MS UICC APDU),
 * so those fields must describe the CLA the core built: b8 set (8X/CX/EX, e.g. GlobalPlatform
 * STORE DATA) is ETSI TS 102 221's extended class, otherwise ISO 7816-4's interindustry class.
 * Sending 81 as "interindustry" makes modems pass 01 on, which the eUICC refuses (6E00). */
static gboolean
ql_mbim_cla_fields(guint8 cla, MbimUiccClassByteType *type, MbimUiccSecureMessaging *sm,
		   GError **error)
{
	gboolean further = (cla & 0x40) != 0;
	guint8 family = cla & 0xE0;
	if (family == 0xA0 || family == 0x20 || cla == 0xFF) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "mbim: class byte %02X cannot be sent through MBIM", cla);
		return FALSE;
	}
	*type = (cla & 0x80) ? MBIM_UICC_CLASS_BYTE_TYPE_EXTENDED
			     : MBIM_UICC_CLASS_BYTE_TYPE_INTER_INDUSTRY;
	if (further) {
		*sm = (cla & 0x20) ? MBIM_UICC_SECURE_MESSAGING_NO_HDR_AUTH
				   : MBIM_UICC_SECURE_MESSAGING_NONE;
		return TRUE;
	}
	switch (cla & 0x0C) {
	case 0x00:
		*sm = MBIM_UICC_SECURE_MESSAGING_NONE;
		return TRUE;
	case 0x08:
		*sm = MBIM_UICC_SECURE_MESSAGING_NO_HDR_AUTH;
		return TRUE;
	default:
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "mbim: class byte %02X asks for secure messaging MBIM cannot carry",
			    cla);
		return FALSE;
	}
}

static GBytes *
ql_plugin_mbim_transmit(QlPluginDevice *dev, guint8 channel, const guint8 *apdu, gsize apdu_len,
			GError **error)
{
	g_autoptr(MbimMessage) response = NULL;
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *what = NULL;
	MbimUiccClassByteType type;
	MbimUiccSecureMessaging sm;
	guint8 cmd[QL_MBIM_MAX_COMMAND];
	gsize cmd_len = apdu_len;

	if (channel >= 1 && channel <= QL_MBIM_MAX_CHANNEL &&
	    (dev->reset_channels & (1u << channel)) != 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_IO,
			    "mbim: logical channel %u was closed when the UICC was reset after the "
			    "profile switch",
			    channel);
		return NULL;
	}
	if (channel < 1 || channel > QL_MBIM_MAX_CHANNEL || !(dev->channels & (1u << channel))) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "mbim: logical channel %u is not open", channel);
		return NULL;
	}
	if (apdu_len < 4 || apdu_len > QL_MBIM_MAX_COMMAND) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "mbim: a command APDU of %" G_GSIZE_FORMAT
			    " bytes (MBIM carries 4 to %u)",
			    apdu_len, QL_MBIM_MAX_COMMAND);
		return NULL;
	}
	if (!ql_mbim_cla_fields(apdu[0], &type, &sm, error))
		return NULL;
	memcpy(cmd, apdu, apdu_len);
	/* Le quirk: a modem only returns the data of a STORE DATA whose last block carries Le; a
	 * last block (P1 b8) sent as case 3 gets 9000 and nothing else from some firmware */
	if (dev->le_auto && apdu[1] == 0xE2 && (apdu[2] & 0x80) && apdu_len >= 5 &&
	    apdu_len == 5 + (gsize)apdu[4] && apdu_len < QL_MBIM_MAX_COMMAND)
		cmd[cmd_len++] = 0x00;

	what = g_strdup_printf("sending %02X%02X%02X%02X on channel %u", apdu[0], apdu[1], apdu[2],
			       apdu[3], channel);
	response = ql_mbim_command(dev,
				   mbim_message_ms_uicc_low_level_access_apdu_set_new(
					   channel, sm, type, (guint32)cmd_len, cmd, NULL),
				   what, NULL, &error_local);
	if (response == NULL) {
		if (dev->removed)
			dev->channels = 0;
		g_propagate_error(error, g_steal_pointer(&error_local));
		return NULL;
	}
	return ql_mbim_answer_apdu(response, what, error);
}

static gboolean
ql_plugin_mbim_close_channel(QlPluginDevice *dev, guint8 channel, GError **error)
{
	if (dev->removed) {
		/* the modem took its channels with it */
		dev->channels = 0;
		return TRUE;
	}
	/* the UICC reset closed it already */
	if (channel >= 1 && channel <= QL_MBIM_MAX_CHANNEL &&
	    (dev->reset_channels & (1u << channel)) != 0) {
		dev->reset_channels &= ~(1u << channel);
		return TRUE;
	}
	if (channel < 1 || channel > QL_MBIM_MAX_CHANNEL || !(dev->channels & (1u << channel))) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "mbim: logical channel %u is not open", channel);
		return FALSE;
	}
	return ql_mbim_close_channel_now(dev, channel, error);
}

/* The eUICC switched profiles. A modem that refreshes the SIM by itself (the eUICC's REFRESH)
 * needs nothing; with power-cycle=1 the UICC is reset, which closes every logical channel on
 * it, and the card is waited for. */
static gboolean
ql_plugin_mbim_profile_switched(QlPluginDevice *dev, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	guint32 open = dev->channels;
	gboolean ok;

	if (!dev->power_cycle)
		return TRUE;
	if (dev->removed) {
		g_set_error(error, QL_ERROR, QL_ERROR_IO,
			    "power-cycling the SIM failed: the modem at %s went away", dev->path);
		return FALSE;
	}
	ok = ql_mbim_reset_uicc(dev, &error_local);
	/* the reset went through (it forgets the channels) even when the card is slow to return */
	if (dev->channels == 0)
		dev->reset_channels |= open;
	if (!ok) {
		g_set_error(error, error_local->domain, error_local->code,
			    "power-cycling the SIM failed: %s", error_local->message);
		return FALSE;
	}
	return TRUE;
}

static const QlPluginInfo ql_plugin_mbim_info = {
	.abi_version = QL_PLUGIN_ABI_VERSION,
	.scheme = "mbim",
	.description = "MBIM modems (MS UICC low-level access, through mbim-proxy)",
	.open = ql_plugin_mbim_open,
	.close = ql_plugin_mbim_close,
	.open_channel = ql_plugin_mbim_open_channel,
	.transmit = ql_plugin_mbim_transmit,
	.close_channel = ql_plugin_mbim_close_channel,
	.profile_switched = ql_plugin_mbim_profile_switched,
};

G_MODULE_EXPORT const QlPluginInfo *ql_plugin_entry(void);

G_MODULE_EXPORT const QlPluginInfo *
ql_plugin_entry(void)
{
	return &ql_plugin_mbim_info;
}
