// The redirect answer as a pure function, driven by an in-memory fake snapshot so every branch
// is pinned without files (serve/answer_impl.h). Real snapshots go through the same template;
// tests/e2e/serve_answers.py checks the same answers over HTTP.
#include <catch2/catch.hpp>

#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "compiler/snapshot_builder.h"
#include "formats/deny.h"
#include "formats/snapshot.h"
#include "tests/formats/snapshot_fixture.h"
#include "formats/rules.h"
#include "formats/password.h"
#include "serve/answer.h"
#include "serve/cookies.h"
#include "serve/response_writer.h"

using namespace shortlink;
using namespace shortlink::serve;

namespace {

constexpr std::int64_t k_now = 1'800'000'000;

struct FakeLink {
    std::string code;
    std::string destination;
    formats::LinkState status = formats::LinkState::active;
    std::uint16_t redirect_type = 302;
    bool forward_query = true;
    std::int64_t not_before = 0;
    std::int64_t expires = 0;
    std::string rules;  // an encoded rule list (formats::encode_rule_list); empty: none
};

// Mimics formats::Snapshot's lookup contract: find_domain falls back to the default domain;
// lookup compares the full code.
class FakeSnapshot {
public:
    void set_domain(std::uint32_t i, formats::DomainView d) { m_domains[i] = d; }
    std::uint32_t add_domain(formats::DomainView d) {
        m_domains.push_back(d);
        return static_cast<std::uint32_t>(m_domains.size() - 1);
    }
    void add_link(std::uint32_t domain, FakeLink link) {
        m_links[{domain, link.code}] = std::move(link);
    }
    std::optional<std::uint32_t> find_domain(std::string_view host) const {
        std::optional<std::uint32_t> fallback;
        for (std::uint32_t i = 0; i < m_domains.size(); ++i) {
            if (m_domains[i].host == host) {
                return i;
            }
            if (m_domains[i].is_default) {
                fallback = i;
            }
        }
        return fallback;
    }
    formats::DomainView domain(std::uint32_t i) const { return m_domains[i]; }
    bool intact() const { return m_intact; }
    void damage() { m_intact = false; }
    std::optional<formats::LinkView> lookup(std::uint32_t domain, std::string_view code) const {
        const auto it = m_links.find({domain, std::string(code)});
        if (!m_intact || it == m_links.end()) {
            return std::nullopt;
        }
        const FakeLink& l = it->second;
        formats::LinkView v;
        v.code = l.code;
        v.destination = l.destination;
        v.domain_index = domain;
        v.status = l.status;
        v.redirect_type = l.redirect_type;
        v.forward_query = l.forward_query;
        v.not_before = l.not_before;
        v.expires = l.expires;
        if (!l.rules.empty()) {
            v.rules = formats::RuleListView(reinterpret_cast<const std::uint8_t*>(l.rules.data()));
        }
        return v;
    }

private:
    bool m_intact = true;
    std::vector<formats::DomainView> m_domains;
    std::map<std::pair<std::uint32_t, std::string>, FakeLink> m_links;
};

struct Fixture {
    FakeSnapshot snap;
    std::uint32_t def;
    std::uint32_t go;
    Fixture() {
        formats::DomainView d;
        d.host = "*";
        d.is_default = true;
        d.default_redirect = 302;
        d.cache_max_age_s = 300;
        d.negative_max_age_s = 30;
        def = snap.add_domain(d);
        formats::DomainView g;
        g.host = "go.example.com";
        g.root_url = "https://www.example.com/";
        g.default_redirect = 301;
        g.case_insensitive = true;
        g.cache_max_age_s = 3600;
        g.negative_max_age_s = 10;
        go = snap.add_domain(g);
        snap.add_link(def, {"abc", "https://dest.example/a", formats::LinkState::active, 302});
        snap.add_link(def, {"q", "https://dest.example/q?x=1", formats::LinkState::active, 307});
        snap.add_link(def, {"frag", "https://dest.example/f#top"});
        snap.add_link(def, {"qfrag", "https://dest.example/f?x=1#top"});
        snap.add_link(def, {"amp", "https://dest.example/f?x=1&"});
        snap.add_link(def, {"nofwd", "https://dest.example/n", formats::LinkState::active, 302, false});
        snap.add_link(def, {"off", "https://dest.example/off", formats::LinkState::disabled});
        snap.add_link(def, {"gone", "https://dest.example/gone", formats::LinkState::deleted});
        snap.add_link(def, {"old", "https://dest.example/old", formats::LinkState::active, 302, true,
                            0, k_now - 1});
        snap.add_link(def, {"soon", "https://dest.example/soon", formats::LinkState::active, 302, true,
                            k_now + 5, 0});
        snap.add_link(def, {"ending", "https://dest.example/e", formats::LinkState::active, 302, true,
                            0, k_now + 100});
        snap.add_link(def, {"a/b", "https://dest.example/slash"});
        snap.add_link(def, {"caf\xc3\xa9", "https://dest.example/utf8"});
        snap.add_link(def, {"Case", "https://dest.example/case-sensitive"});
        snap.add_link(go, {"docs", "https://docs.example.com/", formats::LinkState::active, 301});
    }
    Response get(std::string_view target, std::string_view host = "") const {
        return detail::answer_from(&snap, nullptr, Request{Method::get, target, host}, k_now);
    }
};

}  // namespace

TEST_CASE("ActiveLinkRedirectsWithCachePolicy", "[answer]") {
    Fixture f;
    const Response r = f.get("/abc", "short.example");
    CHECK(r.status == 302);
    CHECK(r.reason == Reason::redirect);
    CHECK(location_string(r) == "https://dest.example/a");
    CHECK(cache_control_string(r) == "max-age=300");
}

TEST_CASE("HostPicksDomainPortAndCaseIgnored", "[answer]") {
    Fixture f;
    const Response r = f.get("/DOCS", "Go.Example.COM:8080");
    CHECK(r.status == 301);
    CHECK(location_string(r) == "https://docs.example.com/");
    CHECK(cache_control_string(r) == "max-age=3600");
    // The default domain is case-sensitive: "CASE" is not "Case".
    CHECK(f.get("/Case").status == 302);
    CHECK(f.get("/CASE").status == 404);
    CHECK(f.get("/docs", "go.example.com.").status == 301);  // trailing dot of an FQDN
}

TEST_CASE("AbsoluteFormTargetUsesItsAuthority", "[answer]") {
    Fixture f;
    const Response r = f.get("http://go.example.com/docs", "other.example");
    CHECK(r.status == 301);
    CHECK(f.get("https://GO.example.com:443/docs").status == 301);
    CHECK(f.get("ftp://go.example.com/docs").status == 400);
    CHECK(f.get("http:///docs").status == 400);
}

TEST_CASE("TrailingSlashAndPercentDecoding", "[answer]") {
    Fixture f;
    CHECK(f.get("/abc/").status == 302);
    CHECK(f.get("/abc//").status == 404);
    CHECK(f.get("/%61bc").status == 302);
    CHECK(f.get("/a/b").status == 302);
    CHECK(f.get("/a%2Fb").status == 302);
    CHECK(f.get("/caf%C3%A9").status == 302);
    CHECK(f.get("/ab%zz").status == 400);
    CHECK(f.get("/ab%4").status == 400);
    CHECK(f.get("/ab\x01").status == 400);
}

TEST_CASE("QueryForwardingMergesWithDestinationQuery", "[answer]") {
    Fixture f;
    CHECK(location_string(f.get("/abc?utm=1&b=2")) == "https://dest.example/a?utm=1&b=2");
    CHECK(location_string(f.get("/q?utm=1")) == "https://dest.example/q?x=1&utm=1");
    CHECK(location_string(f.get("/frag?utm=1")) == "https://dest.example/f?utm=1#top");
    CHECK(location_string(f.get("/qfrag?utm=1")) == "https://dest.example/f?x=1&utm=1#top");
    CHECK(location_string(f.get("/amp?utm=1")) == "https://dest.example/f?x=1&utm=1");
    CHECK(location_string(f.get("/abc?")) == "https://dest.example/a");
    CHECK(location_string(f.get("/nofwd?utm=1")) == "https://dest.example/n");
    CHECK(f.get("/q?utm=1").status == 307);
}

// What curl -g, Python's http.client and browsers send raw in a query is accepted, and forwarded
// percent-encoded so that the Location stays a valid URI.
TEST_CASE("RawQueryBytesClientsSendAreForwardedEncoded", "[answer]") {
    Fixture f;
    const Response r = f.get("/abc?a[]=1&b={x}|^`y\\z");
    CHECK(r.status == 302);
    CHECK(location_string(r) == "https://dest.example/a?a%5B%5D=1&b=%7Bx%7D%7C%5E%60y%5Cz");
    CHECK(location_string(f.get("/q?s=\"<p>\"")) == "https://dest.example/q?x=1&s=%22%3Cp%3E%22");
    CHECK(location_string(f.get("/frag?k=caf\xc3\xa9")) == "https://dest.example/f?k=caf%C3%A9#top");
    CHECK(location_string(f.get("/abc?ok=%5B")) == "https://dest.example/a?ok=%5B");
    CHECK(location_string(f.get("http://short.example/abc?a=[1]")) == "https://dest.example/a?a=%5B1%5D");
    CHECK(location_string(f.get("/nofwd?a=[1]")) == "https://dest.example/n");
    CHECK(f.get("/nope?a=[1]").status == 404);
    // Still malformed: a bad escape, space, '#', control bytes, and raw brackets in the path.
    CHECK(f.get("/abc?a=[%zz]").status == 400);
    CHECK(f.get("/abc?a=[%4").status == 400);
    CHECK(f.get("/abc?a=[ ]").status == 400);
    CHECK(f.get("/abc?a=[#]").status == 400);
    CHECK(f.get("/abc?a=[\x01]").status == 400);
    CHECK(f.get("/abc?a=[\r\n]").status == 400);
    CHECK(f.get("/a[b]?x=1").status == 400);
    CHECK(f.get("/a[b]").status == 400);
}

TEST_CASE("UnknownCodeIs404WithNegativeCache", "[answer]") {
    Fixture f;
    const Response r = f.get("/nope");
    CHECK(r.status == 404);
    CHECK(r.reason == Reason::not_found);
    CHECK(cache_control_string(r) == "max-age=30");
    CHECK(cache_control_string(f.get("/nope", "go.example.com")) == "max-age=10");
    CHECK_FALSE(r.has_location());
}

TEST_CASE("DisabledDeletedAndExpiredAre410NotYetValidIsAnUncached404", "[answer]") {
    Fixture f;
    CHECK(f.get("/off").status == 410);
    CHECK(f.get("/off").reason == Reason::disabled);
    CHECK(f.get("/gone").reason == Reason::deleted);
    CHECK(f.get("/old").reason == Reason::expired);
    CHECK(cache_control_string(f.get("/old")) == "max-age=30");
    // Not started: a 404 that no cache keeps, so none still says 404 once it starts, and the
    // body says nothing of where it will go.
    const Response soon = f.get("/soon");
    CHECK(soon.status == 404);
    CHECK(soon.reason == Reason::not_yet_valid);
    CHECK(cache_control_string(soon) == "no-store");
    CHECK_FALSE(soon.has_location());
    std::string out;
    write_response(out, soon, {}, "Thu, 01 Jan 2027 00:00:00 GMT");
    CHECK(out.find("dest.example") == std::string::npos);
    CHECK(out.find("<p>Not Found</p>") != std::string::npos);
}

TEST_CASE("ExpiringLinkCacheLifetimeEndsAtExpiry", "[answer]") {
    Fixture f;
    const Response r = f.get("/ending");
    CHECK(r.status == 302);
    CHECK(r.max_age_s == 100);
}

TEST_CASE("TimeIsAnArgument", "[answer]") {
    Fixture f;
    const Request req{Method::get, "/soon", ""};
    CHECK(detail::answer_from(&f.snap, nullptr, req, k_now).status == 404);
    CHECK(detail::answer_from(&f.snap, nullptr, req, k_now + 5).status == 302);
    const Request ending{Method::get, "/ending", ""};
    CHECK(detail::answer_from(&f.snap, nullptr, ending, k_now + 100).status == 410);
}

TEST_CASE("RootRedirectsToRootUrlOr404", "[answer]") {
    Fixture f;
    const Response r = f.get("/", "go.example.com");
    CHECK(r.status == 301);
    CHECK(location_string(r) == "https://www.example.com/");
    CHECK(location_string(f.get("/?a=b", "go.example.com")) == "https://www.example.com/?a=b");
    CHECK(f.get("/").status == 404);
    CHECK(f.get("http://go.example.com").status == 301);
}

TEST_CASE("MethodsOtherThanGetAndHeadAre405", "[answer]") {
    Fixture f;
    const Response r = detail::answer_from(&f.snap, nullptr, Request{Method::other, "/abc", ""}, k_now);
    CHECK(r.status == 405);
    const Response head = detail::answer_from(&f.snap, nullptr, Request{Method::head, "/abc", ""}, k_now);
    CHECK(head.status == 302);
    CHECK(head.head);
}

TEST_CASE("NoSnapshotIs503", "[answer]") {
    const Response r = answer(static_cast<const formats::Snapshot*>(nullptr), nullptr, Request{Method::get, "/abc", "x"}, k_now);
    CHECK(r.status == 503);
    CHECK(r.reason == Reason::no_snapshot);
    CHECK(cache_control_string(r) == "no-store");
}

TEST_CASE("UnknownHostWithoutDefaultDomainIs404", "[answer]") {
    FakeSnapshot snap;
    formats::DomainView g;
    g.host = "go.example.com";
    snap.add_domain(g);
    const Response r = detail::answer_from(&snap, nullptr, Request{Method::get, "/abc", "evil.example"}, k_now);
    CHECK(r.status == 404);
    CHECK(r.reason == Reason::unknown_host);
}

TEST_CASE("BadHostIs400", "[answer]") {
    Fixture f;
    CHECK(f.get("/abc", "user@host").status == 400);
    CHECK(f.get("/abc", "host:port").status == 400);
    CHECK(f.get("/abc", "ho st").status == 400);
    CHECK(f.get("/abc", "[::1]:80").status == 302);  // default domain answers
    CHECK(f.get("/abc", std::string(300, 'a')).status == 400);
}

TEST_CASE("OverlongCodeIs404WithoutLookup", "[answer]") {
    Fixture f;
    const std::string target = "/" + std::string(k_max_code_bytes + 1, 'a');
    CHECK(f.get(target).status == 404);
}

TEST_CASE("DamagedLazySnapshotAnswers503NotNotFound", "[answer]") {
    // A lazily loaded snapshot that failed a block digest refuses lookups; the answer must not
    // claim the link does not exist (a cacheable 404) but say the server cannot tell (503).
    Fixture f;
    f.snap.damage();
    const Response r = f.get("/abc", "short.example");
    CHECK(r.status == 503);
    CHECK(r.reason == Reason::snapshot_damaged);
    CHECK(cache_control_string(r) == "no-store");
    // The root URL comes from the domain table, proven before the snapshot was published.
    CHECK(f.get("/", "go.example.com").status == 301);
}

namespace {

// go.example.com and the default domain with the HTTPS policy switched on.
struct HttpsFixture : Fixture {
    HttpsFixture() {
        for (std::uint32_t i : {def, go}) {
            formats::DomainView d = snap.domain(i);
            d.https_redirect = true;
            d.hsts_max_age_s = 600;
            d.hsts_include_subdomains = i == go;
            snap.set_domain(i, d);
        }
    }
    Response plain(std::string_view target, std::string_view host = "") const {
        return detail::answer_from(&snap, nullptr, Request{Method::get, target, host, false}, k_now);
    }
    Response tls(std::string_view target, std::string_view host = "") const {
        return detail::answer_from(&snap, nullptr, Request{Method::get, target, host, true}, k_now);
    }
};

}  // namespace

TEST_CASE("HttpsRedirectOnPlainKeepsPathAndQuery", "[answer]") {
    HttpsFixture f;
    for (const auto& [target, host, location] : std::vector<std::tuple<std::string, std::string, std::string>>{
             {"/docs", "go.example.com", "https://go.example.com/docs"},
             {"/DOCS?a=1&b", "Go.Example.COM.:8080", "https://go.example.com/DOCS?a=1&b"},
             {"/unknown", "go.example.com", "https://go.example.com/unknown"},
             {"/", "go.example.com", "https://go.example.com/"},
             {"//evil.example/", "go.example.com", "https://go.example.com//evil.example/"},
             {"/q?x=\"<>", "go.example.com", "https://go.example.com/q?x=%22%3C%3E"},
             {"http://go.example.com:80/docs?x", "evil.example", "https://go.example.com/docs?x"},
             {"http://go.example.com", "", "https://go.example.com/"},
             {"http://go.example.com?x", "", "https://go.example.com/?x"},
             {"/abc", "Other.Example:81", "https://other.example/abc"},
             {"/abc", "[::1]:8080", "https://[::1]/abc"},
             {"/abc", "192.0.2.1", "https://192.0.2.1/abc"},
         }) {
        CAPTURE(target, host);
        const Response r = f.plain(target, host);
        CHECK(r.status == 308);
        CHECK(r.reason == Reason::https_redirect);
        CHECK(location_string(r) == location);
        CHECK(hsts_string(r).empty());
        std::string out;
        REQUIRE(write_response(out, r, {}, "D"));
        CHECK(out.find("\r\nLocation: " + location + "\r\n") != std::string::npos);
        CHECK(out.find("Strict-Transport-Security") == std::string::npos);
    }
}

TEST_CASE("HttpsRedirectAnswersEveryMethodAndOnlyThatAnswersThem", "[answer]") {
    HttpsFixture f;
    const Request post{Method::other, "/form?x=1", "go.example.com", false};
    const Response r = detail::answer_from(&f.snap, nullptr, post, k_now);
    CHECK(r.status == 308);
    CHECK(location_string(r) == "https://go.example.com/form?x=1");
    // Over TLS, and on a domain without the policy, other methods are still refused.
    CHECK(detail::answer_from(&f.snap, nullptr, Request{Method::other, "/docs", "go.example.com", true}, k_now).status == 405);
    Fixture plain;
    CHECK(detail::answer_from(&plain.snap, nullptr, Request{Method::other, "/docs", "go.example.com", false}, k_now).status == 405);
    CHECK(detail::answer_from(&plain.snap, nullptr, Request{Method::other, "/nope", "x.example", false}, k_now).status == 405);
    CHECK(detail::answer_from<decltype(plain.snap)>(nullptr, nullptr, Request{Method::other, "/docs", "go.example.com", false}, k_now).status == 405);
}

TEST_CASE("HttpsRedirectOfTheDefaultDomainNeedsAPlainHost", "[answer]") {
    HttpsFixture f;
    for (const char* host : {"a&b.example", "a'b", "a$b", "a=b", "a!b"}) {
        CAPTURE(host);
        const Response r = f.plain("/abc", host);
        CHECK(r.status == 400);
        CHECK_FALSE(r.has_location());
    }
    CHECK(f.plain("/abc", "a@b").status == 400);  // userinfo: refused by the Host check itself
}

TEST_CASE("HstsOnlyOverTlsAndOnEveryAnswerOfTheDomain", "[answer]") {
    HttpsFixture f;
    const Response r = f.tls("/docs", "go.example.com");
    CHECK(r.status == 301);
    CHECK(hsts_string(r) == "max-age=600; includeSubDomains");
    CHECK(hsts_string(f.tls("/nope", "go.example.com")) == "max-age=600; includeSubDomains");
    CHECK(f.tls("/nope", "go.example.com").status == 404);
    CHECK(hsts_string(f.tls("/abc", "x.example")) == "max-age=600");
    std::string out;
    REQUIRE(write_response(out, r, {}, "D"));
    CHECK(out.find("\r\nStrict-Transport-Security: max-age=600; includeSubDomains\r\n") != std::string::npos);
    // The plain listener never sends it, and an answer without a domain carries none.
    Fixture off;
    CHECK(hsts_string(detail::answer_from(&off.snap, nullptr, Request{Method::get, "/abc", "x", true}, k_now)).empty());
}

// The QR marker `shortlink qr` puts first in a query is recorded and never forwarded; anywhere
// else, or as a longer name, it is an ordinary parameter.
TEST_CASE("QrMarkerIsRemovedFromTheForwardedQuery", "[answer]") {
    Fixture f;
    Response r = f.get("/abc?sl_qr=1");
    CHECK(r.qr);
    CHECK(location_string(r) == "https://dest.example/a");
    r = f.get("/abc?SL_QR=1&utm=2");
    CHECK(r.qr);
    CHECK(location_string(r) == "https://dest.example/a?utm=2");
    r = f.get("/q?sl_qr&utm=2");
    CHECK(r.qr);
    CHECK(location_string(r) == "https://dest.example/q?x=1&utm=2");
    r = f.get("/abc?utm=2&sl_qr=1");
    CHECK_FALSE(r.qr);
    CHECK(location_string(r) == "https://dest.example/a?utm=2&sl_qr=1");
    r = f.get("/abc?sl_qrx=1");
    CHECK_FALSE(r.qr);
    CHECK(location_string(r) == "https://dest.example/a?sl_qrx=1");
    CHECK(f.get("/nope?sl_qr=1").qr);
}

// What the click log records of an answer: the domain that answered and the stored code, or the
// path as asked for a miss; views that outlive the answer's own parsing.
TEST_CASE("AnswerNamesItsDomainAndCode", "[answer]") {
    Fixture f;
    Response r = f.get("/DOCS?x=1", "Go.Example.COM:8080");
    CHECK(r.domain == "go.example.com");
    CHECK(r.code == "docs");
    CHECK_FALSE(r.root);
    r = f.get("/", "go.example.com");
    CHECK(r.root);
    CHECK(r.code.empty());
    r = f.get("/caf%C3%A9", "Short.Example");
    CHECK(r.domain == "Short.Example");  // the default domain: the host as asked
    CHECK(r.code == "caf\xc3\xa9");
    r = f.get("/no%20such/thing?q", "go.example.com");
    CHECK(r.reason == Reason::not_found);
    CHECK(r.code == "no%20such/thing");
    r = f.get("/off");
    CHECK(r.reason == Reason::disabled);
    CHECK(r.code == "off");
}

// A visitor's parameter replaces the destination's parameter of the same name (every one of
// them), unless the server keeps both; names match as written, case-sensitively.
TEST_CASE("ForwardedParametersReplaceTheDestinationsOfTheSameName", "[answer]") {
    Fixture f;
    f.snap.add_link(f.def, {"utm", "https://dest.example/p?utm_source=qr&id=7&utm_source=x&flag#top"});
    CHECK(location_string(f.get("/utm?utm_source=sms")) == "https://dest.example/p?id=7&flag&utm_source=sms#top");
    CHECK(location_string(f.get("/utm?flag=1&id=8")) == "https://dest.example/p?utm_source=qr&utm_source=x&flag=1&id=8#top");
    CHECK(location_string(f.get("/utm?UTM_SOURCE=a")) ==
          "https://dest.example/p?utm_source=qr&id=7&utm_source=x&flag&UTM_SOURCE=a#top");
    // Every parameter of the destination named again: the visitor's query alone.
    CHECK(location_string(f.get("/q?x=2")) == "https://dest.example/q?x=2");
    CHECK(location_string(f.get("/amp?x=2&y")) == "https://dest.example/f?x=2&y");
    CHECK(location_string(f.get("/q?utm=1")) == "https://dest.example/q?x=1&utm=1");
    // Raw bytes in the replacing parameter are still encoded.
    CHECK(location_string(f.get("/q?x=[1]")) == "https://dest.example/q?x=%5B1%5D");

    Request keep{Method::get, "/utm?utm_source=sms", ""};
    keep.keep_both_params = true;
    const Response both = detail::answer_from(&f.snap, nullptr, keep, k_now);
    CHECK(location_string(both) == "https://dest.example/p?utm_source=qr&id=7&utm_source=x&flag&utm_source=sms#top");

    // The server writes the same Location, in the header and in the body's link.
    std::string out;
    REQUIRE(write_response(out, f.get("/utm?utm_source=sms&a=<b>"), {}, "DATE"));
    CHECK(out.find("Location: https://dest.example/p?id=7&flag&utm_source=sms&a=%3Cb%3E#top\r\n") != std::string::npos);
    CHECK(out.find("href=\"https://dest.example/p?id=7&amp;flag&amp;utm_source=sms&amp;a=%3Cb%3E#top\"") !=
          std::string::npos);
}

namespace {

formats::RuleConditionInput condition(formats::RuleKind kind) {
    formats::RuleConditionInput c;
    c.kind = kind;
    return c;
}

std::string encode(const std::vector<formats::RuleInput>& rules) {
    auto bytes = formats::encode_rule_list(rules);
    REQUIRE(bytes.is_ok());
    return *bytes;
}

// A default domain whose links have rules of one kind each.
struct RulesFixture {
    FakeSnapshot snap;
    RulesFixture() {
        formats::DomainView d;
        d.host = "*";
        d.is_default = true;
        d.default_redirect = 302;
        d.cache_max_age_s = 300;
        d.negative_max_age_s = 30;
        const std::uint32_t def = snap.add_domain(d);
        formats::RuleConditionInput ios = condition(formats::RuleKind::device);
        ios.device_mask = 1;  // ios
        add(def, "app", {{308, "https://apps.example/ios", {ios}}});
        formats::RuleConditionInput fr = condition(formats::RuleKind::lang);
        fr.values = {"fr"};
        add(def, "docs", {{0, "https://docs.example/fr?v=1", {fr}}});
        formats::RuleConditionInput be = condition(formats::RuleKind::country);
        be.values = {"BE"};
        add(def, "shop", {{0, "https://shop.example/be", {be}}, {0, "https://shop.example/fr", {fr}}});
        formats::RuleConditionInput net = condition(formats::RuleKind::ip);
        net.networks.push_back({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 0, 104});
        add(def, "intra", {{0, "https://intra.example/", {net}}});
        formats::RuleConditionInput src = condition(formats::RuleKind::query);
        src.query_name = "src";
        src.query_value = "qr";
        src.has_query_value = true;
        add(def, "poster", {{0, "https://poster.example/", {src}}});
        formats::RuleConditionInput later = condition(formats::RuleKind::after);
        later.time = k_now + 60;
        add(def, "launch", {{0, "https://launch.example/", {later}}});
        formats::RuleConditionInput half = condition(formats::RuleKind::split);
        half.split_from = 0;
        half.split_to = 50;
        add(def, "ab", {{307, "https://ab.example/b", {half}}});
        formats::RuleConditionInput blocked_dest = condition(formats::RuleKind::query);
        blocked_dest.query_name = "evil";
        add(def, "mixed", {{0, "https://evil.example/x", {blocked_dest}}});
    }
    void add(std::uint32_t domain, std::string code, const std::vector<formats::RuleInput>& rules) {
        FakeLink l;
        l.code = code;
        l.destination = "https://default.example/" + code;
        l.rules = encode(rules);
        snap.add_link(domain, l);
    }
    Response get(std::string_view target, const ClientInput& client = {}, std::string_view country_header = {},
                 const formats::DenySet* deny = nullptr) const {
        Request request{Method::get, target, "short.example"};
        request.client = client;
        request.country_header = country_header;
        return detail::answer_from(&snap, deny, request, k_now);
    }
};

const std::string_view k_iphone_ua =
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

}  // namespace

TEST_CASE("RuleDestinationAndTypeAnswerAndDevicesArePrivate", "[answer][rules]") {
    RulesFixture f;
    ClientInput iphone;
    iphone.user_agent = k_iphone_ua;
    Response r = f.get("/app", iphone);
    CHECK(r.status == 308);
    CHECK(r.rule == 1);
    CHECK(location_string(r) == "https://apps.example/ios");
    CHECK(cache_control_string(r) == "private, max-age=300");
    CHECK(vary_string(r).empty());
    r = f.get("/app");  // no User-Agent: no rule holds, still a per-client answer
    CHECK(r.status == 302);
    CHECK(r.rule == 0);
    CHECK(location_string(r) == "https://default.example/app");
    CHECK(cache_control_string(r) == "private, max-age=300");
}

TEST_CASE("LanguageRulesVaryOnAcceptLanguageAndForwardTheQuery", "[answer][rules]") {
    RulesFixture f;
    ClientInput c;
    c.accept_language = "en;q=0.4, fr-BE";
    Response r = f.get("/docs?utm=x", c);
    CHECK(r.rule == 1);
    CHECK(location_string(r) == "https://docs.example/fr?v=1&utm=x");
    CHECK(cache_control_string(r) == "max-age=300");
    CHECK(vary_string(r) == "Accept-Language");
    c.accept_language = "fr;q=0.4, en";
    r = f.get("/docs", c);
    CHECK(r.rule == 0);
    CHECK(vary_string(r) == "Accept-Language");  // the answer depended on it all the same
}

TEST_CASE("CountryRulesReadOnlyTheTrustedHeader", "[answer][rules]") {
    RulesFixture f;
    ClientInput c;
    c.country = "BE";
    c.accept_language = "fr";
    Response r = f.get("/shop", c, "CF-IPCountry");
    CHECK(location_string(r) == "https://shop.example/be");
    CHECK(vary_string(r) == "Accept-Language, CF-IPCountry");
    CHECK(cache_control_string(r) == "max-age=300");
    // No header trusted: the parser keeps no country, and none is named in Vary. The answer
    // still depends on a country no cache can key on: private.
    c.country = {};
    r = f.get("/shop", c);
    CHECK(location_string(r) == "https://shop.example/fr");
    CHECK(r.rule == 2);
    CHECK(vary_string(r) == "Accept-Language");
    CHECK(cache_control_string(r) == "private, max-age=300");
}

TEST_CASE("ADomainsOwnCountryHeaderIsTheOnlyOneItsRulesRead", "[answer][rules]") {
    RulesFixture f;
    formats::DomainView eu;
    eu.host = "eu.example";
    eu.default_redirect = 302;
    eu.cache_max_age_s = 300;
    eu.country_header = "X-Country-Code";
    const std::uint32_t index = f.snap.add_domain(eu);
    formats::RuleConditionInput be = condition(formats::RuleKind::country);
    be.values = {"BE"};
    f.add(index, "shop", {{0, "https://shop.example/be", {be}}});
    const auto get = [&](std::string_view head, std::string_view parsed_country) {
        Request request{Method::get, "/shop", "eu.example"};
        request.country_header = "CF-IPCountry";  // the server's
        request.client.country = parsed_country;  // what the parser kept of the server's header
        request.head = head;
        return detail::answer_from(&f.snap, nullptr, request, k_now);
    };
    // The domain's header holds: the rule matches, and Vary names that header.
    Response r = get("GET /shop HTTP/1.1\r\nHost: eu.example\r\nx-country-code:  be \r\n\r\n", {});
    CHECK(location_string(r) == "https://shop.example/be");
    CHECK(vary_string(r) == "X-Country-Code");
    CHECK(cache_control_string(r) == "max-age=300");
    CHECK(r.domain_country_header == "X-Country-Code");
    // The server's header says BE, but this domain does not trust it.
    r = get("GET /shop HTTP/1.1\r\nHost: eu.example\r\nCF-IPCountry: BE\r\n\r\n", "BE");
    CHECK(location_string(r) == "https://default.example/shop");
    CHECK(vary_string(r) == "X-Country-Code");
    // A field that only looks like it, in a body after the head, is no header.
    r = get("POST /shop HTTP/1.1\r\nHost: eu.example\r\n\r\nX-Country-Code: BE\r\n", {});
    CHECK(location_string(r) == "https://default.example/shop");
    // The default domain keeps reading the server's header.
    ClientInput c;
    c.country = "BE";
    r = f.get("/shop", c, "CF-IPCountry");
    CHECK(location_string(r) == "https://shop.example/be");
    CHECK(r.domain_country_header.empty());
}

TEST_CASE("HeadFieldFindsTheFirstNonEmptyValueOfAFieldInTheHead", "[answer]") {
    const std::string_view head =
        "GET /x HTTP/1.1\r\nHost: a.example\r\nX-Geo:\r\nx-geo: \t DE\t\r\nX-Geo: FR\r\n\r\nX-Late: 1\r\n";
    CHECK(head_field(head, "X-Geo") == "DE");
    CHECK(head_field(head, "HOST") == "a.example");
    CHECK(head_field(head, "X-Late").empty());  // after the blank line: the body
    CHECK(head_field(head, "X-Ge").empty());
    CHECK(head_field(head, "").empty());
    CHECK(head_field("X-Geo: DE\r\n", "X-Geo").empty());  // the first line is the request line
    CHECK(head_field("GET / HTTP/1.1\nX-Geo: DE\n\n", "X-Geo") == "DE");  // bare LF lines
    CHECK(head_field("GET / HTTP/1.1\r\nX-Geo: DE", "X-Geo") == "DE");      // unterminated last line
    CHECK(head_field({}, "X-Geo").empty());
}

TEST_CASE("AddressQueryAndSplitRules", "[answer][rules]") {
    RulesFixture f;
    ClientInput c;
    c.has_address = true;
    c.address = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 9, 8, 7};
    Response r = f.get("/intra", c);
    CHECK(location_string(r) == "https://intra.example/");
    CHECK(cache_control_string(r) == "private, max-age=300");
    c.address[12] = 192;
    CHECK(location_string(f.get("/intra", c)) == "https://default.example/intra");

    r = f.get("/poster?src=qr");
    CHECK(location_string(r) == "https://poster.example/?src=qr");
    CHECK(cache_control_string(r) == "max-age=300");  // the query is the cache key already
    CHECK(vary_string(r).empty());
    CHECK(location_string(f.get("/poster?src=bus")) == "https://default.example/poster?src=bus");

    int b = 0;
    for (int i = 0; i < 400; ++i) {
        ClientInput v;
        const std::string ua = "visitor " + std::to_string(i);
        v.user_agent = ua;
        r = f.get("/ab", v);
        CHECK(cache_control_string(r) == "private, max-age=300");
        if (r.rule == 1) {
            CHECK(r.status == 307);
            CHECK(location_string(r) == "https://ab.example/b");
            ++b;
        } else {
            CHECK(r.status == 302);
        }
        CHECK(f.get("/ab", v).rule == r.rule);  // the same visitor, the same variant
    }
    CHECK(b > 150);
    CHECK(b < 250);
}

TEST_CASE("TimeRulesBoundTheCacheLifetime", "[answer][rules]") {
    RulesFixture f;
    const Response r = f.get("/launch");
    CHECK(r.rule == 0);
    CHECK(cache_control_string(r) == "max-age=60");  // the rule starts holding in 60 s
    Request request{Method::get, "/launch", "short.example"};
    const Response later = detail::answer_from(&f.snap, nullptr, request, k_now + 60);
    CHECK(later.rule == 1);
    CHECK(cache_control_string(later) == "max-age=300");
}

// A real snapshot: rules compiled by the builder, read from the mapping, with the deny set it
// carries; a rule's destination on a blocked host answers as blocked.
TEST_CASE("RulesFromARealSnapshotAndBlockedRuleDestinations", "[answer][rules]") {
    const formats::SigningKey key = test::test_key();
    compiler::SnapshotBuilder b;
    auto star = b.add_domain({.host = "*", .is_default = true, .cache_max_age_s = 120});
    formats::RuleConditionInput evil = condition(formats::RuleKind::query);
    evil.query_name = "evil";
    formats::RuleConditionInput ios = condition(formats::RuleKind::device);
    ios.device_mask = 1;
    const std::string rules = encode({{0, "https://evil.example/x", {evil}}, {301, "https://apps.example/", {ios}}});
    REQUIRE(b.add_link({.domain = *star, .code = "mixed", .destination = "https://a.example/", .rules = rules}));
    REQUIRE(b.add_link({.domain = *star, .code = "plain", .destination = "https://a.example/plain"}));
    REQUIRE(b.set_deny({{formats::DenyKind::destination, "evil.example", ""}}));
    auto compiled = std::move(b).build();
    REQUIRE(compiled);
    test::TempDir dir;
    const std::string path = dir.path + "/links-1.slsnap";
    REQUIRE(compiled->write_file(path, {.serial = 1, .created_at = 1}, key));
    auto opened = formats::Snapshot::open_buffer(test::read_file(path), {key.trusted()});
    REQUIRE(opened);
    const formats::Snapshot& snap = **opened;
    const auto get = [&](std::string_view target, std::string_view ua = {}) {
        Request request{Method::get, target, "short.example"};
        request.client.user_agent = ua;
        return answer(&snap, &snap.deny(), request, k_now);
    };
    Response r = get("/mixed");
    CHECK(r.status == 302);
    CHECK(location_string(r) == "https://a.example/");
    CHECK(cache_control_string(r) == "private, max-age=120");
    r = get("/mixed", k_iphone_ua);
    CHECK(r.status == 301);
    CHECK(r.rule == 2);
    CHECK(location_string(r) == "https://apps.example/");
    r = get("/mixed?evil=1", k_iphone_ua);
    CHECK(r.status == 410);
    CHECK(r.reason == Reason::blocked);
    CHECK(cache_control_string(r) == "no-store");
    r = get("/plain", k_iphone_ua);
    CHECK(r.rule == 0);
    CHECK(cache_control_string(r) == "max-age=120");
}

namespace {

// A domain with every policy of section 8 set, and links that end in each way.
struct PolicyFixture {
    FakeSnapshot snap;
    std::uint32_t pol;
    std::uint32_t plain;
    PolicyFixture() {
        formats::DomainView d;
        d.host = "pol.example";
        d.default_redirect = 301;
        d.cache_max_age_s = 604800;  // a week, above the cap
        d.negative_max_age_s = 20;
        d.not_found_url = "https://pol.example/search";
        d.expired_url = "https://pol.example/ended";
        d.not_found_text = "No such link <here> & nowhere";
        d.gone_text = "This campaign is over.";
        d.permanent_max_age_s = 86400;
        d.stale_while_revalidate_s = 30;
        d.stale_if_error_s = 600;
        d.cache_scope = formats::format::k_cache_scope_public;
        pol = snap.add_domain(d);
        formats::DomainView p;
        p.host = "plain.example";
        p.default_redirect = 302;
        p.cache_max_age_s = 300;
        p.negative_max_age_s = 20;
        p.not_found_text = "Nothing here.";
        p.gone_text = "Gone for good.";
        p.cache_scope = formats::format::k_cache_scope_private;
        plain = snap.add_domain(p);
        snap.add_link(pol, {"perm", "https://dest.example/perm", formats::LinkState::active, 301});
        snap.add_link(pol, {"temp", "https://dest.example/temp", formats::LinkState::active, 302});
        snap.add_link(pol, {"old", "https://dest.example/old", formats::LinkState::active, 302, true, 0, k_now - 1});
        snap.add_link(pol, {"off", "https://dest.example/off", formats::LinkState::disabled, 302});
        FakeLink own{"own", "https://dest.example/own", formats::LinkState::active, 302, true, 0, k_now - 1};
        auto list = formats::encode_rule_list({}, nullptr, "https://own.example/after");
        REQUIRE(list.is_ok());
        own.rules = *list;
        snap.add_link(pol, own);
        snap.add_link(pol, {"reserved", "https://dest.example/secret", formats::LinkState::active, 302, true,
                            formats::k_reserved_not_before, 0});
        snap.add_link(plain, {"old", "https://dest.example/old", formats::LinkState::active, 302, true, 0, k_now - 1});
        snap.add_link(plain, {"live", "https://dest.example/live", formats::LinkState::active, 302});
    }
    Response get(std::string_view target, std::string_view host) const {
        return detail::answer_from(&snap, nullptr, Request{Method::get, target, host}, k_now);
    }
};

// A default domain with a password link ("secret", no rules) and a split link ("ab"), and the
// requests a browser sends them.
struct PasswordFixture {
    FakeSnapshot snap;
    formats::PasswordHash hash;
    CookieKey key = CookieKey::generate();
    PasswordFixture() {
        formats::DomainView d;
        d.host = "*";
        d.is_default = true;
        d.default_redirect = 302;
        d.cache_max_age_s = 300;
        d.negative_max_age_s = 30;
        const std::uint32_t def = snap.add_domain(d);
        auto h = formats::hash_password("pw", formats::k_scrypt_min_log2_n, 1, 1);
        REQUIRE(h);
        hash = *h;
        auto list = formats::encode_rule_list({}, &hash);
        REQUIRE(list);
        FakeLink secret;
        secret.code = "secret";
        secret.destination = "https://dest.example/secret";
        secret.rules = *list;
        snap.add_link(def, secret);
        formats::RuleConditionInput half;
        half.kind = formats::RuleKind::split;
        half.split_from = 0;
        half.split_to = 50;
        FakeLink ab;
        ab.code = "ab";
        ab.destination = "https://default.example/ab";
        ab.rules = encode({{0, "https://ab.example/a", {half}}});
        snap.add_link(def, ab);
    }
    Response ask(Method method, std::string_view target, std::string_view cookie = {}, std::string_view type = {},
                 std::string_view user_agent = {}) const {
        Request request{method, target, "short.example"};
        request.cookie = cookie;
        request.content_type = type;
        request.cookie_key = &key;
        request.client.user_agent = user_agent;
        return detail::answer_from(&snap, nullptr, request, k_now);
    }
};

}  // namespace

TEST_CASE("PermanentRedirectsAreCappedAndCarryTheDomainsCacheDirectives", "[answer][policy]") {
    PolicyFixture f;
    Response r = f.get("/perm", "pol.example");
    CHECK(r.status == 301);
    CHECK(cache_control_string(r) == "public, max-age=86400, stale-while-revalidate=30, stale-if-error=600");
    r = f.get("/temp", "pol.example");  // not permanent: the domain's own lifetime
    CHECK(cache_control_string(r) == "public, max-age=604800, stale-while-revalidate=30, stale-if-error=600");
    r = f.get("/live", "plain.example");  // private scope: no stale directive, nothing public
    CHECK(cache_control_string(r) == "private, max-age=300");
}

TEST_CASE("UnknownCodesGoToTheNotFoundUrlWithoutTheQuery", "[answer][policy]") {
    PolicyFixture f;
    Response r = f.get("/nope?utm=1", "pol.example");
    CHECK(r.status == 302);
    CHECK(r.reason == Reason::not_found);  // counted as a miss
    CHECK(location_string(r) == "https://pol.example/search");
    // As short-lived as the 404 it replaces, and never stale.
    CHECK(cache_control_string(r) == "public, max-age=20");
    // "/" without a root URL is no unknown code.
    CHECK(f.get("/", "pol.example").status == 404);
}

TEST_CASE("EndedLinksGoToTheirOwnExpiredUrlThenTheDomains", "[answer][policy]") {
    PolicyFixture f;
    Response r = f.get("/own", "pol.example");
    CHECK(r.status == 302);
    CHECK(r.reason == Reason::expired);
    CHECK(location_string(r) == "https://own.example/after");
    CHECK(cache_control_string(r) == "public, max-age=20");
    r = f.get("/old", "pol.example");
    CHECK(location_string(r) == "https://pol.example/ended");
    r = f.get("/off", "pol.example");
    CHECK(r.status == 302);
    CHECK(r.reason == Reason::disabled);
    CHECK(location_string(r) == "https://pol.example/ended");
}

TEST_CASE("PageTextsAreTheBodiesOf404And410EscapedForHtml", "[answer][policy]") {
    PolicyFixture f;
    Response r = f.get("/old", "plain.example");
    CHECK(r.status == 410);
    CHECK(body_text(r) == "Gone for good.");
    CHECK(cache_control_string(r) == "private, max-age=20");
    r = f.get("/nope", "plain.example");
    CHECK(r.status == 404);
    CHECK(body_text(r) == "Nothing here.");
    // A not-started link on a domain with a fallback URL still answers 404, with the text.
    r = f.get("/reserved", "pol.example");
    CHECK(r.status == 404);
    CHECK(r.reason == Reason::not_yet_valid);
    CHECK(cache_control_string(r) == "no-store");
    std::string out;
    REQUIRE(write_response(out, r, {}, "Thu, 01 Jan 2027 00:00:00 GMT"));
    CHECK(out.find("<p>No such link &lt;here&gt; &amp; nowhere</p>\n") != std::string::npos);
    CHECK(out.find("secret") == std::string::npos);
    const std::size_t body = out.find("\r\n\r\n") + 4;
    CHECK(out.find("Content-Length: " + std::to_string(out.size() - body) + "\r\n") != std::string::npos);
}

TEST_CASE("RuleAnswersKeepTheirPrivacyUnderADomainPolicy", "[answer][policy][rules]") {
    FakeSnapshot snap;
    formats::DomainView d;
    d.host = "*";
    d.is_default = true;
    d.default_redirect = 308;
    d.cache_max_age_s = 604800;
    d.negative_max_age_s = 20;
    d.permanent_max_age_s = 3600;
    d.stale_if_error_s = 600;
    d.cache_scope = formats::format::k_cache_scope_public;
    const std::uint32_t def = snap.add_domain(d);
    formats::RuleConditionInput ios = condition(formats::RuleKind::device);
    ios.device_mask = 1;
    FakeLink l{"app", "https://default.example/app", formats::LinkState::active, 308};
    l.rules = encode({{0, "https://apps.example/ios", {ios}}});
    snap.add_link(def, l);
    formats::RuleConditionInput fr = condition(formats::RuleKind::lang);
    fr.values = {"fr"};
    FakeLink docs{"docs", "https://default.example/docs", formats::LinkState::active, 308};
    docs.rules = encode({{0, "https://docs.example/fr", {fr}}});
    snap.add_link(def, docs);
    Response r = detail::answer_from(&snap, nullptr, Request{Method::get, "/app", "x.example"}, k_now);
    // Capped, but private and without any stale directive: no cache may hand it to another.
    CHECK(cache_control_string(r) == "private, max-age=3600");
    r = detail::answer_from(&snap, nullptr, Request{Method::get, "/docs", "x.example"}, k_now);
    CHECK(cache_control_string(r) == "public, max-age=3600, stale-if-error=600");
    CHECK(vary_string(r) == "Accept-Language");
}

TEST_CASE("PasswordLinkAnswersItsFormUnlessACookieSaysOtherwise", "[answer][password]") {
    PasswordFixture f;
    Response r = f.ask(Method::get, "/secret");
    CHECK(r.status == 200);
    CHECK(r.reason == Reason::password_form);
    CHECK(cache_control_string(r) == "no-store");
    CHECK_FALSE(r.has_location());
    REQUIRE(r.password != nullptr);
    CHECK(r.link_host == "*");
    CHECK(f.ask(Method::head, "/secret").head);
    std::string block;
    formats::append_password_block(block, f.hash);
    const std::string cookie = "sl_pw=" + password_cookie_value(f.key, "*", "secret",
                                                               reinterpret_cast<const std::uint8_t*>(block.data()),
                                                               k_now + 60);
    r = f.ask(Method::get, "/secret?a=1", cookie);
    CHECK(r.status == 302);
    CHECK(r.reason == Reason::redirect);
    CHECK(location_string(r) == "https://dest.example/secret?a=1");
    CHECK(cache_control_string(r) == "no-store");  // it depends on the cookie
    CHECK(r.password != nullptr);                  // still no-referrer
    CHECK(f.ask(Method::get, "/secret", cookie + "x").reason == Reason::password_form);
    // Expired at k_now + 60.
    Request later{Method::get, "/secret", "short.example"};
    later.cookie = cookie;
    later.cookie_key = &f.key;
    CHECK(detail::answer_from(&f.snap, nullptr, later, k_now + 60).reason == Reason::password_form);
    // Without a key nothing is valid.
    Request keyless{Method::get, "/secret", "short.example"};
    keyless.cookie = cookie;
    CHECK(detail::answer_from(&f.snap, nullptr, keyless, k_now).reason == Reason::password_form);
}

TEST_CASE("PasswordLinkPostIsHandedToTheCheckAndOthersRefuseIt", "[answer][password]") {
    PasswordFixture f;
    Response r = f.ask(Method::post, "/secret?a=1", {}, "application/x-www-form-urlencoded; charset=UTF-8");
    CHECK(r.reason == Reason::password_check);
    CHECK(r.status == 303);
    CHECK(location_string(r) == "https://dest.example/secret?a=1");
    CHECK(cache_control_string(r) == "no-store");
    CHECK(r.password != nullptr);
    for (std::string_view type : {"", "text/plain", "application/json", "multipart/form-data; boundary=x",
                                  "application/x-www-form-urlencodedx"}) {
        INFO(type);
        r = f.ask(Method::post, "/secret", {}, type);
        CHECK(r.status == 415);
        CHECK(r.reason == Reason::unsupported_media_type);
    }
    CHECK(f.ask(Method::post, "/ab", {}, "application/x-www-form-urlencoded").status == 405);
    CHECK(f.ask(Method::post, "/", {}, "application/x-www-form-urlencoded").status == 405);
    CHECK(f.ask(Method::post, "/missing", {}, "application/x-www-form-urlencoded").status == 405);
    CHECK(f.ask(Method::other, "/secret").status == 405);
}

TEST_CASE("SplitCookieKeepsTheShareAndIsOfferedWithoutOne", "[answer][password]") {
    PasswordFixture f;
    // Two visitors on different variants.
    std::string ua_a;
    std::string ua_b;
    for (int i = 0; i < 200 && (ua_a.empty() || ua_b.empty()); ++i) {
        const std::string ua = "visitor " + std::to_string(i);
        (f.ask(Method::get, "/ab", {}, {}, ua).rule == 1 ? ua_a : ua_b) = ua;
    }
    REQUIRE_FALSE(ua_a.empty());
    REQUIRE_FALSE(ua_b.empty());
    Response a = f.ask(Method::get, "/ab", {}, {}, ua_a);
    CHECK(a.split_cookie);
    CHECK(a.split_share < 50);
    const std::string cookie = "sl_split=" + split_cookie_value(f.key, "*", "ab", a.split_share);
    Response b_with_a = f.ask(Method::get, "/ab", cookie, {}, ua_b);
    CHECK(b_with_a.rule == 1);
    CHECK_FALSE(b_with_a.split_cookie);
    CHECK(b_with_a.split_share == a.split_share);
    Response forged = f.ask(Method::get, "/ab", "sl_split=10." + std::string(64, '0'), {}, ua_b);
    CHECK(forged.rule == 0);
    CHECK(forged.split_cookie);
}
