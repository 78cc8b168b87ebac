// Little-endian load/store, LEB128 and hex helpers for the writers and readers of every file kind.
// Loads go through memcpy so unaligned offsets in a hostile file are never undefined behaviour.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace shortlink::formats::bytes {

template <class T>
inline T load(const std::uint8_t* p) {
    T v{};
    std::memcpy(&v, p, sizeof(T));
    return v;
}

template <class T>
inline void store(std::uint8_t* p, T v) {
    std::memcpy(p, &v, sizeof(T));
}

template <class T>
inline void append(std::string& out, T v) {
    char buf[sizeof(T)];
    std::memcpy(buf, &v, sizeof(T));
    out.append(buf, sizeof(T));
}

// Unsigned LEB128, at most 10 bytes.
inline std::size_t put_varint(std::uint8_t* out, std::uint64_t v) {
    std::size_t n = 0;
    while (v >= 0x80) {
        out[n++] = static_cast<std::uint8_t>(v | 0x80);
        v >>= 7;
    }
    out[n++] = static_cast<std::uint8_t>(v);
    return n;
}

inline std::size_t varint_size(std::uint64_t v) {
    std::size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        ++n;
    }
    return n;
}

// Reads a varint from [p, end); returns bytes consumed, 0 if truncated or longer than 5 bytes
// (lengths in a snapshot never need more than 32 bits).
inline std::size_t get_varint32(const std::uint8_t* p, const std::uint8_t* end, std::uint32_t& v) {
    std::uint64_t result = 0;
    for (std::size_t i = 0; i < 5 && p + i < end; ++i) {
        result |= static_cast<std::uint64_t>(p[i] & 0x7f) << (7 * i);
        if ((p[i] & 0x80) == 0) {
            if (result > 0xffffffffULL) {
                return 0;
            }
            v = static_cast<std::uint32_t>(result);
            return i + 1;
        }
    }
    return 0;
}

// Unchecked variant for the lookup path, on records open() has already validated.
inline const std::uint8_t* get_varint32_trusted(const std::uint8_t* p, std::uint32_t& v) {
    std::uint32_t result = p[0] & 0x7f;
    if (p[0] < 0x80) {
        v = result;
        return p + 1;
    }
    int shift = 7;
    ++p;
    while (true) {
        result |= static_cast<std::uint32_t>(*p & 0x7f) << shift;
        if (*p++ < 0x80) {
            break;
        }
        shift += 7;
    }
    v = result;
    return p;
}

// Lowercase hexadecimal, two digits a byte: key ids, digests.
inline std::string hex_encode(const std::uint8_t* p, std::size_t n) {
    static constexpr char k_hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(2 * n);
    for (std::size_t i = 0; i < n; ++i) {
        out += k_hex[p[i] >> 4];
        out += k_hex[p[i] & 15];
    }
    return out;
}

}  // namespace shortlink::formats::bytes
