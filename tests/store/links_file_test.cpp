// The links file (store/links_file.cpp): what it reads, what it refuses and where it says so,
// and that what the writer writes reads back as the same domains and links.
#include <catch2/catch.hpp>

#include <string>

#include "store/links_file.h"
#include "store/timefmt.h"

using namespace shortlink;
using namespace shortlink::store;

namespace {

// The error message of a file that must be refused.
std::string refusal(const std::string& text) {
    auto parsed = parse_links_file(text);
    REQUIRE_FALSE(parsed.is_ok());
    CHECK(parsed.status().code() == Status::Code::invalid_argument);
    return parsed.status().message();
}

}  // namespace

TEST_CASE("ReadsTheIssueExample", "[links_file]") {
    auto parsed = parse_links_file(R"(domains:
  - host: Go.Example.com
    default_type: 301
links:
  - domain: go.example.com   # absent: the default domain
    code: spring
    url: https://Example.com/spring
    tags: [promo, a, promo]
  - code: docs
    url: https://example.com/docs
    type: 308
    forward_query: false
    not_before: 2026-01-01T00:00:00+01:00
    expires: 2026-12-31T23:59:59Z
    status: disabled
)");
    REQUIRE(parsed.is_ok());
    const LinksFile& f = *parsed;
    REQUIRE(f.domains.size() == 1);
    CHECK(f.domains[0].record.host == "go.example.com");
    CHECK(f.domains[0].record.default_redirect == 301);
    CHECK(f.domains[0].record.cache_max_age_s == k_default_cache_max_age_s);  // absent: the default
    CHECK(f.domains[0].at.line == 2);
    CHECK(f.domains[0].at.column == 5);
    REQUIRE(f.links.size() == 2);
    CHECK(f.links[0].input.host == "go.example.com");
    CHECK(f.links[0].input.destination == "https://example.com/spring");  // normalized
    CHECK(f.links[0].input.tags == std::vector<std::string>{"a", "promo"});
    CHECK(f.links[0].at.line == 5);
    const LinkInput& docs = f.links[1].input;
    CHECK(docs.host == "*");
    CHECK(docs.redirect_type == 308);
    CHECK(docs.forward_query == 0);
    CHECK(docs.not_before == *timefmt::parse_time("2025-12-31T23:00:00Z", 0));
    CHECK(docs.expires == *timefmt::parse_time("2026-12-31T23:59:59Z", 0));
    CHECK(docs.status == LinkState::disabled);
}

TEST_CASE("NullMeansUnset", "[links_file]") {
    auto parsed = parse_links_file("links:\n  - {code: a, url: 'https://e.com/', domain: ~, type: null, tags:, expires: ~}\n");
    REQUIRE(parsed.is_ok());
    CHECK(parsed->links[0].input.host == "*");
    CHECK(parsed->links[0].input.redirect_type == 0);
    CHECK(parsed->links[0].input.expires == 0);
    auto titled = parse_links_file("links:\n  - {code: a, url: 'https://e.com/', title: ~}\n"
                                   "  - {code: b, url: 'https://e.com/', title: '  Caf\xc3\xa9: the menu  '}\n"
                                   "  - {code: c, url: 'https://e.com/', title: 2024}\n");
    REQUIRE(titled.is_ok());
    CHECK(titled->links[0].input.title.empty());
    CHECK(titled->links[1].input.title == "Caf\xc3\xa9: the menu");  // trimmed as `add --title` does
    CHECK(titled->links[2].input.title == "2024");                    // a title is text, whatever it looks like
    auto empty_lists = parse_links_file("domains:\nlinks: []\n");
    REQUIRE(empty_lists.is_ok());
    CHECK(empty_lists->links.empty());
}

TEST_CASE("RefusalsNameLineAndColumn", "[links_file]") {
    CHECK(refusal("links:\n  - code: a\n    url: https://e.com/\n    titel: x\n") ==
          "line 4, column 5: unknown key 'titel' in a link (expected domain, code, url, type, forward_query, "
          "not_before, expires, tags, status, title)");
    CHECK(refusal("links:\n  - code: a\n    url: ftp://e.com/\n").starts_with("line 3, column 10: url: "));
    CHECK(refusal("links:\n  - code: a b\n    url: https://e.com/\n").starts_with("line 2, column 11: code: "));
    CHECK(refusal("links:\n  - code: a\n    code: b\n    url: https://e.com/\n") ==
          "line 3, column 5: key 'code' is given twice");
    CHECK(refusal("links:\n  - code: a\n    url: https://e.com/\n  - code: a\n    url: https://e.com/b\n") ==
          "line 4, column 5: link */a is listed twice (first at line 2, column 5)");
    CHECK(refusal("links:\n  - code: a\n    url: https://e.com/\n    version: 3\n") ==
          "line 4, column 5: key 'version' is kept by the store and cannot be set");
    CHECK(refusal("links:\n  - url: https://e.com/\n") == "line 2, column 5: a link without a code");
    CHECK(refusal("links:\n  - code: a\n") == "line 2, column 5: link 'a' has no url");
    CHECK(refusal("other: 1\n").starts_with("line 1, column 1: unknown key 'other' at the top"));
    CHECK(refusal("- a\n").starts_with("line 1, column 1: the document is a list"));
}

TEST_CASE("ValuesHaveTheTypeTheirKeyTakes", "[links_file]") {
    const std::string head = "links:\n  - code: a\n    url: https://e.com/\n";
    CHECK(refusal(head + "    type: \"301\"\n").find("type takes a redirect type (301, 302, 307 or 308), found the string '301'") !=
          std::string::npos);
    CHECK(refusal(head + "    type: 303\n").starts_with("line 4, column 11: type: "));
    CHECK(refusal(head + "    forward_query: yes\n") ==
          "line 4, column 20: forward_query takes true or false, found the value 'yes'");
    CHECK(refusal(head + "    tags: promo\n").find("tags takes a list of tags, found the value 'promo'") != std::string::npos);
    CHECK(refusal(head + "    tags: [{a: b}]\n").find("a tag is a mapping") != std::string::npos);
    CHECK(refusal(head + "    url2: x\n").find("unknown key 'url2'") != std::string::npos);
    CHECK(refusal(head + "    expires: 7d\n").find("is relative to now") != std::string::npos);
    CHECK(refusal(head + "    not_before: 2027-01-01T00:00:00Z\n    expires: 2026-01-01T00:00:00Z\n") ==
          "line 2, column 5: link 'a': expires must be after not_before");
    CHECK(refusal(head + "    status: gone\n").find("status takes active, disabled or deleted") != std::string::npos);
    CHECK(refusal(head + "    title: [a, b]\n") == "line 4, column 12: title takes a title, found a list");
    CHECK(refusal(head + "    title: {a: b}\n") == "line 4, column 12: title takes a title, found a mapping");
    CHECK(refusal(head + "    title: \"a\\tb\"\n") ==
          "line 4, column 12: title: title must be one line of UTF-8 text: control character at byte 1");
    CHECK(refusal(head + "    title: \"a\\u202Eb\"\n") ==
          "line 4, column 12: title: title contains a bidirectional or line-separator character");
    CHECK(refusal(head + "    title: " + std::string(513, 'x') + "\n") ==
          "line 4, column 12: title: title is 513 bytes; the limit is 512");
    CHECK(refusal(head + "    status: !!str active\n").find("explicit YAML tag") != std::string::npos);
    CHECK(refusal("domains:\n  - host: a.example\n    cache_max_age: -1\n").find("whole number of seconds") !=
          std::string::npos);
    CHECK(refusal("domains:\n  - host: a.example\n    cache_max_age: 4294967296\n").find("whole number of seconds") !=
          std::string::npos);
    CHECK(refusal("domains:\n  - host: a.example\n    https_redirect: 1\n").find("true or false") != std::string::npos);
}

TEST_CASE("HostileDocumentsAreRefused", "[links_file]") {
    CHECK(refusal("").starts_with("no YAML document"));
    CHECK(refusal("# only a comment\n\n").starts_with("no YAML document"));
    CHECK(refusal("---\n").find("the document is empty") != std::string::npos);
    CHECK(refusal("links: []\n---\nlinks: []\n").starts_with("line 2, column 1: a second YAML document"));
    CHECK(refusal("links:\n\t- code: a\n") == "line 2, column 1: a tab in the indentation; YAML indents with spaces");
    CHECK(refusal("links:\n  - code: \"a\xff\"\n").starts_with("line 2: not UTF-8"));
    CHECK(refusal(std::string("links: []\n\0\n", 12)).starts_with("line 2, column 1: control character"));
    CHECK(refusal("a: &x [1]\nlinks: *x\n").find("unknown key 'a'") != std::string::npos);
    CHECK(refusal("links: &x []\ndomains: *x\n").find("an alias") != std::string::npos);
    CHECK(refusal("links: [code: a\n").starts_with("line "));  // yaml-cpp's own error, with its position
    // Nesting stops at the first collection the schema has no place for, however deep the rest.
    std::string deep = "links: " + std::string(100000, '[') + std::string(100000, ']') + "\n";
    CHECK(refusal(deep) == "line 1, column 24: collections nested more than 16 deep; a links file needs three");
    std::string nested_block = "links:\n";
    for (int i = 1; i < 100; ++i) {
        nested_block += std::string(static_cast<std::size_t>(i) * 2, ' ') + "-\n";
    }
    CHECK(refusal(nested_block).find("indented 130 columns") != std::string::npos);
    // Brackets inside quotes, comments and plain scalars are not collections.
    auto brackets = parse_links_file("links: [ # [[[[[[[[[[[[[[[[[[\n  {code: a, url: 'https://e.com/?q=[[[[[[[[[[[[[[[[[[[[', "
                                     "tags: [x]},\n  {code: b, url: \"https://e.com/\\\"[[[[[[[[[[[[[[[[[[[[[\"}]\n"
                                     "domains:\n  - host: x.example\n    root_url: https://e.com/a-[[[[[[[[[[[[[[[[[[[[\n");
    INFO(brackets.status().message());
    CHECK(brackets.status().message().find("nested") == std::string::npos);
    std::string too_large(k_max_links_file_bytes + 1, ' ');
    CHECK(refusal(too_large).starts_with("larger than 64 MiB"));
}

TEST_CASE("WrittenFileReadsBack", "[links_file]") {
    DomainRecord d;
    d.host = "go.example.com";
    d.default_redirect = 308;
    d.root_url = "https://example.com/";
    d.case_insensitive = true;
    d.hsts_max_age_s = 31536000;
    DomainRecord star;
    star.host = "*";
    std::vector<Link> links(3);
    links[0].host = "go.example.com";
    links[0].code = "2024";  // would read as a number unquoted
    links[0].destination = "https://example.com/a?b=c#d";
    links[0].tags = {"no", "x:y"};
    links[0].redirect_type = 301;
    links[0].forward_query = 0;
    links[1].host = "*";
    links[1].code = "~";  // would read as null unquoted
    links[1].destination = "https://example.com/";
    links[1].expires = 1790000000;
    links[1].not_before = 1780000000;
    links[1].status = LinkState::deleted;
    links[2].host = "*";
    links[2].code = "true";
    links[2].destination = "https://example.com/t";
    links[2].status = LinkState::disabled;
    links[0].title = "2024: \"Spring\" sale \xe2\x80\x94 caf\xc3\xa9 # not a comment";
    links[1].title = "null";  // would read as null unquoted
    links[2].title = "- [x] {y}: z";
    LinksFileWriter w;
    w.domains({star, d});
    std::string text = w.take();
    for (const Link& l : links) {
        w.link(l);
    }
    w.finish();
    text += w.take();
    INFO(text);
    auto parsed = parse_links_file(text);
    REQUIRE(parsed.is_ok());
    REQUIRE(parsed->domains.size() == 2);
    const DomainRecord& back = parsed->domains[1].record;
    CHECK(back.host == d.host);
    CHECK(back.default_redirect == d.default_redirect);
    CHECK(back.root_url == d.root_url);
    CHECK(back.case_insensitive);
    CHECK(back.hsts_max_age_s == d.hsts_max_age_s);
    REQUIRE(parsed->links.size() == 3);
    for (std::size_t i = 0; i < links.size(); ++i) {
        const LinkInput& in = parsed->links[i].input;
        CHECK(in.host == links[i].host);
        CHECK(in.code == links[i].code);
        CHECK(in.destination == links[i].destination);
        CHECK(in.redirect_type == links[i].redirect_type);
        CHECK(in.forward_query == links[i].forward_query);
        CHECK(in.not_before == links[i].not_before);
        CHECK(in.expires == links[i].expires);
        CHECK(in.tags == links[i].tags);
        CHECK(in.status == links[i].status);
        CHECK(in.title == links[i].title);
    }
    CHECK(text.find("code: \"2024\"") != std::string::npos);
    LinksFileWriter none;
    none.finish();
    auto empty = parse_links_file(none.take());
    REQUIRE(empty.is_ok());
    CHECK(empty->links.empty());
}
