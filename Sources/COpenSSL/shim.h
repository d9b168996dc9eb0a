// C shims over OpenSSL 3 for BridgekeeperJOSE.
//
// Swift cannot import function-like macros, macros built with `|`, or variadic functions, and
// OSSL_PARAM_BLD keeps pointers to its names and buffers until OSSL_PARAM_BLD_to_param, which a
// Swift String bridged to `const char *` does not outlive. Each of those cases is wrapped here in a
// small static inline function that does the whole sequence in C. Nothing else belongs here.
#ifndef BRIDGEKEEPER_COPENSSL_SHIM_H
#define BRIDGEKEEPER_COPENSSL_SHIM_H

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <string.h>

static inline void bk_openssl_free(void *p) { OPENSSL_free(p); }

static inline long bk_bio_mem_data(BIO *bio, char **data) { return BIO_get_mem_data(bio, data); }

/// A PEM password callback that refuses: encrypted keys fail instead of prompting on a terminal.
static inline int bk_refuse_password(char *buf, int size, int rwflag, void *u) {
    (void)buf; (void)size; (void)rwflag; (void)u;
    return -1;
}

static inline EVP_PKEY *bk_read_private_key_pem(BIO *bio) {
    return PEM_read_bio_PrivateKey(bio, NULL, bk_refuse_password, NULL);
}

static inline EVP_PKEY *bk_read_public_key_pem(BIO *bio) {
    return PEM_read_bio_PUBKEY(bio, NULL, bk_refuse_password, NULL);
}

static inline int bk_write_private_key_pem(BIO *bio, EVP_PKEY *key) {
    // PKCS#8, unencrypted.
    return PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
}

// MARK: key generation (EVP_PKEY_Q_keygen is variadic)

static inline EVP_PKEY *bk_generate_rsa(size_t bits) { return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", bits); }
static inline EVP_PKEY *bk_generate_ec(const char *group) { return EVP_PKEY_Q_keygen(NULL, NULL, "EC", group); }
static inline EVP_PKEY *bk_generate_ed25519(void) { return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"); }

// MARK: key import from JWK members (OSSL_PARAM_BLD sequences)

static inline EVP_PKEY *bk_pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld, int selection) {
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (params != NULL && ctx != NULL && EVP_PKEY_fromdata_init(ctx) == 1) {
        if (EVP_PKEY_fromdata(ctx, &pkey, selection, params) != 1) pkey = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}

static inline int bk_push_bn(OSSL_PARAM_BLD *bld, const char *name, const unsigned char *bytes, size_t len, BIGNUM **keep) {
    *keep = BN_bin2bn(bytes, (int)len, NULL);
    if (*keep == NULL) return 0;
    return OSSL_PARAM_BLD_push_BN(bld, name, *keep);
}

/// RSA key from big-endian components. Private members may all be NULL (public key), or all present.
static inline EVP_PKEY *bk_pkey_rsa(const unsigned char *n, size_t n_len, const unsigned char *e, size_t e_len,
                                    const unsigned char *d, size_t d_len, const unsigned char *p, size_t p_len,
                                    const unsigned char *q, size_t q_len, const unsigned char *dp, size_t dp_len,
                                    const unsigned char *dq, size_t dq_len, const unsigned char *qi, size_t qi_len) {
    BIGNUM *bn[8] = {NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    int ok = bld != NULL
        && bk_push_bn(bld, OSSL_PKEY_PARAM_RSA_N, n, n_len, &bn[0])
        && bk_push_bn(bld, OSSL_PKEY_PARAM_RSA_E, e, e_len, &bn[1]);
    int private = d != NULL;
    if (ok && private) {
        ok = bk_push_bn(bld, OSSL_PKEY_PARAM_RSA_D, d, d_len, &bn[2])
            && bk_push_bn(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, p, p_len, &bn[3])
            && bk_push_bn(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, q, q_len, &bn[4])
            && bk_push_bn(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, dp, dp_len, &bn[5])
            && bk_push_bn(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, dq, dq_len, &bn[6])
            && bk_push_bn(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, qi, qi_len, &bn[7]);
    }
    if (ok) pkey = bk_pkey_fromdata("RSA", bld, private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY);
    OSSL_PARAM_BLD_free(bld);
    for (int i = 0; i < 8; i++) BN_clear_free(bn[i]);
    return pkey;
}

/// EC key from a group name ("P-256", "P-384", "P-521"), an uncompressed point 04||x||y and an
/// optional private scalar.
static inline EVP_PKEY *bk_pkey_ec(const char *group, const unsigned char *point, size_t point_len,
                                   const unsigned char *d, size_t d_len) {
    BIGNUM *priv = NULL;
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    int ok = bld != NULL
        && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0)
        && OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, point_len);
    if (ok && d != NULL) ok = bk_push_bn(bld, OSSL_PKEY_PARAM_PRIV_KEY, d, d_len, &priv);
    if (ok) pkey = bk_pkey_fromdata("EC", bld, d != NULL ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY);
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(priv);
    return pkey;
}

/// 1 when the public key is valid (for EC: the point is on the curve and not at infinity).
static inline int bk_pkey_public_check(EVP_PKEY *pkey) {
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (ctx == NULL) return 0;
    int ok = EVP_PKEY_public_check(ctx);
    EVP_PKEY_CTX_free(ctx);
    return ok == 1;
}

/// 1 when the key pair is consistent (private matches public).
static inline int bk_pkey_pair_check(EVP_PKEY *pkey) {
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (ctx == NULL) return 0;
    int ok = EVP_PKEY_pairwise_check(ctx);
    EVP_PKEY_CTX_free(ctx);
    return ok == 1;
}

// MARK: key export

/// Writes the big-endian bytes of a BIGNUM parameter ("n", "e", "qx", "qy", "priv", ...) left-padded
/// to `len` (or minimal when `len` is 0) into `out` (capacity `cap`). Returns the length, or -1.
static inline int bk_pkey_get_bn(const EVP_PKEY *pkey, const char *name, unsigned char *out, size_t cap, size_t len) {
    BIGNUM *bn = NULL;
    if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1 || bn == NULL) return -1;
    int n = BN_num_bytes(bn);
    int result = -1;
    if (len == 0 && (size_t)n <= cap) result = BN_bn2bin(bn, out);
    else if (len != 0 && (size_t)n <= len && len <= cap) result = BN_bn2binpad(bn, out, (int)len);
    BN_clear_free(bn);
    return result;
}

static inline int bk_pkey_group_name(const EVP_PKEY *pkey, char *out, size_t cap) {
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, out, cap, &len) != 1) return -1;
    return (int)len;
}

// MARK: pre-built signature contexts

/// A verify or sign context for RSA / ECDSA over a precomputed digest, set up once and reused.
/// `kind`: 0 = ECDSA, 1 = RSA PKCS#1 v1.5, 2 = RSA-PSS (salt length = digest length).
static inline EVP_PKEY_CTX *bk_digest_pkey_ctx(EVP_PKEY *pkey, int sign, int kind, const EVP_MD *md) {
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (ctx == NULL) return NULL;
    int ok = sign ? EVP_PKEY_sign_init(ctx) : EVP_PKEY_verify_init(ctx);
    if (ok == 1 && kind == 3) {
        /* RSASSA-PKCS1-v1_5 verification over a DigestInfo the caller encodes (RFC 8017 §8.2.2,
           §9.2): EVP_PKEY_verify then checks the type-1 padding and compares what follows it
           with the given bytes, as `openssl speed` times it, without RSA_verify's buffers. */
        ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING);
    } else if (ok == 1 && kind == 1) {
        ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1
            && EVP_PKEY_CTX_set_signature_md(ctx, md) == 1;
    } else if (ok == 1 && kind == 2) {
        ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) == 1
            && EVP_PKEY_CTX_set_signature_md(ctx, md) == 1
            && EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) == 1
            && EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) == 1;
    } else if (ok == 1 && kind == 0) {
        ok = EVP_PKEY_CTX_set_signature_md(ctx, md) == 1;
    }
    if (ok != 1) {
        EVP_PKEY_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/// An EdDSA (pure Ed25519) context, initialised once; EVP_DigestSign/EVP_DigestVerify may be called
/// on it repeatedly.
static inline EVP_MD_CTX *bk_eddsa_ctx(EVP_PKEY *pkey, int sign) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL) return NULL;
    int ok = sign ? EVP_DigestSignInit_ex(ctx, NULL, NULL, NULL, NULL, pkey, NULL)
                  : EVP_DigestVerifyInit_ex(ctx, NULL, NULL, NULL, NULL, pkey, NULL);
    if (ok != 1) {
        EVP_MD_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

#endif
