// Ed25519 signing keys for snapshots (OpenSSL EVP), their files, and key ids.
//
// File formats (SPEC.md "Keys"): the secret key is PKCS#8 PEM ("PRIVATE KEY"), or, with a
// passphrase, encrypted PKCS#8 PEM ("ENCRYPTED PRIVATE KEY", PBES2 with scrypt and AES-256-CBC);
// the public key is SubjectPublicKeyInfo PEM ("PUBLIC KEY"), so `openssl pkey` reads both. A
// comment line naming the key id precedes the PEM block. The key id is the first 8 bytes of
// SHA-256("shortlink key id v1" NUL public-key), as 16 lowercase hex digits.
//
// Thread-safety: a SigningKey is immutable after construction; sign() may run on many threads.
// Ownership: SigningKey owns its OpenSSL key object.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "formats/container.h"
#include "formats/status.h"

namespace shortlink::formats {

using PublicKeyBytes = std::array<std::uint8_t, 32>;
using SignatureBytes = std::array<std::uint8_t, 64>;

// 16 hex digits derived from the public key (see above).
std::string key_id_for(const PublicKeyBytes& public_key);

class SigningKey {
public:
    // A fresh key from OpenSSL's CSPRNG.
    static Result<SigningKey> generate();

    // Reads a secret key file. `passphrase` is needed iff the file is encrypted; errors say
    // which of: missing file, a public key given instead, truncated file, wrong passphrase.
    static Result<SigningKey> load(const std::string& path,
                                   const std::optional<std::string>& passphrase);

    // True if the file at `path` holds an encrypted secret key (the CLI asks for a passphrase).
    static Result<bool> is_encrypted(const std::string& path);

    // Writes the secret key with mode 0600; refuses to replace a file unless `overwrite`.
    Status write_secret(const std::string& path, const std::optional<std::string>& passphrase,
                        bool overwrite) const;
    // Writes the public key (mode 0644); refuses to replace a file unless `overwrite`.
    Status write_public(const std::string& path, bool overwrite) const;

    const std::string& key_id() const { return m_key_id; }
    const PublicKeyBytes& public_key() const { return m_public; }
    TrustedKey trusted() const { return TrustedKey{m_key_id, m_public}; }

    Result<SignatureBytes> sign(const std::uint8_t* message, std::size_t length) const;

private:
    struct PkeyDeleter {
        void operator()(void* pkey) const;
    };
    SigningKey() = default;

    std::shared_ptr<void> m_pkey;  // EVP_PKEY*
    PublicKeyBytes m_public{};
    std::string m_key_id;
};

// True if `signature` is key's Ed25519 signature of the message.
// Reads a public key file written by `shortlink keygen` (format in SPEC.md).
Result<TrustedKey> load_public_key(const std::string& path);

bool verify_signature(const TrustedKey& key, const std::uint8_t* message, std::size_t length,
                      const SignatureBytes& signature);

// Parses a public key from PEM text (what load_public_key() reads from a file).
Result<TrustedKey> parse_public_key(const std::string& pem, const std::string& origin);

}  // namespace shortlink::formats
