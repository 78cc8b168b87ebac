#include <catch2/catch.hpp>

#include <string>

#include "serve/response_writer.h"

using namespace shortlink::serve;

namespace {

Response redirect(std::string_view location) {
    Response r;
    r.status = 301;
    r.reason = Reason::redirect;
    r.location_prefix = location;
    r.cache = CacheKind::max_age;
    r.max_age_s = 60;
    return r;
}

std::string header_block(const std::string& s) { return s.substr(0, s.find("\r\n\r\n") + 4); }
std::string body_of(const std::string& s) { return s.substr(s.find("\r\n\r\n") + 4); }

}  // namespace

TEST_CASE("RedirectHasLocationCacheControlAndExactContentLength", "[writer]") {
    std::string out;
    REQUIRE(write_response(out, redirect("https://a.example/x?a=1&b=2"), {}, "DATE"));
    CHECK(out.rfind("HTTP/1.1 301 Moved Permanently\r\n", 0) == 0);
    CHECK(out.find("\r\nLocation: https://a.example/x?a=1&b=2\r\n") != std::string::npos);
    CHECK(out.find("\r\nCache-Control: max-age=60\r\n") != std::string::npos);
    CHECK(out.find("\r\nDate: DATE\r\n") != std::string::npos);
    CHECK(out.find("Connection") == std::string::npos);
    const std::string body = body_of(out);
    CHECK(body == "<a href=\"https://a.example/x?a=1&amp;b=2\">https://a.example/x?a=1&amp;b=2</a>\n");
    CHECK(out.find("Content-Length: " + std::to_string(body.size()) + "\r\n") != std::string::npos);
}

TEST_CASE("HeadHasHeadersButNoBody", "[writer]") {
    std::string get;
    std::string head;
    Response r = redirect("https://a.example/");
    write_response(get, r, {}, "D");
    r.head = true;
    write_response(head, r, {}, "D");
    CHECK(head == header_block(get));
}

TEST_CASE("LocationWithCrLfOrNulBecomes500", "[writer]") {
    for (const std::string& bad : {std::string("https://a/\r\nSet-Cookie: x=1"), std::string("https://a/\n"),
                                  std::string("https://a/\0x", 11)}) {
        std::string out;
        CHECK_FALSE(write_response(out, redirect(bad), {}, "D"));
        CHECK(out.rfind("HTTP/1.1 500 ", 0) == 0);
        CHECK(out.find("Set-Cookie") == std::string::npos);
        CHECK(out.find("Location") == std::string::npos);
    }
}

TEST_CASE("QueryPiecesAreJoined", "[writer]") {
    Response r = redirect("https://a.example/p");
    r.query_separator = '?';
    r.location_query = "u=1";
    r.location_suffix = "#f";
    std::string out;
    write_response(out, r, {}, "D");
    CHECK(out.find("Location: https://a.example/p?u=1#f\r\n") != std::string::npos);
}

// The common case (nothing to escape) copies the Location verbatim into the body.
TEST_CASE("PlainLocationBodyIsVerbatimWithExactContentLength", "[writer]") {
    Response r = redirect("https://a.example/p");
    r.query_separator = '?';
    r.location_query = "u=1";
    r.location_suffix = "#f";
    std::string out;
    REQUIRE(write_response(out, r, {}, "D"));
    const std::string body = body_of(out);
    CHECK(body == "<a href=\"https://a.example/p?u=1#f\">https://a.example/p?u=1#f</a>\n");
    CHECK(out.find("Content-Length: " + std::to_string(body.size()) + "\r\n") != std::string::npos);
}

// Every piece is escaped on its own, the '&' separator included, and sized exactly.
// The forwarded query is percent-encoded where a URI may not hold a byte raw, before escaping.
TEST_CASE("EscapesEveryPieceAndSizesTheBody", "[writer]") {
    Response r = redirect("https://a.example/<p>");
    r.query_separator = '&';
    r.location_query = "q=\"x\"&r=[1]";
    r.location_suffix = "#a&b";
    std::string out;
    REQUIRE(write_response(out, r, {}, "D"));
    CHECK(out.find("Location: https://a.example/<p>&q=%22x%22&r=%5B1%5D#a&b\r\n") != std::string::npos);
    const std::string html = "https://a.example/&lt;p&gt;&amp;q=%22x%22&amp;r=%5B1%5D#a&amp;b";
    const std::string body = body_of(out);
    CHECK(body == "<a href=\"" + html + "\">" + html + "</a>\n");
    CHECK(out.find("Content-Length: " + std::to_string(body.size()) + "\r\n") != std::string::npos);
}

TEST_CASE("EncodedQueryWithNothingToEscapeIsSizedExactly", "[writer]") {
    Response r = redirect("https://a.example/p");
    r.query_separator = '?';
    r.location_query = "a={x}|y";
    std::string out;
    REQUIRE(write_response(out, r, {}, "D"));
    CHECK(out.find("Location: https://a.example/p?a=%7Bx%7D%7Cy\r\n") != std::string::npos);
    const std::string body = body_of(out);
    CHECK(body == "<a href=\"https://a.example/p?a=%7Bx%7D%7Cy\">https://a.example/p?a=%7Bx%7D%7Cy</a>\n");
    CHECK(out.find("Content-Length: " + std::to_string(body.size()) + "\r\n") != std::string::npos);
}

TEST_CASE("CrLfInQueryOrSuffixBecomes500", "[writer]") {
    for (int piece = 0; piece < 2; ++piece) {
        Response r = redirect("https://a.example/p");
        r.query_separator = '?';
        r.location_query = piece == 0 ? "u=1\r\nX: y" : "u=1";
        r.location_suffix = piece == 1 ? "#f\n" : "#f";
        std::string out;
        CHECK_FALSE(write_response(out, r, {}, "D"));
        CHECK(out.rfind("HTTP/1.1 500 ", 0) == 0);
        CHECK(out.find("Location") == std::string::npos);
    }
}

TEST_CASE("FramingHeaders", "[writer]") {
    std::string out;
    write_response(out, redirect("https://a/"), FramingOptions{.close = true}, "D");
    CHECK(out.find("Connection: close\r\n") != std::string::npos);
    out.clear();
    write_response(out, redirect("https://a/"), FramingOptions{.close = false, .http10_keep_alive = true}, "D");
    CHECK(out.find("Connection: keep-alive\r\n") != std::string::npos);
}

TEST_CASE("405HasAllowAnd503HasRetryAfter", "[writer]") {
    Response r;
    r.status = 405;
    std::string out;
    write_response(out, r, {}, "D");
    CHECK(out.find("Allow: GET, HEAD\r\n") != std::string::npos);
    r.status = 503;
    out.clear();
    write_response(out, r, {}, "D");
    CHECK(out.find("Retry-After:") != std::string::npos);
}

TEST_CASE("429CarriesItsRetryAfterAndIsNeverStored", "[writer]") {
    Response miss;
    miss.status = 404;
    miss.reason = Reason::not_found;
    miss.domain = "go.example.com";
    miss.code = "guess";
    const Response r = limited(miss, 37);
    std::string out;
    write_response(out, r, {}, "D");
    CHECK(out.rfind("HTTP/1.1 429 Too Many Requests\r\n", 0) == 0);
    CHECK(out.find("Retry-After: 37\r\n") != std::string::npos);
    CHECK(out.find("Cache-Control: no-store\r\n") != std::string::npos);
    CHECK(body_of(out).find("Too Many Requests") != std::string::npos);
    CHECK(r.domain == "go.example.com");  // the click log still knows what was asked
    CHECK(r.code == "guess");
    CHECK(reason_name(r.reason) == "rate_limited");
    CHECK(is_miss(miss));
    CHECK_FALSE(is_miss(r));
    // An unknown code sent to the domain's not-found URL is a miss all the same.
    Response fallback = miss;
    fallback.status = 302;
    CHECK(is_miss(fallback));
    Response redirect = miss;
    redirect.status = 302;
    redirect.reason = Reason::redirect;
    CHECK_FALSE(is_miss(redirect));
}

TEST_CASE("ErrorResponsesClose", "[writer]") {
    std::string out;
    write_error(out, 431, "D");
    CHECK(out.rfind("HTTP/1.1 431 Request Header Fields Too Large\r\n", 0) == 0);
    CHECK(out.find("Connection: close\r\n") != std::string::npos);
    CHECK(body_of(out) == "<p>Request Header Fields Too Large</p>\n");
}

TEST_CASE("HttpDateIsImfFixdate", "[writer]") {
    HttpDate date;
    const std::string_view d = date.now();
    REQUIRE(d.size() == 29);
    CHECK(d.substr(25) == " GMT");
}

TEST_CASE("TextAnswerIsPlainNeverCachedAndExactlyFramed", "[writer]") {
    std::string out;
    write_text(out, 200, "tok.thumb", {}, "D", false);
    CHECK(out == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCache-Control: no-store\r\n"
                 "Content-Length: 9\r\nDate: D\r\n\r\ntok.thumb");
    std::string head;
    write_text(head, 404, "Not Found\n", {.close = true}, "D", true);
    CHECK(head == "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nCache-Control: no-store\r\n"
                  "Content-Length: 10\r\nDate: D\r\nConnection: close\r\n\r\n");
}

TEST_CASE("HttpsRedirectAuthorityIsLowercasedAndChecked", "[writer]") {
    Response r;
    r.status = 308;
    r.reason = Reason::https_redirect;
    r.location_prefix = "https://";
    r.location_authority = "Go.Example.COM";
    r.location_query = "/a?b=<c>";
    std::string out;
    REQUIRE(write_response(out, r, {}, "D"));
    CHECK(out.find("\r\nLocation: https://go.example.com/a?b=%3Cc%3E\r\n") != std::string::npos);
    CHECK(body_of(out) == "<a href=\"https://go.example.com/a?b=%3Cc%3E\">https://go.example.com/a?b=%3Cc%3E</a>\n");
    r.location_authority = std::string_view("a\r\nX: y", 7);
    std::string bad;
    CHECK_FALSE(write_response(bad, r, {}, "D"));
    CHECK(bad.find("X: y") == std::string::npos);
}

TEST_CASE("RuleAnswersSayWhatTheyDependOn", "[writer]") {
    Response r = redirect("https://a.example/");
    r.cache = CacheKind::private_max_age;
    std::string out;
    REQUIRE(write_response(out, r, {}, "D"));
    CHECK(out.find("\r\nCache-Control: private, max-age=60\r\n") != std::string::npos);
    CHECK(out.find("Vary") == std::string::npos);
    r.vary_accept_language = true;
    out.clear();
    REQUIRE(write_response(out, r, {}, "D"));
    CHECK(out.find("\r\nVary: Accept-Language\r\n") != std::string::npos);
    r.vary_country = "CF-IPCountry";
    out.clear();
    REQUIRE(write_response(out, r, {}, "D"));
    CHECK(out.find("\r\nVary: Accept-Language, CF-IPCountry\r\n") != std::string::npos);
    CHECK(vary_string(r) == "Accept-Language, CF-IPCountry");
    r.vary_accept_language = false;
    out.clear();
    REQUIRE(write_response(out, r, {}, "D"));
    CHECK(out.find("\r\nVary: CF-IPCountry\r\n") != std::string::npos);
}

TEST_CASE("PasswordFormIsSelfContainedNoStoreAndExactlySized", "[writer][password]") {
    const std::uint8_t block[52] = {1};
    for (Reason reason : {Reason::password_form, Reason::password_refused}) {
        Response r;
        r.status = reason == Reason::password_form ? 200 : 403;
        r.reason = reason;
        r.cache = CacheKind::no_store;
        r.password = block;
        std::string out;
        REQUIRE(write_response(out, r, {}, "DATE"));
        const std::string head = header_block(out);
        CHECK(head.find("\r\nCache-Control: no-store\r\n") != std::string::npos);
        CHECK(head.find("\r\nReferrer-Policy: no-referrer\r\n") != std::string::npos);
        CHECK(head.find("\r\nContent-Security-Policy: default-src 'none'; base-uri 'none'; frame-ancestors 'none'\r\n") !=
              std::string::npos);
        CHECK(head.find("Set-Cookie") == std::string::npos);
        const std::string body = body_of(out);
        CHECK(head.find("Content-Length: " + std::to_string(body.size()) + "\r\n") != std::string::npos);
        CHECK(body.find("<form method=\"post\">") != std::string::npos);
        CHECK((body.find("Wrong password") != std::string::npos) == (reason == Reason::password_refused));
        CHECK(body.find("src=") == std::string::npos);
        CHECK(body.find("href=") == std::string::npos);
        r.head = true;
        std::string head_only;
        REQUIRE(write_response(head_only, r, {}, "DATE"));
        CHECK(head_only == head);
    }
}

TEST_CASE("PasswordRedirectCarriesTheCookieAnd429ItsRetryAfter", "[writer][password]") {
    const std::uint8_t block[52] = {1};
    Response r = redirect("https://a.example/x");
    r.status = 303;
    r.reason = Reason::password_ok;
    r.cache = CacheKind::no_store;
    r.password = block;
    r.set_cookie = "sl_pw=1.ab; Path=/x; Max-Age=60; HttpOnly; SameSite=Lax";
    std::string out;
    REQUIRE(write_response(out, r, {}, "DATE"));
    CHECK(out.rfind("HTTP/1.1 303 See Other\r\n", 0) == 0);
    CHECK(out.find("\r\nSet-Cookie: sl_pw=1.ab; Path=/x; Max-Age=60; HttpOnly; SameSite=Lax\r\n") != std::string::npos);
    CHECK(out.find("\r\nReferrer-Policy: no-referrer\r\n") != std::string::npos);
    CHECK(out.find("Content-Security-Policy") == std::string::npos);
    // A header value that could split the response is never written.
    r.set_cookie = "a=b\r\nX-Evil: 1";
    out.clear();
    REQUIRE(write_response(out, r, {}, "DATE"));
    CHECK(out.find("X-Evil") == std::string::npos);
    Response limited;
    limited.status = 429;
    limited.reason = Reason::rate_limited;
    limited.cache = CacheKind::no_store;
    limited.retry_after_s = 42;
    out.clear();
    REQUIRE(write_response(out, limited, {}, "DATE"));
    CHECK(out.rfind("HTTP/1.1 429 Too Many Requests\r\n", 0) == 0);
    CHECK(out.find("\r\nRetry-After: 42\r\n") != std::string::npos);
}
