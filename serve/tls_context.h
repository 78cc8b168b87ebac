// The TLS settings of every listener and certificate: one function configures each SSL_CTX the
// same way, so a connection that the SNI callback moves to its certificate's context keeps
// every setting (OpenSSL takes ALPN and the callbacks from the context in force).
//
// Protocols TLS 1.2 and 1.3 only; forward-secret AEAD ciphers only (Mozilla's "intermediate"
// list without DHE); ALPN http/1.1 only; no renegotiation; session resumption by tickets
// (RFC 5077 and TLS 1.3 PSK). Tickets are sealed with the listener's TicketKeys
// (serve/ticket_keys.h): one set for the whole process, shared by every thread, held in memory
// only and rotated while the server runs (--tls-ticket-rotation), so a ticket resumes for one
// to two rotation periods and at most k_ticket_lifetime_s. No stateful session cache: a
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
class TicketKeys;

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
// `tickets` seals and opens every session ticket; the context keeps it alive.
Result<std::shared_ptr<SSL_CTX>> make_listener_context(std::shared_ptr<TicketKeys> tickets);

// A new connection's SSL on the listener context (SSL_new), told where its tickets' keys are:
// OpenSSL takes the ticket callback from the listener context, but after the SNI callback has
// moved the connection to its certificate's context nothing else leads back to the keys.
// nullptr when OpenSSL cannot make one.
SSL* new_connection_ssl(SSL_CTX* listener);

// Gives a connection's SSL the table its SNI callback chooses from. The caller keeps `table`
// alive until the handshake is done.
void attach_cert_table(SSL* ssl, const CertTable* table);

}  // namespace shortlink::serve
