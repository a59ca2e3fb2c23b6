/*
 * BER-TLV codec. See ql-tlv.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-tlv.h"

gboolean
ql_tlv_tag_is_constructed(guint32 tag)
{
	guint8 first = tag & 0xff;
	for (guint32 t = tag; t > 0xff; t >>= 8)
		first = (t >> 8) & 0xff;
	return (first & 0x20) != 0;
}

gsize
ql_tlv_tag_size(guint32 tag)
{
	if (tag > 0xffffff)
		return 4;
	if (tag > 0xffff)
		return 3;
	if (tag > 0xff)
		return 2;
	return 1;
}

gsize
ql_tlv_len_size(gsize len)
{
	if (len < 0x80)
		return 1;
	if (len <= 0xff)
		return 2;
	if (len <= 0xffff)
		return 3;
	if (len <= 0xffffff)
		return 4;
	return 5;
}

typedef enum {
	QL_TLV_WHOLE_HEADER,
	QL_TLV_CUT_IN_TAG,
	QL_TLV_CUT_IN_LENGTH,
} QlTlvCut;

/* The tag and the length of the TLV at @buf; FALSE without an error when @len ends inside them
 * (*@cut says where), with one when they are malformed */
static gboolean
ql_tlv_parse_header(const guint8 *buf, gsize len, guint32 *tag_out, gsize *header_len,
		    gsize *value_len, QlTlvCut *cut, GError **error)
{
	gsize pos = 0;
	guint32 tag;
	gsize vlen;

	*cut = QL_TLV_CUT_IN_TAG;
	if (len == 0)
		return FALSE;
	tag = buf[pos++];
	if ((tag & 0x1f) == 0x1f) {
		/* multi-byte tag: subsequent bytes have b8 set while more follow; we allow 4 bytes
		 */
		for (;;) {
			if (pos >= len)
				return FALSE;
			if (pos >= 4) {
				g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED,
						    "TLV: tag longer than 4 bytes");
				return FALSE;
			}
			tag = (tag << 8) | buf[pos];
			if ((buf[pos++] & 0x80) == 0)
				break;
		}
	}
	*tag_out = tag;
	*cut = QL_TLV_CUT_IN_LENGTH;
	if (pos >= len)
		return FALSE;
	if (buf[pos] < 0x80) {
		vlen = buf[pos++];
	} else if (buf[pos] == 0x80) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "TLV %X: indefinite length is not allowed", tag);
		return FALSE;
	} else {
		guint n = buf[pos++] & 0x7f;
		if (n > 4) {
			g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "TLV %X: length field of %u bytes is too long", tag, n);
			return FALSE;
		}
		if (len - pos < n)
			return FALSE;
		vlen = 0;
		for (guint i = 0; i < n; i++)
			vlen = (vlen << 8) | buf[pos++];
	}
	*cut = QL_TLV_WHOLE_HEADER;
	*header_len = pos;
	*value_len = vlen;
	return TRUE;
}

gboolean
ql_tlv_read_header(const guint8 *buf, gsize len, guint32 *tag, gsize *header_len, gsize *value_len,
		   GError **error)
{
	QlTlvCut cut;
	return ql_tlv_parse_header(buf, len, tag, header_len, value_len, &cut, error);
}

gboolean
ql_tlv_read(const guint8 *buf, gsize len, QlTlv *out, gsize *consumed, GError **error)
{
	guint32 tag = 0;
	gsize pos = 0, vlen = 0;
	QlTlvCut cut;
	g_autoptr(GError) local = NULL;

	if (len == 0) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED, "TLV: empty data");
		return FALSE;
	}
	if (!ql_tlv_parse_header(buf, len, &tag, &pos, &vlen, &cut, &local)) {
		if (local != NULL)
			g_propagate_error(error, g_steal_pointer(&local));
		else if (cut == QL_TLV_CUT_IN_TAG)
			g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED,
					    "TLV: truncated tag");
		else
			g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED, "TLV %X: truncated length",
				    tag);
		return FALSE;
	}
	if (vlen > len - pos) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "TLV %X: length %" G_GSIZE_FORMAT " exceeds the %" G_GSIZE_FORMAT
			    " bytes available",
			    tag, vlen, len - pos);
		return FALSE;
	}
	out->tag = tag;
	out->value = buf + pos;
	out->len = vlen;
	out->raw = buf;
	out->raw_len = pos + vlen;
	if (consumed != NULL)
		*consumed = pos + vlen;
	return TRUE;
}

gboolean
ql_tlv_read_exact(const guint8 *buf, gsize len, guint32 want, QlTlv *out, GError **error)
{
	gsize used = 0;
	if (!ql_tlv_read(buf, len, out, &used, error))
		return FALSE;
	if (want != 0 && out->tag != want) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED, "expected tag %X, got %X", want,
			    out->tag);
		return FALSE;
	}
	if (used != len) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "TLV %X: %" G_GSIZE_FORMAT " unexpected bytes after it", out->tag,
			    len - used);
		return FALSE;
	}
	return TRUE;
}

static gboolean
ql_tlv_validate_depth(const guint8 *buf, gsize len, guint depth, guint max_depth, GError **error)
{
	QlTlvIter it;
	QlTlv tlv;

	if (depth > max_depth) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "TLV: nesting deeper than %u levels", max_depth);
		return FALSE;
	}
	ql_tlv_iter_init(&it, buf, len);
	while (ql_tlv_iter_next(&it, &tlv, error)) {
		if (ql_tlv_tag_is_constructed(tlv.tag) &&
		    !ql_tlv_validate_depth(tlv.value, tlv.len, depth + 1, max_depth, error))
			return FALSE;
	}
	return error == NULL || *error == NULL ? it.left == 0 : FALSE;
}

gboolean
ql_tlv_validate(const guint8 *buf, gsize len, guint max_depth, GError **error)
{
	g_autoptr(GError) local = NULL;
	if (!ql_tlv_validate_depth(buf, len, 1, max_depth, &local)) {
		if (local == NULL)
			local = g_error_new_literal(QL_ERROR, QL_ERROR_MALFORMED, "TLV: malformed");
		g_propagate_error(error, g_steal_pointer(&local));
		return FALSE;
	}
	return TRUE;
}

void
ql_tlv_iter_init(QlTlvIter *it, const guint8 *buf, gsize len)
{
	it->p = buf;
	it->left = buf != NULL ? len : 0;
}

void
ql_tlv_iter_init_value(QlTlvIter *it, const QlTlv *parent)
{
	ql_tlv_iter_init(it, parent->value, parent->len);
}

gboolean
ql_tlv_iter_next(QlTlvIter *it, QlTlv *out, GError **error)
{
	gsize used = 0;
	if (it->left == 0)
		return FALSE;
	if (!ql_tlv_read(it->p, it->left, out, &used, error))
		return FALSE;
	it->p += used;
	it->left -= used;
	return TRUE;
}

gboolean
ql_tlv_find(const QlTlv *parent, guint32 tag, QlTlv *out, GError **error)
{
	QlTlvIter it;
	QlTlv child;
	g_autoptr(GError) local = NULL;

	ql_tlv_iter_init_value(&it, parent);
	while (ql_tlv_iter_next(&it, &child, &local)) {
		if (child.tag == tag) {
			*out = child;
			return TRUE;
		}
	}
	if (local != NULL)
		g_propagate_error(error, g_steal_pointer(&local));
	return FALSE;
}

gboolean
ql_tlv_require(const QlTlv *parent, guint32 tag, const gchar *what, QlTlv *out, GError **error)
{
	g_autoptr(GError) local = NULL;
	if (ql_tlv_find(parent, tag, out, &local))
		return TRUE;
	if (local != NULL) {
		g_propagate_error(error, g_steal_pointer(&local));
		return FALSE;
	}
	g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED, "%s (tag %X) is missing in %X", what, tag,
		    parent->tag);
	return FALSE;
}

gboolean
ql_tlv_get_int(const QlTlv *tlv, gint64 *out, GError **error)
{
	gint64 v;
	if (tlv->len == 0 || tlv->len > 8) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "TLV %X: INTEGER of %" G_GSIZE_FORMAT " bytes", tlv->tag, tlv->len);
		return FALSE;
	}
	v = (tlv->value[0] & 0x80) ? -1 : 0;
	for (gsize i = 0; i < tlv->len; i++)
		v = (gint64)(((guint64)v << 8) | tlv->value[i]);
	*out = v;
	return TRUE;
}

gchar *
ql_tlv_get_string(const QlTlv *tlv)
{
	return g_utf8_make_valid((const gchar *)tlv->value, (gssize)tlv->len);
}

GBytes *
ql_tlv_get_bytes(const QlTlv *tlv)
{
	return g_bytes_new(tlv->value, tlv->len);
}

void
ql_tlv_put_tag(GByteArray *out, guint32 tag)
{
	for (gsize i = ql_tlv_tag_size(tag); i > 0; i--) {
		guint8 b = (tag >> ((i - 1) * 8)) & 0xff;
		g_byte_array_append(out, &b, 1);
	}
}

void
ql_tlv_put_len(GByteArray *out, gsize len)
{
	guint8 hdr[5];
	gsize n = ql_tlv_len_size(len);
	if (n == 1) {
		hdr[0] = (guint8)len;
	} else {
		hdr[0] = 0x80 | (guint8)(n - 1);
		for (gsize i = 1; i < n; i++)
			hdr[i] = (len >> ((n - 1 - i) * 8)) & 0xff;
	}
	g_byte_array_append(out, hdr, (guint)n);
}

struct _QlTlvBuilder {
	GByteArray *buf;
	GArray *stack; /* of QlTlvFrame */
};

typedef struct {
	guint32 tag;
	gsize start; /* where the value starts in buf */
} QlTlvFrame;

QlTlvBuilder *
ql_tlv_builder_new(void)
{
	QlTlvBuilder *b = g_new0(QlTlvBuilder, 1);
	b->buf = g_byte_array_new();
	b->stack = g_array_new(FALSE, FALSE, sizeof(QlTlvFrame));
	return b;
}

void
ql_tlv_builder_free(QlTlvBuilder *b)
{
	if (b == NULL)
		return;
	g_byte_array_unref(b->buf);
	g_array_unref(b->stack);
	g_free(b);
}

void
ql_tlv_builder_begin(QlTlvBuilder *b, guint32 tag)
{
	QlTlvFrame f = {tag, b->buf->len};
	g_array_append_val(b->stack, f);
}

void
ql_tlv_builder_end(QlTlvBuilder *b)
{
	QlTlvFrame f;
	g_autoptr(GByteArray) hdr = g_byte_array_new();

	g_return_if_fail(b->stack->len > 0);
	f = g_array_index(b->stack, QlTlvFrame, b->stack->len - 1);
	g_array_set_size(b->stack, b->stack->len - 1);
	ql_tlv_put_tag(hdr, f.tag);
	ql_tlv_put_len(hdr, b->buf->len - f.start);
	/* insert the header before the value */
	g_byte_array_set_size(b->buf, b->buf->len + hdr->len);
	memmove(b->buf->data + f.start + hdr->len, b->buf->data + f.start,
		b->buf->len - hdr->len - f.start);
	memcpy(b->buf->data + f.start, hdr->data, hdr->len);
}

void
ql_tlv_builder_add(QlTlvBuilder *b, guint32 tag, const guint8 *data, gsize len)
{
	ql_tlv_put_tag(b->buf, tag);
	ql_tlv_put_len(b->buf, len);
	if (len > 0)
		g_byte_array_append(b->buf, data, (guint)len);
}

void
ql_tlv_builder_add_bytes(QlTlvBuilder *b, guint32 tag, GBytes *data)
{
	gsize len = 0;
	const guint8 *p = data != NULL ? g_bytes_get_data(data, &len) : NULL;
	ql_tlv_builder_add(b, tag, p, len);
}

void
ql_tlv_builder_add_string(QlTlvBuilder *b, guint32 tag, const gchar *str)
{
	ql_tlv_builder_add(b, tag, (const guint8 *)str, strlen(str));
}

void
ql_tlv_builder_add_int(QlTlvBuilder *b, guint32 tag, gint64 value)
{
	guint8 tmp[8];
	gsize n = 8;
	for (gsize i = 0; i < 8; i++)
		tmp[i] = ((guint64)value >> ((7 - i) * 8)) & 0xff;
	/* minimal two's complement */
	gsize start = 0;
	while (start < 7 && ((tmp[start] == 0x00 && !(tmp[start + 1] & 0x80)) ||
			     (tmp[start] == 0xff && (tmp[start + 1] & 0x80))))
		start++;
	n -= start;
	ql_tlv_builder_add(b, tag, tmp + start, n);
}

void
ql_tlv_builder_add_raw(QlTlvBuilder *b, const guint8 *data, gsize len)
{
	g_byte_array_append(b->buf, data, (guint)len);
}

GBytes *
ql_tlv_builder_finish(QlTlvBuilder *b)
{
	GBytes *out;
	g_warn_if_fail(b->stack->len == 0);
	out = g_byte_array_free_to_bytes(g_steal_pointer(&b->buf));
	g_array_unref(b->stack);
	g_free(b);
	return out;
}

gchar *
ql_hex_encode(const guint8 *data, gsize len)
{
	static const gchar digits[] = "0123456789ABCDEF";
	gchar *out = g_malloc(len * 2 + 1);
	for (gsize i = 0; i < len; i++) {
		out[i * 2] = digits[data[i] >> 4];
		out[i * 2 + 1] = digits[data[i] & 0xf];
	}
	out[len * 2] = '\0';
	return out;
}

GBytes *
ql_hex_decode(const gchar *hex, GError **error)
{
	g_autoptr(GByteArray) out = g_byte_array_new();
	gsize n = 0;
	gint hi = -1;

	for (const gchar *p = hex; *p != '\0'; p++) {
		gint v;
		if (g_ascii_isspace(*p) || *p == ':')
			continue;
		v = g_ascii_xdigit_value(*p);
		if (v < 0) {
			g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "'%c' is not a hex digit", *p);
			return NULL;
		}
		n++;
		if (hi < 0) {
			hi = v;
		} else {
			guint8 b = (guint8)((hi << 4) | v);
			g_byte_array_append(out, &b, 1);
			hi = -1;
		}
	}
	if (hi >= 0) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "odd number of hex digits");
		return NULL;
	}
	return g_byte_array_free_to_bytes(g_steal_pointer(&out));
}

gchar *
ql_iccid_from_bcd(const guint8 *data, gsize len)
{
	GString *s = g_string_sized_new(len * 2);
	for (gsize i = 0; i < len; i++) {
		guint8 lo = data[i] & 0x0f, hi = data[i] >> 4;
		if (lo > 9)
			break;
		g_string_append_c(s, (gchar)('0' + lo));
		if (hi > 9)
			break;
		g_string_append_c(s, (gchar)('0' + hi));
	}
	return g_string_free(s, FALSE);
}

GBytes *
ql_iccid_to_bcd(const gchar *iccid, GError **error)
{
	gsize n = strlen(iccid);
	guint8 out[10];

	if (n < 18 || n > 20) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "'%s' is not an ICCID (18 to 20 digits)", iccid);
		return NULL;
	}
	memset(out, 0xff, sizeof(out));
	for (gsize i = 0; i < n; i++) {
		guint8 d;
		if (!g_ascii_isdigit(iccid[i])) {
			g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "'%s' is not an ICCID (digits only)", iccid);
			return NULL;
		}
		d = (guint8)(iccid[i] - '0');
		if (i % 2 == 0)
			out[i / 2] = (out[i / 2] & 0xf0) | d;
		else
			out[i / 2] = (out[i / 2] & 0x0f) | (guint8)(d << 4);
	}
	return g_bytes_new(out, sizeof(out));
}
