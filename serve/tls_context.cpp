#include "serve/tls_context.h"

#include <string>

#include <openssl/err.h>

#include "serve/certificates.h"

namespace shortlink::serve {

namespace {

// ALPN protocol list in wire format: one length byte, then the name.
constexpr unsigned char k_alpn_http11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
// Session ID context: OpenSSL resumes only sessions made under the same one, and a
// connection moved to a certificate's context must keep the listener's.
constexpr unsigned char k_session_context[] = {'s', 'h', 'o', 'r', 't', 'l', 'i', 'n', 'k'};

std::string openssl_error(const char* what) {
    std::string out = what;
    const unsigned long code = ERR_get_error();
    if (code != 0) {
        char buf[256];
        ERR_error_string_n(code, buf, sizeof(buf));
        out += ": ";
        out += buf;
    }
    ERR_clear_error();
    return out;
}

// A client that offers ALPN gets http/1.1 or, when it offers something else only (h2 alone),
// a no_application_protocol alert (RFC 7301 3.2), as nginx does.
int select_alpn(SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in,
                unsigned int in_len, void*) {
    unsigned char* chosen = nullptr;
    if (SSL_select_next_proto(&chosen, out_len, k_alpn_http11, sizeof(k_alpn_http11), in, in_len) !=
        OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

int table_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

int select_certificate(SSL* ssl, int* alert, void*) {
    const auto* table = static_cast<const CertTable*>(SSL_get_ex_data(ssl, table_index()));
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    const Certificate* chosen = table != nullptr ? table->select(name != nullptr ? name : "") : nullptr;
    if (chosen == nullptr || SSL_set_SSL_CTX(ssl, chosen->context.get()) == nullptr) {
        *alert = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    return SSL_TLSEXT_ERR_OK;
}

}  // namespace

Status configure_tls_context(SSL_CTX* ctx) {
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) {
        return Status::io_error(openssl_error("cannot set the TLS versions"));
    }
    if (SSL_CTX_set_cipher_list(ctx, k_tls12_ciphers) != 1) {
        return Status::io_error(openssl_error("cannot set the TLS 1.2 ciphers"));
    }
    if (SSL_CTX_set_ciphersuites(ctx, k_tls13_ciphersuites) != 1) {
        return Status::io_error(openssl_error("cannot set the TLS 1.3 cipher suites"));
    }
    if (SSL_CTX_set1_groups_list(ctx, k_tls_groups) != 1) {
        return Status::io_error(openssl_error("cannot set the key exchange groups"));
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_timeout(ctx, k_ticket_lifetime_s);
    if (SSL_CTX_set_session_id_context(ctx, k_session_context, sizeof(k_session_context)) != 1) {
        return Status::io_error(openssl_error("cannot set the session context"));
    }
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);
    return Status::ok();
}

Result<std::shared_ptr<SSL_CTX>> make_listener_context() {
    std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
    if (!ctx) {
        return Status::io_error(openssl_error("cannot make a TLS context"));
    }
    if (Status s = configure_tls_context(ctx.get()); !s) {
        return s;
    }
    table_index();  // allocated once, before the threads start
    SSL_CTX_set_tlsext_servername_callback(ctx.get(), select_certificate);
    return ctx;
}

void attach_cert_table(SSL* ssl, const CertTable* table) {
    SSL_set_ex_data(ssl, table_index(), const_cast<CertTable*>(table));
}

}  // namespace shortlink::serve
