// Redirect rules in the store (store/rules.h): every condition kind read into its canonical
// spelling or refused with a message that names what is wrong; whole rules and rule lists
// (one condition per kind, time windows, splits adding up to at most 100); the JSON form read
// back from hostile input; and the store's audited rule add/remove/move and import round trip.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "store/rules.h"
#include "store/store.h"
#include "tests/store/temp_db.h"

using namespace shortlink;
using namespace shortlink::store;

namespace {

constexpr std::int64_t k_now = 1764748800;  // 2025-12-03T08:00:00Z

std::string canonical(const std::string& text) {
    auto c = parse_condition(text, k_now);
    INFO(text << ": " << c.status().message());
    REQUIRE(c.is_ok());
    return c->text;
}

// The refusal's message, which must name the condition.
std::string refusal(const std::string& text) {
    auto c = parse_condition(text, k_now);
    INFO(text);
    REQUIRE_FALSE(c.is_ok());
    CHECK(c.status().code() == Status::Code::invalid_argument);
    return c.status().message();
}

Rule rule(std::vector<std::string> conditions, std::string to = "https://example.com/r", std::uint16_t type = 0) {
    Rule r;
    r.conditions = std::move(conditions);
    r.destination = std::move(to);
    r.redirect_type = type;
    return r;
}

}  // namespace

TEST_CASE("DeviceConditionsAreCanonicalAndKnown", "[rules]") {
    CHECK(canonical("device=iOS") == "device=ios");
    CHECK(canonical("device=ios,ANDROID,ipados") == "device=ios,android,ipados");
    for (std::string_view name : k_device_names) {
        CHECK(canonical("device=" + std::string(name)) == "device=" + std::string(name));
    }
    const std::string msg = refusal("device=iphone");
    CHECK(msg.find("unknown device 'iphone'") != std::string::npos);
    CHECK(msg.find("chromeos") != std::string::npos);  // the known ones are listed
    CHECK(refusal("device=ios,ios").find("'ios' appears twice") != std::string::npos);
    CHECK(refusal("device=ios,,android").find("empty value") != std::string::npos);
    CHECK(refusal("device=").find("no value") != std::string::npos);
}

TEST_CASE("LangConditionsAreLanguagesOrLanguageRegions", "[rules]") {
    CHECK(canonical("lang=FR") == "lang=fr");
    CHECK(canonical("lang=en-us,pt_br") == "lang=en-US,pt-BR");
    CHECK(canonical("lang=es-419") == "lang=es-419");
    CHECK(canonical("lang=fil") == "lang=fil");
    CHECK(refusal("lang=english").find("not a language") != std::string::npos);
    CHECK(refusal("lang=f").find("not a language") != std::string::npos);
    CHECK(refusal("lang=en-USA").find("2 letters or 3 digits") != std::string::npos);
    CHECK(refusal("lang=en-ZZ").find("ZZ is not an ISO 3166 country") != std::string::npos);
    CHECK(refusal("lang=*").find("not a language") != std::string::npos);
}

TEST_CASE("CountryConditionsAreIso3166", "[rules]") {
    CHECK(canonical("country=fr,be,US") == "country=FR,BE,US");
    CHECK(canonical("country=XK") == "country=XK");
    CHECK(canonical("country=AD") == "country=AD");  // the first of the table
    CHECK(canonical("country=ZW") == "country=ZW");  // the last
    CHECK(refusal("country=UK").find("'UK' is not an ISO 3166-1 country code") != std::string::npos);
    CHECK(refusal("country=ZZ").find("not an ISO 3166-1") != std::string::npos);
    CHECK(refusal("country=FRA").find("2 letters") != std::string::npos);
    CHECK(refusal("country=F1").find("2 letters") != std::string::npos);
}

TEST_CASE("IpConditionsAreAddressesAndNetworks", "[rules]") {
    CHECK(canonical("ip=192.0.2.7") == "ip=192.0.2.7");
    CHECK(canonical("ip=10.0.0.0/8,192.168.0.0/16") == "ip=10.0.0.0/8,192.168.0.0/16");
    CHECK(canonical("ip=10.0.0.1/32") == "ip=10.0.0.1");
    CHECK(canonical("ip=2001:DB8:0:0::/32") == "ip=2001:db8::/32");
    CHECK(canonical("ip=::1") == "ip=::1");
    CHECK(canonical("ip=0.0.0.0/0") == "ip=0.0.0.0/0");
    CHECK(refusal("ip=10.1.2.3/8").find("bits set after its /8 prefix (the network is 10.0.0.0/8)") !=
          std::string::npos);
    CHECK(refusal("ip=10.0.0.0/33").find("prefix length must be 0 to 32") != std::string::npos);
    CHECK(refusal("ip=2001:db8::/129").find("0 to 128") != std::string::npos);
    CHECK(refusal("ip=10.0.0.0/").find("prefix length") != std::string::npos);
    CHECK(refusal("ip=10.0.0.0/08").find("prefix length") != std::string::npos);
    CHECK(refusal("ip=10.0.0.0/8x").find("prefix length") != std::string::npos);
    CHECK(refusal("ip=256.0.0.1").find("not an IPv4 or IPv6 address") != std::string::npos);
    CHECK(refusal("ip=example.com").find("not an IPv4 or IPv6 address") != std::string::npos);
    CHECK(refusal("ip=1.2.3").find("not an IPv4 or IPv6 address") != std::string::npos);
}

TEST_CASE("QueryConditionsNameAParameterAndOptionallyAValue", "[rules]") {
    auto c = parse_condition("query=utm_source=mail", k_now);
    REQUIRE(c.is_ok());
    CHECK(c->text == "query=utm_source=mail");
    CHECK(c->has_query_value);
    CHECK(c->values == std::vector<std::string>{"utm_source", "mail"});
    auto name_only = parse_condition("query=debug", k_now);
    REQUIRE(name_only.is_ok());
    CHECK_FALSE(name_only->has_query_value);
    CHECK(canonical("query=v=") == "query=v=");  // an empty value is a value
    CHECK(canonical("query=a=b=c") == "query=a=b=c");  // the value may hold '='
    CHECK(refusal("query==x").find("parameter name") != std::string::npos);
    CHECK(refusal("query=a&b").find("parameter name") != std::string::npos);
    CHECK(refusal("query=a=b&c").find("parameter value") != std::string::npos);
    CHECK(refusal("query=a=b c").find("parameter value") != std::string::npos);
    CHECK(refusal(std::string("query=a=\x01", 10)).find("parameter value") != std::string::npos);
    CHECK(refusal("query=" + std::string(129, 'n')).find("1 to 128") != std::string::npos);
}

TEST_CASE("TimeConditionsAreStoredAsUtc", "[rules]") {
    CHECK(canonical("after=2026-01-01T01:00:00+01:00") == "after=2026-01-01T00:00:00Z");
    CHECK(canonical("before=1d") == "before=2025-12-04T08:00:00Z");
    auto c = parse_condition("after=2026-01-01T00:00:00Z", k_now);
    REQUIRE(c.is_ok());
    CHECK(c->time == 1767225600);
    CHECK(refusal("after=tomorrow").find("condition 'after=tomorrow'") == 0);
}

TEST_CASE("SplitConditionsArePercentages", "[rules]") {
    CHECK(canonical("split=30") == "split=30");
    CHECK(canonical("split=100") == "split=100");
    for (const char* bad : {"split=0", "split=101", "split=-5", "split=30%", "split=030", "split=1.5", "split=x"}) {
        CHECK(refusal(bad).find("1 to 100") != std::string::npos);
    }
}

TEST_CASE("UnknownAndMalformedConditionsAreRefused", "[rules]") {
    CHECK(refusal("browser=chrome").find("unknown condition 'browser'") != std::string::npos);
    CHECK(refusal("device").find("expected KIND=VALUE") != std::string::npos);
    CHECK(refusal("").find("expected KIND=VALUE") != std::string::npos);
    CHECK(refusal("Device=ios").find("unknown condition 'Device'") != std::string::npos);
    // Hostile bytes are printed escaped, never raw.
    CHECK(refusal("device=\x1b[31m").find("\\x1b") != std::string::npos);
}

TEST_CASE("RulesAreNormalizedWhole", "[rules]") {
    Rule r = rule({"DEVICE=ios"});
    CHECK_FALSE(normalize_rule(r, k_now).is_ok());
    r = rule({"device=IOS", "lang=FR"}, "HTTPS://Example.COM/a/../b", 301);
    REQUIRE(normalize_rule(r, k_now).is_ok());
    CHECK(r.conditions == std::vector<std::string>{"device=ios", "lang=fr"});
    CHECK(r.destination == "https://example.com/b");
    Rule none = rule({});
    CHECK(normalize_rule(none, k_now).message() == "a rule needs at least one condition");
    Rule twice = rule({"device=ios", "device=android"});
    CHECK(normalize_rule(twice, k_now).message().find("a rule has one device condition") != std::string::npos);
    Rule queries = rule({"query=a", "query=b=1"});
    CHECK(normalize_rule(queries, k_now).is_ok());
    Rule same_query = rule({"query=a", "query=a"});
    CHECK(normalize_rule(same_query, k_now).message().find("appears twice") != std::string::npos);
    Rule window = rule({"after=2026-02-01T00:00:00Z", "before=2026-01-01T00:00:00Z"});
    CHECK(normalize_rule(window, k_now).message().find("never hold together") != std::string::npos);
    Rule bad_url = rule({"device=ios"}, "javascript:alert(1)");
    CHECK_FALSE(normalize_rule(bad_url, k_now).is_ok());
    Rule bad_type = rule({"device=ios"}, "https://example.com/", 303);
    CHECK(normalize_rule(bad_type, k_now).message().find("303 is not 301, 302, 307 or 308") != std::string::npos);
    std::vector<std::string> many(k_max_conditions + 1, "query=a");
    Rule too_many = rule(many);
    CHECK(normalize_rule(too_many, k_now).message().find("at most 16 conditions") != std::string::npos);
}

TEST_CASE("SplitsOfALinkAddUpToAtMost100", "[rules]") {
    std::vector<Rule> rules = {rule({"split=30"}), rule({"split=70", "device=ios"})};
    CHECK(check_rule_list(rules).is_ok());
    rules.push_back(rule({"split=1"}));
    const Status st = check_rule_list(rules);
    REQUIRE_FALSE(st.is_ok());
    CHECK(st.message() ==
          "the splits add up to 101%, more than 100%: split=30 (rule 1), split=70 (rule 2), split=1 (rule 3)");
    std::vector<Rule> many(k_max_rules + 1, rule({"device=ios"}));
    CHECK(check_rule_list(many).message().find("at most 32 rules") != std::string::npos);
}

TEST_CASE("RulesJsonRoundTripsAndRefusesHostileInput", "[rules]") {
    std::vector<Rule> rules = {rule({"device=ios", "lang=fr"}, "https://example.com/fr", 301),
                               rule({"query=a=\"b\\"}, "https://example.com/q")};
    const std::string json = encode_rules(rules);
    CHECK(json.rfind(R"([{"if":["device=ios","lang=fr"],"to":"https://example.com/fr","type":301},)", 0) == 0);
    auto back = decode_rules(json, k_now);
    REQUIRE(back.is_ok());
    CHECK(*back == rules);
    CHECK(encode_rules({}).empty());
    CHECK(decode_rules("", k_now)->empty());
    CHECK(decode_rules("[]", k_now)->empty());
    // Read input is normalized as `rule add` would.
    auto loose = decode_rules(R"([{"if":["device=IOS"],"to":"https://EXAMPLE.com"}])", k_now);
    REQUIRE(loose.is_ok());
    CHECK((*loose)[0].conditions[0] == "device=ios");
    CHECK((*loose)[0].destination == "https://example.com/");
    const std::pair<const char*, const char*> hostile[] = {
        {"[", "invalid JSON"},
        {"{}", "expected a JSON array"},
        {"[1]", "rule 1: expected an object"},
        {R"([{"if":["device=ios"]}])", "rule 1: no destination"},
        {R"([{"if":[],"to":"https://e.com"}])", "rule 1: a rule needs at least one condition"},
        {R"([{"if":"device=ios","to":"https://e.com"}])", "rule 1: \"if\" has the wrong type"},
        {R"([{"if":[7],"to":"https://e.com"}])", "rule 1: \"if\" holds strings"},
        {R"([{"if":["device=ios"],"to":"https://e.com","type":-1}])", "rule 1: \"type\" has the wrong type"},
        {R"([{"if":["device=ios"],"to":"https://e.com","type":70000}])", "rule 1: redirect type 70000"},
        {R"([{"if":["device=ios"],"to":"https://e.com","then":1}])", "rule 1: unknown key 'then'"},
        {R"([{"if":["device=pc"],"to":"https://e.com"}])", "rule 1: condition 'device=pc': unknown device"},
        {R"([{"if":["split=60"],"to":"https://e.com"},{"if":["split=60"],"to":"https://e.com"}])",
         "the splits add up to 120%"},
    };
    for (const auto& [input, message] : hostile) {
        auto r = decode_rules(input, k_now);
        INFO(input);
        REQUIRE_FALSE(r.is_ok());
        CHECK(r.status().message().find(message) != std::string::npos);
    }
}

TEST_CASE("RuleChangesAreAuditedEditsOfTheLink", "[rules][store]") {
    test::TempDb t;
    auto created = Store::create(t.path, "test");
    REQUIRE(created.is_ok());
    Store s = std::move(created).value();
    LinkInput in;
    in.code = "app";
    in.destination = "https://example.com/app";
    REQUIRE(s.add_link(in, [] { return std::string("unused"); }).is_ok());

    auto added = s.add_rule("", "app", rule({"device=IOS"}, "https://apps.example/ios"));
    REQUIRE(added.is_ok());
    CHECK(added->version == 2);
    REQUIRE(s.add_rule("", "app", rule({"device=android"}, "https://apps.example/android", 307)).is_ok());
    REQUIRE(s.add_rule("", "app", rule({"lang=fr"}, "https://example.com/fr"), 1).is_ok());
    auto link = s.get_link("", "app");
    REQUIRE(link.is_ok());
    REQUIRE(link->rules.size() == 3);
    CHECK(link->rules[0].conditions[0] == "lang=fr");
    CHECK(link->rules[1].conditions[0] == "device=ios");
    CHECK(link->rules[2].redirect_type == 307);

    auto moved = s.move_rule("", "app", 1, 3);
    REQUIRE(moved.is_ok());
    CHECK(moved->rules[2].conditions[0] == "lang=fr");
    CHECK(moved->rules[0].conditions[0] == "device=ios");
    auto removed = s.remove_rule("", "app", 2);
    REQUIRE(removed.is_ok());
    REQUIRE(removed->rules.size() == 2);
    CHECK(removed->rules[1].conditions[0] == "lang=fr");
    CHECK(s.get_link("", "app")->rules == removed->rules);

    // Refusals change nothing.
    const std::int64_t version = s.get_link("", "app")->version;
    CHECK(s.remove_rule("", "app", 3).status().code() == Status::Code::not_found);
    CHECK(s.remove_rule("", "app", 0).status().code() == Status::Code::not_found);
    CHECK(s.move_rule("", "app", 1, 5).status().message() == "link 'app' has no rule 5 (it has 1 to 2)");
    CHECK(s.add_rule("", "app", rule({"device=ios"}), 4).status().code() == Status::Code::not_found);
    CHECK(s.add_rule("", "app", rule({"device=pc"})).status().code() == Status::Code::invalid_argument);
    REQUIRE(s.add_rule("", "app", rule({"split=60"})).is_ok());
    auto over = s.add_rule("", "app", rule({"split=41"}));
    CHECK(over.status().message().find("the splits add up to 101%") != std::string::npos);
    CHECK(s.get_link("", "app")->version == version + 1);
    CHECK(s.move_rule("", "app", 2, 2)->version == version + 1);  // no move, no change
    CHECK(s.remove_rule("", "nope", 1).status().code() == Status::Code::not_found);

    std::vector<std::string> actions;
    std::string last_after;
    REQUIRE(s.history("", "app", 0, [&](const AuditRecord& r) {
                 if (last_after.empty()) {
                     last_after = r.after_json;
                 }
                 actions.push_back(r.action);
                 return true;
             }).is_ok());
    CHECK(actions == std::vector<std::string>{"rule-add", "rule-remove", "rule-move", "rule-add", "rule-add",
                                              "rule-add", "add"});
    CHECK(last_after.find(R"("rules":[{"if":["device=ios"],"to":"https://apps.example/ios","type":null},)") !=
          std::string::npos);
    CHECK(s.verify_audit_log().is_ok());
}

TEST_CASE("ImportedRulesAreKeptOrReplacedOnUpdate", "[rules][store]") {
    test::TempDb t;
    auto created = Store::create(t.path, "test");
    REQUIRE(created.is_ok());
    Store s = std::move(created).value();
    LinkInput in;
    in.code = "a";
    in.destination = "https://example.com/a";
    in.rules = std::vector<Rule>{rule({"country=FR"}, "https://example.com/fr")};
    REQUIRE(s.begin_bulk().is_ok());
    REQUIRE(s.put_link(in, OnConflict::fail).is_ok());
    REQUIRE(s.end_bulk(true).is_ok());
    CHECK(s.get_link("", "a")->rules == *in.rules);

    // An update without rules keeps the link's; with a list, replaces them.
    LinkInput plain = in;
    plain.rules.reset();
    plain.destination = "https://example.com/b";
    REQUIRE(s.begin_bulk().is_ok());
    REQUIRE(*s.put_link(plain, OnConflict::update) == PutOutcome::updated);
    REQUIRE(s.end_bulk(true).is_ok());
    CHECK(s.get_link("", "a")->rules == *in.rules);
    plain.rules = std::vector<Rule>{};
    REQUIRE(s.begin_bulk().is_ok());
    REQUIRE(*s.put_link(plain, OnConflict::update) == PutOutcome::updated);
    REQUIRE(s.end_bulk(true).is_ok());
    CHECK(s.get_link("", "a")->rules.empty());
    CHECK(s.verify_audit_log().is_ok());
}
