// SHA-256 over OpenSSL's EVP interface, and the message a snapshot's signature signs.
//
// The writer, the reader/verifier and the tests' re-signing helper all hash blocks and sign the
// same message (SPEC.md "Signature"); this header is the one place that says how.
// Thread-safety: a Sha256 is one streaming state, for one thread; the free functions are pure.
#pragma once

#include <openssl/evp.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "formats/container_format.h"

namespace shortlink::formats {

using Sha256Digest = std::array<std::uint8_t, 32>;

// A streaming SHA-256 (RAII over an EVP_MD_CTX). finish() leaves it ready for reuse.
class Sha256 {
public:
    Sha256() : m_ctx(EVP_MD_CTX_new()) { EVP_DigestInit_ex(m_ctx, EVP_sha256(), nullptr); }
    ~Sha256() { EVP_MD_CTX_free(m_ctx); }
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;

    void update(const void* data, std::size_t length) { EVP_DigestUpdate(m_ctx, data, length); }
    void finish(std::uint8_t* out) {
        unsigned int len = 0;
        EVP_DigestFinal_ex(m_ctx, out, &len);
        EVP_DigestInit_ex(m_ctx, EVP_sha256(), nullptr);
    }
    Sha256Digest finish() {
        Sha256Digest out{};
        finish(out.data());
        return out;
    }

private:
    EVP_MD_CTX* m_ctx;
};

// One-shot SHA-256 of a buffer.
inline Sha256Digest sha256(const void* data, std::size_t length) {
    Sha256Digest out{};
    unsigned int len = 0;
    EVP_Digest(data, length, out.data(), &len, EVP_sha256(), nullptr);
    return out;
}

// What the Ed25519 signature of a file signs: the context string, a NUL, the file digest.
inline std::string signature_message(const Sha256Digest& snapshot_digest) {
    std::string message(format::k_signature_context);
    message.push_back('\0');
    message.append(reinterpret_cast<const char*>(snapshot_digest.data()), snapshot_digest.size());
    return message;
}

}  // namespace shortlink::formats
