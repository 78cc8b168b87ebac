// UTF-8 decoding and IDNA (libidn2). See idna.h.
#include "store/idna.h"

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include <idn2.h>

namespace shortlink::validate {

namespace {

constexpr std::size_t k_max_label_code_points = 63;  // an encoded label is at most 63 bytes anyway

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
        return std::string(utf8_label);  // the common case: nothing to map or encode
    }
    auto decoded = decode_utf8(utf8_label);
    if (!decoded) {
        return decoded.status();
    }
    if (decoded->size() > k_max_label_code_points) {
        return Status::invalid_argument("label is longer than 63 characters");
    }
    // UTS #46 non-transitional processing, as browsers do: case folded, NFC, "ß" kept (not
    // "ss"), then punycode.
    const std::string label(utf8_label);
    char* out = nullptr;
    const int rc = idn2_to_ascii_8z(label.c_str(), &out, IDN2_NONTRANSITIONAL);
    const std::unique_ptr<char, decltype(&std::free)> owned(out, &std::free);
    if (rc != IDN2_OK) {
        return Status::invalid_argument(std::string("not a valid international name (") + idn2_strerror(rc) + ")");
    }
    return std::string(out);
}

}  // namespace shortlink::validate
