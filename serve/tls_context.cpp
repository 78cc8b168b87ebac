#include "serve/tls_context.h"

#include <string>

#include <openssl/err.h>

#include "serve/certificates.h"
#include "serve/ticket_keys.h"

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

int listener_tickets_index() {
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

int connection_tickets_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

int ticket_key(SSL* ssl, unsigned char key_name[16], unsigned char iv[EVP_MAX_IV_LENGTH],
               EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int seal) {
    const auto* tickets = static_cast<const TicketKeys*>(SSL_get_ex_data(ssl, connection_tickets_index()));
    if (tickets == nullptr) {
        return 0;  // no ticket issued, none accepted: a full handshake
    }
    return seal != 0 ? tickets->seal(key_name, iv, cipher, mac) : tickets->open(key_name, iv, cipher, mac);
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

Result<std::shared_ptr<SSL_CTX>> make_listener_context(std::shared_ptr<TicketKeys> tickets) {
    SSL_CTX* raw = SSL_CTX_new(TLS_server_method());
    if (raw == nullptr) {
        return Status::io_error(openssl_error("cannot make a TLS context"));
    }
    const TicketKeys* keys = tickets.get();
    std::shared_ptr<SSL_CTX> ctx(raw, [tickets = std::move(tickets)](SSL_CTX* c) { SSL_CTX_free(c); });
    if (Status s = configure_tls_context(ctx.get()); !s) {
        return s;
    }
    table_index();  // allocated once, before the threads start
    connection_tickets_index();
    SSL_CTX_set_tlsext_servername_callback(ctx.get(), select_certificate);
    if (SSL_CTX_set_ex_data(ctx.get(), listener_tickets_index(), const_cast<TicketKeys*>(keys)) != 1 ||
        SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx.get(), ticket_key) != 1) {
        return Status::io_error(openssl_error("cannot set the session ticket keys"));
    }
    return ctx;
}

SSL* new_connection_ssl(SSL_CTX* listener) {
    SSL* ssl = SSL_new(listener);
    if (ssl != nullptr) {
        SSL_set_ex_data(ssl, connection_tickets_index(), SSL_CTX_get_ex_data(listener, listener_tickets_index()));
    }
    return ssl;
}

void attach_cert_table(SSL* ssl, const CertTable* table) {
    SSL_set_ex_data(ssl, table_index(), const_cast<CertTable*>(table));
}

}  // namespace shortlink::serve
