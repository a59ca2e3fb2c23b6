/*
 * The "qmi" channel plugin: device spec qmi:/dev/cdc-wdm0[?params]. Logical channels to the
 * eUICC are the modem's own UIM Open Logical Channel / Send APDU / Logical Channel requests, sent
 * through qmi-proxy (QMI_DEVICE_OPEN_FLAGS_PROXY) so that ModemManager keeps using the port.
 * Built a second time as the "qrtr" plugin (qrtr:NODE): qmi-proxy reaches a QRTR node by its
 * qrtr://NODE URI, so the code path is the same.
 *
 * libqmi is asynchronous; the plugin ABI is synchronous. Every request is started with a private
 * GMainContext pushed as the thread default and that context is iterated until the answer, the
 * request's own timeout, or a guard timer (which cancels the request) ends it.
 *
 * Parameters:
 *   slot=N         the UIM slot (1..5, default 1)
 *   switch-slot=1  make physical slot N the active one (UIM Switch Slot) if it is not, wait until
 *                  its card is ready, then use logical slot 1; without it the active slot is never
 *                  touched
 *   power-cycle=1  when the core says the eUICC switched profiles, power the SIM off and on
 *                  again and wait for the card, so that the modem reads the new profile
 *   timeout=S      seconds to wait for each QMI answer (1..300, default 30)
 *   block=N, isd-r=AID   taken by the core, ignored here
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <gio/gio.h>
#include <gmodule.h>
#include <libqmi-glib.h>
#include <string.h>

#include "quantra-l/ql-error.h"
#include "quantra-l/ql-plugin.h"
#include "ql-qmi-answer.h"

#ifndef QL_QMI_SCHEME
#define QL_QMI_SCHEME "qmi"
#endif

#define QL_QMI_DEFAULT_TIMEOUT 30
#define QL_QMI_OPEN_TIMEOUT 10
#define QL_QMI_SLOT_READY_MS 10000 /* a card needs ~1 s after a slot switch; allow more */
#define QL_QMI_MAX_CHANNELS 19

/* UIM messages (libqmi's data/qmi-service-uim.json) that libqmi < 1.36 does not generate */
#define QL_QMI_UIM_SEND_APDU 0x003B
#define QL_QMI_UIM_LOGICAL_CHANNEL 0x003F
#define QL_QMI_UIM_OPEN_LOGICAL_CHANNEL 0x0042
#define QL_QMI_TLV_SLOT 0x01

#if !QMI_CHECK_VERSION(1, 36, 0)
#define QL_QMI_RAW_UIM 1
#endif

struct _QlPluginDevice {
	gchar *path;
	GMainContext *context;
	QmiDevice *device;
	QmiClient *uim;
	gulong removed_id;
	gboolean gone;	      /* the proxy connection broke: the modem or the proxy went away */
	guint8 slot;	      /* UIM slot the APDUs go to */
	guint timeout;	      /* seconds per request */
	gboolean power_cycle; /* power-cycle=1 */
	guint32 channels; /* bit n: channel n was opened through this device and is still open */
	guint32 reset_channels; /* bit n: channel n was open when the SIM was power-cycled */
};

/* --- driving libqmi's asynchronous calls ---------------------------------------------------- */

typedef struct {
	QlPluginDevice *dev;
	GCancellable *cancellable;
	GAsyncResult *res;
	GSource *guard;
	gboolean guard_fired;
} QlQmiCall;

static gboolean
ql_qmi_call_guard_cb(gpointer user_data)
{
	QlQmiCall *call = user_data;
	call->guard_fired = TRUE;
	g_cancellable_cancel(call->cancellable);
	return G_SOURCE_REMOVE;
}

static void
ql_qmi_call_ready_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	QlQmiCall *call = user_data;
	call->res = g_object_ref(res);
}

/* libqmi enforces @seconds itself; the guard only makes sure the loop ends even if it did not */
static void
ql_qmi_call_begin(QlPluginDevice *dev, QlQmiCall *call, guint seconds)
{
	memset(call, 0, sizeof(*call));
	call->dev = dev;
	call->cancellable = g_cancellable_new();
	g_main_context_push_thread_default(dev->context);
	call->guard = g_timeout_source_new_seconds(seconds + 5);
	g_source_set_callback(call->guard, ql_qmi_call_guard_cb, call, NULL);
	g_source_attach(call->guard, dev->context);
}

static void
ql_qmi_call_wait(QlQmiCall *call)
{
	while (call->res == NULL)
		g_main_context_iteration(call->dev->context, TRUE);
}

static void
ql_qmi_call_end(QlQmiCall *call)
{
	g_source_destroy(call->guard);
	g_source_unref(call->guard);
	g_clear_object(&call->res);
	g_clear_object(&call->cancellable);
	g_main_context_pop_thread_default(call->dev->context);
}

static gboolean
ql_qmi_flag_cb(gpointer user_data)
{
	*(gboolean *)user_data = TRUE;
	return G_SOURCE_REMOVE;
}

/* Waits on the private context, so that a "device-removed" during the wait is seen */
static void
ql_qmi_sleep_ms(QlPluginDevice *dev, guint ms)
{
	gboolean done = FALSE;
	GSource *s = g_timeout_source_new(ms);
	g_source_set_callback(s, ql_qmi_flag_cb, &done, NULL);
	g_source_attach(s, dev->context);
	while (!done)
		g_main_context_iteration(dev->context, TRUE);
	g_source_unref(s);
}

/* --- errors ------------------------------------------------------------------------------- */

/* Turns a libqmi error of the request @what into a QL_ERROR in words. Takes @local. */
static void
ql_qmi_set_error(QlPluginDevice *dev, const QlQmiCall *call, const gchar *what, GError *local,
		 GError **error)
{
	g_autoptr(GError) e = local;

	/* libqmi fails pending requests with "endpoint hangup" just before "device-removed" */
	if (dev->gone || e == NULL ||
	    (e->domain == QMI_CORE_ERROR && strstr(e->message, "hangup") != NULL)) {
		dev->gone = TRUE;
		g_set_error(error, QL_ERROR, QL_ERROR_IO,
			    "the modem at %s went away during %s (unplugged, reset, or qmi-proxy "
			    "stopped)",
			    dev->path, what);
		return;
	}
	if ((call != NULL && call->guard_fired) ||
	    g_error_matches(e, QMI_CORE_ERROR, QMI_CORE_ERROR_TIMEOUT)) {
		g_set_error(error, QL_ERROR, QL_ERROR_TIMEOUT,
			    "the modem at %s did not answer %s within %u s", dev->path, what,
			    dev->timeout);
		return;
	}
	if (e->domain == QMI_PROTOCOL_ERROR) {
		const gchar *name = qmi_protocol_error_get_string((QmiProtocolError)e->code);
		switch (e->code) {
		case QMI_PROTOCOL_ERROR_ACCESS_DENIED:
			g_set_error(error, QL_ERROR, QL_ERROR_IO,
				    "the modem refused access to the SIM's logical channels "
				    "(AccessDenied) during %s; some SIMCom and Telit firmware "
				    "needs the vendor's SIM access setting enabled or a newer "
				    "firmware before it lets a host open UIM logical channels; "
				    "the modem's MBIM or AT port may work instead",
				    what);
			return;
		case QMI_PROTOCOL_ERROR_NO_SIM:
		case QMI_PROTOCOL_ERROR_UIM_UNINITIALIZED:
		case QMI_PROTOCOL_ERROR_DEVICE_NOT_READY:
			g_set_error(error, QL_ERROR, QL_ERROR_IO,
				    "no card is ready in UIM slot %u of %s (%s during %s); check "
				    "slot= or use switch-slot=1",
				    dev->slot, dev->path, name, what);
			return;
		case QMI_PROTOCOL_ERROR_INVALID_QMI_COMMAND:
		case QMI_PROTOCOL_ERROR_NOT_SUPPORTED:
			g_set_error(error, QL_ERROR, QL_ERROR_IO,
				    "the modem's firmware does not support %s (%s)", what, name);
			return;
		case QMI_PROTOCOL_ERROR_SIM_FILE_NOT_FOUND:
			g_set_error(error, QL_ERROR, QL_ERROR_NOT_FOUND,
				    "the card has no such application (%s during %s)", name, what);
			return;
		case QMI_PROTOCOL_ERROR_INSUFFICIENT_RESOURCES:
		case QMI_PROTOCOL_ERROR_DEVICE_IN_USE:
			g_set_error(error, QL_ERROR, QL_ERROR_BUSY,
				    "the modem has no free logical channel (%s during %s)", name,
				    what);
			return;
		default:
			g_set_error(error, QL_ERROR, QL_ERROR_IO,
				    "the modem answered %s with QMI error %s (0x%04x)", what,
				    name != NULL ? name : "unknown to libqmi", (guint)e->code);
			return;
		}
	}
	g_set_error(error, QL_ERROR, QL_ERROR_IO, "%s on %s failed: %s", what, dev->path,
		    e->message);
}

/* --- UIM requests, raw for libqmi < 1.36 ---------------------------------------------------- */

#ifdef QL_QMI_RAW_UIM
/* Sends @req and returns the answer whose result TLV says success; on failure sets @error in
 * words and, when the answer had one, returns the card's status word in @sw. */
static QmiMessage *
ql_qmi_uim_command(QlPluginDevice *dev, QmiMessage *req, const gchar *what, guint16 *sw,
		   GError **error)
{
	QlQmiCall call;
	g_autoptr(GError) local = NULL;
	g_autoptr(QmiMessage) resp = NULL;

	if (dev->gone) {
		ql_qmi_set_error(dev, NULL, what, NULL, error);
		return NULL;
	}
	ql_qmi_call_begin(dev, &call, dev->timeout);
	qmi_device_command_full(dev->device, req, NULL, dev->timeout, call.cancellable,
				ql_qmi_call_ready_cb, &call);
	ql_qmi_call_wait(&call);
	resp = qmi_device_command_full_finish(dev->device, call.res, &local);
	if (resp == NULL) {
		ql_qmi_set_error(dev, &call, what, g_steal_pointer(&local), error);
		ql_qmi_call_end(&call);
		return NULL;
	}
	ql_qmi_call_end(&call);
	if (!ql_qmi_answer_result(resp, sw, &local)) {
		if (local->domain != QMI_PROTOCOL_ERROR) {
			g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "the modem's answer to %s is malformed: %s", what,
				    local->message);
			return NULL;
		}
		ql_qmi_set_error(dev, NULL, what, g_steal_pointer(&local), error);
		return NULL;
	}
	return g_steal_pointer(&resp);
}

static QmiMessage *
ql_qmi_uim_request_new(QlPluginDevice *dev, guint16 message_id)
{
	QmiMessage *req = qmi_message_new(QMI_SERVICE_UIM, qmi_client_get_cid(dev->uim),
					  qmi_client_get_next_transaction_id(dev->uim), message_id);
	gsize tlv = qmi_message_tlv_write_init(req, QL_QMI_TLV_SLOT, NULL);
	qmi_message_tlv_write_guint8(req, dev->slot, NULL);
	qmi_message_tlv_write_complete(req, tlv, NULL);
	return req;
}

static gboolean
ql_qmi_uim_open_channel(QlPluginDevice *dev, const guint8 *aid, gsize aid_len, guint8 *channel,
			guint16 *sw, GError **error)
{
	g_autoptr(QmiMessage) req = ql_qmi_uim_request_new(dev, QL_QMI_UIM_OPEN_LOGICAL_CHANNEL);
	g_autoptr(QmiMessage) resp = NULL;
	gsize tlv;

	/* AID: a guint8-counted byte array */
	tlv = qmi_message_tlv_write_init(req, 0x10, NULL);
	qmi_message_tlv_write_guint8(req, (guint8)aid_len, NULL);
	for (gsize i = 0; i < aid_len; i++)
		qmi_message_tlv_write_guint8(req, aid[i], NULL);
	qmi_message_tlv_write_complete(req, tlv, NULL);

	resp = ql_qmi_uim_command(dev, req, "UIM Open Logical Channel", sw, error);
	if (resp == NULL)
		return FALSE;
	return ql_qmi_answer_channel(resp, channel, error);
}

static GBytes *
ql_qmi_uim_send_apdu(QlPluginDevice *dev, guint8 channel, const guint8 *apdu, gsize apdu_len,
		     GError **error)
{
	g_autoptr(QmiMessage) req = ql_qmi_uim_request_new(dev, QL_QMI_UIM_SEND_APDU);
	g_autoptr(QmiMessage) resp = NULL;
	gsize tlv;

	/* APDU: a guint16-counted byte array */
	tlv = qmi_message_tlv_write_init(req, 0x02, NULL);
	qmi_message_tlv_write_guint16(req, QMI_ENDIAN_LITTLE, (guint16)apdu_len, NULL);
	for (gsize i = 0; i < apdu_len; i++)
		qmi_message_tlv_write_guint8(req, apdu[i], NULL);
	qmi_message_tlv_write_complete(req, tlv, NULL);
	tlv = qmi_message_tlv_write_init(req, 0x10, NULL);
	qmi_message_tlv_write_guint8(req, channel, NULL);
	qmi_message_tlv_write_complete(req, tlv, NULL);

	resp = ql_qmi_uim_command(dev, req, "UIM Send APDU", NULL, error);
	if (resp == NULL)
		return NULL;
	return ql_qmi_answer_apdu(resp, error);
}

static gboolean
ql_qmi_uim_close_channel(QlPluginDevice *dev, guint8 channel, GError **error)
{
	g_autoptr(QmiMessage) req = ql_qmi_uim_request_new(dev, QL_QMI_UIM_LOGICAL_CHANNEL);
	g_autoptr(QmiMessage) resp = NULL;
	gsize tlv = qmi_message_tlv_write_init(req, 0x11, NULL);
	qmi_message_tlv_write_guint8(req, channel, NULL);
	qmi_message_tlv_write_complete(req, tlv, NULL);
	resp = ql_qmi_uim_command(dev, req, "UIM Logical Channel (close)", NULL, error);
	return resp != NULL;
}

#else /* libqmi >= 1.36 generates these requests */

static GArray *
ql_qmi_array_new(const guint8 *data, gsize len)
{
	GArray *a = g_array_sized_new(FALSE, FALSE, 1, (guint)len);
	g_array_append_vals(a, data, (guint)len);
	return a;
}

static gboolean
ql_qmi_uim_open_channel(QlPluginDevice *dev, const guint8 *aid, gsize aid_len, guint8 *channel,
			guint16 *sw, GError **error)
{
	QlQmiCall call;
	g_autoptr(GError) local = NULL;
	g_autoptr(GArray) aid_array = ql_qmi_array_new(aid, aid_len);
	g_autoptr(QmiMessageUimOpenLogicalChannelInput) input =
		qmi_message_uim_open_logical_channel_input_new();
	g_autoptr(QmiMessageUimOpenLogicalChannelOutput) output = NULL;
	const gchar *what = "UIM Open Logical Channel";

	if (dev->gone) {
		ql_qmi_set_error(dev, NULL, what, NULL, error);
		return FALSE;
	}
	qmi_message_uim_open_logical_channel_input_set_slot(input, dev->slot, NULL);
	qmi_message_uim_open_logical_channel_input_set_aid(input, aid_array, NULL);
	ql_qmi_call_begin(dev, &call, dev->timeout);
	qmi_client_uim_open_logical_channel(QMI_CLIENT_UIM(dev->uim), input, dev->timeout,
					    call.cancellable, ql_qmi_call_ready_cb, &call);
	ql_qmi_call_wait(&call);
	output = qmi_client_uim_open_logical_channel_finish(QMI_CLIENT_UIM(dev->uim), call.res,
							    &local);
	if (output == NULL) {
		ql_qmi_set_error(dev, &call, what, g_steal_pointer(&local), error);
		ql_qmi_call_end(&call);
		return FALSE;
	}
	ql_qmi_call_end(&call);
	if (!qmi_message_uim_open_logical_channel_output_get_result(output, &local)) {
		guint8 sw1 = 0, sw2 = 0;
		if (sw != NULL && qmi_message_uim_open_logical_channel_output_get_card_result(
					  output, &sw1, &sw2, NULL))
			*sw = (guint16)(sw1 << 8 | sw2);
		ql_qmi_set_error(dev, NULL, what, g_steal_pointer(&local), error);
		return FALSE;
	}
	if (!qmi_message_uim_open_logical_channel_output_get_channel_id(output, channel, &local)) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "the modem opened a logical channel but did not say which: %s",
			    local->message);
		return FALSE;
	}
	return TRUE;
}

static GBytes *
ql_qmi_uim_send_apdu(QlPluginDevice *dev, guint8 channel, const guint8 *apdu, gsize apdu_len,
		     GError **error)
{
	QlQmiCall call;
	g_autoptr(GError) local = NULL;
	g_autoptr(GArray) apdu_array = ql_qmi_array_new(apdu, apdu_len);
	g_autoptr(QmiMessageUimSendApduInput) input = qmi_message_uim_send_apdu_input_new();
	g_autoptr(QmiMessageUimSendApduOutput) output = NULL;
	GArray *r = NULL;
	const gchar *what = "UIM Send APDU";

	if (dev->gone) {
		ql_qmi_set_error(dev, NULL, what, NULL, error);
		return NULL;
	}
	qmi_message_uim_send_apdu_input_set_slot(input, dev->slot, NULL);
	qmi_message_uim_send_apdu_input_set_channel_id(input, channel, NULL);
	qmi_message_uim_send_apdu_input_set_apdu(input, apdu_array, NULL);
	ql_qmi_call_begin(dev, &call, dev->timeout);
	qmi_client_uim_send_apdu(QMI_CLIENT_UIM(dev->uim), input, dev->timeout, call.cancellable,
				 ql_qmi_call_ready_cb, &call);
	ql_qmi_call_wait(&call);
	output = qmi_client_uim_send_apdu_finish(QMI_CLIENT_UIM(dev->uim), call.res, &local);
	if (output == NULL) {
		ql_qmi_set_error(dev, &call, what, g_steal_pointer(&local), error);
		ql_qmi_call_end(&call);
		return NULL;
	}
	ql_qmi_call_end(&call);
	if (!qmi_message_uim_send_apdu_output_get_result(output, &local)) {
		ql_qmi_set_error(dev, NULL, what, g_steal_pointer(&local), error);
		return NULL;
	}
	if (!qmi_message_uim_send_apdu_output_get_apdu_response(output, &r, &local) || r->len < 2) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "the modem's answer to UIM Send APDU has no APDU response");
		return NULL;
	}
	return g_bytes_new(r->data, r->len);
}

static gboolean
ql_qmi_uim_close_channel(QlPluginDevice *dev, guint8 channel, GError **error)
{
	QlQmiCall call;
	g_autoptr(GError) local = NULL;
	g_autoptr(QmiMessageUimLogicalChannelInput) input =
		qmi_message_uim_logical_channel_input_new();
	g_autoptr(QmiMessageUimLogicalChannelOutput) output = NULL;
	const gchar *what = "UIM Logical Channel (close)";

	if (dev->gone) {
		ql_qmi_set_error(dev, NULL, what, NULL, error);
		return FALSE;
	}
	qmi_message_uim_logical_channel_input_set_slot(input, dev->slot, NULL);
	qmi_message_uim_logical_channel_input_set_channel_id(input, channel, NULL);
	ql_qmi_call_begin(dev, &call, dev->timeout);
	qmi_client_uim_logical_channel(QMI_CLIENT_UIM(dev->uim), input, dev->timeout,
				       call.cancellable, ql_qmi_call_ready_cb, &call);
	ql_qmi_call_wait(&call);
	output = qmi_client_uim_logical_channel_finish(QMI_CLIENT_UIM(dev->uim), call.res, &local);
	if (output == NULL) {
		ql_qmi_set_error(dev, &call, what, g_steal_pointer(&local), error);
		ql_qmi_call_end(&call);
		return FALSE;
	}
	ql_qmi_call_end(&call);
	if (!qmi_message_uim_logical_channel_output_get_result(output, &local)) {
		ql_qmi_set_error(dev, NULL, what, g_steal_pointer(&local), error);
		return FALSE;
	}
	return TRUE;
}
#endif

/* --- slots and power (generated since libqmi 1.26 / 1.18) ----------------------------------- */

/* The physical slot mapped to logical slot 1 and whether its card is present */
static gboolean
ql_qmi_get_active_slot(QlPluginDevice *dev, guint *physical, gboolean *present, GError **error)
{
	QlQmiCall call;
	g_autoptr(GError) local = NULL;
	g_autoptr(QmiMessageUimGetSlotStatusOutput) output = NULL;
	GArray *slots = NULL;

	ql_qmi_call_begin(dev, &call, dev->timeout);
	qmi_client_uim_get_slot_status(QMI_CLIENT_UIM(dev->uim), NULL, dev->timeout,
				       call.cancellable, ql_qmi_call_ready_cb, &call);
	ql_qmi_call_wait(&call);
	output = qmi_client_uim_get_slot_status_finish(QMI_CLIENT_UIM(dev->uim), call.res, &local);
	if (output == NULL) {
		ql_qmi_set_error(dev, &call, "UIM Get Slot Status", g_steal_pointer(&local), error);
		ql_qmi_call_end(&call);
		return FALSE;
	}
	ql_qmi_call_end(&call);
	if (!qmi_message_uim_get_slot_status_output_get_result(output, &local) ||
	    !qmi_message_uim_get_slot_status_output_get_physical_slot_status(output, &slots,
									     &local)) {
		ql_qmi_set_error(dev, NULL, "UIM Get Slot Status", g_steal_pointer(&local), error);
		return FALSE;
	}
	*physical = 0;
	*present = FALSE;
	for (guint i = 0; i < slots->len; i++) {
		const QmiPhysicalSlotStatusSlot *s =
			&g_array_index(slots, QmiPhysicalSlotStatusSlot, i);
		if (s->physical_slot_status == QMI_UIM_SLOT_STATE_ACTIVE && s->logical_slot == 1) {
			*physical = i + 1;
			*present = s->physical_card_status == QMI_UIM_PHYSICAL_CARD_STATE_PRESENT;
		}
	}
	return TRUE;
}

/* TRUE when the card in logical slot @logical reports itself present (not still resetting) */
static gboolean
ql_qmi_card_ready(QlPluginDevice *dev, guint logical, gboolean *ready, GError **error)
{
	QlQmiCall call;
	g_autoptr(GError) local = NULL;
	g_autoptr(QmiMessageUimGetCardStatusOutput) output = NULL;
	GArray *cards = NULL;

	ql_qmi_call_begin(dev, &call, dev->timeout);
	qmi_client_uim_get_card_status(QMI_CLIENT_UIM(dev->uim), NULL, dev->timeout,
				       call.cancellable, ql_qmi_call_ready_cb, &call);
	ql_qmi_call_wait(&call);
	output = qmi_client_uim_get_card_status_finish(QMI_CLIENT_UIM(dev->uim), call.res, &local);
	if (output == NULL) {
		ql_qmi_set_error(dev, &call, "UIM Get Card Status", g_steal_pointer(&local), error);
		ql_qmi_call_end(&call);
		return FALSE;
	}
	ql_qmi_call_end(&call);
	*ready = FALSE;
	if (!qmi_message_uim_get_card_status_output_get_result(output, NULL))
		return TRUE; /* e.g. DeviceNotReady while the slot comes up */
	if (qmi_message_uim_get_card_status_output_get_card_status(output, NULL, NULL, NULL, NULL,
								   &cards, NULL) &&
	    logical >= 1 && cards->len >= logical) {
		const QmiMessageUimGetCardStatusOutputCardStatusCardsElement *c = &g_array_index(
			cards, QmiMessageUimGetCardStatusOutputCardStatusCardsElement, logical - 1);
		*ready = c->card_state == QMI_UIM_CARD_STATE_PRESENT;
	}
	return TRUE;
}

/* Makes physical slot dev->slot the active one and waits (bounded) until its card is ready */
static gboolean
ql_qmi_switch_slot(QlPluginDevice *dev, GError **error)
{
	guint physical = 0;
	gboolean present = FALSE, ready = FALSE;
	gint64 deadline;

	if (!ql_qmi_get_active_slot(dev, &physical, &present, error))
		return FALSE;
	if (physical != dev->slot) {
		QlQmiCall call;
		g_autoptr(GError) local = NULL;
		g_autoptr(QmiMessageUimSwitchSlotInput) input =
			qmi_message_uim_switch_slot_input_new();
		g_autoptr(QmiMessageUimSwitchSlotOutput) output = NULL;

		g_info("switching logical slot 1 from physical slot %u to %u", physical, dev->slot);
		qmi_message_uim_switch_slot_input_set_logical_slot(input, 1, NULL);
		qmi_message_uim_switch_slot_input_set_physical_slot(input, dev->slot, NULL);
		ql_qmi_call_begin(dev, &call, dev->timeout);
		qmi_client_uim_switch_slot(QMI_CLIENT_UIM(dev->uim), input, dev->timeout,
					   call.cancellable, ql_qmi_call_ready_cb, &call);
		ql_qmi_call_wait(&call);
		output = qmi_client_uim_switch_slot_finish(QMI_CLIENT_UIM(dev->uim), call.res,
							   &local);
		if (output == NULL) {
			ql_qmi_set_error(dev, &call, "UIM Switch Slot", g_steal_pointer(&local),
					 error);
			ql_qmi_call_end(&call);
			return FALSE;
		}
		ql_qmi_call_end(&call);
		if (!qmi_message_uim_switch_slot_output_get_result(output, &local) &&
		    !g_error_matches(local, QMI_PROTOCOL_ERROR, QMI_PROTOCOL_ERROR_NO_EFFECT)) {
			ql_qmi_set_error(dev, NULL, "UIM Switch Slot", g_steal_pointer(&local),
					 error);
			return FALSE;
		}
	}
	/* after a switch the card needs about a second before it takes commands */
	deadline = g_get_monotonic_time() + QL_QMI_SLOT_READY_MS * G_TIME_SPAN_MILLISECOND;
	for (;;) {
		if (!ql_qmi_get_active_slot(dev, &physical, &present, error))
			return FALSE;
		if (physical == dev->slot && present && !ql_qmi_card_ready(dev, 1, &ready, error))
			return FALSE;
		if (ready)
			break;
		if (g_get_monotonic_time() > deadline) {
			g_set_error(error, QL_ERROR, QL_ERROR_TIMEOUT,
				    "the card in physical slot %u of %s was not ready %u s after "
				    "the slot switch%s",
				    dev->slot, dev->path, QL_QMI_SLOT_READY_MS / 1000,
				    physical == dev->slot && !present ? " (the slot is empty)"
								      : "");
			return FALSE;
		}
		ql_qmi_sleep_ms(dev, 200);
	}
	/* the switched-to card is now logical slot 1 */
	dev->slot = 1;
	return TRUE;
}

/* UIM Power Off SIM / Power On SIM: the modem re-reads the card, as after a profile switch */
static gboolean
ql_qmi_power_cycle(QlPluginDevice *dev, GError **error)
{
	for (guint step = 0; step < 2; step++) {
		QlQmiCall call;
		g_autoptr(GError) local = NULL;
		gboolean ok;
		const gchar *what = step == 0 ? "UIM Power Off SIM" : "UIM Power On SIM";

		ql_qmi_call_begin(dev, &call, dev->timeout);
		if (step == 0) {
			g_autoptr(QmiMessageUimPowerOffSimInput) in =
				qmi_message_uim_power_off_sim_input_new();
			qmi_message_uim_power_off_sim_input_set_slot(in, dev->slot, NULL);
			qmi_client_uim_power_off_sim(QMI_CLIENT_UIM(dev->uim), in, dev->timeout,
						     call.cancellable, ql_qmi_call_ready_cb, &call);
			ql_qmi_call_wait(&call);
			g_autoptr(QmiMessageUimPowerOffSimOutput) out =
				qmi_client_uim_power_off_sim_finish(QMI_CLIENT_UIM(dev->uim),
								    call.res, &local);
			ok = out != NULL &&
			     qmi_message_uim_power_off_sim_output_get_result(out, &local);
		} else {
			g_autoptr(QmiMessageUimPowerOnSimInput) in =
				qmi_message_uim_power_on_sim_input_new();
			qmi_message_uim_power_on_sim_input_set_slot(in, dev->slot, NULL);
			qmi_client_uim_power_on_sim(QMI_CLIENT_UIM(dev->uim), in, dev->timeout,
						    call.cancellable, ql_qmi_call_ready_cb, &call);
			ql_qmi_call_wait(&call);
			g_autoptr(QmiMessageUimPowerOnSimOutput) out =
				qmi_client_uim_power_on_sim_finish(QMI_CLIENT_UIM(dev->uim),
								   call.res, &local);
			ok = out != NULL &&
			     qmi_message_uim_power_on_sim_output_get_result(out, &local);
		}
		if (!ok) {
			ql_qmi_set_error(dev, &call, what, g_steal_pointer(&local), error);
			ql_qmi_call_end(&call);
			return FALSE;
		}
		ql_qmi_call_end(&call);
	}
	return TRUE;
}

/* --- the plugin --------------------------------------------------------------------------- */

/* libqmi's own warnings (e.g. no sysfs transport type for a proxied path) say nothing our errors
 * do not: keep them for --verbose */
static void
ql_qmi_log_cb(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data)
{
	/* not g_debug(): GLib aborts on a message logged from inside a log handler */
	if (!g_log_writer_default_would_drop(G_LOG_LEVEL_DEBUG, G_LOG_DOMAIN))
		g_printerr("%s-DEBUG: libqmi: %s\n", G_LOG_DOMAIN, message);
}

static void
ql_qmi_removed_cb(QmiDevice *device, gpointer user_data)
{
	QlPluginDevice *dev = user_data;
	dev->gone = TRUE;
}

static void
ql_plugin_qmi_close(QlPluginDevice *dev)
{
	if (dev == NULL)
		return;
	/* a device that goes away leaves no channel open on the card */
	for (guint8 ch = 1; ch <= QL_QMI_MAX_CHANNELS && !dev->gone; ch++) {
		g_autoptr(GError) error = NULL;
		if ((dev->channels & (1u << ch)) == 0)
			continue;
		if (!ql_qmi_uim_close_channel(dev, ch, &error))
			g_warning("closing logical channel %u: %s", ch, error->message);
	}
	if (dev->uim != NULL && !dev->gone) {
		QlQmiCall call;
		g_autoptr(GError) error = NULL;
		ql_qmi_call_begin(dev, &call, QL_QMI_OPEN_TIMEOUT);
		qmi_device_release_client(
			dev->device, dev->uim, QMI_DEVICE_RELEASE_CLIENT_FLAGS_RELEASE_CID,
			QL_QMI_OPEN_TIMEOUT, call.cancellable, ql_qmi_call_ready_cb, &call);
		ql_qmi_call_wait(&call);
		if (!qmi_device_release_client_finish(dev->device, call.res, &error))
			g_debug("releasing the UIM client: %s", error->message);
		ql_qmi_call_end(&call);
	}
	g_clear_object(&dev->uim);
	if (dev->device != NULL) {
		QlQmiCall call;
		g_autoptr(GError) error = NULL;
		if (dev->removed_id != 0)
			g_signal_handler_disconnect(dev->device, dev->removed_id);
		ql_qmi_call_begin(dev, &call, QL_QMI_OPEN_TIMEOUT);
		qmi_device_close_async(dev->device, QL_QMI_OPEN_TIMEOUT, call.cancellable,
				       ql_qmi_call_ready_cb, &call);
		ql_qmi_call_wait(&call);
		if (!qmi_device_close_finish(dev->device, call.res, &error))
			g_debug("closing %s: %s", dev->path, error->message);
		ql_qmi_call_end(&call);
		g_clear_object(&dev->device);
	}
	/* let libqmi's last idle callbacks run before the context goes */
	while (g_main_context_iteration(dev->context, FALSE))
		;
	g_main_context_unref(dev->context);
	g_free(dev->path);
	g_free(dev);
}

static gboolean
ql_qmi_parse_uint(GHashTable *params, const gchar *key, guint64 min, guint64 max, guint64 *out,
		  GError **error)
{
	const gchar *v = g_hash_table_lookup(params, key);
	if (v == NULL)
		return TRUE;
	if (!g_ascii_string_to_unsigned(v, 10, min, max, out, NULL)) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    QL_QMI_SCHEME ": %s=%s is not a number from %" G_GUINT64_FORMAT
					  " to %" G_GUINT64_FORMAT,
			    key, v, min, max);
		return FALSE;
	}
	return TRUE;
}

static gboolean
ql_qmi_parse_params(QlPluginDevice *dev, GHashTable *params, gboolean *switch_slot, GError **error)
{
	const gchar *const known[] = {"slot",  "switch-slot", "power-cycle", "timeout",
				      "block", "isd-r",	      "extended",    NULL};
	guint64 slot = 1, timeout = QL_QMI_DEFAULT_TIMEOUT, sw = 0, pc = 0;
	GHashTableIter it;
	gpointer key;

	if (params == NULL)
		return TRUE;
	g_hash_table_iter_init(&it, params);
	while (g_hash_table_iter_next(&it, &key, NULL)) {
		if (!g_strv_contains(known, key)) {
			g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    QL_QMI_SCHEME ": unknown parameter '%s' (known: slot, "
						  "switch-slot, power-cycle, timeout)",
				    (const gchar *)key);
			return FALSE;
		}
	}
	if (!ql_qmi_parse_uint(params, "slot", 1, 5, &slot, error) ||
	    !ql_qmi_parse_uint(params, "timeout", 1, 300, &timeout, error) ||
	    !ql_qmi_parse_uint(params, "switch-slot", 0, 1, &sw, error) ||
	    !ql_qmi_parse_uint(params, "power-cycle", 0, 1, &pc, error))
		return FALSE;
	dev->slot = (guint8)slot;
	dev->timeout = (guint)timeout;
	dev->power_cycle = pc == 1;
	*switch_slot = sw == 1;
	return TRUE;
}

static QlPluginDevice *
ql_plugin_qmi_open(const gchar *path, GHashTable *params, GError **error)
{
	g_autoptr(GFile) file = NULL;
	g_autoptr(GError) local = NULL;
	QlPluginDevice *dev;
	gboolean switch_slot = FALSE;
	QlQmiCall call;
	static gsize log_handler_set = 0;

	if (g_once_init_enter(&log_handler_set)) {
		g_log_set_handler("Qmi",
				  G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO,
				  ql_qmi_log_cb, NULL);
		g_once_init_leave(&log_handler_set, 1);
	}
	dev = g_new0(QlPluginDevice, 1);
	dev->context = g_main_context_new();
	dev->slot = 1;
	dev->timeout = QL_QMI_DEFAULT_TIMEOUT;
	if (!ql_qmi_parse_params(dev, params, &switch_slot, error))
		goto fail;

	if (g_strcmp0(QL_QMI_SCHEME, "qrtr") == 0) {
		/* qrtr:N names QRTR node N, which qmi-proxy knows as qrtr://N */
		guint64 node = 0;
		if (!g_ascii_string_to_unsigned(path[0] != '\0' ? path : "0", 10, 0, G_MAXUINT32,
						&node, NULL)) {
			g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "qrtr:%s: the QRTR node must be a number (e.g. qrtr:0)", path);
			goto fail;
		}
		dev->path = g_strdup_printf("qrtr://%" G_GUINT64_FORMAT, node);
		file = g_file_new_for_uri(dev->path);
	} else {
		if (!g_path_is_absolute(path)) {
			g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "qmi:%s: give the absolute path of the QMI port, e.g. "
				    "qmi:/dev/cdc-wdm0",
				    path);
			goto fail;
		}
		if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
			g_set_error(error, QL_ERROR, QL_ERROR_NOT_FOUND,
				    "there is no QMI port %s (is the modem plugged in? `mmcli -m "
				    "0` lists its ports)",
				    path);
			goto fail;
		}
		dev->path = g_strdup(path);
		file = g_file_new_for_path(path);
	}

	ql_qmi_call_begin(dev, &call, QL_QMI_OPEN_TIMEOUT);
	qmi_device_new(file, call.cancellable, ql_qmi_call_ready_cb, &call);
	ql_qmi_call_wait(&call);
	dev->device = qmi_device_new_finish(call.res, &local);
	ql_qmi_call_end(&call);
	if (dev->device == NULL) {
		g_set_error(error, QL_ERROR, QL_ERROR_IO, "%s is not a QMI port: %s", dev->path,
			    local->message);
		goto fail;
	}
	dev->removed_id = g_signal_connect(dev->device, QMI_DEVICE_SIGNAL_REMOVED,
					   G_CALLBACK(ql_qmi_removed_cb), dev);

	/* through qmi-proxy, so ModemManager keeps the port (libqmi starts the proxy if needed) */
	ql_qmi_call_begin(dev, &call, QL_QMI_OPEN_TIMEOUT);
	qmi_device_open(dev->device, QMI_DEVICE_OPEN_FLAGS_PROXY, QL_QMI_OPEN_TIMEOUT,
			call.cancellable, ql_qmi_call_ready_cb, &call);
	ql_qmi_call_wait(&call);
	if (!qmi_device_open_finish(dev->device, call.res, &local)) {
		ql_qmi_call_end(&call);
		g_set_error(error, QL_ERROR, QL_ERROR_IO,
			    "cannot open %s through qmi-proxy: %s (qmi-proxy accepts root only)",
			    dev->path, local->message);
		goto fail;
	}
	ql_qmi_call_end(&call);

	ql_qmi_call_begin(dev, &call, QL_QMI_OPEN_TIMEOUT);
	qmi_device_allocate_client(dev->device, QMI_SERVICE_UIM, QMI_CID_NONE, QL_QMI_OPEN_TIMEOUT,
				   call.cancellable, ql_qmi_call_ready_cb, &call);
	ql_qmi_call_wait(&call);
	dev->uim = qmi_device_allocate_client_finish(dev->device, call.res, &local);
	if (dev->uim == NULL) {
		ql_qmi_set_error(dev, &call, "allocating a UIM client", g_steal_pointer(&local),
				 error);
		ql_qmi_call_end(&call);
		goto fail;
	}
	ql_qmi_call_end(&call);

	if (switch_slot && !ql_qmi_switch_slot(dev, error))
		goto fail;
	return dev;
fail:
	ql_plugin_qmi_close(dev);
	return NULL;
}

static gboolean
ql_plugin_qmi_open_channel(QlPluginDevice *dev, const guint8 *aid, gsize aid_len, guint8 *channel,
			   GError **error)
{
	g_autoptr(GError) local = NULL;
	guint16 sw = 0;
	guint8 ch = 0;

	if (aid_len < 5 || aid_len > 16) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    QL_QMI_SCHEME ": an AID of %" G_GSIZE_FORMAT " bytes", aid_len);
		return FALSE;
	}
	if (!ql_qmi_uim_open_channel(dev, aid, aid_len, &ch, &sw, &local)) {
		/* the card's own answer to SELECT says more than the QMI error */
		if (sw == 0x6A82) {
			g_set_error(error, QL_ERROR, QL_ERROR_NOT_FOUND,
				    "the card in slot %u has no such application (6A82)",
				    dev->slot);
			return FALSE;
		}
		if (sw != 0 && sw != 0x9000) {
			g_set_error(error, local->domain, local->code,
				    "%s; the card answered the SELECT with %04X", local->message,
				    sw);
			return FALSE;
		}
		g_propagate_error(error, g_steal_pointer(&local));
		return FALSE;
	}
	if (ch < 1 || ch > QL_QMI_MAX_CHANNELS) {
		/* not ours to keep: give it back if the modem accepts that */
		ql_qmi_uim_close_channel(dev, ch, NULL);
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "the modem opened logical channel %u (must be 1 to 19)", ch);
		return FALSE;
	}
	dev->channels |= 1u << ch;
	*channel = ch;
	return TRUE;
}

static GBytes *
ql_plugin_qmi_transmit(QlPluginDevice *dev, guint8 channel, const guint8 *apdu, gsize apdu_len,
		       GError **error)
{
	if (apdu_len < 4 || apdu_len > 261) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    QL_QMI_SCHEME ": a command APDU of %" G_GSIZE_FORMAT " bytes",
			    apdu_len);
		return NULL;
	}
	if (channel <= QL_QMI_MAX_CHANNELS && (dev->reset_channels & (1u << channel)) != 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_IO,
			    QL_QMI_SCHEME ": logical channel %u was closed when the SIM was "
					  "power-cycled after the profile switch",
			    channel);
		return NULL;
	}
	return ql_qmi_uim_send_apdu(dev, channel, apdu, apdu_len, error);
}

static gboolean
ql_plugin_qmi_close_channel(QlPluginDevice *dev, guint8 channel, GError **error)
{
	if (channel > QL_QMI_MAX_CHANNELS) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    QL_QMI_SCHEME ": no logical channel %u", channel);
		return FALSE;
	}
	/* the power cycle closed it already */
	if ((dev->reset_channels & (1u << channel)) != 0) {
		dev->reset_channels &= ~(1u << channel);
		return TRUE;
	}
	/* forgotten either way: a channel the modem will not close now is not ours to retry */
	dev->channels &= ~(1u << channel);
	return ql_qmi_uim_close_channel(dev, channel, error);
}

/* The eUICC switched profiles. A modem that refreshes the SIM by itself (the eUICC's REFRESH)
 * needs nothing; with power-cycle=1 the SIM is powered off and on, which closes every logical
 * channel on it, and the card is waited for so that the next command finds it. */
static gboolean
ql_plugin_qmi_profile_switched(QlPluginDevice *dev, GError **error)
{
	g_autoptr(GError) local = NULL;
	gint64 deadline;
	gboolean ready = FALSE;

	if (!dev->power_cycle)
		return TRUE;
	if (dev->gone || !ql_qmi_power_cycle(dev, &local)) {
		if (local == NULL)
			ql_qmi_set_error(dev, NULL, "UIM Power Off SIM", NULL, &local);
		g_set_error(error, local->domain, local->code, "power-cycling the SIM failed: %s",
			    local->message);
		return FALSE;
	}
	dev->reset_channels |= dev->channels;
	dev->channels = 0;
	deadline = g_get_monotonic_time() + QL_QMI_SLOT_READY_MS * G_TIME_SPAN_MILLISECOND;
	for (;;) {
		if (!ql_qmi_card_ready(dev, dev->slot, &ready, &local)) {
			g_set_error(error, local->domain, local->code,
				    "power-cycling the SIM failed: %s", local->message);
			return FALSE;
		}
		if (ready)
			return TRUE;
		if (g_get_monotonic_time() > deadline) {
			g_set_error(error, QL_ERROR, QL_ERROR_TIMEOUT,
				    "power-cycling the SIM failed: the card in slot %u of %s was "
				    "not ready %u s after it was powered on",
				    dev->slot, dev->path, QL_QMI_SLOT_READY_MS / 1000);
			return FALSE;
		}
		ql_qmi_sleep_ms(dev, 200);
	}
}

static const QlPluginInfo ql_plugin_qmi_info = {
	.abi_version = QL_PLUGIN_ABI_VERSION,
	.scheme = QL_QMI_SCHEME,
	.description = "eUICC behind a Qualcomm modem's UIM service (libqmi through qmi-proxy)",
	.open = ql_plugin_qmi_open,
	.close = ql_plugin_qmi_close,
	.open_channel = ql_plugin_qmi_open_channel,
	.transmit = ql_plugin_qmi_transmit,
	.close_channel = ql_plugin_qmi_close_channel,
	.profile_switched = ql_plugin_qmi_profile_switched,
};

G_MODULE_EXPORT const QlPluginInfo *ql_plugin_entry(void);

G_MODULE_EXPORT const QlPluginInfo *
ql_plugin_entry(void)
{
	return &ql_plugin_qmi_info;
}
