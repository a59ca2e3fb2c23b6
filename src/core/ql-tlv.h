/*
 * BER-TLV codec (ISO/IEC 8825-1 subset used by SGP.22): multi-byte tags, definite lengths only,
 * strict bounds. Tags are held as the tag bytes packed big-endian in a guint32: 0x5A, 0xBF3E,
 * 0x5F49. Every module that reads or writes TLV goes through this file.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <glib.h>

#include "quantra-l/ql-hex.h"

G_BEGIN_DECLS

#define QL_TLV_MAX_DEPTH 16

typedef struct {
	guint32 tag;
	const guint8 *value; /* points into the parsed buffer */
	gsize len;
	const guint8 *raw; /* the whole TLV, tag to end of value */
	gsize raw_len;
} QlTlv;

typedef struct {
	const guint8 *p;
	gsize left;
} QlTlvIter;

gboolean ql_tlv_tag_is_constructed(guint32 tag);
gsize ql_tlv_tag_size(guint32 tag);

/* Reads one TLV at the start of @buf; @consumed (may be NULL) gets its whole size. */
gboolean ql_tlv_read(const guint8 *buf, gsize len, QlTlv *out, gsize *consumed, GError **error);
/* Reads one TLV that must fill @buf exactly, and checks that the tag is @want (0: any). */
gboolean ql_tlv_read_exact(const guint8 *buf, gsize len, guint32 want, QlTlv *out, GError **error);
/* Checks the whole structure recursively: every constructed value parses, depth <= max_depth. */
gboolean ql_tlv_validate(const guint8 *buf, gsize len, guint max_depth, GError **error);

void ql_tlv_iter_init(QlTlvIter *it, const guint8 *buf, gsize len);
void ql_tlv_iter_init_value(QlTlvIter *it, const QlTlv *parent);
/* TRUE with @out set; FALSE at the end (error unset) or on malformed data (error set). */
gboolean ql_tlv_iter_next(QlTlvIter *it, QlTlv *out, GError **error);

/* Finds the first direct child of @parent with @tag. FALSE with error unset when absent. */
gboolean ql_tlv_find(const QlTlv *parent, guint32 tag, QlTlv *out, GError **error);
/* As ql_tlv_find, but absence is an error naming @what. */
gboolean ql_tlv_require(const QlTlv *parent, guint32 tag, const gchar *what, QlTlv *out,
			GError **error);

/* ASN.1 INTEGER (two's complement, 1..8 bytes) */
gboolean ql_tlv_get_int(const QlTlv *tlv, gint64 *out, GError **error);
gchar *ql_tlv_get_string(const QlTlv *tlv); /* UTF8String, made valid, NUL-terminated */
GBytes *ql_tlv_get_bytes(const QlTlv *tlv);

/* Writes tag+length headers */
void ql_tlv_put_tag(GByteArray *out, guint32 tag);
void ql_tlv_put_len(GByteArray *out, gsize len);
gsize ql_tlv_len_size(gsize len);

/* A builder with nesting: begin(tag) ... end() wraps what was added between them. */
typedef struct _QlTlvBuilder QlTlvBuilder;
QlTlvBuilder *ql_tlv_builder_new(void);
void ql_tlv_builder_free(QlTlvBuilder *b);
void ql_tlv_builder_begin(QlTlvBuilder *b, guint32 tag);
void ql_tlv_builder_end(QlTlvBuilder *b);
void ql_tlv_builder_add(QlTlvBuilder *b, guint32 tag, const guint8 *data, gsize len);
void ql_tlv_builder_add_bytes(QlTlvBuilder *b, guint32 tag, GBytes *data);
void ql_tlv_builder_add_string(QlTlvBuilder *b, guint32 tag, const gchar *str);
void ql_tlv_builder_add_int(QlTlvBuilder *b, guint32 tag, gint64 value);
void ql_tlv_builder_add_raw(QlTlvBuilder *b, const guint8 *data, gsize len);
/* Finishes (all begins must be ended) and frees the builder. */
GBytes *ql_tlv_builder_finish(QlTlvBuilder *b);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlTlvBuilder, ql_tlv_builder_free)

/* ICCID: BCD with swapped nibbles, F padding */
gchar *ql_iccid_from_bcd(const guint8 *data, gsize len);
GBytes *ql_iccid_to_bcd(const gchar *iccid, GError **error);

G_END_DECLS
