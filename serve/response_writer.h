// Serializes a Response (serve/answer.h) or a connection-level error into HTTP/1.1 bytes,
// appended to a caller-owned buffer that the connection reuses (no allocation once the buffer
// has grown to its working size).
//
// This is the last line of defense against header injection: a Location is written only if none
// of its bytes is CR, LF or NUL; otherwise the answer becomes a 500 and the event is reported to
// the caller. Snapshot destinations are validated at compile time and verified by signature, and
// forwarded queries are validated by Boost.URL, so this should never fire.
//
// Thread-safety: free functions over their arguments; HttpDate is per-thread.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

#include "serve/answer.h"

namespace shortlink::serve {

struct FramingOptions {
    bool close = false;       // send "Connection: close" (the connection closes after this)
    bool http10_keep_alive = false;  // HTTP/1.0 client asked to keep the connection open
};

// Appends the response; returns false when the Location was refused and a 500 was written.
bool write_response(std::string& out, const Response& response, const FramingOptions& framing,
                    std::string_view date);

// Appends a text/plain response with `body` (an ACME challenge's key authorization, or its 404),
// never cached; `head`: the headers only.
void write_text(std::string& out, std::uint16_t status, std::string_view body,
                const FramingOptions& framing, std::string_view date, bool head);

// Appends a minimal error response (400, 408, 413, 431, 500, 505), always with Connection: close.
void write_error(std::string& out, std::uint16_t status, std::string_view date);

// An IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") for the current second, formatted at most
// once per second. One per thread.
class HttpDate {
public:
    std::string_view now();

private:
    std::time_t m_second = -1;
    char m_text[32] = {};
    std::size_t m_size = 0;
};

// True when `value` holds no CR, LF or NUL.
bool is_safe_header_value(std::string_view value);

}  // namespace shortlink::serve
