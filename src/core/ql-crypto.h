/*
 * Cryptography for the profile download, used on both sides (the LPA, the virtual eUICC and the
 * test SM-DP+): SHA-256, HMAC-SHA256, the X9.63 KDF, hashCc, one-time ECDH keys on NIST P-256,
 * ECDSA P-256 signatures in the raw r||s form of SGP.22, the BPP protection protocol (BSP, called
 * SCP03t in SGP.22 v2) and AES-256-GCM for the host vault.
 *
 * Secrets are wiped when freed. Nothing here logs, and no error message carries key material.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <glib.h>
#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>

G_BEGIN_DECLS

#define QL_CRYPTO_SHA256_LEN 32
#define QL_CRYPTO_EC_PRIV_LEN 32   /* P-256 private scalar, big-endian */
#define QL_CRYPTO_EC_PUB_LEN 65	   /* uncompressed point 04 || X || Y */
#define QL_CRYPTO_ECDH_LEN 32	   /* shared secret = x-coordinate */
#define QL_CRYPTO_ECDSA_SIG_LEN 64 /* r || s, 32 bytes each */
#define QL_CRYPTO_SIG_TAG 0x5F37   /* SGP.22: signatures travel as 5F37 40 <r||s> */
#define QL_CRYPTO_VAULT_KEY_LEN 32 /* AES-256-GCM */
#define QL_CRYPTO_GCM_NONCE_LEN 12
#define QL_CRYPTO_GCM_TAG_LEN 16

/* --- generic helpers --- */

gboolean ql_crypto_random(guint8 *buf, gsize len, GError **error);
/* Overwrites @len bytes of @p with zeros in a way the compiler cannot drop. */
void ql_crypto_wipe(gpointer p, gsize len);
/* Constant-time comparison: the time taken depends on @len only. */
gboolean ql_crypto_equal(const guint8 *a, const guint8 *b, gsize len);
/* A GBytes copy of @data whose memory is wiped when the last reference goes. */
GBytes *ql_crypto_secret_bytes_new(const guint8 *data, gsize len);

gboolean ql_crypto_sha256(const guint8 *data, gsize len, guint8 out[QL_CRYPTO_SHA256_LEN],
			  GError **error);
gboolean ql_crypto_hmac_sha256(const guint8 *key, gsize key_len, const guint8 *data, gsize len,
			       guint8 out[QL_CRYPTO_SHA256_LEN], GError **error);
/* ANSI X9.63 KDF with SHA-256: @out_len bytes from shared secret @z and @shared_info. */
gboolean ql_crypto_x963_kdf_sha256(const guint8 *z, gsize z_len, const guint8 *shared_info,
				   gsize shared_info_len, guint8 *out, gsize out_len,
				   GError **error);

/* SGP.22 3.1.3 (confirmation code): hashCc = SHA-256(SHA-256(code as ASCII) || transactionId). */
gboolean ql_crypto_hash_cc(const gchar *confirmation_code, const guint8 *transaction_id,
			   gsize transaction_id_len, guint8 out[QL_CRYPTO_SHA256_LEN],
			   GError **error);

/* --- one-time ECDH keys on NIST P-256 (SGP.22 3.1.3, otPK/otSK) --- */

typedef struct {
	guint8 priv[QL_CRYPTO_EC_PRIV_LEN];
	guint8 pub[QL_CRYPTO_EC_PUB_LEN];
} QlEcKeyPair;

gboolean ql_crypto_ec_generate(QlEcKeyPair *out, GError **error);
void ql_crypto_ec_keypair_clear(QlEcKeyPair *kp);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(QlEcKeyPair, ql_crypto_ec_keypair_clear)
/* The public point of @priv (refuses 0 and values >= the group order). */
gboolean ql_crypto_ec_public_from_private(const guint8 priv[QL_CRYPTO_EC_PRIV_LEN],
					  guint8 pub[QL_CRYPTO_EC_PUB_LEN], GError **error);
/* Checks a peer's public key: 65 bytes, prefix 04, coordinates below p, on the curve. */
gboolean ql_crypto_ec_check_public(const guint8 *pub, gsize len, GError **error);
/* ECKA-DH: the x-coordinate of @priv * @peer_pub, after checking @peer_pub. */
gboolean ql_crypto_ecdh(const guint8 priv[QL_CRYPTO_EC_PRIV_LEN], const guint8 *peer_pub,
			gsize peer_pub_len, guint8 secret[QL_CRYPTO_ECDH_LEN], GError **error);
/* A GnuTLS public key from an uncompressed P-256 point (checked first). */
gboolean ql_crypto_ec_pubkey_import(const guint8 *pub, gsize len, gnutls_pubkey_t *out,
				    GError **error);

/* --- ECDSA P-256 / SHA-256; SGP.22 carries r||s in the plain format of BSI TR-03111 --- */

gboolean ql_crypto_ecdsa_sign(gnutls_privkey_t key, const guint8 *data, gsize len,
			      guint8 sig[QL_CRYPTO_ECDSA_SIG_LEN], GError **error);
gboolean ql_crypto_ecdsa_sign_x509(gnutls_x509_privkey_t key, const guint8 *data, gsize len,
				   guint8 sig[QL_CRYPTO_ECDSA_SIG_LEN], GError **error);
/* FALSE with QL_ERROR_AUTH when the signature does not match, QL_ERROR_MALFORMED when it is
 * not 64 bytes. */
gboolean ql_crypto_ecdsa_verify(gnutls_pubkey_t key, const guint8 *data, gsize len,
				const guint8 *sig, gsize sig_len, GError **error);
gboolean ql_crypto_ecdsa_verify_crt(gnutls_x509_crt_t crt, const guint8 *data, gsize len,
				    const guint8 *sig, gsize sig_len, GError **error);
/* 5F37 40 <r||s> */
GBytes *ql_crypto_sig_to_tlv(const guint8 sig[QL_CRYPTO_ECDSA_SIG_LEN]);
/* Reads a 5F37 TLV that fills @tlv exactly and holds 64 bytes. */
gboolean ql_crypto_sig_from_tlv(const guint8 *tlv, gsize len, guint8 sig[QL_CRYPTO_ECDSA_SIG_LEN],
				GError **error);

/* --- AES-256-GCM for the host vault (DESIGN.md "E2EE") --- */

/* Output: nonce (12, random) || ciphertext || tag (16). @ad binds the record's identity. */
GBytes *ql_crypto_seal(const guint8 key[QL_CRYPTO_VAULT_KEY_LEN], const guint8 *ad, gsize ad_len,
		       const guint8 *plaintext, gsize len, GError **error);
/* Refuses (QL_ERROR_AUTH) any change to nonce, ciphertext, tag or @ad. The result is wiped when
 * freed. */
GBytes *ql_crypto_open(const guint8 key[QL_CRYPTO_VAULT_KEY_LEN], const guint8 *ad, gsize ad_len,
		       const guint8 *sealed, gsize len, GError **error);

/* --- BSP: BPP protection (SGP.22 2.5.5 and 2.6.4; SCP03t in v2) --- */

#define QL_BSP_KEY_LEN 16
#define QL_BSP_MAC_LEN 8
/* SGP.22 v3 2.5.3: a segment is at most 1020 bytes including tag, length and MAC. */
#define QL_BSP_MAX_SEGMENT 1020
#define QL_BSP_TAG_PROFILE 0x86 /* profile data: encrypted + MAC (PPK or session keys) */
#define QL_BSP_TAG_ENC_MAC 0x87 /* encrypted + MAC */
#define QL_BSP_TAG_MAC 0x88	/* MAC only */

typedef struct {
	guint8 s_enc[QL_BSP_KEY_LEN];
	guint8 s_mac[QL_BSP_KEY_LEN];
	guint8 initial_mcv[QL_BSP_KEY_LEN];
} QlBspKeys;

/* SGP.22 2.6.4.2 (v3): X9.63 KDF with SHA-256 over the ECKA shared secret, shared info =
 * 88 || 10 || L(hostId) || hostId || L(EID) || EID; output = initial MCV || S-ENC || S-MAC. */
gboolean ql_bsp_derive_keys(const guint8 *shared_secret, gsize secret_len, const guint8 *host_id,
			    gsize host_id_len, const guint8 *eid, gsize eid_len, QlBspKeys *out,
			    GError **error);
void ql_bsp_keys_clear(QlBspKeys *keys);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(QlBspKeys, ql_bsp_keys_clear)

typedef struct _QlBsp QlBsp;

/* A session: block counter 1, MAC chain = initial MCV. */
QlBsp *ql_bsp_new(const QlBspKeys *keys);
void ql_bsp_free(QlBsp *bsp);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlBsp, ql_bsp_free)

/* The largest plaintext that fits one segment of @tag (1007 encrypted, 1008 MAC only). */
gsize ql_bsp_max_plaintext(guint8 tag);
/* One segment: tag || length || data || MAC (8). @tag 0x86/0x87 encrypts, 0x88 only MACs; the
 * counter and the chain advance either way. Refuses plaintexts above ql_bsp_max_plaintext(). */
GBytes *ql_bsp_wrap(QlBsp *bsp, guint8 tag, const guint8 *data, gsize len, GError **error);
/* Splits @data into as many segments as needed (at least one); a GPtrArray of GBytes. */
GPtrArray *ql_bsp_wrap_split(QlBsp *bsp, guint8 tag, const guint8 *data, gsize len, GError **error);
/* Checks the MAC (constant time), then decrypts (86/87) and removes the padding. The segment
 * must be one TLV filling @len; any length the TLV states is accepted (osmo-smdpp sends 1036-byte
 * segments). On error the session state is left unchanged. @tag_out may be NULL. The plaintext
 * is wiped when freed. */
GBytes *ql_bsp_unwrap(QlBsp *bsp, const guint8 *segment, gsize len, guint8 *tag_out,
		      GError **error);
/* ES8+.ReplaceSessionKeys (SGP.22 5.5.4, BF26): PPK-ENC / PPK-MAC from now on, counter back to 1,
 * chain back to @initial_mcv. */
void ql_bsp_replace_keys(QlBsp *bsp, const guint8 ppk_enc[QL_BSP_KEY_LEN],
			 const guint8 ppk_mac[QL_BSP_KEY_LEN],
			 const guint8 initial_mcv[QL_BSP_KEY_LEN]);
/* The same from the plaintext of a ReplaceSessionKeysRequest (BF26 { 80 initialMacChainingValue,
 * 81 ppkEnc, 82 ppkCmac }). */
gboolean ql_bsp_replace_keys_from_tlv(QlBsp *bsp, const guint8 *bf26, gsize len, GError **error);
/* The block counter the next segment will use (for tests and diagnostics). */
guint64 ql_bsp_get_counter(const QlBsp *bsp);

G_END_DECLS
