// The TLS settings of every listener and certificate: one function configures each SSL_CTX the
// same way, so a connection that the SNI callback moves to its certificate's context keeps
// every setting (OpenSSL takes ALPN and the callbacks from the context in force).
//
// Protocols TLS 1.2 and 1.3 only; forward-secret AEAD ciphers only (Mozilla's "intermediate"
// list without DHE); ALPN http/1.1 only; no renegotiation; session resumption by tickets
// (RFC 5077 and TLS 1.3 PSK). Tickets are sealed with keys OpenSSL draws at random when the
// listener context is made: one set for the whole process, shared by every thread, held in
// memory only, so they change at each restart (outstanding tickets then fall back to a full
// handshake) and a ticket is accepted for k_ticket_lifetime_s. No stateful session cache: a
// resumption takes no lock.
//
// Thread-safety: call the functions before the worker threads start; the contexts they
// return are then shared read-only (SSL_new on them is thread-safe).
#pragma once

#include <memory>

#include <openssl/ssl.h>

#include "formats/status.h"

namespace shortlink::serve {

class CertTable;

// TLS 1.2 cipher suites, in OpenSSL's names; the client's order wins among them, all are strong.
inline constexpr const char* k_tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
// TLS 1.3 cipher suites.
inline constexpr const char* k_tls13_ciphersuites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
// Key exchange groups, most preferred first.
inline constexpr const char* k_tls_groups = "X25519:P-256:P-384";
// How long a session ticket resumes a session (OpenSSL's default, said out loud).
inline constexpr long k_ticket_lifetime_s = 7200;

// Applies the settings above to `ctx`.
Status configure_tls_context(SSL_CTX* ctx);

// The context every TLS connection starts from. It holds no certificate: its SNI callback
// moves each connection to the context of the certificate CertTable::select() picks from the
// table attach_cert_table() gave that connection, or ends the handshake with an
// unrecognized_name alert when none applies.
Result<std::shared_ptr<SSL_CTX>> make_listener_context();

// Gives a connection's SSL the table its SNI callback chooses from. The caller keeps `table`
// alive until the handshake is done.
void attach_cert_table(SSL* ssl, const CertTable* table);

}  // namespace shortlink::serve
