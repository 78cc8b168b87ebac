#include "formats/hash.h"

#include "formats/snapshot_format.h"

namespace shortlink::formats {

namespace hash_detail {

Hash128 hash128_long(const unsigned char* p, std::size_t len, std::uint64_t seed) {
    // Two independent lanes so the multiplies of consecutive 32-byte blocks overlap.
    const std::uint64_t total = len;
    std::uint64_t s0 = seed ^ k_p0;
    std::uint64_t s1 = seed ^ k_p2;
    while (len > 32) {
        s0 = mix(load64(p) ^ k_p1, load64(p + 8) ^ s0);
        s1 = mix(load64(p + 16) ^ k_p3, load64(p + 24) ^ s1);
        p += 32;
        len -= 32;
    }
    if (len > 16) {
        s0 = mix(load64(p) ^ k_p1, load64(p + 8) ^ s0);
    }
    // The last 16 bytes (overlapping what came before when len < 16 here).
    const unsigned char* end = p + len;
    return finish(load64(end - 16), load64(end - 8), s0 ^ s1, total);
}

}  // namespace hash_detail

Checksum::Checksum() : m_state(format::k_checksum_seed) {}

void Checksum::update(const void* data, std::size_t len) {
    const auto* p = static_cast<const unsigned char*>(data);
    while (len > 0) {
        if (m_fill == 0 && len >= sizeof(m_buffer)) {
            m_state = hash128(p, sizeof(m_buffer), m_state).lo;
            p += sizeof(m_buffer);
            len -= sizeof(m_buffer);
            continue;
        }
        const std::size_t take = std::min(len, sizeof(m_buffer) - m_fill);
        std::memcpy(m_buffer + m_fill, p, take);
        m_fill += take;
        p += take;
        len -= take;
        if (m_fill == sizeof(m_buffer)) {
            m_state = hash128(m_buffer, m_fill, m_state).lo;
            m_fill = 0;
        }
    }
}

std::uint64_t Checksum::digest() {
    if (m_fill > 0) {
        m_state = hash128(m_buffer, m_fill, m_state).lo;
        m_fill = 0;
    }
    return m_state;
}

std::uint64_t checksum(const void* data, std::size_t len,
                       const std::function<void()>& between_chunks) {
    static_assert(format::k_checksum_chunk == 65536);
    const auto* p = static_cast<const unsigned char*>(data);
    std::uint64_t state = format::k_checksum_seed;
    while (len > 0) {
        const std::size_t take = std::min<std::size_t>(len, format::k_checksum_chunk);
        state = hash128(p, take, state).lo;
        p += take;
        len -= take;
        if (between_chunks && len > 0) {
            between_chunks();
        }
    }
    return state;
}

}  // namespace shortlink::formats
