// Validation of destinations, codes, hosts and tags: accepted inputs normalize as documented and
// every hostile input in the tables is refused with a message.
#include <catch2/catch.hpp>

#include <string>

#include "store/idna.h"
#include "store/validate.h"

using namespace shortlink::validate;

TEST_CASE("NormalizesDestinations", "[validate]") {
    struct Case {
        const char* in;
        const char* out;
    };
    const Case cases[] = {
        {"https://Example.COM/a/../b", "https://example.com/b"},
        {"HTTP://example.com", "http://example.com/"},
        {"https://example.com/%7euser", "https://example.com/~user"},
        {"https://example.com:8443/x?q=1#f", "https://example.com:8443/x?q=1#f"},
        {"https://127.0.0.1/x", "https://127.0.0.1/x"},
        {"https://[::1]/x", "https://[::1]/x"},
        {"https://example.com/a%20b", "https://example.com/a%20b"},
        {"https://xn--bcher-kva.de/", "https://xn--bcher-kva.de/"},
        {"https://example.com./p", "https://example.com/p"},
        // UTF-8 as a browser takes it: the host to A-labels (case folded), the rest percent-encoded.
        {"https://example.com/\xc3\xa9t\xc3\xa9?q=\xe2\x82\xac#\xc3\xa0", "https://example.com/%C3%A9t%C3%A9?q=%E2%82%AC#%C3%A0"},
        {"https://b\xc3\xbc" "cher.de/", "https://xn--bcher-kva.de/"},
        {"https://M\xc3\x9c" "NCHEN.de:8443/Stra\xc3\x9f" "e", "https://xn--mnchen-3ya.de:8443/Stra%C3%9Fe"},
        {"https://fa\xc3\x9f.de/", "https://xn--fa-hia.de/"},                 // non-transitional: not fass.de
        {"https://\xe6\x97\xa5\xe6\x9c\xac\xe3\x80\x82jp/", "https://xn--wgv71a.jp/"},  // ideographic full stop
        {"https://\xd0\xb0pple.com/", "https://xn--pple-43d.com/"},         // a confusable shows as its A-label
        // Labels browsers resolve though DNS rules for a served domain refuse them.
        {"https://-bad-.example.com/", "https://-bad-.example.com/"},
        {"https://ex_ample.com/", "https://ex_ample.com/"},
    };
    for (const Case& c : cases) {
        INFO(c.in);
        auto r = normalize_destination(c.in);
        REQUIRE(r.is_ok());
        CHECK(*r == c.out);
    }
}

TEST_CASE("RejectsHostileDestinations", "[validate]") {
    const std::string bad[] = {
        "",
        "example.com",
        "/relative/path",
        "//example.com/x",
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "ftp://example.com/x",
        "mailto:a@example.com",
        "https://",
        "https:///path",
        "http:example.com",
        "https://example.com/a\r\nSet-Cookie: x=1",
        "https://example.com/a\nLocation: evil",
        "https://example.com/a\rb",
        std::string("https://example.com/a\0b", 23),
        "https://example.com/\t",
        "https://example.com/\x7f",
        "https://exa mple.com/",
        "https://example.com/a b",
        " https://example.com/",
        "https://example.com/ ",
        "https://user:pass@example.com/",
        "https://paypal.com@evil.example/",
        "https://example.com:99999/",
        "https://example.com:abc/",
        "https://exa%6dple.com/",
        "https://" + std::string(64, 'a') + ".com/",
        "https://" + std::string(250, 'a').insert(60, ".").insert(120, ".").insert(180, ".") + ".com/",
        "https://example.com/" + std::string(9 * 1024, 'a'),
        "https://example.com/<script>",
        "https://example.com/\"quoted\"",
        "https://example.com/a{b}",
        "https://[v1.fe]/",
        "https://exa..mple.com/",
        "http://%00/",
        "https:\\\\example.com\\path",
        "https://example.com/\xff",               // not UTF-8
        "https://example.com/\xc0\xaf",           // overlong '/'
        "https://example.com/\xc2\x85",           // C1 control (NEL)
        "https://\xf0\x9f\x92\xa9.la/",           // emoji: IDNA disallows it
        "https://\xc3\xbc:\xc3\xbc/",               // a port that is no number
        "https://\xc3\xbc@evil.example/",         // credentials
        "https://-\xc3\xbc.example/",             // a hyphen at the end of a non-ASCII label
        "https://a.b!c.com/",
    };
    int count = 0;
    for (const std::string& url : bad) {
        INFO("url: " << url.substr(0, 80));
        auto r = normalize_destination(url);
        CHECK_FALSE(r.is_ok());
        if (!r.is_ok()) {
            CHECK_FALSE(r.status().message().empty());
        }
        ++count;
    }
    CHECK(count >= 40);
}

TEST_CASE("DestinationMessagesNameTheProblem", "[validate]") {
    CHECK_THAT(normalize_destination("https://example.com/a\r\nX: y").status().message(),
               Catch::Contains("control character 0x0d"));
    CHECK_THAT(normalize_destination("javascript:alert(1)").status().message(), Catch::Contains("javascript"));
    CHECK_THAT(normalize_destination("https://example.com/" + std::string(9000, 'a')).status().message(),
               Catch::Contains("limit is 8192"));
    CHECK_THAT(normalize_destination("https://a:b@example.com/").status().message(), Catch::Contains("credentials"));
}

TEST_CASE("RejectsTextGluedToTheHostOrPort", "[validate]") {
    // Boost.URL reads what follows an IP literal or a port as a path even without a '/'; a
    // browser would go elsewhere (user info before '@') or nowhere (a port that is not a number).
    for (const char* url : {"https://[::1]@evil.example/", "http://[::0]@8=", "https://[::1]x/", "https://example.com:80x/",
                            "https://example.com:66.", "https://example.com:66.l", "https://1.2.3.4:5x"}) {
        INFO(url);
        auto r = normalize_destination(url);
        REQUIRE_FALSE(r.is_ok());
        CHECK_THAT(r.status().message(), Catch::Contains("right after its host or port; a path starts with '/'"));
    }
    CHECK(*normalize_destination("https://example.com:1?q") == "https://example.com:1/?q");
    CHECK(*normalize_destination("https://[::1]:8443#f") == "https://[::1]:8443/#f");
}

TEST_CASE("AcceptsValidCodes", "[validate]") {
    const std::string good[] = {"a", "Abc", "docs/setup", "a-b_c.d~e", "x/y/z", "2024.report", std::string(128, 'a')};
    for (const std::string& code : good) {
        INFO(code);
        CHECK(check_code(code).is_ok());
    }
}

TEST_CASE("RejectsHostileCodes", "[validate]") {
    const std::string bad[] = {
        "",
        std::string(129, 'a'),
        "/leading",
        "trailing/",
        "a//b",
        "..",
        ".",
        "a/../b",
        "a/./b",
        "../etc/passwd",
        "a b",
        "a\r\nb",
        std::string("a\0b", 3),
        "a?b",
        "a#b",
        "a%2fb",
        "a:b",
        "a@b",
        "a\\b",
        "caf\xc3\xa9",
        "\xd0\xb0pple",  // Cyrillic a
        "<script>",
        "a\"b",
        "a'b",
        ".well-known/acme-challenge/x",
        ".Well-Known/ACME-challenge/x/y",
    };
    for (const std::string& code : bad) {
        INFO("code: " << code);
        CHECK_FALSE(check_code(code).is_ok());
    }
    // Only what serve answers itself on the public listener is reserved.
    for (const char* code : {"healthz", "HealthZ", "metrics", "metrics/x", ".well-known", ".well-known/acme-challenge",
                             ".well-known/security.txt", "favicon.ico", "robots.txt", "api", "admin", "static"}) {
        INFO("code: " << code);
        CHECK(check_code(code).is_ok());
    }
}

TEST_CASE("NormalizesHosts", "[validate]") {
    CHECK(*normalize_host("Go.Example.COM") == "go.example.com");
    CHECK(*normalize_host("example.com.") == "example.com");
    CHECK(*normalize_host("b\xc3\xbc" "cher.de") == "xn--bcher-kva.de");
    CHECK(*normalize_host("m\xc3\xbcnchen.de") == "xn--mnchen-3ya.de");
    CHECK(*normalize_host("*") == "*");
    for (const char* bad : {"", "example.com:8080", "-a.com", "a-.com", "a..b", "a b.com", "a_b.com", "[::1]",
                            "exa\r\nmple.com", "\xff.com"}) {
        INFO(bad);
        CHECK_FALSE(normalize_host(bad).is_ok());
    }
}

TEST_CASE("HostMessagesNeverEchoHostileBytes", "[validate]") {
    // A control character or a megabyte of host must not reach a terminal through an error.
    const std::string message = normalize_host("exa\x1b[2Jmple.com").status().message();
    CHECK(message.find('\x1b') == std::string::npos);
    CHECK_THAT(message, Catch::Contains("\\x1b"));
    CHECK(normalize_host(std::string(100000, 'a')).status().message().size() < 400);
    CHECK(check_code("/" + std::string(127, '\x01')).message().size() < 600);
    CHECK(check_code("a\x01/").message().find('\x01') == std::string::npos);
}

TEST_CASE("NormalizesBlockedHosts", "[validate]") {
    CHECK(*normalize_blocked_host("Evil.Example.") == "evil.example");
    CHECK(*normalize_blocked_host("b\xc3\xbc" "cher.de") == "xn--bcher-kva.de");
    CHECK(*normalize_blocked_host("192.0.2.1") == "192.0.2.1");
    struct Case {
        std::string host;
        const char* message;
    };
    const Case cases[] = {
        {"", "is empty"},
        {"*", "not a destination host"},
        {"https://evil.example/", "is a URL"},
        {"*.evil.example", "already covers its subdomains"},
        {"me@evil.example", "user info"},
        {"evil.example/x", "path"},
        {"evil.example#x", "fragment"},
        {"evil.example:443", "port"},
        {"[2001:db8::1]", "IPv6"},
        {"evil\texample", "control character 0x09 at byte 4"},
        {"evil example", "a space at byte 4"},
        {std::string(1013, 'a'), "1013 bytes"},
        {"ev!l.example", "contains '!'"},
    };
    for (const Case& c : cases) {
        INFO(c.host);
        auto r = normalize_blocked_host(c.host);
        REQUIRE_FALSE(r.is_ok());
        CHECK_THAT(r.status().message(), Catch::Contains(c.message));
    }
}

TEST_CASE("BlockReasonsAreOneLineOfText", "[validate]") {
    CHECK(check_block_reason("").is_ok());
    CHECK(check_block_reason("phishing in the spring flyer").is_ok());
    CHECK(check_block_reason("Phishing \xc3\xbc" "ber Flyer \xe2\x80\x94 gemeldet").is_ok());
    CHECK(check_block_reason(std::string(k_max_reason_bytes, 'r')).is_ok());
    CHECK_THAT(check_block_reason(std::string(k_max_reason_bytes + 1, 'r')).message(), Catch::Contains("limit is 512"));
    for (const std::string& bad : {std::string("two\nlines"), std::string("tab\there"), std::string("nul\0x", 5),
                                  std::string("del\x7f"), std::string("c1 \xc2\x85"), std::string("bad \xff"),
                                  std::string("overlong \xc0\xaf"), std::string("rlo \xe2\x80\xae"),
                                  std::string("isolate \xe2\x81\xa6"), std::string("ls \xe2\x80\xa8")}) {
        INFO(printable(bad));
        CHECK(check_block_reason(bad).code() == shortlink::Status::Code::invalid_argument);
    }
}

TEST_CASE("TitlesAreTrimmedOneLineText", "[validate]") {
    CHECK(*normalize_title("Spring sale") == "Spring sale");
    CHECK(*normalize_title("  \t Caf\xc3\xa9 \xe2\x80\x94 menu\r\n") == "Caf\xc3\xa9 \xe2\x80\x94 menu");
    CHECK(*normalize_title(" \t\r\n ") == "");  // blank: no title
    CHECK(*normalize_title("") == "");
    CHECK(normalize_title(std::string(k_max_title_bytes, 't'))->size() == k_max_title_bytes);
    // The limit counts the title as kept, not the blanks around it.
    CHECK(normalize_title("  " + std::string(k_max_title_bytes, 't') + "  ")->size() == k_max_title_bytes);
    CHECK(normalize_title(std::string(k_max_title_bytes + 1, 't')).status().message() ==
          "title is 513 bytes; the limit is 512");
    CHECK(normalize_title("two\nlines").status().message() ==
          "title must be one line of UTF-8 text: control character at byte 3");
    CHECK(normalize_title(" a\tb").status().message() ==
          "title must be one line of UTF-8 text: control character at byte 1");
    CHECK(normalize_title("bad \xff title").status().message() ==
          "title must be one line of UTF-8 text: malformed UTF-8 at byte 4");
    CHECK(normalize_title("rlo \xe2\x80\xae").status().message() ==
          "title contains a bidirectional or line-separator character");
    for (const std::string& bad : {std::string("nul\0x", 5), std::string("del\x7f"), std::string("c1 \xc2\x85"),
                                  std::string("overlong \xc0\xaf"), std::string("surrogate \xed\xa0\x80"),
                                  std::string("ls \xe2\x80\xa8")}) {
        INFO(printable(bad));
        CHECK(normalize_title(bad).status().code() == shortlink::Status::Code::invalid_argument);
    }
}

TEST_CASE("PunycodeRfc3492Vectors", "[validate]") {
    // Expected values cross-checked with Python's "punycode" codec.
    CHECK(*label_to_ascii("b\xc3\xbc" "cher") == "xn--bcher-kva");
    CHECK(*label_to_ascii("\xe3\x81\xb2\xe3\x81\xa8\xe3\x81\xa4") == "xn--k9jh3a");  // hiragana hitotsu
    CHECK(*label_to_ascii("\xd0\xbf\xd1\x80\xd0\xb8\xd0\xbc\xd0\xb5\xd1\x80") == "xn--e1afmkfd");
    CHECK(*label_to_ascii("\xe4\xbe\x8b\xe3\x81\x88") == "xn--r8jz45g");
    CHECK(*label_to_ascii("\xc3\xbc") == "xn--tda");
    CHECK(*label_to_ascii("plain") == "plain");
    CHECK_FALSE(label_to_ascii("\xc0\xaf").is_ok());  // overlong '/'
    CHECK_FALSE(label_to_ascii("\xed\xa0\x80").is_ok());  // surrogate
    // 64 code points, one of them outside ASCII: refused before encoding; all ASCII: unchanged.
    CHECK(label_to_ascii(std::string(63, 'a') + "\xc3\xbc").status().message() == "label is longer than 63 characters");
    CHECK(*label_to_ascii(std::string(64, 'a')) == std::string(64, 'a'));
}

TEST_CASE("TagsAndTypes", "[validate]") {
    CHECK(check_tag("team:docs").is_ok());
    CHECK_FALSE(check_tag("a,b").is_ok());
    CHECK_FALSE(check_tag("").is_ok());
    CHECK_FALSE(check_tag(std::string(65, 'a')).is_ok());
    CHECK(*parse_redirect_type("308") == 308);
    CHECK_FALSE(parse_redirect_type("303").is_ok());
    CHECK_FALSE(parse_redirect_type("302 ").is_ok());
}

TEST_CASE("GeneratedCodesUseTheAlphabet", "[validate]") {
    for (int i = 0; i < 200; ++i) {
        std::string code = generate_code();
        REQUIRE(code.size() == k_generated_code_length);
        CHECK(code.find_first_not_of(k_code_alphabet) == std::string::npos);
        CHECK(check_code(code).is_ok());
    }
    CHECK(generate_code() != generate_code());
}

TEST_CASE("PrintableEscapesControlAndNonAsciiBytes", "[validate]") {
    CHECK(shortlink::validate::printable("plain-text") == "plain-text");
    CHECK(shortlink::validate::printable(std::string_view("a\r\nb\0c\xff", 7)) == "a\\x0d\\x0ab\\x00c\\xff");
    CHECK(shortlink::validate::printable(std::string(100, 'x'), 8) == "xxxxxxxx...");
}
