// The plan of a links file and its application (store/apply_plan.cpp), against real databases:
// what is added, changed and removed, field by field; idempotence; one transaction.
#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

#include "store/apply_plan.h"
#include "tests/store/temp_db.h"

using namespace shortlink;
using namespace shortlink::store;

namespace {

using test::TempDb;

LinksFile file_of(const std::string& text) {
    auto parsed = parse_links_file(text);
    INFO(parsed.status().message());
    REQUIRE(parsed.is_ok());
    return std::move(parsed).value();
}

std::vector<Link> all_links(Store& s) {
    std::vector<Link> out;
    REQUIRE(s.list_links(LinkFilter{}, [&](const Link& l) {
                 out.push_back(l);
                 return true;
             }).is_ok());
    return out;
}

std::int64_t audit_rows(Store& s) {
    std::int64_t n = 0;
    REQUIRE(s.history("", "", 0, [&](const AuditRecord&) {
                 ++n;
                 return true;
             }).is_ok());
    return n;
}

const FieldChange* field(const LinkStep& step, const std::string& name) {
    for (const FieldChange& c : step.changes) {
        if (c.field == name) {
            return &c;
        }
    }
    return nullptr;
}

constexpr const char* k_file = R"(domains:
  - host: go.example.com
    default_type: 301
links:
  - domain: go.example.com
    code: spring
    url: https://example.com/spring
    tags: [promo]
  - code: docs
    url: https://example.com/docs
)";

}  // namespace

TEST_CASE("ApplyAddsThenPlansNothing", "[apply]") {
    TempDb t;
    Store s = std::move(Store::create(t.path, "test")).value();
    s.set_actor("ci");
    const LinksFile f = file_of(k_file);
    auto plan = plan_links_file(s, f, false);
    REQUIRE(plan.is_ok());
    CHECK(plan->count(StepAction::add) == 3);
    CHECK(plan->count(StepAction::change) == 0);
    REQUIRE(plan->links.size() == 2);
    const FieldChange* url = field(plan->links[0], "url");
    REQUIRE(url != nullptr);
    CHECK_FALSE(url->before.has_value());
    CHECK(*url->after == "https://example.com/spring");
    CHECK(all_links(s).empty());  // planning changed nothing

    auto applied = apply_links_file(s, f, false);
    REQUIRE(applied.is_ok());
    std::vector<Link> links = all_links(s);
    REQUIRE(links.size() == 2);
    auto spring = s.get_link("go.example.com", "spring");
    REQUIRE(spring.is_ok());
    CHECK(spring->tags == std::vector<std::string>{"promo"});
    CHECK(s.find_domain("go.example.com")->default_redirect == 301);
    bool by_ci = false;
    REQUIRE(s.history("go.example.com", "spring", 0, [&](const AuditRecord& r) {
                 by_ci = r.actor == "ci" && r.action == "add";
                 return false;
             }).is_ok());
    CHECK(by_ci);

    const std::int64_t rows = audit_rows(s);
    auto again = apply_links_file(s, f, true);
    REQUIRE(again.is_ok());
    CHECK(again->empty());
    CHECK(audit_rows(s) == rows);  // a second apply writes nothing
}

TEST_CASE("ChangesShowOldAndNew", "[apply]") {
    TempDb t;
    Store s = std::move(Store::create(t.path, "test")).value();
    REQUIRE(apply_links_file(s, file_of(k_file), false).is_ok());
    const LinksFile changed = file_of(R"(links:
  - domain: go.example.com
    code: spring
    url: https://example.com/spring-2027
    tags: [promo, q1]
    type: 308
    status: disabled
    title: Spring sale
)");
    auto plan = plan_links_file(s, changed, false);
    REQUIRE(plan.is_ok());
    REQUIRE(plan->links.size() == 1);
    const LinkStep& step = plan->links[0];
    CHECK(step.action == StepAction::change);
    CHECK(*field(step, "url")->before == "https://example.com/spring");
    CHECK(*field(step, "url")->after == "https://example.com/spring-2027");
    CHECK(*field(step, "tags")->before == "[promo]");
    CHECK(*field(step, "tags")->after == "[promo, q1]");
    CHECK_FALSE(field(step, "type")->before.has_value());
    CHECK(*field(step, "status")->after == "disabled");
    CHECK_FALSE(field(step, "title")->before.has_value());
    CHECK(*field(step, "title")->after == "Spring sale");
    REQUIRE(step.edit.has_value());
    CHECK(step.edit->title == "Spring sale");
    REQUIRE(apply_links_file(s, changed, false).is_ok());
    auto spring = s.get_link("go.example.com", "spring");
    CHECK(spring->title == "Spring sale");
    CHECK(spring->destination == "https://example.com/spring-2027");
    CHECK(spring->redirect_type == 308);
    CHECK(spring->status == LinkState::disabled);
    CHECK(s.get_link("", "docs")->status == LinkState::active);  // unlisted, no prune: left alone
    CHECK(plan_links_file(s, changed, false)->empty());
}

TEST_CASE("PruneSoftDeletesAndAListedDeletedLinkIsRestored", "[apply]") {
    TempDb t;
    Store s = std::move(Store::create(t.path, "test")).value();
    REQUIRE(apply_links_file(s, file_of(k_file), false).is_ok());
    const LinksFile only_docs = file_of("links:\n  - code: docs\n    url: https://example.com/docs\n");
    auto plan = apply_links_file(s, only_docs, true);
    REQUIRE(plan.is_ok());
    REQUIRE(plan->links.size() == 1);
    CHECK(plan->links[0].action == StepAction::remove);
    CHECK(*field(plan->links[0], "status")->before == "active");
    CHECK(s.get_link("go.example.com", "spring")->status == LinkState::deleted);
    CHECK(s.find_domain("go.example.com").is_ok());  // domains are never removed
    CHECK(plan_links_file(s, only_docs, true)->empty());  // a deleted link is not pruned again

    auto restored = apply_links_file(s, file_of(k_file), true);
    REQUIRE(restored.is_ok());
    auto spring = s.get_link("go.example.com", "spring");
    CHECK(spring->status == LinkState::active);
    std::vector<std::string> actions;
    REQUIRE(s.history("go.example.com", "spring", 0, [&](const AuditRecord& r) {
                 actions.push_back(r.action);
                 return true;
             }).is_ok());
    CHECK(actions.front() == "restore");
}

TEST_CASE("AFailingStepAppliesNothing", "[apply]") {
    TempDb t;
    Store s = std::move(Store::create(t.path, "test")).value();
    REQUIRE(apply_links_file(s, file_of(k_file), false).is_ok());
    const std::int64_t rows = audit_rows(s);
    // The domain becomes case-insensitive while it holds two codes that differ only in case:
    // set_domain refuses, after the link before it in the plan was written.
    LinkInput twin;
    twin.host = "go.example.com";
    twin.code = "Spring";
    twin.destination = "https://example.com/S";
    REQUIRE(s.add_link(twin, [] { return std::string(); }).is_ok());
    const std::int64_t before = audit_rows(s);
    CHECK(before == rows + 1);
    const LinksFile f = file_of(R"(domains:
  - host: new.example.com
  - host: go.example.com
    default_type: 301
    case_insensitive: true
links:
  - code: docs
    url: https://example.com/docs-changed
)");
    FilePosition at;
    auto applied = apply_links_file(s, f, false, &at);
    REQUIRE_FALSE(applied.is_ok());
    CHECK(applied.status().code() == Status::Code::conflict);
    CHECK(at.line == 3);
    CHECK(audit_rows(s) == before);
    CHECK(s.find_domain("new.example.com").status().code() == Status::Code::not_found);
    CHECK(s.get_link("", "docs")->destination == "https://example.com/docs");
}

TEST_CASE("CaseInsensitiveDomainsMatchCodesRegardlessOfCase", "[apply]") {
    TempDb t;
    Store s = std::move(Store::create(t.path, "test")).value();
    REQUIRE(apply_links_file(s, file_of("domains:\n  - host: ci.example\n    case_insensitive: true\nlinks:\n"
                                        "  - {domain: ci.example, code: Spring, url: 'https://e.com/'}\n"),
                             false)
                .is_ok());
    auto respelled = plan_links_file(s, file_of("links:\n  - {domain: ci.example, code: spring, url: 'https://e.com/'}\n"), false);
    REQUIRE_FALSE(respelled.is_ok());
    CHECK(respelled.status().code() == Status::Code::conflict);
    CHECK(respelled.status().message().starts_with("line 2, column 5: code 'spring' differs only in case"));
    auto twice = plan_links_file(s, file_of("links:\n  - {domain: ci.example, code: Spring, url: 'https://e.com/'}\n"
                                            "  - {domain: ci.example, code: SPRING, url: 'https://e.com/'}\n"),
                                 false);
    REQUIRE_FALSE(twice.is_ok());
    CHECK(twice.status().message().find("listed twice on a case-insensitive domain") != std::string::npos);
    auto unknown = plan_links_file(s, file_of("links:\n  - {domain: nowhere.example, code: a, url: 'https://e.com/'}\n"), false);
    REQUIRE_FALSE(unknown.is_ok());
    CHECK(unknown.status().code() == Status::Code::not_found);
}

TEST_CASE("ARemovedDomainComesBackWithItsLinks", "[apply]") {
    TempDb t;
    Store s = std::move(Store::create(t.path, "test")).value();
    const LinksFile f = file_of(k_file);
    REQUIRE(apply_links_file(s, f, false).is_ok());
    REQUIRE(s.remove_domain("go.example.com", true).is_ok());  // soft-deletes spring first
    auto plan = plan_links_file(s, f, false);
    REQUIRE(plan.is_ok());
    CHECK(plan->count(StepAction::add) == 2);  // the domain and spring, as far as a plan can see
    auto applied = apply_links_file(s, f, false);
    REQUIRE(applied.is_ok());
    REQUIRE(applied->links.size() == 1);
    CHECK(applied->links[0].action == StepAction::change);  // restored, not added again
    auto spring = s.get_link("go.example.com", "spring");
    REQUIRE(spring.is_ok());
    CHECK(spring->status == LinkState::active);
    CHECK(plan_links_file(s, f, false)->empty());
}

TEST_CASE("TitlesAreAddedChangedAndRemoved", "[apply]") {
    TempDb t;
    Store s = std::move(Store::create(t.path, "test")).value();
    const LinksFile titled = file_of("links:\n  - code: a\n    url: https://example.com/a\n    title: First\n"
                                     "  - code: b\n    url: https://example.com/b\n");
    auto plan = plan_links_file(s, titled, false);
    REQUIRE(plan.is_ok());
    REQUIRE(plan->links.size() == 2);
    REQUIRE(field(plan->links[0], "title") != nullptr);
    CHECK(*field(plan->links[0], "title")->after == "First");
    CHECK(field(plan->links[1], "title") == nullptr);  // none: a new link's default
    REQUIRE(apply_links_file(s, titled, false).is_ok());
    CHECK(s.get_link("", "a")->title == "First");
    CHECK(plan_links_file(s, titled, false)->empty());

    // Leaving the key out removes the title, as leaving out tags removes the tags.
    const LinksFile untitled = file_of("links:\n  - code: a\n    url: https://example.com/a\n"
                                       "  - code: b\n    url: https://example.com/b\n    title: Second\n");
    plan = plan_links_file(s, untitled, false);
    REQUIRE(plan.is_ok());
    REQUIRE(plan->links.size() == 2);
    CHECK(*field(plan->links[0], "title")->before == "First");
    CHECK_FALSE(field(plan->links[0], "title")->after.has_value());
    CHECK(plan->links[0].changes.size() == 1);
    REQUIRE(apply_links_file(s, untitled, false).is_ok());
    CHECK(s.get_link("", "a")->title.empty());
    CHECK(s.get_link("", "b")->title == "Second");
    CHECK(plan_links_file(s, untitled, false)->empty());
}
