/*
 * The TLS listener: its vhost, its certificate and key, and their reload.
 *
 * outpostd may listen twice: `listen` in plain HTTP (by default on
 * loopback, for local tools and the local provisioner's agents) and
 * `tls_listen` with `tls_cert` and `tls_key` (PEM) for the network. The
 * files are checked here before libwebsockets sees them, so a wrong path or
 * a key of another certificate is a message that names the setting. Only
 * TLS 1.2 and later are spoken.
 *
 * SIGHUP reads the files again and puts them into the vhost's SSL_CTX in
 * place: connections already open keep the certificate they began with, new
 * handshakes get the new one, and nothing is dropped. A pair that does not
 * load or match is logged and the running one kept.
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "server.h"

#define TLS_VHOST "outpost-tls"
#define TLS_CHAIN_MAX 16

/* A certificate, the chain that follows it in the file, and its key. */
struct tls_pair {
	X509 *cert;
	X509 *chain[TLS_CHAIN_MAX];
	int nchain;
	EVP_PKEY *key;
};

static SSL_CTX *live_ctx;	/* the TLS vhost's, from libwebsockets */

static void
pair_free(struct tls_pair *p)
{
	X509_free(p->cert);
	for (int i = 0; i < p->nchain; i++)
		X509_free(p->chain[i]);
	EVP_PKEY_free(p->key);
	memset(p, 0, sizeof(*p));
}

/* OpenSSL's reason for the last failure, or fallback. */
static const char *
ssl_reason(const char *fallback)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return r != NULL ? r : fallback;
}

/* Reads and checks cert and key; fills p. Returns 0, or -1 with err naming the setting. */
static int
pair_load(const char *certpath, const char *keypath, struct tls_pair *p, char *err,
    size_t errlen)
{
	BIO *b;

	memset(p, 0, sizeof(*p));
	ERR_clear_error();
	if ((b = BIO_new_file(certpath, "r")) == NULL) {
		snprintf(err, errlen, "tls_cert %s: cannot read it (%s)", certpath,
		    ssl_reason("no such file"));
		return -1;
	}
	p->cert = PEM_read_bio_X509_AUX(b, NULL, NULL, NULL);
	while (p->cert != NULL && p->nchain < TLS_CHAIN_MAX &&
	    (p->chain[p->nchain] = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
		p->nchain++;
	BIO_free(b);
	ERR_clear_error();	/* the chain ends with "no start line" */
	if (p->cert == NULL) {
		snprintf(err, errlen, "tls_cert %s: no PEM certificate in it", certpath);
		goto fail;
	}
	if ((b = BIO_new_file(keypath, "r")) == NULL) {
		snprintf(err, errlen, "tls_key %s: cannot read it (%s)", keypath,
		    ssl_reason("no such file"));
		goto fail;
	}
	p->key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	if (p->key == NULL) {
		snprintf(err, errlen, "tls_key %s: no PEM private key in it (%s)", keypath,
		    ssl_reason("unreadable"));
		goto fail;
	}
	if (X509_check_private_key(p->cert, p->key) != 1) {
		snprintf(err, errlen, "tls_key %s is not the key of tls_cert %s", keypath, certpath);
		ERR_clear_error();
		goto fail;
	}
	return 0;
fail:
	pair_free(p);
	return -1;
}

/* Puts a checked pair into ctx. Returns 0, or -1 with err. */
static int
pair_use(SSL_CTX *ctx, struct tls_pair *p, char *err, size_t errlen)
{
	int ok = SSL_CTX_use_certificate(ctx, p->cert) == 1 &&
	    SSL_CTX_clear_chain_certs(ctx) == 1;

	for (int i = 0; ok && i < p->nchain; i++)
		ok = SSL_CTX_add1_chain_cert(ctx, p->chain[i]) == 1;
	ok = ok && SSL_CTX_use_PrivateKey(ctx, p->key) == 1 && SSL_CTX_check_private_key(ctx) == 1;
	if (!ok)
		snprintf(err, errlen, "the certificate could not be used: %s",
		    ssl_reason("unknown"));
	return ok ? 0 : -1;
}

/* The log line that says which certificate is served, and until when. */
static void
pair_log(const char *what, const struct tls_pair *p)
{
	char subject[256] = "", until[64] = "";
	BIO *b = BIO_new(BIO_s_mem());

	X509_NAME_oneline(X509_get_subject_name(p->cert), subject, sizeof(subject));
	if (b != NULL && ASN1_TIME_print(b, X509_get0_notAfter(p->cert)) == 1) {
		int n = BIO_read(b, until, sizeof(until) - 1);

		until[n > 0 ? n : 0] = '\0';
	}
	BIO_free(b);
	log_info(what, "subject", subject, "not_after", until, NULL);
}

int
tls_check(const struct server_config *c, char *err, size_t errlen)
{
	struct tls_pair p;

	if (c->tls_port < 0)
		return 0;
	if (pair_load(c->tls_cert, c->tls_key, &p, err, errlen) != 0)
		return -1;
	pair_free(&p);
	return 0;
}

void
tls_took_ssl_ctx(void *ssl_ctx)
{
	live_ctx = ssl_ctx;
	/* TLS 1.2 and later only, whatever the library's default. */
	SSL_CTX_set_min_proto_version(live_ctx, TLS1_2_VERSION);
}

int
tls_listen(struct lws_context *lws, struct lws_context_creation_info *info,
    const struct server_config *c, char *err, size_t errlen)
{
	struct tls_pair p;

	if (c->tls_port < 0)
		return 0;
	if (pair_load(c->tls_cert, c->tls_key, &p, err, errlen) != 0)
		return -1;
	info->port = c->tls_port;
	info->iface = c->tls_host[0] ? c->tls_host : NULL;
	info->vhost_name = TLS_VHOST;
	info->ssl_cert_filepath = c->tls_cert;
	info->ssl_private_key_filepath = c->tls_key;
	info->ssl_options_set = SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1;
	/* HTTP/1.1 only: the answers are written as one HTTP/1.1 response (http.c). */
	info->alpn = "http/1.1";
	info->options &= ~(uint64_t)LWS_SERVER_OPTION_DISABLE_IPV6;
	if (info->iface != NULL && strchr(info->iface, ':') == NULL)
		info->options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	if (lws_create_vhost(lws, info) == NULL || live_ctx == NULL) {
		snprintf(err, errlen, "cannot serve TLS on %s:%d (is the address in use?)",
		    c->tls_host, c->tls_port);
		pair_free(&p);
		return -1;
	}
	pair_log("tls.certificate", &p);
	pair_free(&p);
	return 0;
}

int
tls_port(struct lws_context *lws)
{
	struct lws_vhost *vh = lws_get_vhost_by_name(lws, TLS_VHOST);

	return vh != NULL ? lws_get_vhost_listen_port(vh) : -1;
}

int
tls_reload(const struct server_config *c, char *err, size_t errlen)
{
	struct tls_pair p;
	int rc;

	if (live_ctx == NULL || c->tls_port < 0)
		return 0;
	if (pair_load(c->tls_cert, c->tls_key, &p, err, errlen) != 0)
		return -1;
	rc = pair_use(live_ctx, &p, err, errlen);
	if (rc == 0)
		pair_log("tls.reloaded", &p);
	pair_free(&p);
	return rc;
}
