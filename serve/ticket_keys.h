// Session ticket keys that rotate while the server runs (RFC 5077 tickets in TLS 1.2, PSK tickets
// in TLS 1.3). Each key is a 16-byte name, a 32-byte AES-256-CBC key and a 32-byte HMAC-SHA256
// key, drawn with RAND_bytes and held in memory only: never written to disk, so a stolen disk or
// backup decrypts no recorded session, and a restart starts a new series.
//
// rotate() makes a new current key and keeps the one it replaces as the previous key. New
// tickets are sealed with the current key; a ticket sealed with the previous key still resumes
// its session (and the client gets a fresh ticket under the current key), so resumption keeps
// working across one rotation; a ticket two rotations old names a key that is gone and the
// client makes a full handshake. A ticket thus resumes for between one and two rotation
// periods, and never past the session lifetime (k_ticket_lifetime_s, serve/tls_context.h).
//
// Thread-safety: rotate() from one thread (the control thread's timer); seal()/open() from any
// number of worker threads at once. The key pair is an immutable object published through a
// std::atomic<std::shared_ptr> (libstdc++ guards it with a spin bit held only while the pointer
// is copied): a handshake copies the pointer and reads the keys it holds, so neither a rotation
// nor another handshake holds it up for longer than that copy, and a handshake never sees a
// half-written key. Old keys are wiped
// (OPENSSL_cleanse) when the last handshake that read them lets go.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>

#include <openssl/evp.h>

#include "formats/status.h"

namespace shortlink::serve {

class TicketKeys {
public:
    // Draws the first key; fails only when the random generator does.
    static Result<std::shared_ptr<TicketKeys>> make();

    // Makes a new current key; the current one becomes the previous one, and the previous one
    // is forgotten.
    Status rotate();
    std::uint64_t rotations() const { return m_rotations.load(std::memory_order_relaxed); }

    // The body of OpenSSL's ticket key callback (SSL_CTX_set_tlsext_ticket_key_evp_cb), with
    // its return values: sealing 1 (sealed with the current key) or -1; opening 1 (the current
    // key), 2 (the previous key: resume, and send a new ticket), 0 (no such key: full
    // handshake) or -1.
    int seal(unsigned char key_name[16], unsigned char* iv, EVP_CIPHER_CTX* cipher,
             EVP_MAC_CTX* mac) const;
    int open(const unsigned char key_name[16], const unsigned char* iv, EVP_CIPHER_CTX* cipher,
             EVP_MAC_CTX* mac) const;

    struct Key {
        std::array<unsigned char, 16> name{};
        std::array<unsigned char, 32> aes{};
        std::array<unsigned char, 32> hmac{};
    };
    struct Pair {
        Key current;
        Key previous;
        bool has_previous = false;
        ~Pair();
    };

private:
    TicketKeys() = default;

    std::atomic<std::shared_ptr<const Pair>> m_keys;
    std::atomic<std::uint64_t> m_rotations{0};
};

}  // namespace shortlink::serve
