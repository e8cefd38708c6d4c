// See include/ccurl_shim.h. libcurl's entry points are resolved with dlsym after dlopen("libcurl.so.4"); the
// types come from <curl/curl.h> (Debian libcurl4-openssl-dev, headers only: nothing links -lcurl).
#include "ccurl_shim.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef CURLcode (*global_init_fn)(long);
typedef CURL *(*easy_init_fn)(void);
typedef CURLcode (*easy_setopt_fn)(CURL *, CURLoption, ...);
typedef CURLcode (*easy_perform_fn)(CURL *);
typedef CURLcode (*easy_getinfo_fn)(CURL *, CURLINFO, ...);
typedef void (*easy_cleanup_fn)(CURL *);
typedef void (*easy_reset_fn)(CURL *);
typedef const char *(*easy_strerror_fn)(CURLcode);
typedef struct curl_slist *(*slist_append_fn)(struct curl_slist *, const char *);
typedef void (*slist_free_all_fn)(struct curl_slist *);

static struct {
    global_init_fn global_init;
    easy_init_fn easy_init;
    easy_setopt_fn easy_setopt;
    easy_perform_fn easy_perform;
    easy_getinfo_fn easy_getinfo;
    easy_cleanup_fn easy_cleanup;
    easy_reset_fn easy_reset;
    easy_strerror_fn easy_strerror;
    slist_append_fn slist_append;
    slist_free_all_fn slist_free_all;
} curl;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int load_status = -1;
static char load_message[256];

static void load_library(void) {
    // The library stays loaded for the life of the process (never dlclose'd): handles may be cached anywhere.
    void *library = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        snprintf(load_message, sizeof load_message, "cannot load libcurl.so.4: %s", dlerror());
        return;
    }
#define RESOLVE(field, symbol)                                                                       \
    do {                                                                                             \
        *(void **)(&curl.field) = dlsym(library, symbol);                                            \
        if (curl.field == NULL) {                                                                    \
            snprintf(load_message, sizeof load_message, "libcurl.so.4 has no symbol %s", symbol);    \
            return;                                                                                  \
        }                                                                                            \
    } while (0)
    RESOLVE(global_init, "curl_global_init");
    RESOLVE(easy_init, "curl_easy_init");
    RESOLVE(easy_setopt, "curl_easy_setopt");
    RESOLVE(easy_perform, "curl_easy_perform");
    RESOLVE(easy_getinfo, "curl_easy_getinfo");
    RESOLVE(easy_cleanup, "curl_easy_cleanup");
    RESOLVE(easy_reset, "curl_easy_reset");
    RESOLVE(easy_strerror, "curl_easy_strerror");
    RESOLVE(slist_append, "curl_slist_append");
    RESOLVE(slist_free_all, "curl_slist_free_all");
#undef RESOLVE
    // Not thread-safe in libcurl: done exactly once, here, under pthread_once.
    CURLcode code = curl.global_init(CURL_GLOBAL_ALL);
    if (code != CURLE_OK) {
        snprintf(load_message, sizeof load_message, "curl_global_init failed: %d", (int)code);
        return;
    }
    load_status = 0;
}

int ccurl_load(char *message, size_t message_size) {
    pthread_once(&load_once, load_library);
    if (load_status != 0 && message != NULL && message_size > 0) {
        snprintf(message, message_size, "%s", load_message);
    }
    return load_status;
}

struct buffer {
    uint8_t *bytes;  // owned (malloc)
    size_t count;
    size_t capacity;
};

static int buffer_append(struct buffer *buffer, const void *bytes, size_t count, size_t limit) {
    if (count > limit || buffer->count > limit - count) return -1;
    if (buffer->count + count + 1 > buffer->capacity) {
        size_t capacity = buffer->capacity ? buffer->capacity : 1024;
        while (capacity < buffer->count + count + 1) capacity *= 2;
        uint8_t *grown = realloc(buffer->bytes, capacity);
        if (grown == NULL) return -1;
        buffer->bytes = grown;
        buffer->capacity = capacity;
    }
    memcpy(buffer->bytes + buffer->count, bytes, count);
    buffer->count += count;
    buffer->bytes[buffer->count] = 0;  // keeps the header block a C string
    return 0;
}

struct ccurl_exchange {
    CURL *handle;                // owned: curl_easy_cleanup in destroy
    struct curl_slist *headers;  // owned: curl_slist_free_all in reset and destroy
    struct buffer body;          // owned
    struct buffer header_block;  // owned
    size_t max_response_bytes;
    int body_overflowed;
    char error[CURL_ERROR_SIZE];  // libcurl writes here (CURLOPT_ERRORBUFFER)
};

static size_t on_body(char *data, size_t size, size_t count, void *context) {
    ccurl_exchange *exchange = context;
    size_t total = size * count;
    if (buffer_append(&exchange->body, data, total, exchange->max_response_bytes) != 0) {
        exchange->body_overflowed = 1;
        return 0;  // aborts the transfer with CURLE_WRITE_ERROR
    }
    return total;
}

static size_t on_header(char *data, size_t size, size_t count, void *context) {
    ccurl_exchange *exchange = context;
    size_t total = size * count;
    if (buffer_append(&exchange->header_block, data, total, 1024 * 1024) != 0) {
        exchange->body_overflowed = 1;
        return 0;
    }
    return total;
}

static void apply_defaults(ccurl_exchange *exchange) {
    CURL *h = exchange->handle;
    curl.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // threads: never use signals for timeouts
    curl.easy_setopt(h, CURLOPT_ERRORBUFFER, exchange->error);
    curl.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl.easy_setopt(h, CURLOPT_WRITEDATA, exchange);
    curl.easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl.easy_setopt(h, CURLOPT_HEADERDATA, exchange);
    curl.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl.easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl.easy_setopt(h, CURLOPT_PROXY, "");  // ignore http_proxy & co unless asked
    curl.easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl.easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    exchange->max_response_bytes = 64u * 1024u * 1024u;
}

ccurl_exchange *ccurl_exchange_create(void) {
    if (ccurl_load(NULL, 0) != 0) return NULL;
    ccurl_exchange *exchange = calloc(1, sizeof *exchange);
    if (exchange == NULL) return NULL;
    exchange->handle = curl.easy_init();
    if (exchange->handle == NULL) {
        free(exchange);
        return NULL;
    }
    apply_defaults(exchange);
    return exchange;
}

void ccurl_exchange_reset(ccurl_exchange *exchange) {
    curl.easy_reset(exchange->handle);
    if (exchange->headers) curl.slist_free_all(exchange->headers);
    exchange->headers = NULL;
    exchange->body.count = 0;
    exchange->header_block.count = 0;
    exchange->body_overflowed = 0;
    exchange->error[0] = 0;
    apply_defaults(exchange);
}

void ccurl_exchange_destroy(ccurl_exchange *exchange) {
    if (exchange == NULL) return;
    curl.easy_cleanup(exchange->handle);
    if (exchange->headers) curl.slist_free_all(exchange->headers);
    free(exchange->body.bytes);
    free(exchange->header_block.bytes);
    free(exchange);
}

static int ok(CURLcode code) { return code == CURLE_OK ? 0 : -1; }

int ccurl_set_method(ccurl_exchange *exchange, const char *method) {
    CURL *h = exchange->handle;
    if (strcmp(method, "GET") == 0) return ok(curl.easy_setopt(h, CURLOPT_HTTPGET, 1L));
    if (strcmp(method, "HEAD") == 0) return ok(curl.easy_setopt(h, CURLOPT_NOBODY, 1L));
    return ok(curl.easy_setopt(h, CURLOPT_CUSTOMREQUEST, method));
}

int ccurl_set_url(ccurl_exchange *exchange, const char *url) {
    return ok(curl.easy_setopt(exchange->handle, CURLOPT_URL, url));
}

int ccurl_add_header(ccurl_exchange *exchange, const char *line) {
    struct curl_slist *list = curl.slist_append(exchange->headers, line);
    if (list == NULL) return -1;
    exchange->headers = list;
    return ok(curl.easy_setopt(exchange->handle, CURLOPT_HTTPHEADER, exchange->headers));
}

int ccurl_set_body(ccurl_exchange *exchange, const void *bytes, size_t count) {
    CURL *h = exchange->handle;
    // POSTFIELDSIZE_LARGE first, so COPYPOSTFIELDS copies exactly `count` bytes (binary-safe).
    if (curl.easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)count) != CURLE_OK) return -1;
    return ok(curl.easy_setopt(h, CURLOPT_COPYPOSTFIELDS, count ? bytes : ""));
}

int ccurl_set_timeouts(ccurl_exchange *exchange, long total_ms, long connect_ms) {
    if (curl.easy_setopt(exchange->handle, CURLOPT_TIMEOUT_MS, total_ms) != CURLE_OK) return -1;
    return ok(curl.easy_setopt(exchange->handle, CURLOPT_CONNECTTIMEOUT_MS, connect_ms));
}

int ccurl_set_max_response_bytes(ccurl_exchange *exchange, size_t limit) {
    exchange->max_response_bytes = limit;
    return 0;
}

int ccurl_set_ca_file(ccurl_exchange *exchange, const char *path) {
    return ok(curl.easy_setopt(exchange->handle, CURLOPT_CAINFO, path));
}

static int set_blob(CURL *h, CURLoption option, const void *bytes, size_t count) {
    struct curl_blob blob = {.data = (void *)bytes, .len = count, .flags = CURL_BLOB_COPY};
    return ok(curl.easy_setopt(h, option, &blob));
}

int ccurl_set_ca_pem(ccurl_exchange *exchange, const void *bytes, size_t count) {
    return set_blob(exchange->handle, CURLOPT_CAINFO_BLOB, bytes, count);
}

int ccurl_set_client_cert_file(ccurl_exchange *exchange, const char *cert_path, const char *key_path) {
    CURL *h = exchange->handle;
    if (curl.easy_setopt(h, CURLOPT_SSLCERT, cert_path) != CURLE_OK) return -1;
    if (curl.easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM") != CURLE_OK) return -1;
    if (curl.easy_setopt(h, CURLOPT_SSLKEY, key_path) != CURLE_OK) return -1;
    return ok(curl.easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM"));
}

int ccurl_set_client_cert_pem(ccurl_exchange *exchange, const void *cert, size_t cert_count, const void *key,
                              size_t key_count) {
    CURL *h = exchange->handle;
    if (set_blob(h, CURLOPT_SSLCERT_BLOB, cert, cert_count) != 0) return -1;
    if (curl.easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM") != CURLE_OK) return -1;
    if (set_blob(h, CURLOPT_SSLKEY_BLOB, key, key_count) != 0) return -1;
    return ok(curl.easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM"));
}

int ccurl_set_verify(ccurl_exchange *exchange, int verify_peer, int verify_host) {
    if (curl.easy_setopt(exchange->handle, CURLOPT_SSL_VERIFYPEER, verify_peer ? 1L : 0L) != CURLE_OK) return -1;
    return ok(curl.easy_setopt(exchange->handle, CURLOPT_SSL_VERIFYHOST, verify_host ? 2L : 0L));
}

int ccurl_set_use_environment_proxy(ccurl_exchange *exchange, int use) {
    // Without CURLOPT_PROXY set, libcurl reads the proxy environment variables itself.
    return ok(curl.easy_setopt(exchange->handle, CURLOPT_PROXY, use ? NULL : ""));
}

static ccurl_error_kind classify(CURLcode code, int overflowed) {
    switch (code) {
    case CURLE_OK: return CCURL_OK;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_NOT_BUILT_IN:
        return CCURL_INVALID_REQUEST;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return CCURL_RESOLVE;
    case CURLE_COULDNT_CONNECT: return CCURL_CONNECT;
    case CURLE_OPERATION_TIMEDOUT: return CCURL_TIMEOUT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
        return CCURL_TLS;
    case CURLE_SEND_ERROR: return CCURL_SEND;
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
        return CCURL_RECEIVE;
    case CURLE_WRITE_ERROR: return overflowed ? CCURL_TOO_LARGE : CCURL_OTHER;
    default: return CCURL_OTHER;
    }
}

ccurl_error_kind ccurl_perform(ccurl_exchange *exchange, long *status, int *curl_code, char *message,
                               size_t message_size) {
    exchange->body.count = 0;
    exchange->header_block.count = 0;
    exchange->body_overflowed = 0;
    exchange->error[0] = 0;
    CURLcode code = curl.easy_perform(exchange->handle);
    *curl_code = (int)code;
    *status = 0;
    if (code != CURLE_OK) {
        if (message != NULL && message_size > 0) {
            snprintf(message, message_size, "%s", exchange->error[0] ? exchange->error : curl.easy_strerror(code));
        }
        return classify(code, exchange->body_overflowed);
    }
    long response_code = 0;
    curl.easy_getinfo(exchange->handle, CURLINFO_RESPONSE_CODE, &response_code);
    *status = response_code;
    return CCURL_OK;
}

const uint8_t *ccurl_response_body(const ccurl_exchange *exchange, size_t *count) {
    *count = exchange->body.count;
    return exchange->body.bytes;
}

const char *ccurl_response_headers(const ccurl_exchange *exchange, size_t *count) {
    *count = exchange->header_block.count;
    return (const char *)exchange->header_block.bytes;
}
