// Checks the fuzz targets share: how a broken property is reported, and what every HTTP
// response a server writes must look like.
#pragma once

#include <cstddef>
#include <string_view>

namespace shortlink::fuzz {

// Prints "fuzz: <what>: <detail>" (bytes outside printable ASCII escaped) and aborts, so that
// libFuzzer saves the input and the replay test fails on it.
[[noreturn]] void fail(std::string_view what, std::string_view detail);

// A response as serve/response_writer.h writes it: a status line, header lines each holding
// "Name: value" without a CR, LF or NUL inside, the blank line, and a body of the announced
// Content-Length (none for a HEAD). Returns the bytes the response took; fails otherwise.
std::size_t check_response(std::string_view out, bool head);

}  // namespace shortlink::fuzz
