// The QR symbol of `shortlink qr`: the marked URL as the server strips it, compact symbols that
// really are smaller, the capacity limit, and renderings read back module by module.
#include <catch2/catch.hpp>

#include <png.h>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "cli/qr_code.h"
#include "serve/answer.h"

using namespace shortlink::cli::qr;

namespace {

const ShortLinkUrl k_spring{"https", "go.example.com", "spring", ""};

Symbol encoded(const std::string& text, Ecc ecc = Ecc::m) {
    auto symbol = encode(text, ecc);
    REQUIRE(symbol.is_ok());
    return *symbol;
}

// The module at (x, y) of the whole image, quiet zone included.
bool image_dark(const Symbol& s, int margin, int x, int y) {
    x -= margin;
    y -= margin;
    return x >= 0 && y >= 0 && x < s.width && y < s.width && s.is_dark(x, y);
}

}  // namespace

TEST_CASE("ParsesEccLevelsInAnyCase", "[qr]") {
    CHECK(parse_ecc("L") == Ecc::l);
    CHECK(parse_ecc("m") == Ecc::m);
    CHECK(parse_ecc("Q") == Ecc::q);
    CHECK(parse_ecc("h") == Ecc::h);
    for (const char* bad : {"", "X", "MM", "7", "low", " M"}) {
        INFO(bad);
        CHECK_FALSE(parse_ecc(bad).has_value());
    }
}

TEST_CASE("MarkerIsTheFirstQueryParameter", "[qr]") {
    CHECK(encoded_url(k_spring, true, false) == "https://go.example.com/spring?sl_qr=1");
    CHECK(encoded_url(k_spring, false, false) == "https://go.example.com/spring");
    ShortLinkUrl tagged = k_spring;
    tagged.query = "utm_source=Poster&x=1";
    CHECK(encoded_url(tagged, true, false) == "https://go.example.com/spring?sl_qr=1&utm_source=Poster&x=1");
    CHECK(encoded_url(tagged, false, false) == "https://go.example.com/spring?utm_source=Poster&x=1");
}

TEST_CASE("ServerStripsTheMarkerAndKeepsTheRest", "[qr]") {
    ShortLinkUrl tagged = k_spring;
    tagged.query = "utm_source=Poster";
    for (bool compact : {false, true}) {
        INFO("compact " << compact);
        const std::string url = encoded_url(tagged, true, compact);
        std::string_view query = std::string_view(url).substr(url.find('?') + 1);
        CHECK(shortlink::serve::detail::strip_qr_marker(query));
        CHECK(query == "utm_source=Poster");
    }
}

TEST_CASE("CompactUpperCasesAllButTheQuery", "[qr]") {
    ShortLinkUrl url{"http", "go.example.com:8080", "Spring-sale_2/x~y", "utm_source=Poster"};
    CHECK(encoded_url(url, true, true) == "HTTP://GO.EXAMPLE.COM:8080/SPRING-SALE_2/X~Y?SL_QR=1&utm_source=Poster");
    CHECK(encoded_url(url, false, true) == "HTTP://GO.EXAMPLE.COM:8080/SPRING-SALE_2/X~Y?utm_source=Poster");
    CHECK(compact_changes_code("spring"));
    CHECK(compact_changes_code("SPRINg"));
    CHECK_FALSE(compact_changes_code("SPRING-2025"));
    CHECK_FALSE(compact_changes_code("2025_09"));
}

TEST_CASE("CompactSymbolIsSmallerForARealisticUrl", "[qr]") {
    const ShortLinkUrl url{"https", "links.example.com", "spring-sale", ""};
    const Symbol plain = encoded(encoded_url(url, true, false));
    const Symbol compact = encoded(encoded_url(url, true, true));
    INFO("plain version " << plain.version << ", compact version " << compact.version);
    CHECK(compact.version < plain.version);
    CHECK(compact.width < plain.width);
    // Never larger at any level: the alphanumeric segment only ever saves bits.
    for (Ecc ecc : {Ecc::l, Ecc::m, Ecc::q, Ecc::h}) {
        INFO("ecc " << ecc_letter(ecc));
        CHECK(encoded(encoded_url(k_spring, true, true), ecc).version <=
              encoded(encoded_url(k_spring, true, false), ecc).version);
    }
}

TEST_CASE("LargestSymbolHoldsItsCapacityAndNoMore", "[qr]") {
    // Lowercase letters are byte mode: version 40 at M holds 2331 of them.
    const Symbol full = encoded(std::string(2331, 'a'), Ecc::m);
    CHECK(full.version == 40);
    CHECK(full.width == 177);
    auto over = encode(std::string(2332, 'a'), Ecc::m);
    REQUIRE_FALSE(over.is_ok());
    CHECK(over.status().code() == shortlink::Status::Code::invalid_argument);
    CHECK(over.status().message().find("2332 bytes") != std::string::npos);
    CHECK(over.status().message().find("--ecc M") != std::string::npos);
    CHECK(encode(std::string(2332, 'a'), Ecc::l).is_ok());
    CHECK_FALSE(encode(std::string(1274, 'a'), Ecc::h).is_ok());
}

TEST_CASE("SymbolHasItsFinderPatterns", "[qr]") {
    const Symbol s = encoded(encoded_url(k_spring, true, false));
    CHECK(s.width == 17 + 4 * s.version);
    REQUIRE(s.dark.size() == static_cast<std::size_t>(s.width * s.width));
    // The three 7x7 finders: a dark ring, a light ring, a dark 3x3 core; a light separator.
    for (auto [ox, oy] : {std::pair{0, 0}, std::pair{s.width - 7, 0}, std::pair{0, s.width - 7}}) {
        for (int y = 0; y < 7; ++y) {
            for (int x = 0; x < 7; ++x) {
                const bool ring = x == 0 || y == 0 || x == 6 || y == 6;
                const bool core = x >= 2 && x <= 4 && y >= 2 && y <= 4;
                INFO("finder at " << ox << "," << oy << " module " << x << "," << y);
                CHECK(s.is_dark(ox + x, oy + y) == (ring || core));
            }
        }
    }
    CHECK_FALSE(s.is_dark(7, 0));
    CHECK_FALSE(s.is_dark(0, 7));
}

TEST_CASE("ModulePixelsRoundDownAndNeverBelowOne", "[qr]") {
    const Symbol s = encoded(encoded_url(k_spring, true, false));  // version 3: 29 + 8 = 37
    REQUIRE(s.width == 29);
    CHECK(module_px_for(0, s, 4) == k_default_module_px);
    CHECK(module_px_for(300, s, 4) == 8);
    CHECK(module_px_for(296, s, 4) == 8);
    CHECK(module_px_for(295, s, 4) == 7);
    CHECK(module_px_for(37, s, 4) == 1);
    CHECK(module_px_for(10, s, 4) == 1);
    CHECK(module_px_for(29, s, 0) == 1);
}

TEST_CASE("SvgIsOnePathOfTheDarkModules", "[qr]") {
    const Symbol s = encoded(encoded_url(k_spring, true, false));
    const std::string svg = render_svg(s, 4, 8);
    CHECK(svg.find("viewBox=\"0 0 37 37\"") != std::string::npos);
    CHECK(svg.find("width=\"296\" height=\"296\"") != std::string::npos);
    CHECK(svg.find("shape-rendering=\"crispEdges\"") != std::string::npos);
    CHECK(svg.find("href") == std::string::npos);
    const std::size_t path = svg.find("<path");
    REQUIRE(path != std::string::npos);
    CHECK(svg.find("<path", path + 1) == std::string::npos);
    // Read the runs back ("M x y h n v1h-n z") into modules: exactly the symbol's dark ones.
    const std::size_t d = svg.find(" d=\"", path) + 4;
    const std::string data = svg.substr(d, svg.find('"', d) - d);
    std::vector<bool> dark(s.dark.size());
    std::size_t pos = 0;
    while (pos < data.size()) {
        int x = 0, y = 0, run = 0, back = 0;
        int used = 0;
        REQUIRE(std::sscanf(data.c_str() + pos, "M%d %dh%dv1h-%dz%n", &x, &y, &run, &back, &used) == 4);
        REQUIRE(run == back);
        for (int i = 0; i < run; ++i) {
            const int mx = x - 4 + i;
            const int my = y - 4;
            REQUIRE((mx >= 0 && my >= 0 && mx < s.width && my < s.width));
            dark[static_cast<std::size_t>(my) * s.width + mx] = true;
        }
        pos += static_cast<std::size_t>(used);
    }
    CHECK(dark == s.dark);
}

TEST_CASE("PngReadsBackPixelForPixel", "[qr]") {
    const Symbol s = encoded(encoded_url(k_spring, true, true), Ecc::h);
    const int margin = 2;
    const int px = 3;
    auto png = render_png(s, margin, px);
    REQUIRE(png.is_ok());
    const std::string& bytes = *png;
    REQUIRE(bytes.size() > 33);
    CHECK(bytes.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0);
    CHECK(static_cast<unsigned char>(bytes[24]) == 1);  // IHDR bit depth
    CHECK(static_cast<unsigned char>(bytes[25]) == 0);  // colour type: grayscale

    png_image image{};
    image.version = PNG_IMAGE_VERSION;
    REQUIRE(png_image_begin_read_from_memory(&image, bytes.data(), bytes.size()) != 0);
    image.format = PNG_FORMAT_GRAY;
    const int side = (s.width + 2 * margin) * px;
    REQUIRE(image.width == static_cast<png_uint_32>(side));
    REQUIRE(image.height == static_cast<png_uint_32>(side));
    std::vector<png_byte> pixels(PNG_IMAGE_SIZE(image));
    REQUIRE(png_image_finish_read(&image, nullptr, pixels.data(), 0, nullptr) != 0);
    int wrong = 0;
    for (int y = 0; y < side; ++y) {
        for (int x = 0; x < side; ++x) {
            const bool dark = pixels[static_cast<std::size_t>(y) * side + x] == 0;
            wrong += dark != image_dark(s, margin, x / px, y / px);
        }
    }
    CHECK(wrong == 0);
}

TEST_CASE("TextDrawsTwoRowsALineInHalfBlocks", "[qr]") {
    const Symbol s = encoded(encoded_url(k_spring, true, false));
    const int margin = 4;
    const int side = s.width + 2 * margin;  // 37: an odd count, so the last line has one row
    const std::string utf8 = render_txt(s, margin, true, false);
    std::vector<std::string> lines;
    for (std::size_t begin = 0, end; (end = utf8.find('\n', begin)) != std::string::npos; begin = end + 1) {
        lines.push_back(utf8.substr(begin, end - begin));
    }
    REQUIRE(lines.size() == static_cast<std::size_t>((side + 1) / 2));
    const std::string full = "\u2588", top = "\u2580", bottom = "\u2584";
    for (std::size_t i = 0; i < lines.size(); ++i) {
        std::string expected;
        for (int x = 0; x < side; ++x) {
            const bool t = image_dark(s, margin, x, static_cast<int>(2 * i));
            const bool b = image_dark(s, margin, x, static_cast<int>(2 * i + 1));
            expected += t && b ? full : t ? top : b ? bottom : " ";
        }
        INFO("line " << i);
        CHECK(lines[i] == expected);
    }
    // Rows 4 and 5 are the finders' top edge and the next row: full blocks at their sides.
    CHECK(lines[2].substr(4, 3) == full);
}

TEST_CASE("TextWithoutUtf8IsHashesOneRowALine", "[qr]") {
    const Symbol s = encoded(encoded_url(k_spring, true, false));
    const std::string ascii = render_txt(s, 1, false, false);
    const int side = s.width + 2;
    std::string expected;
    for (int y = 0; y < side; ++y) {
        for (int x = 0; x < side; ++x) {
            expected += image_dark(s, 1, x, y) ? "##" : "  ";
        }
        expected += '\n';
    }
    CHECK(ascii == expected);
    const std::string colour = render_txt(s, 1, false, true);
    CHECK(colour.starts_with("\x1b[30;107m"));
    CHECK(colour.find("\x1b[0m\n") != std::string::npos);
}
