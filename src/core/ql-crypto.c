/*
 * Cryptography for the profile download. See ql-crypto.h.
 *
 * GnuTLS's public API does hashing, HMAC, CMAC, AES-CBC, AES-GCM and ECDSA. GnuTLS 3.7.9 has no
 * public raw ECDH, so that part uses nettle/hogweed's ECC functions directly.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include <gnutls/crypto.h>
#include <nettle/bignum.h>
#include <nettle/ecc-curve.h>
#include <nettle/ecc.h>

#include "quantra-l/ql-error.h"
#include "ql-crypto.h"
#include "ql-tlv.h"

/* Scoped cleanup for the GnuTLS handles used here (kept local: other headers define some). */
typedef gnutls_privkey_t QlCryptoPrivkey;
typedef gnutls_pubkey_t QlCryptoPubkey;
G_DEFINE_AUTO_CLEANUP_FREE_FUNC(QlCryptoPrivkey, gnutls_privkey_deinit, NULL)
G_DEFINE_AUTO_CLEANUP_FREE_FUNC(QlCryptoPubkey, gnutls_pubkey_deinit, NULL)

static gboolean
gnutls_fail(int rc, const gchar *what, GError **error)
{
	g_set_error(error, QL_ERROR, QL_ERROR_FAILED, "%s: %s", what, gnutls_strerror(rc));
	return FALSE;
}

/* --- generic helpers --- */

gboolean
ql_crypto_random(guint8 *buf, gsize len, GError **error)
{
	int rc;
	if (len == 0)
		return TRUE;
	rc = gnutls_rnd(GNUTLS_RND_KEY, buf, len);
	if (rc < 0)
		return gnutls_fail(rc, "random number generator", error);
	return TRUE;
}

void
ql_crypto_wipe(gpointer p, gsize len)
{
	if (p != NULL && len > 0)
		gnutls_memset(p, 0, len);
}

gboolean
ql_crypto_equal(const guint8 *a, const guint8 *b, gsize len)
{
	if (len == 0)
		return TRUE;
	return gnutls_memcmp(a, b, len) == 0;
}

typedef struct {
	gsize len;
	guint8 data[];
} QlSecret;

static void
secret_free(gpointer p)
{
	QlSecret *s = p;
	ql_crypto_wipe(s->data, s->len);
	g_free(s);
}

GBytes *
ql_crypto_secret_bytes_new(const guint8 *data, gsize len)
{
	QlSecret *s = g_malloc(sizeof(QlSecret) + len + 1);
	s->len = len;
	if (len > 0)
		memcpy(s->data, data, len);
	return g_bytes_new_with_free_func(s->data, len, secret_free, s);
}

gboolean
ql_crypto_sha256(const guint8 *data, gsize len, guint8 out[QL_CRYPTO_SHA256_LEN], GError **error)
{
	int rc = gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, out);
	if (rc < 0)
		return gnutls_fail(rc, "SHA-256", error);
	return TRUE;
}

gboolean
ql_crypto_hmac_sha256(const guint8 *key, gsize key_len, const guint8 *data, gsize len,
		      guint8 out[QL_CRYPTO_SHA256_LEN], GError **error)
{
	int rc = gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, key_len, data, len, out);
	if (rc < 0)
		return gnutls_fail(rc, "HMAC-SHA256", error);
	return TRUE;
}

gboolean
ql_crypto_x963_kdf_sha256(const guint8 *z, gsize z_len, const guint8 *shared_info,
			  gsize shared_info_len, guint8 *out, gsize out_len, GError **error)
{
	guint8 block[QL_CRYPTO_SHA256_LEN];
	guint32 counter = 1;
	gsize done = 0;

	/* ANSI X9.63 5.6.3: K_i = Hash(Z || counter (32-bit big-endian, from 1) || SharedInfo) */
	while (done < out_len) {
		gnutls_hash_hd_t h = NULL;
		guint8 be[4] = {counter >> 24, counter >> 16, counter >> 8, counter};
		gsize n = MIN(out_len - done, sizeof(block));
		int rc = gnutls_hash_init(&h, GNUTLS_DIG_SHA256);
		if (rc < 0)
			return gnutls_fail(rc, "X9.63 KDF", error);
		if (gnutls_hash(h, z, z_len) < 0 || gnutls_hash(h, be, sizeof(be)) < 0 ||
		    (shared_info_len > 0 && gnutls_hash(h, shared_info, shared_info_len) < 0)) {
			gnutls_hash_deinit(h, NULL);
			g_set_error_literal(error, QL_ERROR, QL_ERROR_FAILED,
					    "X9.63 KDF: hashing failed");
			return FALSE;
		}
		gnutls_hash_deinit(h, block);
		memcpy(out + done, block, n);
		done += n;
		counter++;
	}
	ql_crypto_wipe(block, sizeof(block));
	return TRUE;
}

gboolean
ql_crypto_hash_cc(const gchar *confirmation_code, const guint8 *transaction_id,
		  gsize transaction_id_len, guint8 out[QL_CRYPTO_SHA256_LEN], GError **error)
{
	guint8 buf[QL_CRYPTO_SHA256_LEN + 16];
	gboolean ok;

	if (confirmation_code == NULL || transaction_id_len == 0 || transaction_id_len > 16) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "hashCc needs a confirmation code and a transaction id of "
				    "1 to 16 bytes");
		return FALSE;
	}
	if (!ql_crypto_sha256((const guint8 *)confirmation_code, strlen(confirmation_code), buf,
			      error))
		return FALSE;
	memcpy(buf + QL_CRYPTO_SHA256_LEN, transaction_id, transaction_id_len);
	ok = ql_crypto_sha256(buf, QL_CRYPTO_SHA256_LEN + transaction_id_len, out, error);
	ql_crypto_wipe(buf, sizeof(buf));
	return ok;
}

/* --- ECDH on NIST P-256 with nettle --- */

/*
 * Nettle takes coordinates and scalars as GMP integers. To keep libgmp out of our own link line
 * we hand it read-only views of limb arrays (GMP's MPZ_ROINIT_N), so nettle's own range and
 * on-curve checks (ecc_point_set, ecc_scalar_set) still run, and read results from the limbs of
 * struct ecc_point, which nettle keeps as affine x then y, least significant limb first (what
 * ecc_point_get copies out).
 */
#if defined(GMP_NAIL_BITS) && GMP_NAIL_BITS != 0
#error "GMP with nail bits is not supported"
#endif
#define P256_BYTES 32
#define P256_LIMBS (P256_BYTES / sizeof(mp_limb_t))

static void
be_to_limbs(const guint8 *be, mp_limb_t *limbs)
{
	memset(limbs, 0, P256_LIMBS * sizeof(mp_limb_t));
	for (gsize i = 0; i < P256_BYTES; i++)
		limbs[i / sizeof(mp_limb_t)] |= (mp_limb_t)be[P256_BYTES - 1 - i]
						<< (8 * (i % sizeof(mp_limb_t)));
}

static void
limbs_to_be(const mp_limb_t *limbs, guint8 *be)
{
	for (gsize i = 0; i < P256_BYTES; i++)
		be[P256_BYTES - 1 - i] =
			(guint8)(limbs[i / sizeof(mp_limb_t)] >> (8 * (i % sizeof(mp_limb_t))));
}

/* GMP wants the size of a read-only integer normalised (no high zero limbs). */
static int
limbs_used(const mp_limb_t *limbs)
{
	int n = P256_LIMBS;
	while (n > 0 && limbs[n - 1] == 0)
		n--;
	return n;
}

static const struct ecc_curve *
p256(GError **error)
{
	const struct ecc_curve *curve = nettle_get_secp_256r1();
	if (ecc_size(curve) != (mp_size_t)P256_LIMBS) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_FAILED,
				    "nettle: unexpected P-256 limb size");
		return NULL;
	}
	return curve;
}

/* Loads a private scalar; nettle refuses 0 and values >= the group order. */
static gboolean
scalar_load(const struct ecc_curve *curve, const guint8 priv[QL_CRYPTO_EC_PRIV_LEN],
	    struct ecc_scalar *s, GError **error)
{
	mp_limb_t k[P256_LIMBS];
	gboolean ok;

	be_to_limbs(priv, k);
	{
		mpz_t kz = MPZ_ROINIT_N(k, limbs_used(k));
		ecc_scalar_init(s, curve);
		ok = ecc_scalar_set(s, kz) != 0;
	}
	ql_crypto_wipe(k, sizeof(k));
	if (!ok) {
		ql_crypto_wipe(s->p, P256_LIMBS * sizeof(mp_limb_t));
		ecc_scalar_clear(s);
		g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "EC private key out of range for P-256");
		return FALSE;
	}
	return TRUE;
}

static void
scalar_clear(struct ecc_scalar *s)
{
	ql_crypto_wipe(s->p, P256_LIMBS * sizeof(mp_limb_t));
	ecc_scalar_clear(s);
}

static void
point_store(const struct ecc_point *pt, guint8 pub[QL_CRYPTO_EC_PUB_LEN])
{
	pub[0] = 0x04;
	limbs_to_be(pt->p, pub + 1);
	limbs_to_be(pt->p + P256_LIMBS, pub + 1 + P256_BYTES);
}

/* Loads a peer point; SGP.22 3.1.3 / BSI TR-03111 ECKA: refuse anything that is not a valid
 * uncompressed point of the curve (an invalid point would leak bits of our key). */
static gboolean
point_load(const struct ecc_curve *curve, const guint8 *pub, gsize len, struct ecc_point *pt,
	   GError **error)
{
	mp_limb_t x[P256_LIMBS], y[P256_LIMBS];

	if (len != QL_CRYPTO_EC_PUB_LEN) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "EC public key: %" G_GSIZE_FORMAT " bytes, expected 65 (04||X||Y)",
			    len);
		return FALSE;
	}
	if (pub[0] != 0x04) {
		g_set_error(
			error, QL_ERROR, QL_ERROR_MALFORMED,
			"EC public key: prefix %02x, only uncompressed points (04) are accepted",
			pub[0]);
		return FALSE;
	}
	be_to_limbs(pub + 1, x);
	be_to_limbs(pub + 1 + P256_BYTES, y);
	{
		mpz_t xz = MPZ_ROINIT_N(x, limbs_used(x));
		mpz_t yz = MPZ_ROINIT_N(y, limbs_used(y));
		ecc_point_init(pt, curve);
		if (!ecc_point_set(pt, xz, yz)) {
			ecc_point_clear(pt);
			g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED,
					    "EC public key is not a point of P-256");
			return FALSE;
		}
	}
	return TRUE;
}

gboolean
ql_crypto_ec_public_from_private(const guint8 priv[QL_CRYPTO_EC_PRIV_LEN],
				 guint8 pub[QL_CRYPTO_EC_PUB_LEN], GError **error)
{
	const struct ecc_curve *curve = p256(error);
	struct ecc_scalar s;
	struct ecc_point pt;

	if (curve == NULL || !scalar_load(curve, priv, &s, error))
		return FALSE;
	ecc_point_init(&pt, curve);
	ecc_point_mul_g(&pt, &s);
	point_store(&pt, pub);
	ecc_point_clear(&pt);
	scalar_clear(&s);
	return TRUE;
}

gboolean
ql_crypto_ec_generate(QlEcKeyPair *out, GError **error)
{
	const struct ecc_curve *curve = p256(error);
	if (curve == NULL)
		return FALSE;
	/* Rejection sampling: a random 256-bit value is below the order nearly always. */
	for (guint tries = 0; tries < 64; tries++) {
		g_autoptr(GError) local = NULL;
		if (!ql_crypto_random(out->priv, sizeof(out->priv), error))
			return FALSE;
		if (ql_crypto_ec_public_from_private(out->priv, out->pub, &local))
			return TRUE;
	}
	ql_crypto_ec_keypair_clear(out);
	g_set_error_literal(error, QL_ERROR, QL_ERROR_FAILED,
			    "could not draw a P-256 private key (random number generator broken?)");
	return FALSE;
}

void
ql_crypto_ec_keypair_clear(QlEcKeyPair *kp)
{
	ql_crypto_wipe(kp, sizeof(*kp));
}

gboolean
ql_crypto_ec_check_public(const guint8 *pub, gsize len, GError **error)
{
	const struct ecc_curve *curve = p256(error);
	struct ecc_point pt;
	if (curve == NULL || !point_load(curve, pub, len, &pt, error))
		return FALSE;
	ecc_point_clear(&pt);
	return TRUE;
}

gboolean
ql_crypto_ecdh(const guint8 priv[QL_CRYPTO_EC_PRIV_LEN], const guint8 *peer_pub, gsize peer_pub_len,
	       guint8 secret[QL_CRYPTO_ECDH_LEN], GError **error)
{
	const struct ecc_curve *curve = p256(error);
	struct ecc_point peer, shared;
	struct ecc_scalar s;

	if (curve == NULL || !point_load(curve, peer_pub, peer_pub_len, &peer, error))
		return FALSE;
	if (!scalar_load(curve, priv, &s, error)) {
		ecc_point_clear(&peer);
		return FALSE;
	}
	/* The curve has prime order and cofactor 1, so a valid point times a scalar in [1, q-1]
	 * is never the point at infinity. */
	ecc_point_init(&shared, curve);
	ecc_point_mul(&shared, &s, &peer);
	limbs_to_be(shared.p, secret);
	ql_crypto_wipe(shared.p, 2 * P256_LIMBS * sizeof(mp_limb_t));
	ecc_point_clear(&shared);
	ecc_point_clear(&peer);
	scalar_clear(&s);
	return TRUE;
}

gboolean
ql_crypto_ec_pubkey_import(const guint8 *pub, gsize len, gnutls_pubkey_t *out, GError **error)
{
	g_auto(QlCryptoPubkey) key = NULL;
	gnutls_datum_t x, y;
	int rc;

	if (!ql_crypto_ec_check_public(pub, len, error))
		return FALSE;
	x.data = (guint8 *)pub + 1;
	x.size = P256_BYTES;
	y.data = (guint8 *)pub + 1 + P256_BYTES;
	y.size = P256_BYTES;
	rc = gnutls_pubkey_init(&key);
	if (rc < 0)
		return gnutls_fail(rc, "EC public key", error);
	rc = gnutls_pubkey_import_ecc_raw(key, GNUTLS_ECC_CURVE_SECP256R1, &x, &y);
	if (rc < 0)
		return gnutls_fail(rc, "EC public key import", error);
	*out = g_steal_pointer(&key);
	return TRUE;
}

/* --- ECDSA P-256 / SHA-256, raw r||s --- */

/* Copies a big-endian unsigned integer into a fixed 32-byte field, left-padded with zeros. */
static gboolean
int_to_field(const gnutls_datum_t *v, guint8 out[P256_BYTES])
{
	const guint8 *p = v->data;
	gsize n = v->size;
	while (n > 0 && *p == 0) {
		p++;
		n--;
	}
	if (n > P256_BYTES)
		return FALSE;
	memset(out, 0, P256_BYTES - n);
	if (n > 0)
		memcpy(out + P256_BYTES - n, p, n);
	return TRUE;
}

/* The shortest big-endian form of a 32-byte field (at least one byte), for DER encoding. */
static gnutls_datum_t
field_to_int(const guint8 *field)
{
	gnutls_datum_t d;
	gsize skip = 0;
	while (skip < P256_BYTES - 1 && field[skip] == 0)
		skip++;
	d.data = (guint8 *)field + skip;
	d.size = P256_BYTES - skip;
	return d;
}

gboolean
ql_crypto_ecdsa_sign(gnutls_privkey_t key, const guint8 *data, gsize len,
		     guint8 sig[QL_CRYPTO_ECDSA_SIG_LEN], GError **error)
{
	gnutls_datum_t msg = {(guint8 *)data, len};
	gnutls_datum_t der = {NULL, 0}, r = {NULL, 0}, s = {NULL, 0};
	unsigned int bits = 0;
	gboolean ok;
	int rc;

	if (gnutls_privkey_get_pk_algorithm(key, &bits) != GNUTLS_PK_ECDSA || bits != 256) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "ECDSA signing needs a NIST P-256 key");
		return FALSE;
	}
	rc = gnutls_privkey_sign_data2(key, GNUTLS_SIGN_ECDSA_SHA256, 0, &msg, &der);
	if (rc < 0)
		return gnutls_fail(rc, "ECDSA signing", error);
	rc = gnutls_decode_rs_value(&der, &r, &s);
	gnutls_free(der.data);
	if (rc < 0)
		return gnutls_fail(rc, "ECDSA signature decoding", error);
	ok = int_to_field(&r, sig) && int_to_field(&s, sig + P256_BYTES);
	gnutls_free(r.data);
	gnutls_free(s.data);
	if (!ok) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_FAILED,
				    "ECDSA signature: r or s longer than 32 bytes");
		return FALSE;
	}
	return TRUE;
}

gboolean
ql_crypto_ecdsa_sign_x509(gnutls_x509_privkey_t key, const guint8 *data, gsize len,
			  guint8 sig[QL_CRYPTO_ECDSA_SIG_LEN], GError **error)
{
	g_auto(QlCryptoPrivkey) pk = NULL;
	int rc = gnutls_privkey_init(&pk);
	if (rc < 0)
		return gnutls_fail(rc, "ECDSA key", error);
	/* no AUTO_RELEASE flag: @key stays the caller's */
	rc = gnutls_privkey_import_x509(pk, key, 0);
	if (rc < 0)
		return gnutls_fail(rc, "ECDSA key import", error);
	return ql_crypto_ecdsa_sign(pk, data, len, sig, error);
}

gboolean
ql_crypto_ecdsa_verify(gnutls_pubkey_t key, const guint8 *data, gsize len, const guint8 *sig,
		       gsize sig_len, GError **error)
{
	gnutls_datum_t msg = {(guint8 *)data, len};
	gnutls_datum_t der = {NULL, 0}, r, s;
	int rc;

	if (sig_len != QL_CRYPTO_ECDSA_SIG_LEN) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "ECDSA signature: %" G_GSIZE_FORMAT " bytes, expected 64 (r||s)",
			    sig_len);
		return FALSE;
	}
	r = field_to_int(sig);
	s = field_to_int(sig + P256_BYTES);
	rc = gnutls_encode_rs_value(&der, &r, &s);
	if (rc < 0)
		return gnutls_fail(rc, "ECDSA signature encoding", error);
	rc = gnutls_pubkey_verify_data2(key, GNUTLS_SIGN_ECDSA_SHA256, 0, &msg, &der);
	gnutls_free(der.data);
	if (rc < 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_AUTH, "ECDSA signature does not verify: %s",
			    gnutls_strerror(rc));
		return FALSE;
	}
	return TRUE;
}

gboolean
ql_crypto_ecdsa_verify_crt(gnutls_x509_crt_t crt, const guint8 *data, gsize len, const guint8 *sig,
			   gsize sig_len, GError **error)
{
	g_auto(QlCryptoPubkey) pub = NULL;
	int rc = gnutls_pubkey_init(&pub);
	if (rc < 0)
		return gnutls_fail(rc, "certificate public key", error);
	rc = gnutls_pubkey_import_x509(pub, crt, 0);
	if (rc < 0)
		return gnutls_fail(rc, "certificate public key import", error);
	return ql_crypto_ecdsa_verify(pub, data, len, sig, sig_len, error);
}

GBytes *
ql_crypto_sig_to_tlv(const guint8 sig[QL_CRYPTO_ECDSA_SIG_LEN])
{
	g_autoptr(QlTlvBuilder) b = ql_tlv_builder_new();
	ql_tlv_builder_add(b, QL_CRYPTO_SIG_TAG, sig, QL_CRYPTO_ECDSA_SIG_LEN);
	return ql_tlv_builder_finish(g_steal_pointer(&b));
}

gboolean
ql_crypto_sig_from_tlv(const guint8 *tlv, gsize len, guint8 sig[QL_CRYPTO_ECDSA_SIG_LEN],
		       GError **error)
{
	QlTlv t;
	if (!ql_tlv_read_exact(tlv, len, QL_CRYPTO_SIG_TAG, &t, error))
		return FALSE;
	if (t.len != QL_CRYPTO_ECDSA_SIG_LEN) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "signature (5F37): %" G_GSIZE_FORMAT " bytes, expected 64", t.len);
		return FALSE;
	}
	memcpy(sig, t.value, QL_CRYPTO_ECDSA_SIG_LEN);
	return TRUE;
}

/* --- AES-256-GCM for the vault --- */

static gboolean
gcm_init(gnutls_aead_cipher_hd_t *h, const guint8 key[QL_CRYPTO_VAULT_KEY_LEN], GError **error)
{
	gnutls_datum_t k = {(guint8 *)key, QL_CRYPTO_VAULT_KEY_LEN};
	int rc = gnutls_aead_cipher_init(h, GNUTLS_CIPHER_AES_256_GCM, &k);
	if (rc < 0)
		return gnutls_fail(rc, "AES-256-GCM", error);
	return TRUE;
}

GBytes *
ql_crypto_seal(const guint8 key[QL_CRYPTO_VAULT_KEY_LEN], const guint8 *ad, gsize ad_len,
	       const guint8 *plaintext, gsize len, GError **error)
{
	gnutls_aead_cipher_hd_t h = NULL;
	gsize total = QL_CRYPTO_GCM_NONCE_LEN + len + QL_CRYPTO_GCM_TAG_LEN;
	gsize ct_len = len + QL_CRYPTO_GCM_TAG_LEN;
	g_autofree guint8 *out = g_malloc(total);
	int rc;

	/* A fresh random 96-bit nonce per record: keys seal few records, so collisions are
	 * negligible (NIST SP 800-38D 8.2.2). */
	if (!ql_crypto_random(out, QL_CRYPTO_GCM_NONCE_LEN, error))
		return NULL;
	if (!gcm_init(&h, key, error))
		return NULL;
	rc = gnutls_aead_cipher_encrypt(h, out, QL_CRYPTO_GCM_NONCE_LEN, ad, ad_len,
					QL_CRYPTO_GCM_TAG_LEN, plaintext, len,
					out + QL_CRYPTO_GCM_NONCE_LEN, &ct_len);
	gnutls_aead_cipher_deinit(h);
	if (rc < 0 || ct_len != len + QL_CRYPTO_GCM_TAG_LEN) {
		g_set_error(error, QL_ERROR, QL_ERROR_FAILED, "AES-256-GCM sealing: %s",
			    rc < 0 ? gnutls_strerror(rc) : "unexpected output size");
		return NULL;
	}
	return g_bytes_new_take(g_steal_pointer(&out), total);
}

GBytes *
ql_crypto_open(const guint8 key[QL_CRYPTO_VAULT_KEY_LEN], const guint8 *ad, gsize ad_len,
	       const guint8 *sealed, gsize len, GError **error)
{
	gnutls_aead_cipher_hd_t h = NULL;
	g_autofree guint8 *pt = NULL;
	gsize pt_len;
	GBytes *result;
	int rc;

	if (len < QL_CRYPTO_GCM_NONCE_LEN + QL_CRYPTO_GCM_TAG_LEN) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "sealed record too short for nonce and tag");
		return NULL;
	}
	pt_len = len - QL_CRYPTO_GCM_NONCE_LEN - QL_CRYPTO_GCM_TAG_LEN;
	pt = g_malloc(pt_len + 1);
	if (!gcm_init(&h, key, error))
		return NULL;
	rc = gnutls_aead_cipher_decrypt(h, sealed, QL_CRYPTO_GCM_NONCE_LEN, ad, ad_len,
					QL_CRYPTO_GCM_TAG_LEN, sealed + QL_CRYPTO_GCM_NONCE_LEN,
					len - QL_CRYPTO_GCM_NONCE_LEN, pt, &pt_len);
	gnutls_aead_cipher_deinit(h);
	if (rc < 0) {
		ql_crypto_wipe(pt, len - QL_CRYPTO_GCM_NONCE_LEN - QL_CRYPTO_GCM_TAG_LEN);
		g_set_error_literal(error, QL_ERROR, QL_ERROR_AUTH,
				    "sealed record refused: it was changed, or belongs to another "
				    "record or key");
		return NULL;
	}
	result = ql_crypto_secret_bytes_new(pt, pt_len);
	ql_crypto_wipe(pt, pt_len);
	return result;
}

/* --- BSP (SGP.22 2.5.5, 2.6.4) --- */

struct _QlBsp {
	guint8 s_enc[QL_BSP_KEY_LEN];
	guint8 s_mac[QL_BSP_KEY_LEN];
	guint8 chain[QL_BSP_KEY_LEN]; /* the full C-MAC of the previous segment */
	guint64 counter;	      /* block counter for the ICV, from 1 */
};

gboolean
ql_bsp_derive_keys(const guint8 *shared_secret, gsize secret_len, const guint8 *host_id,
		   gsize host_id_len, const guint8 *eid, gsize eid_len, QlBspKeys *out,
		   GError **error)
{
	g_autoptr(GByteArray) info = g_byte_array_new();
	guint8 kdf[3 * QL_BSP_KEY_LEN];
	const guint8 head[] = {0x88 /* key type: AES */, QL_BSP_KEY_LEN /* key length */};

	if (secret_len == 0 || host_id_len == 0 || eid_len == 0) {
		g_set_error_literal(
			error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			"BSP key derivation needs a shared secret, a hostId and an EID");
		return FALSE;
	}
	/* SGP.22 2.6.4.2: shared info = key type || key length || L || hostId || L || EID, the
	 * lengths in BER form as for a TLV */
	g_byte_array_append(info, head, sizeof(head));
	ql_tlv_put_len(info, host_id_len);
	g_byte_array_append(info, host_id, host_id_len);
	ql_tlv_put_len(info, eid_len);
	g_byte_array_append(info, eid, eid_len);

	if (!ql_crypto_x963_kdf_sha256(shared_secret, secret_len, info->data, info->len, kdf,
				       sizeof(kdf), error))
		return FALSE;
	/* output order: initial MAC chaining value, S-ENC, S-MAC */
	memcpy(out->initial_mcv, kdf, QL_BSP_KEY_LEN);
	memcpy(out->s_enc, kdf + QL_BSP_KEY_LEN, QL_BSP_KEY_LEN);
	memcpy(out->s_mac, kdf + 2 * QL_BSP_KEY_LEN, QL_BSP_KEY_LEN);
	ql_crypto_wipe(kdf, sizeof(kdf));
	return TRUE;
}

void
ql_bsp_keys_clear(QlBspKeys *keys)
{
	ql_crypto_wipe(keys, sizeof(*keys));
}

QlBsp *
ql_bsp_new(const QlBspKeys *keys)
{
	QlBsp *bsp = g_new0(QlBsp, 1);
	ql_bsp_replace_keys(bsp, keys->s_enc, keys->s_mac, keys->initial_mcv);
	return bsp;
}

void
ql_bsp_free(QlBsp *bsp)
{
	if (bsp == NULL)
		return;
	ql_crypto_wipe(bsp, sizeof(*bsp));
	g_free(bsp);
}

void
ql_bsp_replace_keys(QlBsp *bsp, const guint8 ppk_enc[QL_BSP_KEY_LEN],
		    const guint8 ppk_mac[QL_BSP_KEY_LEN], const guint8 initial_mcv[QL_BSP_KEY_LEN])
{
	memcpy(bsp->s_enc, ppk_enc, QL_BSP_KEY_LEN);
	memcpy(bsp->s_mac, ppk_mac, QL_BSP_KEY_LEN);
	memcpy(bsp->chain, initial_mcv, QL_BSP_KEY_LEN);
	bsp->counter = 1;
}

gboolean
ql_bsp_replace_keys_from_tlv(QlBsp *bsp, const guint8 *bf26, gsize len, GError **error)
{
	const struct {
		guint32 tag;
		const gchar *what;
	} fields[] = {
		{0x80, "initialMacChainingValue"},
		{0x81, "ppkEnc"},
		{0x82, "ppkCmac"},
	};
	QlTlv top, f[G_N_ELEMENTS(fields)];

	if (!ql_tlv_read_exact(bf26, len, 0xBF26, &top, error)) {
		g_prefix_error(error, "ReplaceSessionKeys: ");
		return FALSE;
	}
	for (gsize i = 0; i < G_N_ELEMENTS(fields); i++) {
		if (!ql_tlv_require(&top, fields[i].tag, fields[i].what, &f[i], error)) {
			g_prefix_error(error, "ReplaceSessionKeys: ");
			return FALSE;
		}
		if (f[i].len != QL_BSP_KEY_LEN) {
			g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "ReplaceSessionKeys: %s has %" G_GSIZE_FORMAT
				    " bytes, expected 16",
				    fields[i].what, f[i].len);
			return FALSE;
		}
	}
	ql_bsp_replace_keys(bsp, f[1].value, f[2].value, f[0].value);
	return TRUE;
}

guint64
ql_bsp_get_counter(const QlBsp *bsp)
{
	return bsp->counter;
}

static gboolean
is_encrypted_tag(guint8 tag)
{
	return tag == QL_BSP_TAG_PROFILE || tag == QL_BSP_TAG_ENC_MAC;
}

gsize
ql_bsp_max_plaintext(guint8 tag)
{
	/* 1020 - tag (1) - length (3, 82 xx xx) - MAC (8) = 1008 bytes of data; encrypted data
	 * is a multiple of 16 and always carries at least one padding byte: 1008 - 1 */
	gsize room = QL_BSP_MAX_SEGMENT - 1 - ql_tlv_len_size(QL_BSP_MAX_SEGMENT) - QL_BSP_MAC_LEN;
	if (is_encrypted_tag(tag))
		return (room / 16) * 16 - 1;
	return room;
}

/* AES-CMAC(S-MAC) over chain || tag || length || data (SGP.22 2.6.4.4). */
static gboolean
bsp_mac(const QlBsp *bsp, const guint8 *header, gsize header_len, const guint8 *data, gsize len,
	guint8 out[QL_BSP_KEY_LEN], GError **error)
{
	gnutls_hmac_hd_t h = NULL;
	int rc = gnutls_hmac_init(&h, GNUTLS_MAC_AES_CMAC_128, bsp->s_mac, QL_BSP_KEY_LEN);
	if (rc < 0)
		return gnutls_fail(rc, "BSP: AES-CMAC", error);
	if (gnutls_hmac(h, bsp->chain, QL_BSP_KEY_LEN) < 0 ||
	    gnutls_hmac(h, header, header_len) < 0 || (len > 0 && gnutls_hmac(h, data, len) < 0)) {
		gnutls_hmac_deinit(h, NULL);
		g_set_error_literal(error, QL_ERROR, QL_ERROR_FAILED, "BSP: AES-CMAC failed");
		return FALSE;
	}
	gnutls_hmac_deinit(h, out);
	return TRUE;
}

/* AES-128-CBC with ICV = AES-ECB(S-ENC, counter as a 16-byte big-endian block). GnuTLS has no
 * public ECB mode; CBC with a zero IV over one block is the same thing. */
static gboolean
bsp_cbc(const QlBsp *bsp, gboolean encrypt, const guint8 *in, guint8 *out, gsize len,
	GError **error)
{
	guint8 block[16] = {0}, icv[16], zero[16] = {0};
	gnutls_datum_t key = {(guint8 *)bsp->s_enc, QL_BSP_KEY_LEN};
	gnutls_datum_t iv = {zero, sizeof(zero)};
	gnutls_cipher_hd_t h = NULL;
	int rc;

	for (guint i = 0; i < 8; i++)
		block[15 - i] = (guint8)(bsp->counter >> (8 * i));
	rc = gnutls_cipher_init(&h, GNUTLS_CIPHER_AES_128_CBC, &key, &iv);
	if (rc < 0)
		return gnutls_fail(rc, "BSP: AES-128", error);
	rc = gnutls_cipher_encrypt2(h, block, sizeof(block), icv, sizeof(icv));
	gnutls_cipher_deinit(h);
	if (rc < 0)
		return gnutls_fail(rc, "BSP: ICV", error);

	iv.data = icv;
	rc = gnutls_cipher_init(&h, GNUTLS_CIPHER_AES_128_CBC, &key, &iv);
	ql_crypto_wipe(icv, sizeof(icv));
	if (rc < 0)
		return gnutls_fail(rc, "BSP: AES-128-CBC", error);
	if (encrypt)
		rc = gnutls_cipher_encrypt2(h, in, len, out, len);
	else
		rc = gnutls_cipher_decrypt2(h, in, len, out, len);
	gnutls_cipher_deinit(h);
	if (rc < 0)
		return gnutls_fail(rc, "BSP: AES-128-CBC", error);
	return TRUE;
}

static gboolean
check_tag(guint8 tag, GError **error)
{
	if (tag == QL_BSP_TAG_PROFILE || tag == QL_BSP_TAG_ENC_MAC || tag == QL_BSP_TAG_MAC)
		return TRUE;
	g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
		    "BSP segment: tag %02x is not 86, 87 or 88", tag);
	return FALSE;
}

GBytes *
ql_bsp_wrap(QlBsp *bsp, guint8 tag, const guint8 *data, gsize len, GError **error)
{
	g_autoptr(GByteArray) out = NULL;
	g_autofree guint8 *body = NULL;
	gsize body_len, header_len;
	guint8 mac[QL_BSP_KEY_LEN];

	if (!check_tag(tag, error))
		return NULL;
	if (len > ql_bsp_max_plaintext(tag)) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "BSP segment: %" G_GSIZE_FORMAT
			    " bytes of data do not fit one segment (at most %" G_GSIZE_FORMAT ")",
			    len, ql_bsp_max_plaintext(tag));
		return NULL;
	}

	if (is_encrypted_tag(tag)) {
		/* SGP.22 2.6.4.4: always pad with 80 then 00s to a multiple of 16 */
		g_autofree guint8 *padded = NULL;
		body_len = (len / 16 + 1) * 16;
		padded = g_malloc0(body_len);
		if (len > 0)
			memcpy(padded, data, len);
		padded[len] = 0x80;
		body = g_malloc(body_len);
		if (!bsp_cbc(bsp, TRUE, padded, body, body_len, error)) {
			ql_crypto_wipe(padded, body_len);
			return NULL;
		}
		ql_crypto_wipe(padded, body_len);
	} else {
		body_len = len;
		body = g_memdup2(data, len);
	}

	out = g_byte_array_sized_new(1 + 3 + body_len + QL_BSP_MAC_LEN);
	ql_tlv_put_tag(out, tag);
	ql_tlv_put_len(out, body_len + QL_BSP_MAC_LEN);
	header_len = out->len;
	if (!bsp_mac(bsp, out->data, header_len, body, body_len, mac, error))
		return NULL;
	if (body_len > 0)
		g_byte_array_append(out, body, body_len);
	g_byte_array_append(out, mac, QL_BSP_MAC_LEN);

	/* the chain is the full C-MAC; the counter moves for MAC-only segments too */
	memcpy(bsp->chain, mac, sizeof(mac));
	bsp->counter++;
	return g_byte_array_free_to_bytes(g_steal_pointer(&out));
}

GPtrArray *
ql_bsp_wrap_split(QlBsp *bsp, guint8 tag, const guint8 *data, gsize len, GError **error)
{
	g_autoptr(GPtrArray) segs = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	gsize max, pos = 0;

	if (!check_tag(tag, error))
		return NULL;
	max = ql_bsp_max_plaintext(tag);
	do {
		gsize n = MIN(len - pos, max);
		GBytes *seg = ql_bsp_wrap(bsp, tag, data + pos, n, error);
		if (seg == NULL)
			return NULL;
		g_ptr_array_add(segs, seg);
		pos += n;
	} while (pos < len);
	return g_steal_pointer(&segs);
}

GBytes *
ql_bsp_unwrap(QlBsp *bsp, const guint8 *segment, gsize len, guint8 *tag_out, GError **error)
{
	QlTlv tlv;
	guint8 mac[QL_BSP_KEY_LEN];
	guint8 tag;
	gsize body_len, header_len;
	GBytes *result;

	if (!ql_tlv_read_exact(segment, len, 0, &tlv, error)) {
		g_prefix_error(error, "BSP segment: ");
		return NULL;
	}
	if (tlv.tag > 0xff || !check_tag((guint8)tlv.tag, NULL)) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "BSP segment: tag %x is not 86, 87 or 88", tlv.tag);
		return NULL;
	}
	tag = (guint8)tlv.tag;
	if (tlv.len < QL_BSP_MAC_LEN) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "BSP segment %02x: %" G_GSIZE_FORMAT " bytes, too short for a MAC", tag,
			    tlv.len);
		return NULL;
	}
	body_len = tlv.len - QL_BSP_MAC_LEN;
	header_len = tlv.raw_len - tlv.len;

	/* The MAC covers the tag and length as they were sent. Checked before any decryption,
	 * in constant time. */
	if (!bsp_mac(bsp, tlv.raw, header_len, tlv.value, body_len, mac, error))
		return NULL;
	if (!ql_crypto_equal(mac, tlv.value + body_len, QL_BSP_MAC_LEN)) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "BSP segment %02x (block %" G_GUINT64_FORMAT
			    "): MAC check failed; the data was changed or the session keys differ",
			    tag, bsp->counter);
		return NULL;
	}

	if (is_encrypted_tag(tag)) {
		g_autofree guint8 *plain = NULL;
		gsize n;
		if (body_len == 0 || body_len % 16 != 0) {
			g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "BSP segment %02x: %" G_GSIZE_FORMAT
				    " bytes of ciphertext, not a non-zero multiple of 16",
				    tag, body_len);
			return NULL;
		}
		plain = g_malloc(body_len);
		if (!bsp_cbc(bsp, FALSE, tlv.value, plain, body_len, error)) {
			ql_crypto_wipe(plain, body_len);
			return NULL;
		}
		/* padding: 80 then 0 to 15 zeros, all inside the last block */
		n = body_len;
		while (n > body_len - 16 && plain[n - 1] == 0x00)
			n--;
		if (n == body_len - 16 || plain[n - 1] != 0x80) {
			ql_crypto_wipe(plain, body_len);
			g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "BSP segment %02x (block %" G_GUINT64_FORMAT
				    "): bad padding after decryption",
				    tag, bsp->counter);
			return NULL;
		}
		result = ql_crypto_secret_bytes_new(plain, n - 1);
		ql_crypto_wipe(plain, body_len);
	} else {
		result = ql_crypto_secret_bytes_new(tlv.value, body_len);
	}

	memcpy(bsp->chain, mac, sizeof(mac));
	bsp->counter++;
	if (tag_out != NULL)
		*tag_out = tag;
	return result;
}
