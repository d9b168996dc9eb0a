// C shims over libcurl for BridgekeeperFetch: curl_easy_setopt and curl_easy_getinfo are variadic,
// so each argument kind gets a typed wrapper. Nothing else belongs here.
#ifndef BRIDGEKEEPER_CCURL_SHIM_H
#define BRIDGEKEEPER_CCURL_SHIM_H

#include <curl/curl.h>

static inline CURLcode bk_curl_set_long(CURL *curl, CURLoption option, long value) {
    return curl_easy_setopt(curl, option, value);
}

static inline CURLcode bk_curl_set_string(CURL *curl, CURLoption option, const char *value) {
    return curl_easy_setopt(curl, option, value);
}

static inline CURLcode bk_curl_set_pointer(CURL *curl, CURLoption option, void *value) {
    return curl_easy_setopt(curl, option, value);
}

typedef size_t (*bk_curl_write_callback)(char *data, size_t size, size_t count, void *context);

static inline CURLcode bk_curl_set_write_function(CURL *curl, CURLoption option, bk_curl_write_callback callback) {
    return curl_easy_setopt(curl, option, callback);
}

typedef int (*bk_curl_xferinfo_callback)(void *context, curl_off_t download_total, curl_off_t download_now,
                                         curl_off_t upload_total, curl_off_t upload_now);

static inline CURLcode bk_curl_set_xferinfo_function(CURL *curl, bk_curl_xferinfo_callback callback) {
    return curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, callback);
}

static inline CURLcode bk_curl_get_long(CURL *curl, CURLINFO info, long *value) {
    return curl_easy_getinfo(curl, info, value);
}

#endif
