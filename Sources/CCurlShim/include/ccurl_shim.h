// CCurlShim: the only code that calls libcurl. libcurl is NOT linked: it is opened with dlopen("libcurl.so.4") on
// first use, so a process that never makes an HTTP call (the node plugin) never maps libcurl, OpenSSL and their
// dependencies. Used only by the HTTPTransport Swift module.
#ifndef CCURL_SHIM_H
#define CCURL_SHIM_H

#include <stddef.h>
#include <stdint.h>

/// What went wrong, as HTTPTransport reports it (mapped from CURLcode in ccurl_shim.c).
typedef enum {
    CCURL_OK = 0,
    CCURL_UNAVAILABLE,      // libcurl could not be loaded (message says why)
    CCURL_INVALID_REQUEST,  // bad URL, unsupported scheme, bad option
    CCURL_RESOLVE,          // host name not resolved
    CCURL_CONNECT,          // connection refused or unreachable
    CCURL_TIMEOUT,          // the request's time limit passed
    CCURL_TLS,              // handshake failed, peer not verified, bad CA or client certificate
    CCURL_SEND,             // connection broke while sending
    CCURL_RECEIVE,          // connection broke while receiving, or nothing / a partial answer came back
    CCURL_TOO_LARGE,        // the response body exceeded the limit
    CCURL_OTHER,            // any other CURLcode
} ccurl_error_kind;

/// One request/response exchange: owns a CURL easy handle (kept across requests, so its connection cache lets
/// keep-alive connections be reused), the request's header list and the response buffers.
typedef struct ccurl_exchange ccurl_exchange;

/// Loads libcurl once (thread-safe); 0 if usable, else -1 and `message` (may be NULL) names the reason.
int ccurl_load(char *message, size_t message_size);

/// A new exchange, or NULL if libcurl cannot be loaded or a handle cannot be made.
ccurl_exchange *ccurl_exchange_create(void);
/// Frees the exchange, its handle and its buffers.
void ccurl_exchange_destroy(ccurl_exchange *exchange);
/// Resets every option and buffer for the next request (keeps the handle's connection cache).
void ccurl_exchange_reset(ccurl_exchange *exchange);

// Setters: each copies its arguments (libcurl copies strings; blobs use CURL_BLOB_COPY). 0 on success, -1 if
// libcurl refused the option.
int ccurl_set_method(ccurl_exchange *exchange, const char *method);
int ccurl_set_url(ccurl_exchange *exchange, const char *url);
int ccurl_add_header(ccurl_exchange *exchange, const char *line);
int ccurl_set_body(ccurl_exchange *exchange, const void *bytes, size_t count);
int ccurl_set_timeouts(ccurl_exchange *exchange, long total_ms, long connect_ms);
int ccurl_set_max_response_bytes(ccurl_exchange *exchange, size_t limit);
int ccurl_set_ca_file(ccurl_exchange *exchange, const char *path);
int ccurl_set_ca_pem(ccurl_exchange *exchange, const void *bytes, size_t count);
int ccurl_set_client_cert_file(ccurl_exchange *exchange, const char *cert_path, const char *key_path);
int ccurl_set_client_cert_pem(ccurl_exchange *exchange, const void *cert, size_t cert_count,
                              const void *key, size_t key_count);
int ccurl_set_verify(ccurl_exchange *exchange, int verify_peer, int verify_host);
/// Environment proxies (http_proxy, HTTPS_PROXY, ...) are ignored unless this is called with 1.
int ccurl_set_use_environment_proxy(ccurl_exchange *exchange, int use);

/// Performs the request. Returns CCURL_OK and sets *status, or an error kind with `message` filled in
/// (libcurl's error buffer or strerror) and *curl_code set to the CURLcode.
ccurl_error_kind ccurl_perform(ccurl_exchange *exchange, long *status, int *curl_code,
                               char *message, size_t message_size);

/// The response body and the raw header block (every header line received, status lines included) of the last
/// perform; valid until the next reset or destroy.
const uint8_t *ccurl_response_body(const ccurl_exchange *exchange, size_t *count);
const char *ccurl_response_headers(const ccurl_exchange *exchange, size_t *count);

#endif
