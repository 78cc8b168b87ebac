// Punycode (RFC 3492 section 6.3, the encoding procedure) for one label. See punycode.h.
#include "store/punycode.h"

#include <cstdint>
#include <vector>

namespace shortlink::validate {
namespace {

// Parameters from RFC 3492 section 5.
constexpr std::uint32_t k_base = 36;
constexpr std::uint32_t k_tmin = 1;
constexpr std::uint32_t k_tmax = 26;
constexpr std::uint32_t k_skew = 38;
constexpr std::uint32_t k_damp = 700;
constexpr std::uint32_t k_initial_bias = 72;
constexpr std::uint32_t k_initial_n = 128;
constexpr std::size_t k_max_label_code_points = 63;  // an encoded label is at most 63 bytes anyway

char digit(std::uint32_t d) { return static_cast<char>(d < 26 ? 'a' + d : '0' + (d - 26)); }

std::uint32_t adapt(std::uint32_t delta, std::uint32_t num_points, bool first) {
    delta = first ? delta / k_damp : delta / 2;
    delta += delta / num_points;
    std::uint32_t k = 0;
    while (delta > ((k_base - k_tmin) * k_tmax) / 2) {
        delta /= k_base - k_tmin;
        k += k_base;
    }
    return k + (k_base - k_tmin + 1) * delta / (delta + k_skew);
}

}  // namespace

Result<std::vector<std::uint32_t>> decode_utf8(std::string_view s) {
    std::vector<std::uint32_t> out;
    for (std::size_t i = 0; i < s.size();) {
        auto b0 = static_cast<unsigned char>(s[i]);
        std::uint32_t cp = 0;
        std::size_t len = 0;
        std::uint32_t min = 0;
        if (b0 < 0x80) {
            cp = b0;
            len = 1;
        } else if ((b0 & 0xe0) == 0xc0) {
            cp = b0 & 0x1f;
            len = 2;
            min = 0x80;
        } else if ((b0 & 0xf0) == 0xe0) {
            cp = b0 & 0x0f;
            len = 3;
            min = 0x800;
        } else if ((b0 & 0xf8) == 0xf0) {
            cp = b0 & 0x07;
            len = 4;
            min = 0x10000;
        } else {
            return Status::invalid_argument("malformed UTF-8 at byte " + std::to_string(i));
        }
        if (i + len > s.size()) {
            return Status::invalid_argument("truncated UTF-8 sequence at byte " + std::to_string(i));
        }
        for (std::size_t k = 1; k < len; ++k) {
            auto b = static_cast<unsigned char>(s[i + k]);
            if ((b & 0xc0) != 0x80) {
                return Status::invalid_argument("malformed UTF-8 at byte " + std::to_string(i + k));
            }
            cp = (cp << 6) | (b & 0x3f);
        }
        if (len > 1 && (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))) {
            return Status::invalid_argument("invalid UTF-8 code point at byte " + std::to_string(i));
        }
        if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) {
            return Status::invalid_argument("control character at byte " + std::to_string(i));
        }
        out.push_back(cp);
        i += len;
    }
    return out;
}

Result<std::string> label_to_ascii(std::string_view utf8_label) {
    bool ascii = true;
    for (char c : utf8_label) {
        auto b = static_cast<unsigned char>(c);
        if (b >= 0x80 || b < 0x20 || b == 0x7f) {
            ascii = false;
            break;
        }
    }
    if (ascii) {
        return std::string(utf8_label);  // the common case: nothing to encode
    }
    auto decoded = decode_utf8(utf8_label);
    if (!decoded) {
        return decoded.status();
    }
    const std::vector<std::uint32_t>& in = *decoded;
    if (in.size() > k_max_label_code_points) {
        return Status::invalid_argument("label is longer than 63 characters");
    }
    std::string out;
    for (std::uint32_t cp : in) {
        if (cp < 0x80) {
            out.push_back(static_cast<char>(cp));
        }
    }
    const auto basic = static_cast<std::uint32_t>(out.size());
    if (basic == in.size()) {
        return out;
    }
    if (basic > 0) {
        out.push_back('-');
    }
    std::uint32_t n = k_initial_n;
    std::uint32_t delta = 0;
    std::uint32_t bias = k_initial_bias;
    std::uint32_t h = basic;
    const auto total = static_cast<std::uint32_t>(in.size());
    while (h < total) {
        std::uint32_t m = 0x10ffff + 1;
        for (std::uint32_t cp : in) {
            if (cp >= n && cp < m) {
                m = cp;
            }
        }
        // Bounded inputs (63 code points below 0x110000) keep delta far below 2^32.
        delta += (m - n) * (h + 1);
        n = m;
        for (std::uint32_t cp : in) {
            if (cp < n) {
                ++delta;
            }
            if (cp == n) {
                std::uint32_t q = delta;
                for (std::uint32_t k = k_base;; k += k_base) {
                    std::uint32_t t = k <= bias ? k_tmin : (k >= bias + k_tmax ? k_tmax : k - bias);
                    if (q < t) {
                        break;
                    }
                    out.push_back(digit(t + (q - t) % (k_base - t)));
                    q = (q - t) / (k_base - t);
                }
                out.push_back(digit(q));
                bias = adapt(delta, h + 1, h == basic);
                delta = 0;
                ++h;
            }
        }
        ++delta;
        ++n;
    }
    return "xn--" + out;
}

}  // namespace shortlink::validate
