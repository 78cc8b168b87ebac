// Section 5 (rules) of a snapshot (formats/rules.h, SPEC.md "Section 5: rules"): lists written
// by the compiler read back through lookups in the spelling of `shortlink rule`; the file does not
// depend on the order links were added in; the encoder refuses what the format cannot hold; and
// hostile section bytes, re-signed by a trusted key, are refused with a precise error and never
// read out of bounds.
#include <array>
#include <cstring>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "compiler/snapshot_builder.h"
#include "formats/bytes.h"
#include "formats/rules.h"
#include "formats/snapshot.h"
#include "formats/snapshot_format.h"
#include "tests/formats/snapshot_fixture.h"

using namespace shortlink;
using formats::RuleConditionInput;
using formats::RuleInput;
using formats::RuleKind;
namespace fmt = shortlink::formats::format;

namespace {

RuleConditionInput device(std::uint16_t mask) {
    RuleConditionInput c;
    c.kind = RuleKind::device;
    c.device_mask = mask;
    return c;
}

RuleConditionInput values(RuleKind kind, std::vector<std::string> v) {
    RuleConditionInput c;
    c.kind = kind;
    c.values = std::move(v);
    return c;
}

RuleConditionInput network(std::array<std::uint8_t, 17> n) {
    RuleConditionInput c;
    c.kind = RuleKind::ip;
    c.networks = {n};
    return c;
}

RuleConditionInput split(std::uint8_t from, std::uint8_t to) {
    RuleConditionInput c;
    c.kind = RuleKind::split;
    c.split_from = from;
    c.split_to = to;
    return c;
}

RuleConditionInput at(RuleKind kind, std::int64_t t) {
    RuleConditionInput c;
    c.kind = kind;
    c.time = t;
    return c;
}

RuleConditionInput query(std::string name, std::string value, bool has_value) {
    RuleConditionInput c;
    c.kind = RuleKind::query;
    c.query_name = std::move(name);
    c.query_value = std::move(value);
    c.has_query_value = has_value;
    return c;
}

// 10.0.0.0/8 as the compiler writes it: IPv4 mapped into IPv6, prefix + 96.
std::array<std::uint8_t, 17> ten_slash_8() {
    std::array<std::uint8_t, 17> n{};
    n[10] = 0xff;
    n[11] = 0xff;
    n[12] = 10;
    n[16] = 104;
    return n;
}

std::vector<RuleInput> sample_rules() {
    RuleInput apps;
    apps.destination = "https://apps.example/ios";
    apps.redirect_type = 307;
    apps.conditions = {device(0b101), values(RuleKind::lang, {"fr", "en-US", "es-419"})};
    RuleInput office;
    office.destination = "https://e.example/office";
    office.conditions = {network(ten_slash_8()), values(RuleKind::country, {"FR", "BE"})};
    RuleInput promo;
    promo.destination = "https://e.example/b";
    promo.conditions = {query("utm", "mail", true), at(RuleKind::after, 1767225600), at(RuleKind::before, 1798761600),
                        split(0, 30), query("debug", "", false)};
    return {apps, office, promo};
}

std::string encoded_sample() {
    auto list = formats::encode_rule_list(sample_rules());
    REQUIRE(list);
    return *list;
}

// A snapshot of `links` links, every third with the sample rules, added in the given order.
std::string make_snapshot(const formats::SigningKey& key, int links, bool reverse = false) {
    test::TempDir dir;
    const std::string rules = encoded_sample();
    compiler::SnapshotBuilder builder;
    auto d = builder.add_domain({.host = "*", .is_default = true});
    REQUIRE(d);
    std::vector<std::string> codes;
    for (int i = 0; i < links; ++i) {
        codes.push_back("k" + std::to_string(i));
    }
    for (int n = 0; n < links; ++n) {
        const int i = reverse ? links - 1 - n : n;
        const std::string destination = "https://e.example/" + std::to_string(i);
        REQUIRE(builder.add_link({.domain = *d, .code = codes[static_cast<std::size_t>(i)], .destination = destination,
                                  .not_before = i % 2 == 0 ? 100 : 0, .rules = i % 3 == 0 ? std::string_view(rules)
                                                                                         : std::string_view()}));
    }
    auto compiled = std::move(builder).build();
    REQUIRE(compiled);
    const std::string path = dir.path + "/s";
    REQUIRE(compiled->write_file(path, {.serial = 3, .created_at = 1000}, key));
    return test::read_file(path);
}

formats::SectionInfo section_of(const std::string& bytes, const formats::SigningKey& key, fmt::SectionType type) {
    auto snap = formats::Snapshot::open_buffer(bytes, {key.trusted()});
    REQUIRE(snap);
    const formats::SectionInfo* s = (*snap)->file().section(type);
    REQUIRE(s != nullptr);
    return *s;
}

Status open_bytes(const std::string& bytes, const formats::SigningKey& key) {
    return formats::Snapshot::open_buffer(bytes, {key.trusted()}).status();
}

bool contains(const Status& s, const std::string& what) {
    INFO(s.message());
    return s.message().find(what) != std::string::npos;
}

std::vector<std::string> texts(const formats::RuleView& r) {
    std::vector<std::string> out;
    r.all_conditions([&](const formats::RuleConditionView& c) {
        out.push_back(formats::condition_text(c));
        return true;
    });
    return out;
}

}  // namespace

TEST_CASE("RuleListsReadBackThroughLookups", "[rules]") {
    auto key = test::test_key();
    const std::string bytes = make_snapshot(key, 30);
    auto snap = formats::Snapshot::open_buffer(bytes, {key.trusted()});
    REQUIRE(snap);
    const formats::Snapshot& s = **snap;
    auto plain = s.lookup(0, "k1");
    REQUIRE(plain);
    CHECK(plain->rules.empty());
    CHECK(plain->destination == "https://e.example/1");
    auto ruled = s.lookup(0, "k3");
    REQUIRE(ruled);
    CHECK(ruled->destination == "https://e.example/3");
    REQUIRE_FALSE(ruled->rules.empty());
    CHECK(ruled->rules.rule_count() == 3);
    CHECK(ruled->rules.bytes() == encoded_sample());
    const std::uint16_t kinds = ruled->rules.kinds();
    for (RuleKind k : {RuleKind::device, RuleKind::lang, RuleKind::country, RuleKind::ip, RuleKind::query,
                       RuleKind::after, RuleKind::before, RuleKind::split}) {
        CHECK(((kinds >> static_cast<unsigned>(k)) & 1u) == 1u);
    }
    std::vector<std::vector<std::string>> seen;
    std::vector<std::string> destinations;
    std::vector<std::uint16_t> types;
    ruled->rules.for_each([&](std::size_t, const formats::RuleView& r) {
        seen.push_back(texts(r));
        destinations.emplace_back(r.destination);
        types.push_back(r.redirect_type);
        return true;
    });
    CHECK(seen == std::vector<std::vector<std::string>>{
                      {"device=ios,ipados", "lang=fr,en-US,es-419"},
                      {"ip=10.0.0.0/8", "country=FR,BE"},
                      {"query=utm=mail", "after=2026-01-01T00:00:00Z", "before=2027-01-01T00:00:00Z", "split=30",
                       "query=debug"}});
    CHECK(destinations ==
          std::vector<std::string>{"https://apps.example/ios", "https://e.example/office", "https://e.example/b"});
    CHECK(types == std::vector<std::uint16_t>{307, 0, 0});
    // The lazy path proves the same lists.
    auto lazy = formats::Snapshot::open_buffer(bytes, {key.trusted()}, {.lazy_content = true});
    REQUIRE(lazy);
    auto lazily = (*lazy)->lookup(0, "k3");
    REQUIRE(lazily);
    CHECK(lazily->rules.bytes() == encoded_sample());
    CHECK((*lazy)->finish_verification().is_ok());
}

TEST_CASE("RulesDoNotDependOnTheOrderLinksWereAdded", "[rules]") {
    auto key = test::test_key();
    CHECK(make_snapshot(key, 50) == make_snapshot(key, 50, true));
}

TEST_CASE("SnapshotWithoutRulesHasNoRulesSection", "[rules]") {
    auto key = test::test_key();
    test::TempDir dir;
    compiler::SnapshotBuilder builder;
    auto d = builder.add_domain({.host = "*", .is_default = true});
    REQUIRE(builder.add_link({.domain = *d, .code = "a", .destination = "https://e.example/"}));
    auto compiled = std::move(builder).build();
    REQUIRE(compiled);
    REQUIRE(compiled->write_file(dir.path + "/s", {.serial = 1, .created_at = 1}, key));
    auto snap = formats::Snapshot::open_buffer(test::read_file(dir.path + "/s"), {key.trusted()});
    REQUIRE(snap);
    CHECK((*snap)->file().section(fmt::SectionType::rules) == nullptr);
}

TEST_CASE("EncoderRefusesWhatTheFormatCannotHold", "[rules]") {
    CHECK_FALSE(formats::encode_rule_list({}));
    std::vector<RuleInput> many(formats::k_max_rules_per_list + 1, sample_rules()[0]);
    CHECK_FALSE(formats::encode_rule_list(many));
    const std::vector<std::pair<RuleConditionInput, std::string>> bad = {
        {device(0), "device mask"},
        {device(1u << 12), "device mask"},
        {values(RuleKind::lang, {"english"}), "language tag"},
        {values(RuleKind::lang, {"en-us"}), "language tag"},
        {values(RuleKind::country, {"fr"}), "country code"},
        {values(RuleKind::country, {}), "length does not match"},
        {split(30, 30), "split"},
        {split(0, 101), "split"},
        {query("", "", false), "query condition"},
        {query("a b", "", false), "query condition holds a byte"},
        {query("a", "x", false), "query condition lengths"},
    };
    for (const auto& [condition, message] : bad) {
        RuleInput r;
        r.destination = "https://e.example/";
        r.conditions = {condition};
        auto list = formats::encode_rule_list({r});
        INFO(message);
        REQUIRE_FALSE(list);
        CHECK(contains(list.status(), message));
    }
    auto bad_net = ten_slash_8();
    bad_net[15] = 1;  // a bit after the /104 prefix
    RuleInput r;
    r.destination = "https://e.example/";
    r.conditions = {network(bad_net)};
    CHECK(contains(formats::encode_rule_list({r}).status(), "bits set after it"));
    r.conditions = {device(1)};
    r.destination = "https://e.example/\r\nSet-Cookie: x";
    CHECK(contains(formats::encode_rule_list({r}).status(), "control character"));
    r.destination = "https://e.example/";
    r.redirect_type = 303;
    CHECK(contains(formats::encode_rule_list({r}).status(), "invalid redirect type 303"));
    // The builder refuses a list the reader would refuse.
    compiler::SnapshotBuilder builder;
    auto d = builder.add_domain({.host = "*", .is_default = true});
    CHECK(contains(builder.add_link({.domain = *d, .code = "a", .destination = "https://e.example/", .rules = "\x01"}),
                   "link a: rules"));
}

TEST_CASE("HostileRulesSectionsAreRefused", "[rules]") {
    auto key = test::test_key();
    const std::string good = make_snapshot(key, 12);
    const formats::SectionInfo sec = section_of(good, key, fmt::SectionType::rules);
    const std::size_t lists = sec.offset + formats::k_rules_section_header + 4 * 8;  // 4 lists (k0, k3, k6, k9)
    auto damaged = [&](std::size_t offset, std::uint8_t value) {
        std::string bytes = good;
        bytes[offset] = static_cast<char>(value);
        return open_bytes(test::reseal(bytes, key), key);
    };
    CHECK(contains(damaged(sec.offset + 20, 1), "reserved byte 20 is not zero"));
    CHECK(contains(damaged(sec.offset + 7, 1), "lists and"));             // list count huge
    CHECK(contains(damaged(sec.offset + 64 + 8, 1), "list 1: offset"));  // list 1 not where list 0 ends
    CHECK(contains(damaged(lists, 0), "rule count must be 1 to 32"));
    CHECK(contains(damaged(lists, 33), "rule count must be 1 to 32"));
    CHECK(contains(damaged(lists + 2, 0), "kinds mask does not match"));
    CHECK(contains(damaged(lists + 4, 0), "invalid redirect type 256"));  // 307 is 0x0133
    CHECK(contains(damaged(lists + 4 + 2, 0), "condition count must be 1 to 16"));
    CHECK(contains(damaged(lists + 4 + 7, 0x40), "destination length out of bounds"));
    CHECK(contains(damaged(lists + 4 + 8, '\n'), "destination holds a control character"));
    const std::size_t first_condition = lists + 4 + 8 + std::string("https://apps.example/ios").size();
    CHECK(contains(damaged(first_condition, 9), "unknown kind 9"));
    CHECK(contains(damaged(first_condition + 5, 0xff), "device mask"));
    CHECK(contains(damaged(first_condition + 3, 0xff), "runs past the end of the section"));
    const std::size_t lang = first_condition + 4 + 2;
    CHECK(contains(damaged(lang + 4 + 1, 'R'), "malformed language tag"));
    // A slot that names a list the section does not hold.
    std::string bytes = good;
    auto* p = reinterpret_cast<std::uint8_t*>(bytes.data());
    const formats::SectionInfo slots = section_of(good, key, fmt::SectionType::slots);
    const formats::SectionInfo strings = section_of(good, key, fmt::SectionType::strings);
    bool broke = false;
    for (std::uint64_t off = slots.offset; off < slots.offset + slots.length && !broke; off += 16) {
        const std::uint32_t meta = formats::bytes::load<std::uint32_t>(p + off + 4);
        if ((meta & fmt::k_meta_has_rules) != 0) {
            std::uint8_t* r = p + strings.offset + formats::bytes::load<std::uint64_t>(p + off + 8);
            // code and destination are short: one-byte varints; times present (even codes).
            const std::size_t times = (meta & fmt::k_meta_has_times) ? 16 : 0;
            formats::bytes::store<std::uint32_t>(r + 2 + times, 4);
            broke = true;
        }
    }
    REQUIRE(broke);
    CHECK(contains(open_bytes(test::reseal(bytes, key), key), "names a rule list that section 5 (rules) does not hold"));
    auto lazy = formats::Snapshot::open_buffer(test::reseal(bytes, key), {key.trusted()}, {.lazy_content = true});
    REQUIRE(lazy);
    for (int i = 0; i < 12; ++i) {
        (void)(*lazy)->lookup(0, "k" + std::to_string(i));
    }
    CHECK_FALSE((*lazy)->intact());
}

TEST_CASE("EveryByteFlipOfTheRulesSectionIsSafe", "[rules]") {
    // Re-signed, so only the section's own checks stand between the bytes and a lookup: each
    // flip either is refused or opens into a snapshot whose lists can all be walked.
    auto key = test::test_key();
    const std::string good = make_snapshot(key, 6);
    const formats::SectionInfo sec = section_of(good, key, fmt::SectionType::rules);
    int refused = 0;
    for (std::uint64_t off = sec.offset; off < sec.offset + sec.length; ++off) {
        std::string bytes = good;
        bytes[off] = static_cast<char>(bytes[off] ^ 0x81);
        auto snap = formats::Snapshot::open_buffer(test::reseal(bytes, key), {key.trusted()});
        if (!snap) {
            CHECK(snap.status().code() == Status::Code::corruption);
            ++refused;
            continue;
        }
        for (int i = 0; i < 6; ++i) {
            auto l = (*snap)->lookup(0, "k" + std::to_string(i));
            REQUIRE(l);
            l->rules.for_each([&](std::size_t, const formats::RuleView& r) {
                return r.all_conditions([&](const formats::RuleConditionView& c) {
                    return !formats::condition_text(c).empty();
                });
            });
        }
    }
    // Most bytes are lengths, kinds, tags and masks; a flip of a destination byte to another
    // printable one, a time, or a country letter to another letter is a valid file.
    CHECK(refused > static_cast<int>(sec.length / 2));
}

TEST_CASE("AListCarriesTheLinksExpiredUrlWithOrWithoutRules", "[rules]") {
    auto alone = formats::encode_rule_list({}, nullptr, "https://after.example/x");
    REQUIRE(alone);
    formats::RuleListView view(reinterpret_cast<const std::uint8_t*>(alone->data()));
    CHECK(view.rule_count() == 0);
    CHECK(view.flags() == formats::k_list_has_expired_url);
    CHECK(view.kinds() == 0);
    CHECK(view.expired_url() == "https://after.example/x");
    CHECK(view.bytes() == *alone);
    auto both = formats::encode_rule_list(sample_rules(), nullptr, "https://after.example/y");
    REQUIRE(both);
    formats::RuleListView with_rules(reinterpret_cast<const std::uint8_t*>(both->data()));
    CHECK(with_rules.rule_count() == 3);
    CHECK(with_rules.expired_url() == "https://after.example/y");
    CHECK(with_rules.bytes() == *both);
    // Without one, the list is what it always was: flags zero.
    CHECK(encoded_sample()[1] == 0);
    CHECK_FALSE(formats::encode_rule_list({}, nullptr, ""));
    CHECK(contains(formats::encode_rule_list({}, nullptr, "https://e.example/\x01").status(), "control character"));
}

TEST_CASE("HostileListFlagsAreRefused", "[rules]") {
    auto list = formats::encode_rule_list({}, nullptr, "https://after.example/x");
    REQUIRE(list);
    const std::string section = formats::encode_rules_section({*list});
    std::uint64_t count = 0;
    const auto check = [&](std::string bytes) {
        return formats::check_rules_section(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), "rules",
                                            count);
    };
    REQUIRE(check(section));
    CHECK(count == 1);
    const std::size_t at = formats::k_rules_section_header + 8;
    std::string bytes = section;
    bytes[at + 1] = 4;  // bit 2: a block this reader does not know
    CHECK(contains(check(bytes), "unknown list flags 4"));
    bytes[at + 1] = 0;  // no flags, no rules
    CHECK(contains(check(bytes), "rule count must be 1 to 32"));
    bytes = section;
    bytes[at + 4] = 0;  // URL length 0
    CHECK(contains(check(bytes), "expired URL length out of bounds"));
    bytes = section;
    bytes[at + 4] = static_cast<char>(0xff);  // longer than what is left
    CHECK(contains(check(bytes), "expired URL length out of bounds"));
    bytes = section;
    bytes[at + 8] = '\r';
    CHECK(contains(check(bytes), "expired URL holds a control character"));
    bytes = section;
    bytes.resize(bytes.size() - 1);  // the lists are a byte shorter than the URL says
    CHECK_FALSE(check(bytes));
}
