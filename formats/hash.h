// slhash128: the seeded 128-bit hash of the snapshot format (SPEC.md "The hash function").
//
// Non-cryptographic (the Ed25519 signature carries the security), built for short keys: a key of
// up to 16 bytes costs two loads and two 64x64->128 multiplies. Longer inputs go through a
// two-lane loop (hash.cpp). The construction follows the multiply-fold ("mum") family of wyhash
// and rapidhash; the function, constants and tail handling are defined by SPEC.md, so it must
// never change for a given hash_function id. Plain C++ with portable 128-bit multiplication: no
// CPU-specific instructions, so a snapshot does not depend on the host that built it.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <functional>
#include <string_view>

namespace shortlink::formats {

struct Hash128 {
    std::uint64_t lo = 0;
    std::uint64_t hi = 0;
    bool operator==(const Hash128&) const = default;
};

namespace hash_detail {

// Odd 64-bit constants: the golden ratio and the three multipliers of splitmix64/Stafford mix13.
inline constexpr std::uint64_t k_p0 = 0x9e3779b97f4a7c15ULL;
inline constexpr std::uint64_t k_p1 = 0xbf58476d1ce4e5b9ULL;
inline constexpr std::uint64_t k_p2 = 0x94d049bb133111ebULL;
inline constexpr std::uint64_t k_p3 = 0xd6e8feb86659fd93ULL;

__extension__ typedef unsigned __int128 U128;

inline void mul128(std::uint64_t a, std::uint64_t b, std::uint64_t& lo, std::uint64_t& hi) {
    const U128 p = static_cast<U128>(a) * b;
    lo = static_cast<std::uint64_t>(p);
    hi = static_cast<std::uint64_t>(p >> 64);
}

inline std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
    std::uint64_t lo = 0;
    std::uint64_t hi = 0;
    mul128(a, b, lo, hi);
    return lo ^ hi;
}

inline std::uint64_t load64(const unsigned char* p) {
    std::uint64_t v = 0;
    std::memcpy(&v, p, 8);
    return v;
}

inline std::uint64_t load32(const unsigned char* p) {
    std::uint32_t v = 0;
    std::memcpy(&v, p, 4);
    return v;
}

inline Hash128 finish(std::uint64_t a, std::uint64_t b, std::uint64_t s, std::uint64_t len) {
    std::uint64_t lo = 0;
    std::uint64_t hi = 0;
    mul128(a ^ s ^ k_p1, b ^ ((s << 29) | (s >> 35)) ^ k_p2, lo, hi);
    return {mix(lo ^ k_p0 ^ len, hi ^ k_p1), mix(lo ^ k_p2, hi ^ k_p3 ^ len)};
}

Hash128 hash128_long(const unsigned char* p, std::size_t len, std::uint64_t seed);

}  // namespace hash_detail

// The 128-bit hash of `len` bytes at `data` under `seed`. Inline: it is on the lookup path.
inline Hash128 hash128(const void* data, std::size_t len, std::uint64_t seed) {
    using namespace hash_detail;
    const auto* p = static_cast<const unsigned char*>(data);
    if (len > 16) {
        return hash128_long(p, len, seed);
    }
    std::uint64_t a = 0;
    std::uint64_t b = 0;
    if (len >= 8) {
        a = load64(p);
        b = load64(p + len - 8);
    } else if (len >= 4) {
        a = load32(p);
        b = load32(p + len - 4);
    } else if (len > 0) {
        a = (std::uint64_t{p[0]} << 16) | (std::uint64_t{p[len >> 1]} << 8) | p[len - 1];
    }
    return finish(a, b, seed ^ k_p0, len);
}

inline Hash128 hash128(std::string_view s, std::uint64_t seed) {
    return hash128(s.data(), s.size(), seed);
}

// The seed a key of domain `domain_index` is hashed with (SPEC.md): one multiply, so domains
// with equal codes get unrelated hashes.
inline std::uint64_t domain_seed(std::uint64_t seed, std::uint32_t domain_index) {
    return seed ^ ((static_cast<std::uint64_t>(domain_index) + 1) * hash_detail::k_p3);
}

// Streaming section checksum (SPEC.md "Checksums"): chains hash128().lo over 64 KiB chunks.
class Checksum {
public:
    Checksum();
    void update(const void* data, std::size_t len);
    std::uint64_t digest();  // flushes the partial chunk; call once

private:
    std::uint64_t m_state;
    unsigned char m_buffer[65536];
    std::size_t m_fill = 0;
};

// One-shot checksum of a whole buffer; equal to Checksum over the same bytes. `between_chunks`,
// when set, runs after every 64 KiB chunk (a long pass can pause there).
std::uint64_t checksum(const void* data, std::size_t len,
                       const std::function<void()>& between_chunks = {});

}  // namespace shortlink::formats
