// The QR symbol of `shortlink qr`. See qr_code.h.
#include "cli/qr_code.h"

#include <cerrno>
#include <csetjmp>
#include <cstring>
#include <memory>

#include <png.h>
#include <qrencode.h>

#include "formats/clicks.h"

namespace shortlink::cli::qr {
namespace {

char upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

std::string upper(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        c = upper(c);
    }
    return out;
}

QRecLevel qr_level(Ecc ecc) {
    switch (ecc) {
    case Ecc::l: return QR_ECLEVEL_L;
    case Ecc::m: return QR_ECLEVEL_M;
    case Ecc::q: return QR_ECLEVEL_Q;
    case Ecc::h: return QR_ECLEVEL_H;
    }
    return QR_ECLEVEL_M;
}

// What version 40, the largest symbol, holds in byte mode (ISO/IEC 18004 table 7), for the
// message that says why a URL does not fit.
int max_bytes(Ecc ecc) {
    switch (ecc) {
    case Ecc::l: return 2953;
    case Ecc::m: return 2331;
    case Ecc::q: return 1663;
    case Ecc::h: return 1273;
    }
    return 0;
}

struct QrcodeFree {
    void operator()(QRcode* code) const { QRcode_free(code); }
};

// libpng's output callback: appends to the std::string behind the io pointer.
void append_png(png_structp png, png_bytep data, std::size_t length) {
    auto* out = static_cast<std::string*>(png_get_io_ptr(png));
    try {
        out->append(reinterpret_cast<const char*>(data), length);
    } catch (...) {
        png_error(png, "out of memory");
    }
}

void ignore_png_flush(png_structp) {}

// libpng reports a failure by longjmp to the setjmp here, so this function holds nothing with a
// destructor: the caller owns the row buffer and the output string.
bool write_png(png_structp png, png_infop info, const Symbol& symbol, int margin, int module_px,
               png_bytep row, std::string* out) {
    if (setjmp(png_jmpbuf(png)) != 0) {
        return false;
    }
    const int modules = symbol.width + 2 * margin;
    const auto pixels = static_cast<png_uint_32>(modules * module_px);
    png_set_write_fn(png, out, append_png, ignore_png_flush);
    png_set_IHDR(png, info, pixels, pixels, 1, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    const std::size_t row_bytes = (pixels + 7) / 8;
    for (int my = 0; my < modules; ++my) {
        // 1-bit gray: a set bit is white, so a row starts all white and dark modules clear bits.
        std::memset(row, 0xff, row_bytes);
        const int y = my - margin;
        if (y >= 0 && y < symbol.width) {
            for (int x = 0; x < symbol.width; ++x) {
                if (!symbol.is_dark(x, y)) {
                    continue;
                }
                const int first = (x + margin) * module_px;
                for (int px = first; px < first + module_px; ++px) {
                    row[px / 8] &= static_cast<png_byte>(~(0x80u >> (px % 8)));
                }
            }
        }
        for (int i = 0; i < module_px; ++i) {
            png_write_row(png, row);
        }
    }
    png_write_end(png, nullptr);
    return true;
}

}  // namespace

std::optional<Ecc> parse_ecc(std::string_view text) {
    if (text.size() != 1) {
        return std::nullopt;
    }
    switch (upper(text[0])) {
    case 'L': return Ecc::l;
    case 'M': return Ecc::m;
    case 'Q': return Ecc::q;
    case 'H': return Ecc::h;
    default: return std::nullopt;
    }
}

char ecc_letter(Ecc ecc) {
    switch (ecc) {
    case Ecc::l: return 'L';
    case Ecc::m: return 'M';
    case Ecc::q: return 'Q';
    case Ecc::h: return 'H';
    }
    return '?';
}

std::string encoded_url(const ShortLinkUrl& url, bool marker, bool compact) {
    std::string out = url.scheme + "://" + url.authority + "/" + url.code;
    if (compact) {
        out = upper(out);
    }
    std::string query;
    if (marker) {
        const std::string parameter = std::string(formats::clicks::k_qr_parameter) + "=1";
        query = compact ? upper(parameter) : parameter;
    }
    if (!url.query.empty()) {
        query += (query.empty() ? "" : "&") + url.query;
    }
    if (!query.empty()) {
        out += "?" + query;
    }
    return out;
}

bool compact_changes_code(std::string_view code) { return upper(code) != code; }

Result<Symbol> encode(std::string_view text, Ecc ecc) {
    const std::string input(text);
    // QR_MODE_8 with case sensitivity: libqrencode splits the text into numeric, alphanumeric
    // and byte segments as their lengths pay off, and keeps lowercase letters as bytes.
    errno = 0;
    std::unique_ptr<QRcode, QrcodeFree> code(
        QRcode_encodeString(input.c_str(), 0, qr_level(ecc), QR_MODE_8, 1));
    if (!code) {
        if (errno == ERANGE) {
            return Status::invalid_argument(
                "the URL (" + std::to_string(text.size()) + " bytes) is too long for a QR code at --ecc " +
                ecc_letter(ecc) + ": the largest symbol, version 40, holds " +
                std::to_string(max_bytes(ecc)) + " bytes at " + ecc_letter(ecc) +
                " (L 2953, M 2331, Q 1663, H 1273)");
        }
        return Status::io_error(std::string("cannot encode the QR symbol: ") + std::strerror(errno));
    }
    Symbol symbol;
    symbol.version = code->version;
    symbol.width = code->width;
    symbol.dark.resize(static_cast<std::size_t>(code->width) * code->width);
    for (std::size_t i = 0; i < symbol.dark.size(); ++i) {
        symbol.dark[i] = (code->data[i] & 1) != 0;  // bit 0: dark; the others say why
    }
    return symbol;
}

int module_px_for(int size_px, const Symbol& symbol, int margin) {
    if (size_px <= 0) {
        return k_default_module_px;
    }
    const int modules = symbol.width + 2 * margin;
    return size_px / modules > 0 ? size_px / modules : 1;
}

std::string render_svg(const Symbol& symbol, int margin, int module_px) {
    const std::string modules = std::to_string(symbol.width + 2 * margin);
    const std::string pixels = std::to_string((symbol.width + 2 * margin) * module_px);
    // One subpath a horizontal run of dark modules: M x y, h run, v 1, h -run, close.
    std::string path;
    for (int y = 0; y < symbol.width; ++y) {
        for (int x = 0; x < symbol.width;) {
            if (!symbol.is_dark(x, y)) {
                ++x;
                continue;
            }
            int run = 1;
            while (x + run < symbol.width && symbol.is_dark(x + run, y)) {
                ++run;
            }
            path += "M" + std::to_string(x + margin) + " " + std::to_string(y + margin) + "h" +
                    std::to_string(run) + "v1h-" + std::to_string(run) + "z";
            x += run;
        }
    }
    return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + pixels + "\" height=\"" + pixels +
           "\" viewBox=\"0 0 " + modules + " " + modules +
           "\" shape-rendering=\"crispEdges\">\n<rect width=\"" + modules + "\" height=\"" + modules +
           "\" fill=\"#fff\"/>\n<path fill=\"#000\" d=\"" + path + "\"/>\n</svg>\n";
}

Result<std::string> render_png(const Symbol& symbol, int margin, int module_px) {
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
    if (png == nullptr) {
        return Status::io_error("cannot start a PNG (libpng)");
    }
    png_infop info = png_create_info_struct(png);
    if (info == nullptr) {
        png_destroy_write_struct(&png, nullptr);
        return Status::io_error("cannot start a PNG (libpng)");
    }
    const std::size_t pixels = static_cast<std::size_t>(symbol.width + 2 * margin) * module_px;
    std::vector<png_byte> row((pixels + 7) / 8);
    std::string out;
    const bool written = write_png(png, info, symbol, margin, module_px, row.data(), &out);
    png_destroy_write_struct(&png, &info);
    if (!written) {
        return Status::io_error("cannot write the PNG (libpng failed)");
    }
    return out;
}

std::string render_txt(const Symbol& symbol, int margin, bool utf8, bool ansi) {
    const int modules = symbol.width + 2 * margin;
    const auto dark = [&](int mx, int my) {
        const int x = mx - margin;
        const int y = my - margin;
        return x >= 0 && y >= 0 && x < symbol.width && y < symbol.width && symbol.is_dark(x, y);
    };
    // Black on bright white, then back to the terminal's own colours.
    const std::string_view begin = ansi ? "\x1b[30;107m" : "";
    const std::string_view end = ansi ? "\x1b[0m" : "";
    std::string out;
    for (int my = 0; my < modules; my += utf8 ? 2 : 1) {
        out += begin;
        for (int mx = 0; mx < modules; ++mx) {
            if (!utf8) {
                out += dark(mx, my) ? "##" : "  ";
                continue;
            }
            const bool top = dark(mx, my);
            const bool bottom = dark(mx, my + 1);  // past the last row: light
            out += top && bottom ? "\u2588" : top ? "\u2580" : bottom ? "\u2584" : " ";
        }
        out += end;
        out += '\n';
    }
    return out;
}

}  // namespace shortlink::cli::qr
