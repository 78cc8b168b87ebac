// The strict framing rules on top of Beast's parser (serve/request_parser.h).
// GCC 12 with -fsanitize=address reports a false "may be used uninitialized" on a
// boost::optional inside Beast's basic_parser<true>::put, instantiated in this file.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "serve/request_parser.h"
#include "serve/request_target.h"

using namespace shortlink::serve;
namespace http = boost::beast::http;

namespace {

struct Parsed {
    boost::system::error_code ec;
    ParseFlaw flaw = ParseFlaw::none;
    bool header_done = false;
    std::string target;
    std::string host;
};

Parsed parse(std::string bytes, std::uint32_t max_fields = 100) {
    RequestParser p(bytes.data(), bytes.size(), max_fields);
    p.eager(true);
    Parsed out;
    p.put(boost::asio::buffer(bytes), out.ec);
    out.flaw = p.flaw();
    out.header_done = p.is_header_done();
    if (out.header_done) {
        out.target = bytes.substr(p.target().offset, p.target().size);
        out.host = bytes.substr(p.host().offset, p.host().size);
    }
    return out;
}

}  // namespace

TEST_CASE("SimpleGetKeepsTargetAndHost", "[parser]") {
    const Parsed p = parse("GET /abc?x=1 HTTP/1.1\r\nHost: go.example.com\r\n\r\n");
    CHECK_FALSE(p.ec);
    CHECK(p.target == "/abc?x=1");
    CHECK(p.host == "go.example.com");
}

TEST_CASE("ContentLengthWithTransferEncodingIsRefused", "[parser]") {
    CHECK(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n").ec);
    CHECK(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n").ec);
}

TEST_CASE("DuplicateContentLengthIsRefusedEvenIfEqual", "[parser]") {
    const Parsed p = parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc");
    CHECK(p.ec);
    CHECK(p.flaw == ParseFlaw::duplicate_content_length);
}

TEST_CASE("TransferEncodingOtherThanChunkedIsRefused", "[parser]") {
    CHECK(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").flaw ==
          ParseFlaw::bad_transfer_encoding);
    CHECK(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n").flaw ==
          ParseFlaw::bad_transfer_encoding);
}

TEST_CASE("ObsFoldIsDetected", "[parser]") {
    const std::string block = "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n  c\r\n\r\n";
    CHECK(has_obs_fold(block.data(), block.data() + block.size()));
    const std::string clean = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    CHECK_FALSE(has_obs_fold(clean.data(), clean.data() + clean.size()));
    CHECK(parse(block).ec);  // Beast joins the fold into its own buffer: caught by the parser
}

TEST_CASE("DuplicateHostIsRefused", "[parser]") {
    CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").flaw == ParseFlaw::duplicate_host);
}

TEST_CASE("TooManyFieldsIsFlagged", "[parser]") {
    std::string req = "GET / HTTP/1.1\r\nHost: a\r\n";
    for (int i = 0; i < 5; ++i) {
        req += "X-" + std::to_string(i) + ": v\r\n";
    }
    req += "\r\n";
    CHECK(parse(req, 5).flaw == ParseFlaw::too_many_fields);
    CHECK_FALSE(parse(req, 6).ec);
}

TEST_CASE("ChunkedBodyIsConsumed", "[parser]") {
    const Parsed p = parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
    CHECK_FALSE(p.ec);
}

TEST_CASE("RandomMutationsNeverCrash", "[parser][random]") {
    // Byte flips, insertions and truncations of valid requests: the parser and the target
    // normalization must answer or refuse, never crash or read out of bounds (run under ASan).
    const std::uint64_t seed = 20261128;
    INFO("seed " << seed);
    std::uint64_t state = seed;
    const auto next = [&state] {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return state;
    };
    const std::vector<std::string> bases = {
        "GET /abc?x=1 HTTP/1.1\r\nHost: go.example.com:8080\r\n\r\n",
        "POST /a%20b HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
        "GET http://u.example/%7Ecode/ HTTP/1.1\r\nHost: [::1]:80\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    };
    const std::string alphabet = std::string("\r\n :%/?#@[]\t\x00\x7f\x80\xff", 16) + "0123456789abcdefXYZ";
    std::size_t headers_done = 0;
    for (int i = 0; i < 20000; ++i) {
        std::string bytes = bases[next() % bases.size()];
        const int edits = 1 + static_cast<int>(next() % 4);
        for (int e = 0; e < edits && !bytes.empty(); ++e) {
            const std::size_t at = next() % bytes.size();
            switch (next() % 3) {
            case 0: bytes[at] = alphabet[next() % alphabet.size()]; break;
            case 1: bytes.insert(at, 1, alphabet[next() % alphabet.size()]); break;
            default: bytes.resize(at); break;
            }
        }
        RequestParser p(bytes.data(), bytes.size(), 100);
        p.eager(true);
        boost::system::error_code ec;
        p.put(boost::asio::buffer(bytes), ec);
        if (p.is_header_done() && !ec) {
            ++headers_done;
            ParsedTarget target;
            const std::string_view t(bytes.data() + p.target().offset, p.target().size);
            const std::string_view h(bytes.data() + p.host().offset, p.host().size);
            if (parse_target(t, h, target) == TargetError::none) {
                CHECK(target.code.size() <= k_max_code_bytes);
                CHECK(target.host.size() <= k_max_host_bytes);
            }
        }
    }
    CHECK(headers_done > 1000);  // the mutations must leave many requests parseable
}

TEST_CASE("UnsupportedVersionIsToldFromMalformed", "[parser]") {
    const auto check = [](std::string_view line) { return is_unsupported_version(line.data(), line.data() + line.size()); };
    CHECK(check("GET /abc HTTP/2.0\r\nHost: a\r\n"));
    CHECK(check("GET / HTTP/3.0\r\n"));
    CHECK_FALSE(check("GET /abc HTTP/1.1\r\n"));   // supported: not this function's case
    CHECK_FALSE(check("GET /abc HTTP/2.0x\r\n"));  // malformed: 400
    CHECK_FALSE(check("GET /abc http/2.0\r\n"));
    CHECK_FALSE(check("GET /abc HTTP/2.0\n"));      // bare LF
    CHECK_FALSE(check("GET HTTP/2.0\r\n"));        // no target
    CHECK_FALSE(check("GET /abc HTTP/2.0"));         // incomplete line
    CHECK_FALSE(check("HTTP/2.0\r\n"));
}

TEST_CASE("LaterMinorVersionsAreDowngradedInPlace", "[parser]") {
    std::string line = "GET /abc HTTP/1.2\r\nHost: a\r\n\r\n";
    REQUIRE(downgrade_minor_version(line.data(), line.data() + line.size()));
    CHECK(line == "GET /abc HTTP/1.1\r\nHost: a\r\n\r\n");
    const Parsed p = parse(line);
    CHECK_FALSE(p.ec);
    CHECK(p.target == "/abc");
    for (std::string other : {"GET /abc HTTP/1.1\r\n", "GET /abc HTTP/1.0\r\n", "GET /abc HTTP/2.0\r\n",
                              "GET /abc HTTP/1.2x\r\n", "GET HTTP/1.2\r\n", "GET /abc HTTP/1.2",
                              "GET /abc HTTP/1.2\n"}) {
        const std::string before = other;
        CHECK_FALSE(downgrade_minor_version(other.data(), other.data() + other.size()));
        CHECK(other == before);
    }
}

TEST_CASE("LeadingEmptyLinesAreCounted", "[parser]") {
    const auto count = [](std::string_view s) { return leading_empty_lines(s.data(), s.data() + s.size()); };
    CHECK(count("GET / HTTP/1.1\r\n") == 0);
    CHECK(count("\r\nGET / HTTP/1.1\r\n") == 2);
    CHECK(count("\r\n\r\n\r\nGET") == 6);
    CHECK(count("\r\n\r") == 2);  // the CR may start another empty line
    CHECK(count("\n\nGET") == 0);   // bare LF is not an empty line here
    CHECK(count("\r\r\n") == 0);   // a bare CR is refused by the parser
}

TEST_CASE("HeadersRulesReadAreKeptWithoutClicks", "[parser]") {
    std::string bytes =
        "GET /a HTTP/1.1\r\nHost: h\r\nUser-Agent: UA/1\r\naccept-language: fr, en;q=0.5\r\n"
        "Sec-CH-UA-Mobile: ?1\r\nSEC-CH-UA-PLATFORM: \"Android\"\r\nCF-IPCountry: BE\r\n"
        "Referer: https://r.example/\r\nSec-Purpose: prefetch\r\nX-Country: FR\r\n\r\n";
    const auto field = [&](const RequestParser& p, ClientField f) {
        return bytes.substr(p.client_field(f).offset, p.client_field(f).size);
    };
    for (const bool clicks : {false, true}) {
        RequestParser p(bytes.data(), bytes.size(), 100, clicks, "cf-ipcountry");
        p.eager(true);
        boost::system::error_code ec;
        p.put(boost::asio::buffer(bytes), ec);
        REQUIRE_FALSE(ec);
        CHECK(field(p, ClientField::user_agent) == "UA/1");
        CHECK(field(p, ClientField::accept_language) == "fr, en;q=0.5");
        CHECK(field(p, ClientField::ch_mobile) == "?1");
        CHECK(field(p, ClientField::ch_platform) == "\"Android\"");
        CHECK(field(p, ClientField::country) == "BE");  // only the header named trusted
        // What only the click log reads is kept only for it.
        CHECK(field(p, ClientField::referer) == (clicks ? "https://r.example/" : ""));
        CHECK(field(p, ClientField::sec_purpose) == (clicks ? "prefetch" : ""));
    }
    RequestParser untrusted(bytes.data(), bytes.size(), 100);
    untrusted.eager(true);
    boost::system::error_code ec;
    untrusted.put(boost::asio::buffer(bytes), ec);
    CHECK(untrusted.client_field(ClientField::country).size == 0);
}

TEST_CASE("ForwardedForLinesAreKeptOnlyWhenProxiesAreTrusted", "[parser]") {
    std::string bytes = "GET /a HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.1.1.1, 192.0.2.1\r\n"
                        "x-forwarded-for:\r\nX-FORWARDED-FOR: 10.0.0.1\r\n\r\n";
    const auto parse_into = [&](RequestParser& p) {
        p.eager(true);
        boost::system::error_code ec;
        p.put(boost::asio::buffer(bytes), ec);
        REQUIRE_FALSE(ec);
    };
    RequestParser ignored(bytes.data(), bytes.size(), 100, false, {}, false);
    parse_into(ignored);
    CHECK(ignored.forwarded_count() == 0);
    RequestParser kept(bytes.data(), bytes.size(), 100, false, {}, true);
    parse_into(kept);
    REQUIRE(kept.forwarded_count() == 2);  // the empty line is no entry
    const auto line = [&](const RequestParser& p, std::size_t i) {
        return bytes.substr(p.forwarded_line(i).offset, p.forwarded_line(i).size);
    };
    CHECK(line(kept, 0) == "1.1.1.1, 192.0.2.1");
    CHECK(line(kept, 1) == "10.0.0.1");
    // The buffer's contents move: the lines move with them.
    bytes.erase(0, 4);
    kept.rebase(4);
    CHECK(line(kept, 0) == "1.1.1.1, 192.0.2.1");
    CHECK(line(kept, 1) == "10.0.0.1");
}

TEST_CASE("ForwardedForKeepsTheLastLinesOfMany", "[parser]") {
    std::string bytes = "GET /a HTTP/1.1\r\nHost: h\r\n";
    for (int i = 0; i < 20; ++i) {
        bytes += "X-Forwarded-For: 10.0.0." + std::to_string(i) + "\r\n";
    }
    bytes += "\r\n";
    RequestParser p(bytes.data(), bytes.size(), 100, false, {}, true);
    p.eager(true);
    boost::system::error_code ec;
    p.put(boost::asio::buffer(bytes), ec);
    REQUIRE_FALSE(ec);
    REQUIRE(p.forwarded_count() == RequestParser::k_forwarded_lines);
    CHECK(bytes.substr(p.forwarded_line(0).offset, p.forwarded_line(0).size) == "10.0.0.12");
    CHECK(bytes.substr(p.forwarded_line(7).offset, p.forwarded_line(7).size) == "10.0.0.19");
}
