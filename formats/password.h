// Password hashes of protected links: the scrypt key derivation (OpenSSL 3's EVP_KDF "SCRYPT"),
// the text form the store keeps and the fixed-size block a snapshot's rule list carries
// (formats/SPEC.md "Section 5: rules", the password block).
//
// A hash records its own parameters and salt, so the cost can be raised later without touching
// the links hashed before. The store keeps the text form
//     scrypt$<log2 N>$<r>$<p>$<salt: 32 hex digits>$<hash: 64 hex digits>
// and the compiler copies the same values into the binary block. Both are proven by
// check_password_params() before a byte is trusted: a hostile file or row cannot make a server
// allocate gigabytes or spin for minutes on one check.
//
// Thread-safety: pure functions; hash_password() draws from OpenSSL's thread-safe CSPRNG.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "formats/status.h"

namespace shortlink::formats {

inline constexpr std::uint8_t k_kdf_scrypt = 1;   // the only KDF id so far
inline constexpr std::size_t k_password_salt_size = 16;
inline constexpr std::size_t k_password_hash_size = 32;
// kdf, log2 N, r, p, salt, hash.
inline constexpr std::size_t k_password_block_size = 4 + k_password_salt_size + k_password_hash_size;

// What the writer uses for new hashes: N = 2^14, r = 8, p = 1 is 16 MiB of memory and about
// 30 ms on one 2020s server core (RFC 7914 section 2's interactive-login figure), enough to make
// a guess cost as much as a page load while a pool of two threads still checks ~60 a second.
inline constexpr std::uint8_t k_scrypt_log2_n = 14;
inline constexpr std::uint8_t k_scrypt_r = 8;
inline constexpr std::uint8_t k_scrypt_p = 1;

// Ranges a reader accepts: log2 N 10..20, r 1..32, p 1..16, and memory 128 x r x N at most
// 256 MiB (what one check on the pool may allocate).
inline constexpr std::uint8_t k_scrypt_min_log2_n = 10;
inline constexpr std::uint8_t k_scrypt_max_log2_n = 20;
inline constexpr std::uint8_t k_scrypt_max_r = 32;
inline constexpr std::uint8_t k_scrypt_max_p = 16;
inline constexpr std::uint64_t k_scrypt_max_memory = std::uint64_t{256} << 20;

// Longest password accepted, in bytes (the form's field and --password-file alike).
inline constexpr std::size_t k_max_password_size = 1024;

struct PasswordHash {
    std::uint8_t kdf = k_kdf_scrypt;
    std::uint8_t log2_n = k_scrypt_log2_n;
    std::uint8_t r = k_scrypt_r;
    std::uint8_t p = k_scrypt_p;
    std::array<std::uint8_t, k_password_salt_size> salt{};
    std::array<std::uint8_t, k_password_hash_size> hash{};
};

// Nullptr when kdf and parameters are in range, else what is wrong ("unknown KDF 7", ...).
const char* check_password_params(std::uint8_t kdf, std::uint8_t log2_n, std::uint8_t r, std::uint8_t p);

// A new hash of `password` with a fresh random salt and the given cost.
Result<PasswordHash> hash_password(std::string_view password, std::uint8_t log2_n = k_scrypt_log2_n,
                                   std::uint8_t r = k_scrypt_r, std::uint8_t p = k_scrypt_p);

// Whether `password` hashes to `stored` (constant-time comparison). False for an out-of-range
// hash or a KDF failure: nothing is ever let through on an error.
bool verify_password(std::string_view password, const PasswordHash& stored);

// The store's text form and back; parse refuses anything encode would not write.
std::string encode_password_text(const PasswordHash& h);
Result<PasswordHash> parse_password_text(std::string_view text);

// The snapshot block and back (exactly k_password_block_size bytes).
void append_password_block(std::string& out, const PasswordHash& h);
// Proves the block at `p` (k_password_block_size readable bytes); nullptr when valid.
const char* password_block_defect(const std::uint8_t* p);
PasswordHash read_password_block(const std::uint8_t* p);  // of a proven block

}  // namespace shortlink::formats
