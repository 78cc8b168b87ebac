// Punycode (RFC 3492) encoding of one DNS label, used to store IDN hosts as A-labels.
// libidn2 is not in the stack; this covers the encoding step only. It does not apply the IDNA2008
// mapping tables (no NFC, no case folding beyond ASCII), so callers lowercase ASCII first and
// refuse anything that fails here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "formats/status.h"

namespace shortlink::validate {

// Strict UTF-8 decoding into code points: invalid_argument, naming the byte, on a malformed or
// truncated sequence, an overlong form, a surrogate, anything above U+10FFFF, or a control
// character (C0, DEL, C1).
Result<std::vector<std::uint32_t>> decode_utf8(std::string_view s);

// Encodes a UTF-8 label into "xn--..." form; an all-ASCII label is returned unchanged.
// invalid_argument on malformed UTF-8, a code point that is a control character, or more than
// 63 code points (an encoded label never fits in 63 bytes then).
Result<std::string> label_to_ascii(std::string_view utf8_label);

}  // namespace shortlink::validate
