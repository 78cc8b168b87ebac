// The one link object and domain object of every command (cli/output.h): field order, time
// format, which fields each source has, history's images in the same schema, diff's value text.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "cli/output.h"

using namespace shortlink;
using namespace shortlink::cli;

namespace {

store::Link sample_link() {
    store::Link l;
    l.host = "go.example.com";
    l.code = "spring";
    l.destination = "https://example.com/spring?a=\"b\"";
    l.status = store::LinkState::active;
    l.expires = 1764743623;  // 2025-12-03T06:33:43Z
    l.tags = {"a", "b"};
    l.version = 3;
    l.created_at = 1764700000;
    l.updated_at = 1764743600;
    return l;
}

}  // namespace

TEST_CASE("StoredLinkHasEveryFieldInOrder", "[output]") {
    const store::Link link = sample_link();
    store::DomainRecord domain;
    domain.host = link.host;
    domain.default_redirect = 301;
    domain.forward_query = false;
    CHECK(link_json(link_fields(link, domain, 1764743622)) ==
          R"({"domain":"go.example.com","code":"spring","url":"https://example.com/spring?a=\"b\"",)"
          R"("status":"active","state":"active","type":null,"forward_query":null,"effective_type":301,)"
          R"("effective_forward_query":false,"not_before":null,"expires":"2025-12-03T06:33:43Z","reserved":false,)"
          R"("expired_url":null,"tags":["a","b"],)"
          R"("rules":[],"password":false,"title":null,"version":3,"created_at":"2025-12-02T18:26:40Z","updated_at":"2025-12-03T06:33:20Z",)"
          R"("short_url":"https://go.example.com/spring"})");
    store::Link titled = link;
    titled.title = "Spring \"sale\" \xe2\x80\x94 caf\xc3\xa9";
    CHECK_THAT(link_json(link_fields(titled, domain, 1764743622)),
               Catch::Contains(R"("tags":["a","b"],"rules":[],"password":false,"title":"Spring \"sale\" )" "\xe2\x80\x94 caf\xc3\xa9" R"(","version":3,)"));
    // From the expiry second on the link is expired; its own type wins over the domain's.
    store::Link own = link;
    own.redirect_type = 307;
    own.forward_query = 1;
    const std::string json = link_json(link_fields(own, domain, 1764743623));
    CHECK_THAT(json, Catch::Contains(R"("state":"expired","type":307,"forward_query":true,"effective_type":307,)"
                                     R"("effective_forward_query":true,)"));
}

TEST_CASE("DefaultDomainLinkHasAPathShortUrl", "[output]") {
    store::Link link = sample_link();
    link.host = "*";
    CHECK_THAT(link_json(link_fields(link, store::DomainRecord{}, 0)), Catch::EndsWith(R"("short_url":"/spring"})"));
}

TEST_CASE("DomainObjectNamesAndPatchFlag", "[output]") {
    store::DomainRecord d;
    d.host = "go.example.com";
    d.root_url = "https://example.com/";
    d.hsts_max_age_s = 31536000;
    const std::string base =
        R"({"host":"go.example.com","is_default":false,"default_type":302,"root_url":"https://example.com/",)"
        R"("case_insensitive":false,"forward_query":true,"cache_max_age":300,"negative_max_age":60,)"
        R"("https_redirect":false,"hsts_max_age":31536000,"hsts_include_subdomains":false,"not_found_url":"",)"
        R"("expired_url":"","not_found_text":"","gone_text":"","permanent_max_age":86400,"stale_while_revalidate":0,)"
        R"("stale_if_error":0,"cache_scope":"none","miss_budget":0,"country_header":"")";
    CHECK(domain_json(d) == base + "}");
    CHECK(domain_json(d, true) == base + R"(,"complete":true})");
}

TEST_CASE("HistoryImagesUseTheSchema", "[output]") {
    store::AuditRecord r;
    r.id = 7;
    r.at = 1764743623;
    r.actor = "ana";
    r.action = "edit";
    r.host = "go.example.com";
    r.code = "spring";
    r.before_json = R"({"host":"go.example.com","code":"spring","url":"https://example.com/a","status":"active",)"
                    R"("type":0,"forward_query":-1,"not_before":0,"expires":1764743623,"tags":["x"],"version":1})";
    r.after_json = R"({"host":"go.example.com","code":"spring","url":"https://example.com/b","status":"disabled",)"
                   R"("type":308,"forward_query":0,"not_before":1764700000,"expires":0,"tags":[],"title":"Spring",)"
                   R"("version":2,"rules":[{"if":["device=ios"],"to":"https://example.com/i","type":null}]})";
    CHECK(audit_json(r) ==
          R"({"id":7,"at":"2025-12-03T06:33:43Z","actor":"ana","action":"edit","domain":"go.example.com",)"
          R"("code":"spring","before":{"domain":"go.example.com","code":"spring","url":"https://example.com/a",)"
          R"("status":"active","type":null,"forward_query":null,"not_before":null,)"
          R"("expires":"2025-12-03T06:33:43Z","reserved":false,"expired_url":null,"tags":["x"],"rules":[],"password":false,)"
          R"("title":null,"version":1,)"
          R"("short_url":"https://go.example.com/spring"},)"
          R"("after":{"domain":"go.example.com","code":"spring","url":"https://example.com/b","status":"disabled",)"
          R"("type":308,"forward_query":false,"not_before":"2025-12-02T18:26:40Z","expires":null,"reserved":false,)"
          R"("expired_url":null,"tags":[],)"
          R"("rules":[{"if":["device=ios"],"to":"https://example.com/i","type":null}],"password":false,"title":"Spring","version":2,)"
          R"("short_url":"https://go.example.com/spring"}})");

    store::AuditRecord d;
    d.action = "domain-set";
    d.host = "go.example.com";
    d.after_json = R"({"host":"go.example.com","default_redirect":301,"root_url":"","case_insensitive":true,)"
                   R"("forward_query":false,"cache_max_age_s":60,"negative_max_age_s":10,"https_redirect":true,)"
                   R"("hsts_max_age_s":5,"hsts_include_subdomains":true})";
    CHECK_THAT(audit_json(d),
               Catch::Contains(R"("after":{"host":"go.example.com","is_default":false,"default_type":301,)"
                               R"("root_url":"","case_insensitive":true,"forward_query":false,"cache_max_age":60,)"
                               R"("negative_max_age":10,"https_redirect":true,"hsts_max_age":5,)"
                               R"("hsts_include_subdomains":true,"not_found_url":"",)"));
    // An image from before domain policies reads as the defaults it had; a later one as written.
    CHECK_THAT(audit_json(d), Catch::Contains(R"("permanent_max_age":86400,"stale_while_revalidate":0,)"));
    d.after_json = R"({"host":"go.example.com","default_redirect":301,"root_url":"","case_insensitive":true,)"
                   R"("forward_query":false,"cache_max_age_s":60,"negative_max_age_s":10,"https_redirect":true,)"
                   R"("hsts_max_age_s":5,"hsts_include_subdomains":true,"not_found_url":"https://e.example/",)"
                   R"("expired_url":"","not_found_text":"","gone_text":"Over.","cache_scope":"private",)"
                   R"("permanent_max_age_s":3600,"stale_while_revalidate_s":0,"stale_if_error_s":60,"miss_budget":9,"country_header":"X-Geo"})";
    CHECK_THAT(audit_json(d),
               Catch::Contains(R"("not_found_url":"https://e.example/","expired_url":"","not_found_text":"",)"
                               R"("gone_text":"Over.","permanent_max_age":3600,"stale_while_revalidate":0,)"
                               R"("stale_if_error":60,"cache_scope":"private","miss_budget":9,"country_header":"X-Geo"})"));
}

TEST_CASE("HistoryKeepsOtherImagesAsStored", "[output]") {
    store::AuditRecord block;
    block.action = "block";
    block.after_json = R"({"kind":"link","host":"go.example.com","code":"x","reason":"phishing"})";
    CHECK_THAT(audit_json(block), Catch::Contains(R"("after":{"kind":"link","host":"go.example.com","code":"x",)"
                                                  R"("reason":"phishing"})"));
    // A link image of another shape (a missing or mistyped field) is not half translated.
    store::AuditRecord odd;
    odd.action = "edit";
    odd.after_json = R"({"host":"h","code":"c","url":"u","status":"active","type":"302"})";
    CHECK_THAT(audit_json(odd), Catch::Contains(R"("after":{"host":"h","code":"c","url":"u","status":"active",)"
                                                R"("type":"302"})"));
    odd.after_json = R"({"host":"h","code":"c","url":"u","status":"paused","type":0,"forward_query":-1,)"
                     R"("not_before":0,"expires":0,"tags":[],"version":1})";
    CHECK_THAT(audit_json(odd), Catch::Contains(R"("status":"paused")"));
}

TEST_CASE("JsonValueTextForDiff", "[output]") {
    CHECK(json_value_text(R"("https://example.com/")") == "https://example.com/");
    CHECK(json_value_text("null") == "-");
    CHECK(json_value_text("301") == "301");
    CHECK(json_value_text("false") == "false");
    CHECK(json_value_text(R"(["a","b"])") == "a,b");
    CHECK(json_value_text("[]") == "-");
    CHECK(json_value_text(R"("")") == "-");
}
