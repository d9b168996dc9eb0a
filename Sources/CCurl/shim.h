// C shims over libcurl for BridgekeeperFetch: curl_easy_setopt and curl_easy_getinfo are variadic,
// so each argument kind gets a typed wrapper; the open-socket callback's address is read and its
// socket opened here, where struct sockaddr needs no rebinding. Nothing else belongs here.
#ifndef BRIDGEKEEPER_CCURL_SHIM_H
#define BRIDGEKEEPER_CCURL_SHIM_H

#include <curl/curl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

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

typedef curl_socket_t (*bk_curl_opensocket_callback)(void *context, curlsocktype purpose, struct curl_sockaddr *address);

static inline CURLcode bk_curl_set_opensocket_function(CURL *curl, bk_curl_opensocket_callback callback) {
    return curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, callback);
}

/// Copies the IP address curl is about to connect to into `out` (16 bytes of room): returns 4 for
/// IPv4, 16 for IPv6, 0 for anything else (then nothing is copied).
static inline int bk_curl_sockaddr_ip(const struct curl_sockaddr *address, unsigned char *out) {
    if (address->family == AF_INET && address->addrlen >= sizeof(struct sockaddr_in)) {
        struct sockaddr_in v4;
        memcpy(&v4, &address->addr, sizeof v4);
        memcpy(out, &v4.sin_addr, 4);
        return 4;
    }
    if (address->family == AF_INET6 && address->addrlen >= sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 v6;
        memcpy(&v6, &address->addr, sizeof v6);
        memcpy(out, &v6.sin6_addr, 16);
        return 16;
    }
    return 0;
}

/// What curl does without an open-socket callback: a socket for the address's family and type.
static inline curl_socket_t bk_curl_open_socket(const struct curl_sockaddr *address) {
    return socket(address->family, address->socktype, address->protocol);
}

static inline CURLcode bk_curl_get_long(CURL *curl, CURLINFO info, long *value) {
    return curl_easy_getinfo(curl, info, value);
}

#endif
