// The QR symbol of `shortlink qr`: the URL it encodes (with the QR marker of SPEC.md "The QR
// marker", upper-cased for --compact), the symbol itself (libqrencode, mixed-mode segments) and
// its three renderings (SVG, PNG through libpng, terminal text). Pure functions apart from the
// libraries they call; errors come back as Status, so cmd_qr.cpp alone decides exit codes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "formats/status.h"

namespace shortlink::cli::qr {

// The standard quiet zone around a symbol (ISO/IEC 18004: four modules on every side).
inline constexpr int k_default_margin = 4;
// A wider margin only wastes paper; 64 modules is more than any layout asks for.
inline constexpr int k_max_margin = 64;
// Pixels per module when --size is not given: a version 3 symbol is 296 px, legible on a screen.
inline constexpr int k_default_module_px = 8;
// The widest PNG or SVG --size asks for: 16384 px prints 27 inches wide at 600 dpi.
inline constexpr int k_max_size_px = 16384;

// Error correction levels: the share of the symbol that may be damaged and still read.
enum class Ecc { l, m, q, h };  // about 7%, 15%, 25%, 30%
std::optional<Ecc> parse_ecc(std::string_view text);  // "L", "M", "Q" or "H", any case
char ecc_letter(Ecc ecc);

// A short URL taken apart: SCHEME://AUTHORITY/CODE[?QUERY].
struct ShortLinkUrl {
    std::string scheme;     // "https" or "http", lowercase
    std::string authority;  // the host (lowercase A-labels), with ":PORT" when one was given
    std::string code;       // as stored or as the URL spelled it (A-Za-z0-9-_.~/)
    std::string query;      // the URL's own query without '?', percent-encoded; "" for none
};

// The text a symbol encodes: the URL with the marker "sl_qr=1" as its first query parameter
// (before the URL's own query) unless `marker` is false. `compact` upper-cases the scheme,
// authority, code and marker (QR's alphanumeric mode holds 5.5 bits a character against 8 in
// byte mode); the URL's own query keeps its case, since its values reach the destination.
std::string encoded_url(const ShortLinkUrl& url, bool marker, bool compact);

// Whether upper-casing `code` changes it, i.e. whether --compact needs a domain that matches
// codes case-insensitively.
bool compact_changes_code(std::string_view code);

// A QR symbol: `width` x `width` modules, row-major, true for dark.
struct Symbol {
    int version = 0;  // 1-40; width = 17 + 4 * version
    int width = 0;
    std::vector<bool> dark;

    bool is_dark(int x, int y) const { return dark[static_cast<std::size_t>(y) * width + x]; }
};

// Encodes `text` at the smallest version that holds it, split into numeric, alphanumeric and
// byte segments by libqrencode. invalid_argument when no version holds it at `ecc`.
Result<Symbol> encode(std::string_view text, Ecc ecc);

// Pixels per module for a target width of `size_px` (0: k_default_module_px): the largest whole
// number whose image is no wider than `size_px`, and never less than one.
int module_px_for(int size_px, const Symbol& symbol, int margin);

// A self-contained SVG: a white square and one black path of the dark modules, drawn in module
// units (viewBox) with crisp edges, `module_px` pixels per module wide and high.
std::string render_svg(const Symbol& symbol, int margin, int module_px);

// A 1-bit grayscale PNG, `module_px` pixels per module. io_error if libpng fails.
Result<std::string> render_png(const Symbol& symbol, int margin, int module_px);

// Text for a terminal or a file, dark modules as glyphs. `utf8`: one character per module and
// two module rows per line in Unicode half blocks; otherwise "##" per dark module, one row per
// line. `ansi` wraps each line in black-on-white colours, so the symbol reads the same on a
// terminal with a dark background.
std::string render_txt(const Symbol& symbol, int margin, bool utf8, bool ansi);

}  // namespace shortlink::cli::qr
