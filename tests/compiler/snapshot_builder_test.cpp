// Round trip: links compiled by SnapshotBuilder are found by the reader with every field, and
// foreign keys miss. Randomized parts print their seed (set SHORTLINK_TEST_SEED to replay).
#include "compiler/snapshot_builder.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <set>

#include <catch2/catch.hpp>

#include "tests/formats/snapshot_fixture.h"

using namespace shortlink;
using namespace shortlink::compiler;
using shortlink::formats::LinkState;

TEST_CASE("RoundTripRandomLinksAndForeignKeysMiss", "[builder]") {
    const std::uint64_t seed = test::random_seed();
    std::mt19937_64 rng(seed);
    test::TempDir dir;
    auto key = test::test_key();

    SnapshotBuilder builder;
    auto def = builder.add_domain({.host = "*", .root_url = "https://root.example/",
                                   .default_redirect = 302, .is_default = true});
    auto other = builder.add_domain({.host = "go.example", .default_redirect = 301,
                                     .case_insensitive = true, .forward_query = false,
                                     .cache_max_age_s = 60, .negative_max_age_s = 5,
                                     .https_redirect = true, .hsts_max_age_s = 31536000,
                                     .hsts_include_subdomains = true});
    REQUIRE(def);
    REQUIRE(other);
    struct Expect {
        std::uint32_t domain;
        std::string code;
        std::string dest;
        LinkState status;
        std::uint16_t redirect;
        bool forward;
        std::int64_t nb, ex;
    };
    std::vector<Expect> expected;
    std::set<std::pair<std::uint32_t, std::string>> seen;
    const int n = 20000;
    for (int i = 0; i < n; ++i) {
        const std::uint32_t dom = (rng() % 3 == 0) ? *other : *def;
        std::string code = test::random_code(rng, 1 + rng() % 12);
        if (dom == *other) {
            for (char& c : code) {
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            }
        }
        if (!seen.insert({dom, code}).second) {
            continue;
        }
        Expect e{dom, code, "https://dest.example/" + test::random_code(rng, 10 + rng() % 60),
                 static_cast<LinkState>(rng() % 3), 0, true, 0, 0};
        const std::uint16_t types[] = {0, 301, 302, 307, 308};
        const std::uint16_t t = types[rng() % 5];
        const int fwd = static_cast<int>(rng() % 3) - 1;
        if (rng() % 4 == 0) {
            e.nb = static_cast<std::int64_t>(rng() % 2000000000);
            e.ex = e.nb + 3600;
        }
        REQUIRE(builder.add_link({.domain = dom, .code = code, .destination = e.dest,
                                  .status = e.status, .redirect_type = t, .forward_query = fwd,
                                  .not_before = e.nb, .expires = e.ex}));
        e.redirect = t != 0 ? t : (dom == *other ? 301 : 302);
        e.forward = fwd >= 0 ? fwd == 1 : (dom == *def);
        expected.push_back(e);
    }
    auto compiled = std::move(builder).build();
    REQUIRE(compiled);
    const std::string path = dir.path + "/links-7.slsnap";
    auto written = compiled->write_file(path, {.serial = 7, .created_at = 1700000000}, key);
    REQUIRE(written);
    auto snap = formats::Snapshot::open(path, {key.trusted()});
    INFO(snap.status().to_string());
    REQUIRE(snap);
    const auto& s = **snap;
    CHECK(s.serial() == 7);
    CHECK(s.link_count() == expected.size());
    CHECK(s.domain_count() == 2);
    // Domain indices are host ranks: "*" < "go.example".
    REQUIRE(s.find_domain("go.example") == std::optional<std::uint32_t>(1));
    REQUIRE(s.find_domain("unknown.example") == std::optional<std::uint32_t>(0));
    CHECK(s.domain(1).cache_max_age_s == 60);
    CHECK(s.domain(1).https_redirect);
    CHECK(s.domain(1).hsts_max_age_s == 31536000);
    CHECK(s.domain(1).hsts_include_subdomains);
    CHECK_FALSE(s.domain(0).https_redirect);
    CHECK(s.domain(0).hsts_max_age_s == 0);
    CHECK_FALSE(s.domain(0).hsts_include_subdomains);
    CHECK(s.domain(0).root_url == "https://root.example/");
    for (const Expect& e : expected) {
        const std::uint32_t index = e.domain == *def ? 0 : 1;
        auto v = s.lookup(index, e.code);
        INFO("seed " << seed << " code " << e.code);
        REQUIRE(v);
        CHECK(v->code == e.code);
        CHECK(v->destination == e.dest);
        CHECK(v->status == e.status);
        CHECK(v->redirect_type == e.redirect);
        CHECK(v->forward_query == e.forward);
        CHECK(v->not_before == e.nb);
        CHECK(v->expires == e.ex);
        CHECK(v->domain_index == index);
    }
    int misses = 0;
    for (int i = 0; i < 100000; ++i) {
        const std::uint32_t index = static_cast<std::uint32_t>(rng() % 2);
        std::string code = test::random_code(rng, 1 + rng() % 14);
        const std::uint32_t handle = index == 0 ? *def : *other;
        if (seen.count({handle, code}) != 0) {
            continue;
        }
        misses += s.lookup(index, code) ? 0 : 1;
        REQUIRE_FALSE(s.lookup(index, code));
    }
    CHECK(misses > 90000);
    std::uint64_t visited = 0;
    CHECK(s.for_each_link([&](const formats::LinkView&) { ++visited; }));
    CHECK(visited == expected.size());
    // Size target: key + destination + 24 bytes per link, plus a fixed header allowance.
    std::uint64_t payload = 0;
    for (const Expect& e : expected) {
        payload += e.code.size() + e.dest.size() + (e.nb != 0 ? 16 : 0);
    }
    CHECK(s.file_size() <= payload + 24 * expected.size() + 4096);
}

TEST_CASE("EmptyDatabaseCompilesAndMissesEverything", "[builder]") {
    test::TempDir dir;
    auto key = test::test_key();
    SnapshotBuilder builder;
    auto compiled = std::move(builder).build();
    REQUIRE(compiled);
    const std::string path = dir.path + "/links-1.slsnap";
    REQUIRE(compiled->write_file(path, {.serial = 1}, key));
    auto snap = formats::Snapshot::open(path, {key.trusted()});
    REQUIRE(snap);
    CHECK((*snap)->link_count() == 0);
    CHECK((*snap)->domain_count() == 0);
    CHECK_FALSE((*snap)->find_domain("x.example"));
    CHECK_FALSE((*snap)->lookup(0, "abc"));
}

TEST_CASE("SingleLinkDomain", "[builder]") {
    test::TempDir dir;
    auto key = test::test_key();
    SnapshotBuilder builder;
    auto d = builder.add_domain({.host = "one.example"});
    REQUIRE(d);
    REQUIRE(builder.add_link({.domain = *d, .code = "x", .destination = "https://x.example/"}));
    auto compiled = std::move(builder).build();
    REQUIRE(compiled);
    const std::string path = dir.path + "/links-1.slsnap";
    REQUIRE(compiled->write_file(path, {.serial = 1}, key));
    auto snap = formats::Snapshot::open(path, {key.trusted()});
    REQUIRE(snap);
    auto v = (*snap)->lookup(0, "x");
    REQUIRE(v);
    CHECK(v->destination == "https://x.example/");
    CHECK_FALSE((*snap)->lookup(0, "y"));
    CHECK_FALSE((*snap)->find_domain("other.example"));  // no default domain
}

TEST_CASE("KeysWithSlashAndMultibyteUtf8", "[builder]") {
    test::TempDir dir;
    auto key = test::test_key();
    SnapshotBuilder builder;
    auto d = builder.add_domain({.host = "*", .is_default = true, .case_insensitive = true});
    REQUIRE(d);
    const std::vector<std::string> codes = {"a/b", "docs/v2/intro", "caf\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac",
                                            "\xf0\x9f\x98\x80", "@scope/name", "x.y-z_w"};
    for (const auto& c : codes) {
        REQUIRE(builder.add_link({.domain = *d, .code = c, .destination = "https://d.example/" + c}));
    }
    REQUIRE(builder.add_link({.domain = *d, .code = "MiXeD", .destination = "https://m.example/"}));
    auto compiled = std::move(builder).build();
    REQUIRE(compiled);
    const std::string path = dir.path + "/links-1.slsnap";
    REQUIRE(compiled->write_file(path, {.serial = 1}, key));
    auto snap = formats::Snapshot::open(path, {key.trusted()});
    REQUIRE(snap);
    for (const auto& c : codes) {
        auto v = (*snap)->lookup(0, c);
        REQUIRE(v);
        CHECK(v->destination == "https://d.example/" + c);
    }
    CHECK((*snap)->lookup(0, "mixed"));       // folded at compile time
    CHECK_FALSE((*snap)->lookup(0, "MiXeD"));  // the server folds the request code
    CHECK_FALSE((*snap)->lookup(0, "a/"));
}

TEST_CASE("DuplicateAfterCaseFoldingIsAConflict", "[builder]") {
    SnapshotBuilder builder;
    auto d = builder.add_domain({.host = "*", .is_default = true, .case_insensitive = true});
    REQUIRE(d);
    REQUIRE(builder.add_link({.domain = *d, .code = "Abc", .destination = "https://a.example/"}));
    REQUIRE(builder.add_link({.domain = *d, .code = "aBC", .destination = "https://b.example/"}));
    auto compiled = std::move(builder).build();
    REQUIRE_FALSE(compiled);
    CHECK(compiled.status().code() == Status::Code::conflict);
    CHECK(compiled.status().message().find("duplicate link */abc") != std::string::npos);
}

TEST_CASE("HostileInputsRefused", "[builder]") {
    SnapshotBuilder builder;
    const auto refused = [](const Status& st) { return st.to_string(); };
    CHECK(refused(builder.add_domain({.host = "Upper.example"}).status()) ==
          "invalid argument: domain host \"Upper.example\" must be lowercase");
    CHECK(refused(builder.add_domain({.host = "*"}).status()) ==  // "*" must be the default
          "invalid argument: the default domain, and only it, has host \"*\"");
    CHECK(refused(builder.add_domain({.host = "a.example", .default_redirect = 303}).status()) ==
          "invalid argument: domain a.example: redirect type must be 301, 302, 307 or 308");
    auto d = builder.add_domain({.host = "a.example"});
    REQUIRE(d);
    CHECK(refused(builder.add_domain({.host = "a.example"}).status()) == "conflict: domain a.example added twice");
    CHECK(refused(builder.add_link({.domain = *d, .code = "", .destination = "https://x/"})) ==
          "invalid argument: code must be 1 to 1024 bytes");
    CHECK(refused(builder.add_link({.domain = *d, .code = "a", .destination = "https://x/\r\nSet-Cookie: a"})) ==
          "invalid argument: destination of a contains CR, LF or NUL");
    CHECK(refused(builder.add_link({.domain = 9, .code = "a", .destination = "https://x/"})) ==
          "invalid argument: link names an unknown domain handle");
    CHECK(refused(builder.add_link({.domain = *d, .code = "a", .destination = "https://x/", .redirect_type = 200})) ==
          "invalid argument: link a: redirect type must be 301, 302, 307 or 308");
    CHECK(builder.link_count() == 0);
}

TEST_CASE("RootUrlWithControlCharactersRefused", "[builder]") {
    for (const std::string& bad : {std::string("https://x/\r\nSet-Cookie: a=b"), std::string("https://x/\n"),
                                  std::string("https://x/\ta"), std::string("https://x/\x7f"),
                                  std::string("https://x/\0a", 12)}) {
        INFO(bad);
        SnapshotBuilder builder;
        auto d = builder.add_domain({.host = "go.example", .root_url = bad});
        REQUIRE_FALSE(d);
        CHECK(d.status().code() == Status::Code::invalid_argument);
        CHECK_THAT(d.status().message(), Catch::StartsWith("domain go.example: root URL contains control character 0x"));
        CHECK_THAT(d.status().message(), Catch::EndsWith(" at byte 10"));
    }
    SnapshotBuilder builder;
    CHECK(builder.add_domain({.host = "go.example", .root_url = "https://x/home?a=b"}));
}

TEST_CASE("DeterministicApartFromSerialAndTime", "[builder]") {
    test::TempDir dir;
    auto key = test::test_key();
    auto make = [&](const std::string& path, std::uint64_t serial, std::int64_t t) {
        SnapshotBuilder builder;
        auto d = builder.add_domain({.host = "*", .is_default = true});
        for (int i = 0; i < 5000; ++i) {
            REQUIRE(builder.add_link({.domain = *d, .code = "c" + std::to_string(i * 7919),
                                      .destination = "https://e.example/" + std::to_string(i)}));
        }
        auto compiled = std::move(builder).build();
        REQUIRE(compiled);
        REQUIRE(compiled->write_file(path, {.serial = serial, .created_at = t}, key));
    };
    make(dir.path + "/a", 1, 100);
    make(dir.path + "/b", 1, 100);
    make(dir.path + "/c", 2, 200);
    const std::string a = test::read_file(dir.path + "/a");
    const std::string b = test::read_file(dir.path + "/b");
    const std::string c = test::read_file(dir.path + "/c");
    CHECK(a == b);
    REQUIRE(a.size() == c.size());
    // Only serial (24..31), created_at (32..39) and the signature (last 64 bytes) differ.
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i] != c[i]) {
            const bool allowed = (i >= 24 && i < 40) || i >= a.size() - 64;
            INFO("byte " << i);
            CHECK(allowed);
        }
    }
}

// The store streams links in table order, which changes as rows are deleted and re-added: the
// file must depend only on the set of domains and links, never on the order they arrive in.
TEST_CASE("InputOrderDoesNotChangeTheFile", "[builder]") {
    const std::uint64_t seed = test::random_seed();
    std::mt19937_64 rng(seed);
    INFO("seed " << seed);
    test::TempDir dir;
    auto key = test::test_key();
    struct Link {
        int domain;  // 0: "*", 1: go.example, 2: b.example
        std::string code;
        std::string dest;
        LinkState status;
        std::uint16_t redirect;
        std::int64_t nb, ex;
    };
    std::vector<Link> links;
    std::set<std::pair<int, std::string>> seen;
    while (links.size() < 30000) {
        Link l{static_cast<int>(rng() % 3), test::random_code(rng, 1 + rng() % 10), "",
               static_cast<LinkState>(rng() % 3), static_cast<std::uint16_t>(rng() % 2 ? 0 : 307),
               0, 0};
        if (l.domain == 1) {
            std::transform(l.code.begin(), l.code.end(), l.code.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        }
        if (!seen.insert({l.domain, l.code}).second) {
            continue;
        }
        l.dest = "https://d.example/" + test::random_code(rng, 5 + rng() % 50);
        if (rng() % 5 == 0) {
            l.nb = 1700000000 + static_cast<std::int64_t>(rng() % 1000);
            l.ex = l.nb + 86400;
        }
        links.push_back(l);
    }
    // Domains in a given order, links in a given order; `use_publish` takes the lower-memory path.
    // A tight perfect hash (lambda 3.5, alpha 0.99), so placement goes through evictions, whose
    // choices must not depend on the order either.
    BuilderConfig config;
    config.mphf.keys_per_bucket = 3.5;
    config.mphf.load_factor = 0.99;
    auto make = [&](const std::string& path, const std::vector<int>& domain_order,
                    const std::vector<std::size_t>& link_order, bool use_publish) {
        SnapshotBuilder builder(config);
        const DomainInput inputs[3] = {
            {.host = "*", .default_redirect = 302, .is_default = true},
            {.host = "go.example", .default_redirect = 301, .case_insensitive = true},
            {.host = "b.example", .root_url = "https://b.example/home", .forward_query = false}};
        std::uint32_t handle[3] = {};
        for (int d : domain_order) {
            auto h = builder.add_domain(inputs[d]);
            REQUIRE(h);
            handle[d] = *h;
        }
        for (std::size_t i : link_order) {
            const Link& l = links[i];
            REQUIRE(builder.add_link({.domain = handle[l.domain], .code = l.code,
                                      .destination = l.dest, .status = l.status,
                                      .redirect_type = l.redirect, .not_before = l.nb,
                                      .expires = l.ex}));
        }
        auto compiled = std::move(builder).build();
        REQUIRE(compiled);
        const SnapshotMeta meta{.serial = 4, .created_at = 1700000000};
        if (use_publish) {
            REQUIRE(std::move(*compiled).publish(path, meta, key));
        } else {
            REQUIRE(compiled->write_file(path, meta, key));
        }
    };
    std::vector<std::size_t> forward(links.size());
    for (std::size_t i = 0; i < forward.size(); ++i) {
        forward[i] = i;
    }
    std::vector<std::size_t> reversed(forward.rbegin(), forward.rend());
    std::vector<std::size_t> shuffled = forward;
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    make(dir.path + "/a", {0, 1, 2}, forward, false);
    make(dir.path + "/b", {2, 0, 1}, reversed, false);
    make(dir.path + "/c", {1, 2, 0}, shuffled, true);
    const std::string a = test::read_file(dir.path + "/a");
    REQUIRE(a.size() > 30000 * 16);
    CHECK(a == test::read_file(dir.path + "/b"));
    CHECK(a == test::read_file(dir.path + "/c"));
}

TEST_CASE("PublishChecksAndFreesTheLinks", "[builder]") {
    test::TempDir dir;
    auto key = test::test_key();
    SnapshotBuilder builder;
    auto d = builder.add_domain({.host = "*", .is_default = true});
    REQUIRE(d);
    for (int i = 0; i < 1000; ++i) {
        REQUIRE(builder.add_link({.domain = *d, .code = "k" + std::to_string(i),
                                  .destination = "https://e.example/" + std::to_string(i)}));
    }
    auto compiled = std::move(builder).build();
    REQUIRE(compiled);
    const std::string path = dir.path + "/links-1.slsnap";
    auto written = std::move(*compiled).publish(path, {.serial = 1}, key);
    REQUIRE(written);
    CHECK(compiled->link_count() == 1000);
    CHECK(compiled->domain_count() == 1);
    auto snap = formats::Snapshot::open(path, {key.trusted()});
    REQUIRE(snap);
    auto v = (*snap)->lookup(0, "k999");
    REQUIRE(v);
    CHECK(v->destination == "https://e.example/999");
    // The links are gone: a second write is refused, not written from freed memory.
    CHECK(compiled->write_file(dir.path + "/links-2.slsnap", {.serial = 2}, key).status().to_string() ==
          "invalid argument: the compiled links were released by publish()");
    CHECK_FALSE(std::filesystem::exists(dir.path + "/links-2.slsnap"));
}
