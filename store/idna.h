// International host names: strict UTF-8 decoding, and one label to its A-label (libidn2,
// UTS #46 non-transitional mapping as browsers apply it, then punycode), so an IDN host is
// stored and compared in the one form DNS and the Host header use.
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

// A UTF-8 label in ASCII form: mapped (case folded, NFC) and encoded as "xn--..."; an all-ASCII
// label is returned unchanged (callers lowercase it). invalid_argument on malformed UTF-8, a
// control character, more than 63 code points (an encoded label never fits in 63 bytes then),
// or what IDNA disallows (symbols such as emoji, a hyphen at either end of a non-ASCII label).
Result<std::string> label_to_ascii(std::string_view utf8_label);

}  // namespace shortlink::validate
