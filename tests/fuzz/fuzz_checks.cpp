#include "tests/fuzz/fuzz_checks.h"

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

namespace shortlink::fuzz {

void fail(std::string_view what, std::string_view detail) {
    std::string shown;
    for (const char c : detail.substr(0, 4096)) {
        const auto b = static_cast<unsigned char>(c);
        if (b >= 0x20 && b < 0x7f) {
            shown.push_back(c);
        } else {
            char hex[8];
            std::snprintf(hex, sizeof hex, "\\x%02x", b);
            shown += hex;
        }
    }
    std::fprintf(stderr, "fuzz: %.*s: %s\n", static_cast<int>(what.size()), what.data(), shown.c_str());
    std::abort();
}

std::size_t check_response(std::string_view out, bool head) {
    const std::size_t status_end = out.find("\r\n");
    if (!out.starts_with("HTTP/1.1 ") || status_end == std::string_view::npos || status_end < 13) {
        fail("response without a status line", out);
    }
    const std::size_t end = out.find("\r\n\r\n");
    if (end == std::string_view::npos) {
        fail("response without the end of its header", out);
    }
    std::optional<std::size_t> length;
    for (std::size_t pos = status_end + 2; pos < end + 2;) {
        const std::size_t eol = out.find("\r\n", pos);
        const std::string_view line = out.substr(pos, eol - pos);
        const std::size_t colon = line.find(": ");
        if (colon == std::string_view::npos || colon == 0 || line.find_first_of("\r\n") != std::string_view::npos ||
            line.find('\0') != std::string_view::npos) {
            fail("malformed header line", line);
        }
        if (line.starts_with("Content-Length: ")) {
            if (length) {
                fail("two Content-Length headers", out);
            }
            length = std::strtoull(std::string(line.substr(16)).c_str(), nullptr, 10);
        }
        pos = eol + 2;
    }
    if (!length) {
        fail("response without Content-Length", out);
    }
    const std::size_t total = end + 4 + (head ? 0 : *length);
    if (total > out.size()) {
        fail("body shorter than its Content-Length", out);
    }
    return total;
}

}  // namespace shortlink::fuzz
