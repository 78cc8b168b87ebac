// Reading a whole input that must fit in memory: an import from another shortener (parsed as one
// document) and a links file. Pure stream I/O; never throws.
#pragma once

#include <algorithm>
#include <cstddef>
#include <istream>
#include <string>

namespace shortlink::store {

// Appends `in` to its end to `out` in chunks of 1 MiB, stopping once `out` holds more than
// `max_bytes`: false then, so an oversized input is refused without reading all of it.
inline bool read_bounded(std::istream& in, std::size_t max_bytes, std::string& out) {
    constexpr std::size_t k_chunk = 1 << 20;
    std::streambuf& buf = *in.rdbuf();
    while (out.size() <= max_bytes) {
        const std::size_t old = out.size();
        out.resize(old + k_chunk);
        const std::streamsize got = buf.sgetn(out.data() + old, static_cast<std::streamsize>(k_chunk));
        out.resize(old + static_cast<std::size_t>(std::max<std::streamsize>(got, 0)));
        if (got <= 0) {
            break;
        }
    }
    return out.size() <= max_bytes;
}

}  // namespace shortlink::store
