// The link store against real SQLite files: migrations, uniqueness, state changes, the
// append-only audit log (refused through the C API), bulk import atomicity, the compiler's view.
// Backups (store_backup.cpp): the online copy, in-place replacement, integrity check, restore row.
#include <catch2/catch.hpp>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <string>
#include <type_traits>
#include <vector>

#include "formats/snapshot.h"
#include "store/store.h"
#include "store/validate.h"
#include "store/store_internal.h"  // link_audit_json: the shape an import row must match
#include "tests/store/temp_db.h"

using namespace shortlink;
using namespace shortlink::store;

namespace {

using test::TempDb;

LinkInput make_link(const std::string& code, const std::string& host = "") {
    LinkInput in;
    in.code = code;
    in.host = host;
    in.destination = "https://example.com/" + code;
    return in;
}

std::string no_code() { return "unused"; }

// Runs SQL on the file with a separate raw connection; returns the sqlite3 result code.
int raw_exec(const std::string& path, const std::string& sql, std::string* message = nullptr) {
    sqlite3* db = nullptr;
    sqlite3_open(path.c_str(), &db);
    char* err = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    if (message != nullptr && err != nullptr) {
        *message = err;
    }
    sqlite3_free(err);
    sqlite3_close(db);
    return rc;
}

}  // namespace

TEST_CASE("CreateRefusesToClobber", "[store]") {
    TempDb t;
    REQUIRE(Store::create(t.path, "test").is_ok());
    auto again = Store::create(t.path, "test");
    REQUIRE_FALSE(again.is_ok());
    CHECK(again.status().code() == Status::Code::conflict);
}

TEST_CASE("OpenMissingIsNotFound", "[store]") {
    TempDb t;
    auto s = Store::open(t.path);
    REQUIRE_FALSE(s.is_ok());
    CHECK(s.status().code() == Status::Code::not_found);
}

TEST_CASE("OpenRefusesAnEmptyFileAndLeavesItEmpty", "[store]") {
    TempDb t;
    { std::ofstream(t.path).flush(); }
    auto s = Store::open(t.path);
    REQUIRE_FALSE(s.is_ok());
    CHECK(s.status().code() == Status::Code::invalid_argument);
    CHECK(s.status().message() == "not a shortlink database: " + t.path +
                                      " (an empty file; `shortlink init` creates a database)");
    std::ifstream in(t.path, std::ios::binary | std::ios::ate);
    CHECK(in.tellg() == 0);
    CHECK(access((t.path + "-wal").c_str(), F_OK) != 0);
}

TEST_CASE("RefusesNewerSchemaAndGarbage", "[store]") {
    TempDb t;
    REQUIRE(Store::create(t.path, "test").is_ok());
    REQUIRE(raw_exec(t.path, "PRAGMA user_version = 99") == SQLITE_OK);
    auto s = Store::open(t.path);
    REQUIRE_FALSE(s.is_ok());
    CHECK(s.status().code() == Status::Code::invalid_argument);
    CHECK(s.status().message() == "cannot use database " + t.path + ": made by a newer shortlink: schema 99, this build knows " +
                                      std::to_string(Store::schema_version()) + " (upgrade shortlink)");

    TempDb g;
    { std::ofstream(g.path) << std::string(4096, 'x'); }
    auto garbage = Store::open(g.path);
    REQUIRE_FALSE(garbage.is_ok());
    CHECK(garbage.status().message() == "not a shortlink database: " + g.path + " (not an SQLite database)");
}

TEST_CASE("OpenRefusesAnotherProgramsDatabaseUntouched", "[store]") {
    for (const char* schema : {"", "CREATE TABLE notes (body TEXT); PRAGMA user_version = 2;",
                               "CREATE TABLE t (x); PRAGMA application_id = 7;"}) {
        INFO(schema);
        TempDb t;
        REQUIRE(raw_exec(t.path, std::string("PRAGMA page_size = 4096; ") + schema + " VACUUM;") == SQLITE_OK);
        std::ifstream in(t.path, std::ios::binary);
        const std::string before((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        REQUIRE_FALSE(before.empty());
        auto s = Store::open(t.path);
        REQUIRE_FALSE(s.is_ok());
        CHECK(s.status().code() == Status::Code::invalid_argument);
        CHECK_THAT(s.status().message(), Catch::StartsWith("not a shortlink database: " + t.path + " ("));
        std::ifstream again(t.path, std::ios::binary);
        CHECK(std::string((std::istreambuf_iterator<char>(again)), std::istreambuf_iterator<char>()) == before);
    }
}

TEST_CASE("ClosingTheLastStoreCheckpointsTheWal", "[store]") {
    TempDb t;
    {
        Store s = std::move(Store::create(t.path, "test").value());
        REQUIRE(s.add_link(make_link("a"), no_code).is_ok());
        CHECK(access((t.path + "-wal").c_str(), F_OK) == 0);  // WAL mode while open
        REQUIRE(s.list_links({}, [](const Link&) { return false; }).is_ok());  // a read stopped early
    }
    CHECK(access((t.path + "-wal").c_str(), F_OK) != 0);
    CHECK(access((t.path + "-shm").c_str(), F_OK) != 0);
    // The database file alone holds everything: a copy of it (without WAL) has the link.
    TempDb copy;
    {
        std::ifstream in(t.path, std::ios::binary);
        std::ofstream out(copy.path, std::ios::binary);
        out << in.rdbuf();
    }
    auto s = Store::open(copy.path);
    REQUIRE(s.is_ok());
    CHECK(s->get_link("", "a").is_ok());
}

TEST_CASE("LinksAreUniquePerDomain", "[store]") {
    TempDb t;
    Store s = std::move(Store::create(t.path, "test").value());
    DomainRecord d;
    d.host = "go.example.com";
    REQUIRE(s.add_domain(d).is_ok());
    REQUIRE(s.add_link(make_link("a"), no_code).is_ok());
    REQUIRE(s.add_link(make_link("a", "go.example.com"), no_code).is_ok());
    auto dup = s.add_link(make_link("a"), no_code);
    REQUIRE_FALSE(dup.is_ok());
    CHECK(dup.status().code() == Status::Code::conflict);
    CHECK(s.add_link(make_link("A"), no_code).is_ok());  // case-sensitive domain
}

TEST_CASE("CaseInsensitiveDomainRefusesCaseTwins", "[store]") {
    TempDb t;
    Store s = std::move(Store::create(t.path, "test").value());
    DomainRecord d;
    d.host = "ci.example.com";
    d.case_insensitive = true;
    REQUIRE(s.add_domain(d).is_ok());
    REQUIRE(s.add_link(make_link("Docs", "ci.example.com"), no_code).is_ok());
    auto twin = s.add_link(make_link("docs", "ci.example.com"), no_code);
    REQUIRE_FALSE(twin.is_ok());
    CHECK(twin.status().code() == Status::Code::conflict);
    auto found = s.get_link("ci.example.com", "DOCS");
    REQUIRE(found.is_ok());
    CHECK(found->code == "Docs");

    // Turning a domain case-insensitive is refused while case twins exist.
    REQUIRE(s.add_link(make_link("x"), no_code).is_ok());
    REQUIRE(s.add_link(make_link("X"), no_code).is_ok());
    DomainPatch p;
    p.case_insensitive = true;
    auto set = s.set_domain("*", p);
    REQUIRE_FALSE(set.is_ok());
    CHECK(set.status().code() == Status::Code::conflict);
}

TEST_CASE("GeneratedCodesRetryOnCollision", "[store]") {
    TempDb t;
    Store s = std::move(Store::create(t.path, "test").value());
    REQUIRE(s.add_link(make_link("taken"), no_code).is_ok());
    int calls = 0;
    auto gen = [&] { return ++calls < 3 ? std::string("taken") : std::string("fresh"); };
    auto added = s.add_link(make_link(""), gen);
    REQUIRE(added.is_ok());
    CHECK(added->code == "fresh");
    CHECK(calls == 3);
}

TEST_CASE("StateChangesBumpVersionAndAudit", "[store]") {
    TempDb t;
    Store s = std::move(Store::create(t.path, "test").value());
    s.set_actor("alice");
    REQUIRE(s.add_link(make_link("a"), no_code).is_ok());
    CHECK(s.change_state("", "a", StateAction::disable)->status == LinkState::disabled);
    CHECK(s.change_state("", "a", StateAction::remove)->status == LinkState::deleted);
    auto enable_deleted = s.change_state("", "a", StateAction::enable);
    REQUIRE_FALSE(enable_deleted.is_ok());
    CHECK(enable_deleted.status().code() == Status::Code::conflict);
    auto restored = s.change_state("", "a", StateAction::restore);
    REQUIRE(restored.is_ok());
    CHECK(restored->status == LinkState::active);
    CHECK(restored->version == 4);

    std::vector<std::string> actions;
    REQUIRE(s.history("", "a", 0, [&](const AuditRecord& r) {
        actions.push_back(r.action);
        CHECK(r.actor == "alice");
        return true;
    }).is_ok());
    CHECK(actions == std::vector<std::string>{"restore", "delete", "disable", "add"});
}

TEST_CASE("AuditLogRefusesUpdateAndDelete", "[store]") {
    TempDb t;
    {
        Store s = std::move(Store::create(t.path, "test").value());
        REQUIRE(s.add_link(make_link("a"), no_code).is_ok());
    }
    std::string message;
    CHECK(raw_exec(t.path, "UPDATE audit_log SET actor = 'mallory'", &message) == SQLITE_CONSTRAINT);
    CHECK_THAT(message, Catch::Contains("append-only"));
    CHECK(raw_exec(t.path, "DELETE FROM audit_log", &message) == SQLITE_CONSTRAINT);
    CHECK(raw_exec(t.path, "INSERT INTO audit_log (at, actor, action) VALUES (1, 'x', 'y')") == SQLITE_OK);
}

TEST_CASE("BulkRollbackLeavesNothing", "[store]") {
    TempDb t;
    Store s = std::move(Store::create(t.path, "test").value());
    REQUIRE(s.begin_bulk().is_ok());
    REQUIRE(s.put_link(make_link("a"), OnConflict::fail).is_ok());
    REQUIRE(s.put_link(make_link("b"), OnConflict::fail).is_ok());
    auto dup = s.put_link(make_link("a"), OnConflict::fail);
    CHECK(dup.status().code() == Status::Code::conflict);
    CHECK(*s.put_link(make_link("a"), OnConflict::skip) == PutOutcome::skipped);
    REQUIRE(s.end_bulk(false).is_ok());
    int n = 0;
    REQUIRE(s.list_links({}, [&](const Link&) { return ++n, true; }).is_ok());
    CHECK(n == 0);
}

TEST_CASE("BulkUpdateOverwritesAndAudits", "[store]") {
    TempDb t;
    Store s = std::move(Store::create(t.path, "test").value());
    REQUIRE(s.add_link(make_link("a"), no_code).is_ok());
    REQUIRE(s.begin_bulk().is_ok());
    LinkInput changed = make_link("a");
    changed.destination = "https://changed.example/";
    CHECK(*s.put_link(changed, OnConflict::update) == PutOutcome::updated);
    CHECK(*s.put_link(make_link("b"), OnConflict::update) == PutOutcome::inserted);
    REQUIRE(s.end_bulk(true).is_ok());
    CHECK(s.get_link("", "a")->destination == "https://changed.example/");
    CHECK(s.get_link("", "a")->version == 2);
    std::vector<std::string> b_actions;
    REQUIRE(s.history("", "b", 0, [&](const AuditRecord& r) { return b_actions.push_back(r.action), true; }).is_ok());
    CHECK(b_actions == std::vector<std::string>{"import"});
}

TEST_CASE("ImportAuditRowPerLinkMatchesAdd", "[store]") {
    TempDb t;
    Store s = std::move(Store::create(t.path, "test").value());
    DomainRecord go;
    go.host = "go.example";
    REQUIRE(s.add_domain(go).is_ok());
    LinkInput in = make_link("docs/setup", "go.example");
    in.redirect_type = 308;
    in.forward_query = 0;
    in.not_before = 1700000000;
    in.expires = 1900000000;
    in.tags = {"b", "a:1"};
    in.title = "Setup \xe2\x80\x94 \"quick\" start";
    in.status = LinkState::disabled;
    // The same link added one by one writes the reference after-image.
    LinkInput twin = in;
    twin.code = "twin";
    auto added = s.add_link(twin, no_code);
    REQUIRE(added.is_ok());
    REQUIRE(s.begin_bulk().is_ok());
    REQUIRE(*s.put_link(in, OnConflict::fail) == PutOutcome::inserted);
    REQUIRE(*s.put_link(make_link("plain"), OnConflict::fail) == PutOutcome::inserted);
    REQUIRE(s.end_bulk(true).is_ok());

    std::vector<AuditRecord> rows;
    REQUIRE(s.history("go.example", "docs/setup", 0, [&](const AuditRecord& r) {
        return rows.push_back(r), true;
    }).is_ok());
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].action == "import");
    CHECK(rows[0].host == "go.example");
    CHECK(rows[0].code == "docs/setup");
    CHECK(rows[0].before_json.empty());
    std::string expected = link_audit_json(*added);
    auto replace = [](std::string text, const std::string& from, const std::string& to) {
        return text.replace(text.find(from), from.size(), to);
    };
    CHECK(rows[0].after_json == replace(expected, "\"code\":\"twin\"", "\"code\":\"docs/setup\""));

    rows.clear();
    REQUIRE(s.history("", "plain", 0, [&](const AuditRecord& r) { return rows.push_back(r), true; }).is_ok());
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].after_json == link_audit_json(*s.get_link("", "plain")));
    // One row per link: no batch row without a code.
    int import_rows = 0;
    REQUIRE(s.history("", "", 0, [&](const AuditRecord& r) {
        import_rows += r.action == "import" ? 1 : 0;
        CHECK((r.action != "import" || !r.code.empty()));
        return true;
    }).is_ok());
    CHECK(import_rows == 2);
}

// The audit image has a fast writer for strings that need no escaping; both paths must write
// exactly what rapidjson writes.
std::string rapidjson_image(const Link& l) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    auto str = [&](const char* key, const std::string& v) {
        w.Key(key);
        w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
    };
    w.StartObject();
    str("host", l.host);
    str("code", l.code);
    str("url", l.destination);
    str("status", std::string(link_state_name(l.status)));
    w.Key("type");
    w.Uint(l.redirect_type);
    w.Key("forward_query");
    w.Int(l.forward_query);
    w.Key("not_before");
    w.Int64(l.not_before);
    w.Key("expires");
    w.Int64(l.expires);
    w.Key("tags");
    w.StartArray();
    for (const std::string& t : l.tags) {
        w.String(t.c_str(), static_cast<rapidjson::SizeType>(t.size()));
    }
    w.EndArray();
    str("title", l.title);
    w.Key("version");
    w.Int64(l.version);
    w.EndObject();
    return buf.GetString();
}

TEST_CASE("AuditImageMatchesRapidjsonWithAndWithoutEscapes", "[store]") {
    Link l;
    l.host = "go.example";
    l.code = "docs/setup";
    l.destination = "https://example.com/a?b=c&d=%20#frag";
    l.status = LinkState::disabled;
    l.redirect_type = 308;
    l.forward_query = -1;
    l.not_before = -5;
    l.expires = 9000000000;
    l.tags = {"a:1", "b"};
    l.version = 42;
    CHECK(link_audit_json(l) == rapidjson_image(l));
    l.tags.clear();
    CHECK(link_audit_json(l) == rapidjson_image(l));
    l.tags = {"only"};
    CHECK(link_audit_json(l) == rapidjson_image(l));
    l.title = "Spring sale: 20% off";
    CHECK(link_audit_json(l) == rapidjson_image(l));
    CHECK_THAT(link_audit_json(l), Catch::Contains("\"title\":\"Spring sale: 20% off\""));
    // Never produced by validated input, but the image must stay valid JSON if it ever is.
    for (std::string odd : {std::string("q\"uote"), std::string("back\\slash"), std::string("ctl\x01\n"),
                            std::string("del\x7f"), std::string("utf8\xc3\xa9")}) {
        Link e = l;
        e.code = odd;
        CHECK(link_audit_json(e) == rapidjson_image(e));
        e = l;
        e.destination = odd;
        CHECK(link_audit_json(e) == rapidjson_image(e));
        e = l;
        e.tags = {odd};
        CHECK(link_audit_json(e) == rapidjson_image(e));
        e = l;
        e.title = odd;
        CHECK(link_audit_json(e) == rapidjson_image(e));
    }
    CHECK_THAT(link_audit_json([&] { Link e = l; e.code = "q\"uote"; return e; }()), Catch::Contains("q\\\"uote"));
}

TEST_CASE("ImportThenOverwriteSameLinkKeepsAuditOrder", "[store]") {
    TempDb t;
    Store s = std::move(Store::create(t.path, "test").value());
    REQUIRE(s.begin_bulk().is_ok());
    REQUIRE(*s.put_link(make_link("a"), OnConflict::update) == PutOutcome::inserted);
    LinkInput changed = make_link("a");
    changed.destination = "https://changed.example/";
    REQUIRE(*s.put_link(changed, OnConflict::update) == PutOutcome::updated);
    REQUIRE(*s.put_link(make_link("b"), OnConflict::update) == PutOutcome::inserted);
    REQUIRE(s.end_bulk(true).is_ok());
    std::vector<AuditRecord> rows;
    REQUIRE(s.history("", "a", 0, [&](const AuditRecord& r) { return rows.push_back(r), true; }).is_ok());
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].action == "import-update");  // newest first
    CHECK(rows[1].action == "import");
    CHECK_THAT(rows[1].after_json, Catch::Contains("https://example.com/a") && Catch::Contains("\"version\":1"));
    CHECK(rows[0].before_json == rows[1].after_json);
    rows.clear();
    REQUIRE(s.history("", "b", 0, [&](const AuditRecord& r) { return rows.push_back(r), true; }).is_ok());
    CHECK(rows.size() == 1);
}

TEST_CASE("ImportAuditRowsWrittenInBatchesKeepOrder", "[store]") {
    // Import rows are queued and written 16 per INSERT: 37 links make two full batches, a
    // remainder, and an overwrite in between that must come after its link's import row.
    TempDb t;
    Store s = std::move(Store::create(t.path, "test").value());
    REQUIRE(s.begin_bulk().is_ok());
    for (int i = 0; i < 20; ++i) {
        REQUIRE(*s.put_link(make_link("k" + std::to_string(i)), OnConflict::update) == PutOutcome::inserted);
    }
    LinkInput changed = make_link("k19");
    changed.destination = "https://changed.example/";
    REQUIRE(*s.put_link(changed, OnConflict::update) == PutOutcome::updated);
    for (int i = 20; i < 37; ++i) {
        REQUIRE(*s.put_link(make_link("k" + std::to_string(i)), OnConflict::update) == PutOutcome::inserted);
    }
    REQUIRE(s.end_bulk(true).is_ok());
    std::vector<AuditRecord> all;
    REQUIRE(s.history("", "", 0, [&](const AuditRecord& r) { return all.push_back(r), true; }).is_ok());
    REQUIRE(all.size() == 1 + 37 + 1);  // init, one per link, the overwrite
    std::reverse(all.begin(), all.end());  // oldest first
    CHECK(all[0].action == "init");
    for (int i = 0; i < 20; ++i) {
        CHECK(all[1 + i].action == "import");
        CHECK(all[1 + i].code == "k" + std::to_string(i));
        CHECK(all[1 + i].after_json == link_audit_json([&] {
            Link l;
            l.host = "*";
            l.code = "k" + std::to_string(i);
            l.destination = "https://example.com/k" + std::to_string(i);
            return l;
        }()));
    }
    CHECK(all[21].action == "import-update");
    CHECK(all[21].code == "k19");
    CHECK(all[21].before_json == all[20].after_json);
    for (int i = 20; i < 37; ++i) {
        CHECK(all[2 + i].action == "import");
        CHECK(all[2 + i].code == "k" + std::to_string(i));
    }
    for (int i : {0, 15, 16, 36}) {
        std::vector<AuditRecord> rows;
        std::string code = "k" + std::to_string(i);
        REQUIRE(s.history("", code, 0, [&](const AuditRecord& r) { return rows.push_back(r), true; }).is_ok());
        REQUIRE(rows.size() == 1);  // found through its link_id
        CHECK(rows[0].after_json == link_audit_json(*s.get_link("", code)));
    }

    // A rolled-back import leaves none of its queued rows behind.
    REQUIRE(s.begin_bulk().is_ok());
    for (int i = 0; i < 20; ++i) {
        REQUIRE(s.put_link(make_link("r" + std::to_string(i)), OnConflict::fail).is_ok());
    }
    REQUIRE(s.end_bulk(false).is_ok());
    std::size_t after_rollback = 0;
    REQUIRE(s.history("", "", 0, [&](const AuditRecord&) { return ++after_rollback, true; }).is_ok());
    CHECK(after_rollback == all.size());
}

TEST_CASE("PutLinksBatchFallsBackToRowOutcomes", "[store]") {
    TempDb t;
    Store s = std::move(Store::create(t.path, "test").value());
    DomainRecord go;
    go.host = "go.example";
    REQUIRE(s.add_domain(go).is_ok());
    REQUIRE(s.add_link(make_link("b07"), no_code).is_ok());  // will conflict inside a batch
    auto batch_of = [](const std::string& prefix) {
        std::vector<LinkInput> batch;
        for (std::size_t i = 0; i < Store::k_link_batch; ++i) {
            batch.push_back(make_link(prefix + (i < 10 ? "0" : "") + std::to_string(i)));
        }
        return batch;
    };
    std::vector<PutOutcome> outcomes;
    REQUIRE(s.begin_bulk().is_ok());
    // A clean full batch: one multi-row INSERT, ids and audit rows as one by one.
    REQUIRE(s.put_links(batch_of("a"), OnConflict::fail, outcomes).is_ok());
    CHECK(outcomes == std::vector<PutOutcome>(Store::k_link_batch, PutOutcome::inserted));
    // A conflict at index 7: fail names it (outcomes holds the 7 rows before), skip skips it.
    Status st = s.put_links(batch_of("b"), OnConflict::fail, outcomes);
    CHECK(st.code() == Status::Code::conflict);
    CHECK(outcomes.size() == 7);
    REQUIRE(s.end_bulk(false).is_ok());
    REQUIRE(s.begin_bulk().is_ok());
    REQUIRE(s.put_links(batch_of("b"), OnConflict::skip, outcomes).is_ok());
    REQUIRE(outcomes.size() == Store::k_link_batch);
    CHECK(outcomes[7] == PutOutcome::skipped);
    CHECK(std::count(outcomes.begin(), outcomes.end(), PutOutcome::inserted) == 15);
    // A duplicate inside the batch and mixed domains also go row by row.
    auto dup = batch_of("c");
    dup[9].code = "c03";
    REQUIRE(s.put_links(dup, OnConflict::update, outcomes).is_ok());
    CHECK(outcomes[9] == PutOutcome::updated);
    auto mixed = batch_of("d");
    mixed[4].host = "go.example";
    REQUIRE(s.put_links(mixed, OnConflict::fail, outcomes).is_ok());
    REQUIRE(s.put_links(batch_of("a"), OnConflict::fail, outcomes).is_ok());
    REQUIRE(s.end_bulk(true).is_ok());
    CHECK(s.get_link("go.example", "d04").is_ok());
    CHECK(s.get_link("", "c03")->destination == "https://example.com/c09");
    for (const std::string code : {"a00", "a15", "b08", "c15", "d15"}) {
        std::vector<AuditRecord> rows;
        REQUIRE(s.history("", code, 0, [&](const AuditRecord& r) { return rows.push_back(r), true; }).is_ok());
        REQUIRE(rows.size() == 1);
        CHECK(rows[0].action == "import");
        CHECK(rows[0].after_json == link_audit_json(*s.get_link("", code)));
    }
}

TEST_CASE("PutLinksNearTheLargestRowidStaysRowByRow", "[store]") {
    // With a rowid at 2^63 - 1, SQLite gives new rows random rowids: a batch's ids are no longer
    // consecutive, so put_links() must not use one statement for them.
    TempDb t;
    { Store s = std::move(Store::create(t.path, "test").value()); }
    REQUIRE(raw_exec(t.path, "INSERT INTO links (id, domain_id, code, destination, created_at, updated_at) "
                             "VALUES (9223372036854775807, 1, 'max', 'https://example.com/max', 1, 1)") == SQLITE_OK);
    Store s = std::move(Store::open(t.path).value());
    std::vector<LinkInput> batch;
    for (std::size_t i = 0; i < Store::k_link_batch; ++i) {
        batch.push_back(make_link("a" + std::to_string(i)));
    }
    std::vector<PutOutcome> outcomes;
    REQUIRE(s.begin_bulk().is_ok());
    REQUIRE(s.put_links(batch, OnConflict::fail, outcomes).is_ok());
    REQUIRE(s.end_bulk(true).is_ok());
    for (const LinkInput& in : batch) {
        std::vector<AuditRecord> rows;
        REQUIRE(s.history("", in.code, 0, [&](const AuditRecord& r) { return rows.push_back(r), true; }).is_ok());
        REQUIRE(rows.size() == 1);
        CHECK(rows[0].after_json == link_audit_json(*s.get_link("", in.code)));
    }
}

TEST_CASE("ImportMissingDomain", "[store]") {
    TempDb t;
    Store s = std::move(Store::create(t.path, "test").value());
    REQUIRE(s.begin_bulk().is_ok());
    auto refused = s.put_link(make_link("a", "new.example"), OnConflict::fail);
    REQUIRE_FALSE(refused.is_ok());
    CHECK(refused.status().code() == Status::Code::not_found);
    CHECK_THAT(refused.status().message(), Catch::Contains("--create-domains"));
    REQUIRE(s.end_bulk(false).is_ok());

    // Created with defaults and audited; rolled back with the import.
    REQUIRE(s.begin_bulk(true).is_ok());
    REQUIRE(*s.put_link(make_link("a", "new.example"), OnConflict::fail) == PutOutcome::inserted);
    REQUIRE(*s.put_link(make_link("b", "new.example"), OnConflict::fail) == PutOutcome::inserted);
    CHECK(s.bulk_domains_created() == 1);
    REQUIRE(s.end_bulk(false).is_ok());
    CHECK(s.find_domain("new.example").status().code() == Status::Code::not_found);

    REQUIRE(s.begin_bulk(true).is_ok());
    REQUIRE(*s.put_link(make_link("a", "new.example"), OnConflict::fail) == PutOutcome::inserted);
    REQUIRE(s.end_bulk(true).is_ok());
    auto d = s.find_domain("new.example");
    REQUIRE(d.is_ok());
    CHECK(d->default_redirect == k_default_redirect);
    CHECK(d->forward_query);
    std::vector<std::string> actions;
    REQUIRE(s.history("new.example", "", 0, [&](const AuditRecord& r) { return actions.push_back(r.action), true; }).is_ok());
    CHECK(actions == std::vector<std::string>{"import", "domain-add"});
}

TEST_CASE("ReadForCompileStreamsEveryLiveLink", "[store]") {
    TempDb t;
    Store s = std::move(Store::create(t.path, "test").value());
    DomainRecord d;
    d.host = "b.example";
    d.default_redirect = 301;
    REQUIRE(s.add_domain(d).is_ok());
    for (const char* c : {"zz", "aa", "mm"}) {
        REQUIRE(s.add_link(make_link(c), no_code).is_ok());
        REQUIRE(s.add_link(make_link(c, "b.example"), no_code).is_ok());
    }
    REQUIRE(s.change_state("", "mm", StateAction::remove).is_ok());
    std::vector<std::string> domains;
    std::vector<std::pair<std::int64_t, std::string>> keys;
    REQUIRE(s.read_for_compile([&](const DomainRecord& r) { domains.push_back(r.host); },
                               [&](const CompileLinkRow& r) { keys.emplace_back(r.domain_id, std::string(r.code)); })
                .is_ok());
    CHECK(domains == std::vector<std::string>{"*", "b.example"});
    REQUIRE(keys.size() == 6);  // the soft-deleted link too: it compiles to 410
    std::sort(keys.begin(), keys.end());
    CHECK(std::adjacent_find(keys.begin(), keys.end()) == keys.end());
    CHECK(keys[0].second == "aa");
    CHECK(keys[2].second == "zz");
}

TEST_CASE("SnapshotSerialsIncrease", "[store]") {
    TempDb t;
    Store s = std::move(Store::create(t.path, "test").value());
    auto a = s.reserve_serial("snapshot", 0);
    auto b = s.reserve_serial("snapshot", 0);
    REQUIRE(a.is_ok());
    REQUIRE(b.is_ok());
    CHECK(*b == *a + 1);
    CHECK(s.list_snapshots()->empty());  // pending ones are not listed
    SnapshotRecord r;
    r.serial = *b;
    r.digest_hex = "ab";
    r.link_count = 3;
    REQUIRE(s.complete_snapshot(r).is_ok());
    auto list = s.list_snapshots();
    REQUIRE(list->size() == 1);
    CHECK((*list)[0].serial == *b);
    CHECK((*list)[0].link_count == 3);
    r.serial = 999;
    CHECK(s.complete_snapshot(r).code() == Status::Code::not_found);
}

TEST_CASE("RemoveDomainNeedsForce", "[store]") {
    TempDb t;
    Store s = std::move(Store::create(t.path, "test").value());
    DomainRecord d;
    d.host = "gone.example";
    REQUIRE(s.add_domain(d).is_ok());
    REQUIRE(s.add_link(make_link("a", "gone.example"), no_code).is_ok());
    CHECK(s.remove_domain("gone.example", false).code() == Status::Code::conflict);
    CHECK(s.remove_domain("*", true).code() == Status::Code::invalid_argument);
    REQUIRE(s.remove_domain("gone.example", true).is_ok());
    CHECK(s.find_domain("gone.example").status().code() == Status::Code::not_found);
}

TEST_CASE("StoreIsMovable", "[store]") {
    TempDb t;
    Store a = std::move(Store::create(t.path, "test").value());
    Store b = std::move(a);
    CHECK(b.add_link(make_link("moved"), no_code).is_ok());
}

TEST_CASE("ReserveSerialNeverGoesBackAndHonoursAtLeast", "[store]") {
    TempDb t;
    Store s = std::move(Store::create(t.path, "test").value());
    CHECK(*s.highest_serial() == 0);
    CHECK(*s.reserve_serial("snapshot", 0) == 1);
    CHECK(*s.reserve_serial("overlay", 0) == 2);  // one sequence for every kind
    CHECK(*s.reserve_serial("overlay", 100) == 100);
    CHECK(*s.reserve_serial("rollback", 50) == 101);  // at_least below the highest: highest + 1
    CHECK(*s.reserve_serial("snapshot", 101) == 102);
    CHECK(*s.highest_serial() == 102);
    CHECK(s.reserve_serial("bundle", 0).status().code() == Status::Code::invalid_argument);
    CHECK(s.reserve_serial("snapshot", std::uint64_t{1} << 63).status().code() == Status::Code::invalid_argument);
    CHECK(*s.highest_serial() == 102);  // refused reservations left nothing behind

    // Each reservation records its kind as pending.
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(t.path.c_str(), &db) == SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, "SELECT serial, kind, state FROM snapshots ORDER BY serial", -1, &stmt, nullptr) ==
            SQLITE_OK);
    std::vector<std::string> rows;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
        rows.push_back(std::to_string(sqlite3_column_int64(stmt, 0)) + " " +
                       reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1)) + " " +
                       reinterpret_cast<const char*>(sqlite3_column_text(stmt, 2)));
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    CHECK(rows == std::vector<std::string>{"1 snapshot pending", "2 overlay pending", "100 overlay pending",
                                           "101 rollback pending", "102 snapshot pending"});
}

TEST_CASE("ReserveSerialFromTwoConnectionsNeverRepeats", "[store]") {
    TempDb t;
    Store a = std::move(Store::create(t.path, "test").value());
    Store b = std::move(Store::open(t.path).value());
    std::vector<std::uint64_t> serials;
    for (int i = 0; i < 10; ++i) {
        serials.push_back(*a.reserve_serial("snapshot", 0));
        serials.push_back(*b.reserve_serial("overlay", 0));
    }
    for (std::size_t i = 1; i < serials.size(); ++i) {
        CHECK(serials[i] == serials[i - 1] + 1);
    }
}

namespace {

// Every row of every table, in a stable order: what "the store is unchanged" compares.
std::string dump(const std::string& path) {
    sqlite3* db = nullptr;
    sqlite3_open(path.c_str(), &db);
    std::string out;
    for (const char* sql : {"SELECT * FROM domains ORDER BY id", "SELECT * FROM links ORDER BY id",
                            "SELECT * FROM audit_log ORDER BY id", "SELECT * FROM snapshots ORDER BY serial",
                            "SELECT * FROM blocks ORDER BY id"}) {
        sqlite3_stmt* stmt = nullptr;
        sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr);
        while (sqlite3_step(stmt) == SQLITE_ROW) {
            for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
                const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, c));
                out += text != nullptr ? text : "NULL";
                out += '|';
            }
            out += '\n';
        }
        sqlite3_finalize(stmt);
        out += "--\n";
    }
    sqlite3_close(db);
    return out;
}

std::vector<AuditRecord> all_history(Store& s, const std::string& host = "", const std::string& code = "") {
    std::vector<AuditRecord> rows;
    REQUIRE(s.history(host, code, 0, [&](const AuditRecord& r) { return rows.push_back(r), true; }).is_ok());
    return rows;
}

// A store with go.example (case-sensitive) holding "spring", and ci.example (case-insensitive)
// holding "Docs".
struct BlockFixture {
    TempDb t;
    Store s = std::move(Store::create(t.path, "test").value());
    BlockFixture() {
        s.set_actor("alice");
        DomainRecord go;
        go.host = "go.example";
        REQUIRE(s.add_domain(go).is_ok());
        DomainRecord ci;
        ci.host = "ci.example";
        ci.case_insensitive = true;
        REQUIRE(s.add_domain(ci).is_ok());
        REQUIRE(s.add_link(make_link("spring", "go.example"), no_code).is_ok());
        REQUIRE(s.add_link(make_link("Docs", "ci.example"), no_code).is_ok());
        REQUIRE(s.add_link(make_link("home"), no_code).is_ok());
    }
};

}  // namespace

TEST_CASE("BlockLinkRecordsWhoWhenWhy", "[store][blocks]") {
    BlockFixture f;
    auto b = f.s.add_block(BlockKind::link, "go.example", "spring", "phishing in the spring flyer");
    REQUIRE(b.is_ok());
    CHECK(b->kind == BlockKind::link);
    CHECK(b->host == "go.example");
    CHECK(b->code == "spring");
    CHECK(b->reason == "phishing in the spring flyer");
    CHECK(b->actor == "alice");
    CHECK(b->created_at > 0);
    CHECK(b->id > 0);
    auto list = f.s.list_blocks();
    REQUIRE(list.is_ok());
    REQUIRE(list->size() == 1);
    CHECK((*list)[0].id == b->id);
    CHECK((*list)[0].created_at == b->created_at);
    // A disabled or deleted link can be blocked too: a block outlives an enable or restore.
    REQUIRE(f.s.change_state("", "home", StateAction::remove).is_ok());
    auto deleted = f.s.add_block(BlockKind::link, "", "home", "");
    REQUIRE(deleted.is_ok());
    CHECK(deleted->host == "*");
}

TEST_CASE("BlockDomainIncludingTheDefault", "[store][blocks]") {
    BlockFixture f;
    auto go = f.s.add_block(BlockKind::domain, "go.example", "ignored", "compromised");
    REQUIRE(go.is_ok());
    CHECK(go->host == "go.example");
    CHECK(go->code.empty());
    auto def = f.s.add_block(BlockKind::domain, "", "", "");
    REQUIRE(def.is_ok());
    CHECK(def->host == "*");
    CHECK(f.s.add_block(BlockKind::domain, "*", "", "").status().code() == Status::Code::conflict);
}

TEST_CASE("BlockDestinationNormalizesTheHost", "[store][blocks]") {
    BlockFixture f;
    auto b = f.s.add_block(BlockKind::destination, "Evil.EXAMPLE.", "", "malware");
    REQUIRE(b.is_ok());
    CHECK(b->host == "evil.example");
    CHECK(b->code.empty());
    auto idn = f.s.add_block(BlockKind::destination, "bücher.example", "", "");
    REQUIRE(idn.is_ok());
    CHECK(idn->host == "xn--bcher-kva.example");
    CHECK(f.s.add_block(BlockKind::destination, "xn--bcher-kva.example", "", "").status().code() ==
          Status::Code::conflict);
}

TEST_CASE("BlockOfUnknownLinkOrDomainIsNotFound", "[store][blocks]") {
    BlockFixture f;
    const std::string before = dump(f.t.path);
    auto no_link = f.s.add_block(BlockKind::link, "go.example", "autumn", "");
    CHECK(no_link.status().code() == Status::Code::not_found);
    CHECK_THAT(no_link.status().message(), Catch::Contains("no link 'autumn' on domain 'go.example'"));
    auto no_domain = f.s.add_block(BlockKind::link, "nowhere.example", "spring", "");
    CHECK(no_domain.status().code() == Status::Code::not_found);
    CHECK_THAT(no_domain.status().message(), Catch::Contains("domain 'nowhere.example' does not exist"));
    auto domain = f.s.add_block(BlockKind::domain, "nowhere.example", "", "");
    CHECK(domain.status().code() == Status::Code::not_found);
    CHECK_THAT(domain.status().message(), Catch::Contains("domain 'nowhere.example' does not exist"));
    // A removed domain is no longer served: neither it nor its links can be blocked.
    DomainRecord gone;
    gone.host = "gone.example";
    REQUIRE(f.s.add_domain(gone).is_ok());
    REQUIRE(f.s.add_link(make_link("x", "gone.example"), no_code).is_ok());
    REQUIRE(f.s.remove_domain("gone.example", true).is_ok());
    const std::string after_remove = dump(f.t.path);
    CHECK(f.s.add_block(BlockKind::domain, "gone.example", "", "").status().code() == Status::Code::not_found);
    CHECK(f.s.add_block(BlockKind::link, "gone.example", "x", "").status().code() == Status::Code::not_found);
    CHECK(dump(f.t.path) == after_remove);
    CHECK(before != after_remove);
}

TEST_CASE("BlockOfBadDestinationHostIsInvalid", "[store][blocks]") {
    BlockFixture f;
    const std::string before = dump(f.t.path);
    struct Case {
        std::string host;
        const char* message;
    };
    const Case cases[] = {
        {"", "destination host is empty"},
        {"https://evil.example/x", "is a URL"},
        {"evil.example/path", "contains a path"},
        {"evil.example?q", "contains a path, query or fragment"},
        {"evil.example:8080", "has a port"},
        {"[::1]", "IPv6 literal"},
        {"user@evil.example", "user info"},
        {"*.evil.example", "already covers its subdomains"},
        {"*", "not a destination host"},
        {"evil..example", "empty label"},
        {"ev!l.example", "contains '!'"},
        {"ev il.example", "a space at byte 2"},
        {std::string("evil\r\n.example"), "control character 0x0d at byte 4"},
        {std::string(300, 'a') + ".example", "label longer than 63 bytes"},
        {std::string(2000, 'a'), "2000 bytes"},
        {"evil.\xf0\x9f\x92\xa9.example", "not a valid international name"},
    };
    for (const Case& c : cases) {
        INFO(c.host);
        auto b = f.s.add_block(BlockKind::destination, c.host, "", "");
        REQUIRE_FALSE(b.is_ok());
        CHECK(b.status().code() == Status::Code::invalid_argument);
        CHECK_THAT(b.status().message(), Catch::Contains(c.message));
        CHECK(b.status().message().size() < 300);  // hostile input is never echoed at length
    }
    CHECK(dump(f.t.path) == before);
}

TEST_CASE("BlockReasonMustBeOneLineOfText", "[store][blocks]") {
    BlockFixture f;
    const std::string before = dump(f.t.path);
    for (const std::string& reason : {std::string("two\nlines"), std::string("bell\x07"), std::string("bad \xff utf8"),
                                     std::string("rtl \xe2\x80\xae override"),
                                     std::string(validate::k_max_reason_bytes + 1, 'r')}) {
        INFO(reason);
        auto b = f.s.add_block(BlockKind::domain, "go.example", "", reason);
        CHECK(b.status().code() == Status::Code::invalid_argument);
    }
    CHECK(dump(f.t.path) == before);
    CHECK(f.s.add_block(BlockKind::domain, "go.example", "", "Phishing-Kampagne \xc3\xbc" "ber Flyer").is_ok());
}

TEST_CASE("DuplicateBlockIsConflictNamingTheFirst", "[store][blocks]") {
    BlockFixture f;
    REQUIRE(f.s.add_block(BlockKind::link, "go.example", "spring", "phishing").is_ok());
    f.s.set_actor("bob");
    const std::string before = dump(f.t.path);
    auto again = f.s.add_block(BlockKind::link, "go.example", "spring", "also phishing");
    REQUIRE_FALSE(again.is_ok());
    CHECK(again.status().code() == Status::Code::conflict);
    CHECK_THAT(again.status().message(),
               Catch::Matches("link 'spring' on domain 'go.example' is already blocked since "
                              "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ by alice: phishing"));
    REQUIRE(f.s.add_block(BlockKind::destination, "evil.example", "", "").is_ok());
    auto no_reason = f.s.add_block(BlockKind::destination, "evil.example", "", "x");
    CHECK_THAT(no_reason.status().message(), Catch::EndsWith("by bob: no reason given"));
    CHECK(dump(f.t.path) != before);  // the destination block went in; the refused ones did not
}

TEST_CASE("UnblockRemovesTheRowAndUnknownIsNotFound", "[store][blocks]") {
    BlockFixture f;
    REQUIRE(f.s.add_block(BlockKind::link, "go.example", "spring", "phishing").is_ok());
    REQUIRE(f.s.add_block(BlockKind::domain, "go.example", "", "").is_ok());
    REQUIRE(f.s.add_block(BlockKind::destination, "evil.example", "", "").is_ok());
    const std::string before = dump(f.t.path);
    CHECK(f.s.remove_block(BlockKind::link, "go.example", "autumn").status().code() == Status::Code::not_found);
    CHECK(f.s.remove_block(BlockKind::link, "", "spring").status().code() == Status::Code::not_found);
    CHECK(f.s.remove_block(BlockKind::domain, "ci.example", "").status().code() == Status::Code::not_found);
    CHECK(f.s.remove_block(BlockKind::domain, "nowhere.example", "").status().code() == Status::Code::not_found);
    auto sub = f.s.remove_block(BlockKind::destination, "www.evil.example", "");
    CHECK(sub.status().code() == Status::Code::not_found);
    CHECK_THAT(sub.status().message(), Catch::Contains("destination host 'www.evil.example' is not blocked"));
    CHECK(f.s.remove_block(BlockKind::destination, "https://evil.example/", "").status().code() ==
          Status::Code::invalid_argument);
    CHECK(dump(f.t.path) == before);

    auto removed = f.s.remove_block(BlockKind::link, "go.example", "spring");
    REQUIRE(removed.is_ok());
    CHECK(removed->reason == "phishing");
    CHECK(removed->actor == "alice");
    REQUIRE(f.s.remove_block(BlockKind::destination, "EVIL.example", "").is_ok());
    auto list = f.s.list_blocks();
    REQUIRE(list->size() == 1);
    CHECK((*list)[0].kind == BlockKind::domain);
    CHECK(f.s.remove_block(BlockKind::link, "go.example", "spring").status().code() == Status::Code::not_found);
    // Blocked again after an unblock: a fresh row.
    CHECK(f.s.add_block(BlockKind::link, "go.example", "spring", "again").is_ok());
}

TEST_CASE("BlocksListInKindHostCodeOrder", "[store][blocks]") {
    BlockFixture f;
    REQUIRE(f.s.add_link(make_link("alpha", "go.example"), no_code).is_ok());
    REQUIRE(f.s.add_block(BlockKind::destination, "a.example", "", "").is_ok());
    REQUIRE(f.s.add_block(BlockKind::domain, "go.example", "", "").is_ok());
    REQUIRE(f.s.add_block(BlockKind::link, "go.example", "spring", "").is_ok());
    REQUIRE(f.s.add_block(BlockKind::link, "", "home", "").is_ok());
    REQUIRE(f.s.add_block(BlockKind::link, "go.example", "alpha", "").is_ok());
    REQUIRE(f.s.add_block(BlockKind::domain, "*", "", "").is_ok());
    auto list = f.s.list_blocks();
    REQUIRE(list.is_ok());
    std::vector<std::string> order;
    for (const BlockRecord& b : *list) {
        order.push_back(std::string(block_kind_name(b.kind)) + " " + b.host + " " + b.code);
    }
    CHECK(order == std::vector<std::string>{"link * home", "link go.example alpha", "link go.example spring",
                                            "domain * ", "domain go.example ", "destination a.example "});
}

TEST_CASE("BlockOnCaseInsensitiveDomainFoldsTheCode", "[store][blocks]") {
    BlockFixture f;
    auto b = f.s.add_block(BlockKind::link, "ci.example", "DOCS", "");
    REQUIRE(b.is_ok());
    CHECK(b->code == "docs");
    CHECK(f.s.add_block(BlockKind::link, "ci.example", "Docs", "").status().code() == Status::Code::conflict);
    // A case-sensitive domain keeps the spelling, and a wrong case is another (unknown) link.
    CHECK(f.s.add_link(make_link("Mixed", "go.example"), no_code).is_ok());
    CHECK(f.s.add_block(BlockKind::link, "go.example", "Mixed", "")->code == "Mixed");
    CHECK(f.s.add_block(BlockKind::link, "go.example", "mixed", "").status().code() == Status::Code::not_found);
    // Unblock takes any case on the case-insensitive domain.
    CHECK(f.s.remove_block(BlockKind::link, "ci.example", "dOcS").is_ok());
}

TEST_CASE("DomainCaseChangeRefoldsItsLinkBlocks", "[store][blocks]") {
    BlockFixture f;
    REQUIRE(f.s.add_link(make_link("Mixed", "go.example"), no_code).is_ok());
    REQUIRE(f.s.add_block(BlockKind::link, "go.example", "Mixed", "").is_ok());
    REQUIRE(f.s.add_block(BlockKind::link, "ci.example", "Docs", "").is_ok());
    DomainPatch to_ci;
    to_ci.case_insensitive = true;
    REQUIRE(f.s.set_domain("go.example", to_ci).is_ok());
    DomainPatch to_cs;
    to_cs.case_insensitive = false;
    REQUIRE(f.s.set_domain("ci.example", to_cs).is_ok());
    std::vector<std::string> codes;
    auto list = f.s.list_blocks();
    REQUIRE(list.is_ok());
    for (const BlockRecord& b : *list) {
        codes.push_back(b.host + "/" + b.code);
    }
    CHECK(codes == std::vector<std::string>{"ci.example/Docs", "go.example/mixed"});
    CHECK(f.s.remove_block(BlockKind::link, "go.example", "MIXED").is_ok());
    CHECK(f.s.remove_block(BlockKind::link, "ci.example", "docs").status().code() == Status::Code::not_found);
    CHECK(f.s.remove_block(BlockKind::link, "ci.example", "Docs").is_ok());
}

TEST_CASE("BlockAndUnblockWriteAuditRows", "[store][blocks]") {
    BlockFixture f;
    REQUIRE(f.s.add_block(BlockKind::link, "ci.example", "docs", "phishing").is_ok());
    REQUIRE(f.s.add_block(BlockKind::domain, "go.example", "", "").is_ok());
    REQUIRE(f.s.add_block(BlockKind::destination, "evil.example", "", "malware").is_ok());
    f.s.set_actor("bob");
    REQUIRE(f.s.remove_block(BlockKind::link, "ci.example", "DOCS").is_ok());

    // The link's own history shows its block and unblock, under the link's spelling.
    auto link_rows = all_history(f.s, "ci.example", "docs");
    REQUIRE(link_rows.size() == 3);
    CHECK(link_rows[0].action == "unblock");
    CHECK(link_rows[0].actor == "bob");
    CHECK(link_rows[0].host == "ci.example");
    CHECK(link_rows[0].code == "Docs");
    CHECK(link_rows[0].before_json == R"({"kind":"link","host":"ci.example","code":"docs","reason":"phishing"})");
    CHECK(link_rows[0].after_json.empty());
    CHECK(link_rows[1].action == "block");
    CHECK(link_rows[1].actor == "alice");
    CHECK(link_rows[1].before_json.empty());
    CHECK(link_rows[1].after_json == link_rows[0].before_json);
    CHECK(link_rows[2].action == "add");

    auto domain_rows = all_history(f.s, "go.example");
    REQUIRE_FALSE(domain_rows.empty());
    CHECK(domain_rows[0].action == "block");
    CHECK(domain_rows[0].code.empty());
    CHECK(domain_rows[0].after_json == R"({"kind":"domain","host":"go.example","code":"","reason":""})");

    auto all = all_history(f.s);
    auto dest = std::find_if(all.begin(), all.end(), [](const AuditRecord& r) {
        return r.after_json.find("\"destination\"") != std::string::npos;
    });
    REQUIRE(dest != all.end());
    CHECK(dest->action == "block");
    CHECK(dest->host.empty());
    CHECK(dest->after_json == R"({"kind":"destination","host":"evil.example","code":"","reason":"malware"})");
}

TEST_CASE("RefusedBlockLeavesTheStoreUnchanged", "[store][blocks]") {
    BlockFixture f;
    REQUIRE(f.s.add_block(BlockKind::link, "go.example", "spring", "first").is_ok());
    const std::string before = dump(f.t.path);
    const auto refused = [](const Result<BlockRecord>& r) { return r.status().to_string(); };
    CHECK_THAT(refused(f.s.add_block(BlockKind::link, "go.example", "spring", "second")),
               Catch::StartsWith("conflict: link 'spring' on domain 'go.example' is already blocked since ") &&
                   Catch::EndsWith(" by alice: first"));
    CHECK(refused(f.s.add_block(BlockKind::link, "go.example", "", "")) ==
          "not found: no link '' on domain 'go.example' to block");
    CHECK(refused(f.s.add_block(BlockKind::domain, "", "", std::string(1000, 'x'))) ==
          "invalid argument: reason is 1000 bytes; the limit is 512");
    CHECK(refused(f.s.add_block(BlockKind::destination, "evil.example:443", "", "")) ==
          "invalid argument: destination host 'evil.example:443' has a port or is an IPv6 literal; give the host "
          "name alone (a block covers every port)");
    CHECK(refused(f.s.remove_block(BlockKind::domain, "go.example", "")) ==
          "not found: domain 'go.example' is not blocked");
    CHECK(dump(f.t.path) == before);
    // The connection is still usable: no transaction was left open.
    CHECK(f.s.add_block(BlockKind::domain, "go.example", "", "").is_ok());
}

TEST_CASE("BlockKindNamesRoundTrip", "[store][blocks]") {
    for (BlockKind kind : {BlockKind::link, BlockKind::domain, BlockKind::destination}) {
        CHECK(parse_block_kind(block_kind_name(kind)) == kind);
    }
    CHECK_FALSE(parse_block_kind("Link").has_value());
    CHECK_FALSE(parse_block_kind("").has_value());
}

TEST_CASE("LinkStateIsTheSnapshotsLinkState", "[store]") {
    // One enum: a stored state goes into a snapshot record and comes back out with no mapping.
    STATIC_REQUIRE(std::is_same_v<LinkState, formats::LinkState>);
    STATIC_REQUIRE(std::is_same_v<decltype(formats::LinkView::status), LinkState>);
    for (LinkState state : {LinkState::active, LinkState::disabled, LinkState::deleted}) {
        CHECK(parse_link_state(link_state_name(state)) == state);
        CHECK(formats::link_state_from_number(static_cast<std::uint8_t>(state)) == state);
    }
    CHECK_FALSE(formats::link_state_from_number(3).has_value());  // the fourth value of two meta bits
    CHECK_FALSE(parse_link_state("Active").has_value());
}

TEST_CASE("MigratesVersion1DatabaseKeepingItsRows", "[store]") {
    TempDb t;
    {
        // A database exactly as a version-1 build left it, with a link and a compiled snapshot.
        sqlite3* db = nullptr;
        REQUIRE(sqlite3_open(t.path.c_str(), &db) == SQLITE_OK);
        REQUIRE(migrate(db, 1).is_ok());
        for (const char* sql :
             {"INSERT INTO links (domain_id, code, destination, created_at, updated_at) "
              "VALUES (1, 'old', 'https://example.com/old', 5, 5)",
              "INSERT INTO audit_log (at, actor, action, host, code, link_id) VALUES (5, 'v1', 'add', '*', 'old', 1)",
              "INSERT INTO snapshots (serial, state, created_at, sha256_hex) VALUES (7, 'complete', 6, 'ab')"}) {
            REQUIRE(sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK);
        }
        sqlite3_close(db);
    }
    std::string has_blocks;
    raw_exec(t.path, "SELECT 1 FROM blocks", &has_blocks);
    CHECK_THAT(has_blocks, Catch::Contains("no such table"));

    auto opened = Store::open(t.path);
    REQUIRE(opened.is_ok());
    Store s = std::move(opened).value();
    auto link = s.get_link("", "old");
    REQUIRE(link.is_ok());
    CHECK(link->destination == "https://example.com/old");
    auto rows = all_history(s, "", "old");
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].actor == "v1");
    // Migration 3 chained the rows it found; new rows chain on.
    auto head = s.verify_audit_log();
    REQUIRE(head.is_ok());
    CHECK(head->rows == 1);
    auto snaps = s.list_snapshots();
    REQUIRE(snaps->size() == 1);
    CHECK((*snaps)[0].serial == 7);
    CHECK(*s.highest_serial() == 7);
    CHECK(*s.reserve_serial("overlay", 0) == 8);
    CHECK(s.list_blocks()->empty());
    REQUIRE(s.add_block(BlockKind::link, "", "old", "").is_ok());
    std::string kind;
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(t.path.c_str(), &db) == SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, "SELECT kind FROM snapshots WHERE serial = 7", -1, &stmt, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
    kind = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    REQUIRE(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
    CHECK(sqlite3_column_int(stmt, 0) == Store::schema_version());
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    CHECK(kind == "snapshot");  // files compiled before migration 2 were all snapshots
}

TEST_CASE("AuditLogRefusesReplaceAndUpsert", "[store]") {
    TempDb t;
    {
        Store s = std::move(Store::create(t.path, "test").value());
        REQUIRE(s.add_link(make_link("a"), no_code).is_ok());
    }
    const std::string before = dump(t.path);
    const std::string row = "(id, at, actor, action, host, code) VALUES (1, 0, 'mallory', 'init', '*', '')";
    for (const std::string& sql :
         {"REPLACE INTO audit_log " + row, "INSERT OR REPLACE INTO audit_log " + row,
          "PRAGMA recursive_triggers = ON; INSERT OR REPLACE INTO audit_log " + row,
          "INSERT INTO audit_log " + row + " ON CONFLICT (id) DO UPDATE SET actor = 'mallory'",
          "INSERT OR IGNORE INTO audit_log " + row, std::string("UPDATE OR REPLACE audit_log SET id = 1 WHERE id = 2")}) {
        INFO(sql);
        std::string message;
        CHECK(raw_exec(t.path, sql, &message) == SQLITE_CONSTRAINT);
        CHECK_THAT(message, Catch::Contains("audit_log is append-only"));
        CHECK(dump(t.path) == before);
    }
    Store s = std::move(Store::open(t.path).value());
    CHECK(s.verify_audit_log().is_ok());
}

TEST_CASE("AuditChainVerifiesAndNamesTheFirstBadRow", "[store]") {
    TempDb t;
    {
        Store s = std::move(Store::create(t.path, "test").value());
        for (const char* code : {"a", "b", "c"}) {
            REQUIRE(s.add_link(make_link(code), no_code).is_ok());
        }
        REQUIRE(s.change_state("", "b", StateAction::disable).is_ok());
        auto head = s.verify_audit_log();
        REQUIRE(head.is_ok());
        CHECK(head->rows == 5);
        CHECK(head->last_id == 5);
        CHECK(head->hash_hex.size() == 64);
    }
    REQUIRE(raw_exec(t.path, "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET code = 'x' WHERE id = 3") ==
            SQLITE_OK);
    Store s = std::move(Store::open(t.path).value());
    auto broken = s.verify_audit_log();
    REQUIRE_FALSE(broken.is_ok());
    CHECK(broken.status().code() == Status::Code::corruption);
    CHECK_THAT(broken.status().message(), Catch::StartsWith("audit row 3: its hash does not match"));
}

TEST_CASE("AuditChainHasNoForkAcrossConnectionsAndRollbacks", "[store]") {
    TempDb t;
    Store a = std::move(Store::create(t.path, "test").value());
    Store b = std::move(Store::open(t.path).value());
    for (int i = 0; i < 5; ++i) {
        REQUIRE(a.add_link(make_link("a" + std::to_string(i)), no_code).is_ok());
        REQUIRE(b.add_link(make_link("b" + std::to_string(i)), no_code).is_ok());
    }
    // A rolled-back import forgets the chain head it advanced.
    REQUIRE(a.begin_bulk().is_ok());
    for (int i = 0; i < 40; ++i) {
        REQUIRE(a.put_link(make_link("r" + std::to_string(i)), OnConflict::fail).is_ok());
    }
    REQUIRE(a.end_bulk(false).is_ok());
    REQUIRE(b.add_link(make_link("after-rollback-b"), no_code).is_ok());
    REQUIRE(a.add_link(make_link("after-rollback-a"), no_code).is_ok());
    // A committed one, batches and single rows mixed, then the other connection again.
    REQUIRE(a.begin_bulk().is_ok());
    std::vector<LinkInput> batch;
    for (std::size_t i = 0; i < Store::k_link_batch; ++i) {
        batch.push_back(make_link("bulk" + std::to_string(i)));
    }
    std::vector<PutOutcome> outcomes;
    REQUIRE(a.put_links(batch, OnConflict::fail, outcomes).is_ok());
    REQUIRE(a.put_link(make_link("single"), OnConflict::fail).is_ok());
    REQUIRE(a.put_link(make_link("a0"), OnConflict::update).is_ok());
    REQUIRE(a.end_bulk(true).is_ok());
    REQUIRE(b.change_state("", "single", StateAction::disable).is_ok());
    auto head = b.verify_audit_log();
    INFO((head.is_ok() ? std::string() : head.status().message()));
    REQUIRE(head.is_ok());
    CHECK(head->rows == 1 + 10 + 2 + 16 + 1 + 1 + 1);
    CHECK(head->last_id == head->rows);
}

TEST_CASE("BlocksTableRefusesWhatTheApiNeverWrites", "[store][blocks]") {
    TempDb t;
    { Store s = std::move(Store::create(t.path, "test").value()); }
    for (const char* sql : {
             "INSERT INTO blocks (kind, host, code, actor, created_at) VALUES ('user', 'x', '', 'a', 1)",
             "INSERT INTO blocks (kind, host, code, actor, created_at) VALUES ('link', 'x', '', 'a', 1)",
             "INSERT INTO blocks (kind, host, code, actor, created_at) VALUES ('domain', 'x', 'c', 'a', 1)",
             "INSERT INTO blocks (kind, host, code, actor, created_at) VALUES ('destination', '', '', 'a', 1)",
             "INSERT INTO snapshots (serial, state, created_at, kind) VALUES (1, 'pending', 1, 'bundle')",
         }) {
        INFO(sql);
        CHECK(raw_exec(t.path, sql) == SQLITE_CONSTRAINT);
    }
    CHECK(raw_exec(t.path, "INSERT INTO blocks (kind, host, code, actor, created_at) VALUES ('link', 'x', 'c', 'a', 1)") ==
          SQLITE_OK);
    CHECK(raw_exec(t.path, "INSERT INTO blocks (kind, host, code, actor, created_at) VALUES ('link', 'x', 'c', 'b', 2)") ==
          SQLITE_CONSTRAINT);
}

TEST_CASE("DomainHttpsPolicyIsStoredChangedAndAudited", "[store]") {
    TempDb t;
    Store s = std::move(Store::create(t.path, "test").value());
    DomainRecord d;
    d.host = "go.example";
    d.https_redirect = true;
    d.hsts_max_age_s = 600;
    REQUIRE(s.add_domain(d).is_ok());
    auto found = s.find_domain("go.example");
    REQUIRE(found.is_ok());
    CHECK(found->https_redirect);
    CHECK(found->hsts_max_age_s == 600);
    CHECK_FALSE(found->hsts_include_subdomains);
    DomainPatch p;
    p.hsts_include_subdomains = true;
    p.hsts_max_age_s = 4294967295u;
    auto set = s.set_domain("go.example", p);
    REQUIRE(set.is_ok());
    CHECK(set->https_redirect);  // left alone
    CHECK(set->hsts_max_age_s == 4294967295u);
    CHECK(set->hsts_include_subdomains);
    auto listed = s.list_domains();
    REQUIRE(listed.is_ok());
    REQUIRE(listed->size() == 2);
    CHECK((*listed)[1].hsts_max_age_s == 4294967295u);
    CHECK_FALSE((*listed)[0].https_redirect);  // the default domain
    std::string after;
    REQUIRE(s.history("go.example", "", 1, [&](const AuditRecord& r) {
                 CHECK(r.action == "domain-set");
                 after = r.after_json;
                 return true;
             }).is_ok());
    CHECK(after.find("\"https_redirect\":true,\"hsts_max_age_s\":4294967295,\"hsts_include_subdomains\":true") !=
          std::string::npos);
}

namespace {

std::vector<std::string> codes_in(Store& s) {
    std::vector<std::string> codes;
    REQUIRE(s.list_links({}, [&](const Link& l) { return codes.push_back(l.code), true; }).is_ok());
    return codes;
}

Store store_with(const std::string& path, std::initializer_list<const char*> codes) {
    Store s = std::move(Store::create(path, "test")).value();
    for (const char* code : codes) {
        REQUIRE(s.add_link(make_link(code), no_code).is_ok());
    }
    return s;
}

}  // namespace

TEST_CASE("BackupCopyOpensWithEveryLinkAndNoWal", "[store][backup]") {
    TempDb t;
    Store s = store_with(t.path, {"a", "b", "c"});
    const std::string copy = t.dir + "/copy.db";
    REQUIRE(s.backup_to(copy).is_ok());
    CHECK(access((copy + "-wal").c_str(), F_OK) != 0);
    {
        Store c = std::move(Store::open(copy)).value();
        CHECK(codes_in(c) == std::vector<std::string>{"a", "b", "c"});
        CHECK(c.check_integrity().is_ok());
        CHECK(c.verify_audit_log().is_ok());
    }
    std::remove(copy.c_str());
}

TEST_CASE("ReplaceContentsReachesAnOpenConnection", "[store][backup]") {
    TempDb t;
    TempDb other;
    Store live = store_with(t.path, {"old"});
    { Store source = store_with(other.path, {"new1", "new2"}); }
    REQUIRE(Store::replace_contents(t.path, other.path).is_ok());
    CHECK(codes_in(live) == std::vector<std::string>{"new1", "new2"});
    REQUIRE(live.add_link(make_link("after"), no_code).is_ok());  // writes land on the new content
    CHECK(live.verify_audit_log().is_ok());
    CHECK(live.check_integrity().is_ok());
}

TEST_CASE("ReplaceContentsOfANonDatabaseIsCorruption", "[store][backup]") {
    TempDb t;
    TempDb other;
    { Store source = store_with(other.path, {"x"}); }
    std::ofstream(t.path) << std::string(8192, 'z');
    Status st = Store::replace_contents(t.path, other.path);
    CHECK(st.code() == Status::Code::corruption);
    std::ifstream in(t.path);
    CHECK(std::string(std::istreambuf_iterator<char>(in), {}) == std::string(8192, 'z'));  // untouched
}

TEST_CASE("CheckIntegrityNamesAnIndexMissingRows", "[store][backup]") {
    TempDb t;
    { Store s = store_with(t.path, {"a", "b", "c"}); }
    // Point one index of links at a fresh empty page: the table's rows are no longer in it.
    REQUIRE(raw_exec(t.path, "CREATE TABLE spare(x);"
                             "PRAGMA writable_schema = ON;"
                             "UPDATE sqlite_master SET rootpage = (SELECT rootpage FROM sqlite_master WHERE name = 'spare') "
                             "WHERE name = (SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'links' "
                             "AND sql IS NOT NULL LIMIT 1);"
                             "DELETE FROM sqlite_master WHERE name = 'spare';") == SQLITE_OK);
    Store s = std::move(Store::open(t.path)).value();
    Status st = s.check_integrity();
    CHECK(st.code() == Status::Code::corruption);
    CHECK(st.message().rfind("integrity check: ", 0) == 0);
}

TEST_CASE("RecordRestoreIsAuditedOnTheChain", "[store][backup]") {
    TempDb t;
    Store s = store_with(t.path, {"a"});
    s.set_actor("operator");
    REQUIRE(s.record_restore("/backups/nightly.slbak", std::string(64, 'e'), 1764000000).is_ok());
    std::vector<AuditRecord> rows;
    REQUIRE(s.history("", "", 1, [&](const AuditRecord& r) { return rows.push_back(r), true; }).is_ok());
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].action == "restore-backup");
    CHECK(rows[0].actor == "operator");
    CHECK(rows[0].after_json ==
          R"({"backup":"/backups/nightly.slbak","sha256":")" + std::string(64, 'e') + R"(","created_at":1764000000})");
    CHECK(s.verify_audit_log().is_ok());
}

// A database error names the file once and says its cause once, in words: a writer that finds
// the database locked is told which database and for how long it waited.
TEST_CASE("DatabaseErrorsNameTheFileOnce", "[store]") {
    TempDb t;
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(t.path.c_str(), &db) == SQLITE_OK);
    const std::string file = sqlite3_db_filename(db, "main");
    const Status busy = shortlink::store::detail::sqlite_error(db, SQLITE_BUSY, "cannot start a transaction");
    CHECK(busy.message() == file + ": cannot start a transaction: the database is locked: another process kept it "
                                   "locked for 30 s");
    // The cause is said once, whether or not the caller's words already hold it.
    CHECK(shortlink::store::detail::sqlite_error(nullptr, SQLITE_FULL, "cannot add link").message() ==
          "cannot add link: database or disk is full");
    CHECK(shortlink::store::detail::sqlite_error(nullptr, SQLITE_FULL, "cannot add link: database or disk is full")
              .message() == "cannot add link: database or disk is full");
    const Status named = shortlink::store::detail::sqlite_error(db, SQLITE_IOERR, "cannot open " + file);
    CHECK(named.message().find(file) == named.message().rfind(file));
    sqlite3_close(db);
}

TEST_CASE("ListLinksFiltersByEffectiveStateAndSearch", "[store]") {
    TempDb t;
    Store s = std::move(Store::create(t.path, "test").value());
    const std::int64_t now = 2000000000;
    auto add = [&](const std::string& code, const std::string& url, std::int64_t not_before, std::int64_t expires) {
        LinkInput in = make_link(code);
        in.destination = url;
        in.not_before = not_before;
        in.expires = expires;
        REQUIRE(s.add_link(in, no_code).is_ok());
    };
    add("Alpha", "https://example.com/one", 0, 0);
    add("beta", "https://Example.com/TWO", 0, now);          // expires at now: expired
    add("gamma", "https://example.com/three", now + 1, 0);   // starts after now
    add("delta", "https://example.com/four", 0, now + 1);    // still active at now
    REQUIRE(s.change_state("", "delta", StateAction::disable).is_ok());
    auto codes = [&](LinkFilter filter) {
        filter.now = now;
        std::vector<std::string> out;
        REQUIRE(s.list_links(filter, [&](const Link& l) { return out.push_back(l.code), true; }).is_ok());
        return out;
    };
    LinkFilter f;
    f.state = EffectiveState::expired;
    CHECK(codes(f) == std::vector<std::string>{"beta"});
    f.state = EffectiveState::not_yet_valid;
    CHECK(codes(f) == std::vector<std::string>{"gamma"});
    f.state = EffectiveState::active;
    CHECK(codes(f) == std::vector<std::string>{"Alpha"});
    f.state = EffectiveState::disabled;
    CHECK(codes(f) == std::vector<std::string>{"delta"});
    // The stored status of an expired link is still active.
    LinkFilter by_status;
    by_status.status = LinkState::active;
    CHECK(codes(by_status) == std::vector<std::string>{"Alpha", "beta", "gamma"});
    // A substring of the code or the URL, ASCII case ignored.
    LinkFilter search;
    search.search = "ALPHA";
    CHECK(codes(search) == std::vector<std::string>{"Alpha"});
    search.search = "example.com/t";
    CHECK(codes(search) == std::vector<std::string>{"beta", "gamma"});
    search.search = "zzz";
    CHECK(codes(search).empty());
    REQUIRE(s.edit_link("", "gamma", [] {
                 LinkPatch p;
                 p.title = "Spring Sale \xc3\xa0 Paris";
                 return p;
             }()).is_ok());
    search.search = "spring SALE";  // a substring of the title
    CHECK(codes(search) == std::vector<std::string>{"gamma"});
    // Filters combine, and the limit counts only links that pass them.
    search.search = "example.com/t";
    search.state = EffectiveState::not_yet_valid;
    CHECK(codes(search) == std::vector<std::string>{"gamma"});
    LinkFilter limited;
    limited.search = "e";
    limited.limit = 2;
    limited.state = EffectiveState::active;
    CHECK(codes(limited) == std::vector<std::string>{"Alpha"});
    limited.state.reset();
    CHECK(codes(limited) == std::vector<std::string>{"Alpha", "beta"});
}

TEST_CASE("TitleIsStoredEditedClearedAndAudited", "[store]") {
    TempDb t;
    Store s = std::move(Store::create(t.path, "test").value());
    LinkInput in = make_link("spring");
    in.title = "Spring sale \xe2\x80\x94 20% off";
    auto added = s.add_link(in, no_code);
    REQUIRE(added.is_ok());
    CHECK(added->title == in.title);
    CHECK(s.get_link("", "spring")->title == in.title);
    // An edit that leaves the title alone keeps it.
    LinkPatch url;
    url.destination = "https://example.com/spring2";
    CHECK(s.edit_link("", "spring", url)->title == in.title);
    LinkPatch retitle;
    retitle.title = "Spring sale";
    auto edited = s.edit_link("", "spring", retitle);
    REQUIRE(edited.is_ok());
    CHECK(edited->title == "Spring sale");
    CHECK(edited->version == 3);
    LinkPatch clear;
    clear.title = "";
    CHECK(s.edit_link("", "spring", clear)->title.empty());
    CHECK(s.get_link("", "spring")->title.empty());
    std::vector<AuditRecord> rows;
    REQUIRE(s.history("", "spring", 0, [&](const AuditRecord& r) { return rows.push_back(r), true; }).is_ok());
    REQUIRE(rows.size() == 4);  // newest first: clear, retitle, url, add
    CHECK_THAT(rows[0].before_json, Catch::Contains("\"title\":\"Spring sale\""));
    CHECK_THAT(rows[0].after_json, Catch::Contains("\"title\":\"\""));
    CHECK_THAT(rows[1].before_json, Catch::Contains("\"title\":\"Spring sale \xe2\x80\x94 20% off\""));
    CHECK_THAT(rows[3].after_json, Catch::Contains("\"title\":\"Spring sale \xe2\x80\x94 20% off\""));
    CHECK(s.verify_audit_log().is_ok());
}

TEST_CASE("ImportKeepsTitlesInBatchesRowsAndOverwrites", "[store]") {
    TempDb t;
    Store s = std::move(Store::create(t.path, "test").value());
    // A full batch goes in by one multi-row INSERT, then an overwrite and a single row.
    std::vector<LinkInput> batch;
    for (std::size_t i = 0; i < Store::k_link_batch; ++i) {
        LinkInput in = make_link("t" + std::to_string(i + 10));
        in.title = i % 2 == 0 ? "Title " + std::to_string(i) : "";
        batch.push_back(in);
    }
    std::vector<PutOutcome> outcomes;
    REQUIRE(s.begin_bulk().is_ok());
    REQUIRE(s.put_links(batch, OnConflict::update, outcomes).is_ok());
    REQUIRE(outcomes.size() == Store::k_link_batch);
    LinkInput again = make_link("t10");
    again.title = "Renamed";
    REQUIRE(*s.put_link(again, OnConflict::update) == PutOutcome::updated);
    LinkInput single = make_link("solo");
    single.title = "\xe6\x98\xa5";
    REQUIRE(*s.put_link(single, OnConflict::fail) == PutOutcome::inserted);
    REQUIRE(s.end_bulk(true).is_ok());
    CHECK(s.get_link("", "t10")->title == "Renamed");
    CHECK(s.get_link("", "t11")->title.empty());
    CHECK(s.get_link("", "t12")->title == "Title 2");
    CHECK(s.get_link("", "solo")->title == "\xe6\x98\xa5");
    for (const char* code : {"t12", "solo"}) {
        std::vector<AuditRecord> rows;
        REQUIRE(s.history("", code, 0, [&](const AuditRecord& r) { return rows.push_back(r), true; }).is_ok());
        REQUIRE(rows.size() == 1);
        CHECK(rows[0].after_json == link_audit_json(*s.get_link("", code)));
    }
    std::vector<AuditRecord> rows;
    REQUIRE(s.history("", "t10", 0, [&](const AuditRecord& r) { return rows.push_back(r), true; }).is_ok());
    REQUIRE(rows.size() == 2);
    CHECK_THAT(rows[0].before_json, Catch::Contains("\"title\":\"Title 0\""));
    CHECK_THAT(rows[0].after_json, Catch::Contains("\"title\":\"Renamed\""));
    CHECK(s.verify_audit_log().is_ok());
}

TEST_CASE("MigratesVersion4DatabaseToTitles", "[store]") {
    TempDb t;
    {
        // A database exactly as the last build without titles left it, with a link on a domain.
        sqlite3* db = nullptr;
        REQUIRE(sqlite3_open(t.path.c_str(), &db) == SQLITE_OK);
        REQUIRE(migrate(db, 4).is_ok());
        for (const char* sql :
             {"INSERT INTO domains (host, created_at, updated_at) VALUES ('go.example', 5, 5)",
              "INSERT INTO links (domain_id, code, destination, tags, created_at, updated_at) "
              "VALUES (2, 'old', 'https://example.com/old', ',a,', 5, 5)"}) {
            REQUIRE(sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK);
        }
        sqlite3_close(db);
    }
    std::string message;
    raw_exec(t.path, "SELECT title FROM links", &message);
    CHECK_THAT(message, Catch::Contains("no such column: title"));

    auto opened = Store::open(t.path);
    REQUIRE(opened.is_ok());
    Store s = std::move(opened).value();
    auto link = s.get_link("go.example", "old");
    REQUIRE(link.is_ok());
    CHECK(link->title.empty());
    CHECK(link->tags == std::vector<std::string>{"a"});
    CHECK(link->destination == "https://example.com/old");
    LinkPatch p;
    p.title = "Old page";
    auto edited = s.edit_link("go.example", "old", p);
    REQUIRE(edited.is_ok());
    CHECK(edited->title == "Old page");
    CHECK(edited->version == 2);
    CHECK(s.get_link("go.example", "old")->title == "Old page");
    CHECK(s.verify_audit_log().is_ok());
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(t.path.c_str(), &db) == SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
    CHECK(sqlite3_column_int(stmt, 0) == 7);
    CHECK(Store::schema_version() == 7);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
}

TEST_CASE("DomainPoliciesAreStoredSetAndAudited", "[store][policy]") {
    TempDb t;
    auto s = Store::create(t.path, "test");
    REQUIRE(s.is_ok());
    DomainRecord d;
    d.host = "go.example";
    d.not_found_url = "https://go.example/search";
    d.stale_if_error_s = 600;
    d.cache_scope = "public";
    REQUIRE(s->add_domain(d).is_ok());
    auto found = s->find_domain("go.example");
    REQUIRE(found.is_ok());
    CHECK(found->not_found_url == "https://go.example/search");
    CHECK(found->permanent_max_age_s == k_default_permanent_max_age_s);
    CHECK(found->stale_if_error_s == 600);
    CHECK(found->cache_scope == "public");
    DomainPatch p;
    p.not_found_url = std::string();
    p.gone_text = "Over.";
    p.miss_budget = 90;
    p.country_header = "CF-IPCountry";
    auto set = s->set_domain("go.example", p);
    REQUIRE(set.is_ok());
    CHECK(set->not_found_url.empty());
    CHECK(set->gone_text == "Over.");
    CHECK(set->miss_budget == 90);
    CHECK(set->country_header == "CF-IPCountry");
    CHECK(found->country_header.empty());  // none until set
    CHECK(set->cache_scope == "public");  // left alone
    // The schema refuses what the CLI would: a scope it does not know.
    std::string message;
    CHECK(raw_exec(t.path, "UPDATE domains SET cache_scope = 'shared'", &message) == SQLITE_CONSTRAINT);
    std::vector<AuditRecord> rows;
    REQUIRE(s->history("go.example", "", 0, [&](const AuditRecord& r) {
                  rows.push_back(r);
                  return true;
              }).is_ok());
    REQUIRE_FALSE(rows.empty());
    CHECK(rows.front().action == "domain-set");
    CHECK(rows.front().after_json.find("\"gone_text\":\"Over.\"") != std::string::npos);
    CHECK(rows.front().after_json.find("\"country_header\":\"CF-IPCountry\"") != std::string::npos);
    DomainPatch clear;
    clear.country_header = std::string();
    CHECK(s->set_domain("go.example", clear)->country_header.empty());
    CHECK(s->find_domain("go.example")->country_header.empty());
    CHECK(s->verify_audit_log().is_ok());
}

TEST_CASE("ReservedLinksGoLiveWithAStartTimeAndKeepTheirExpiredUrl", "[store][policy]") {
    TempDb t;
    auto s = Store::create(t.path, "test");
    REQUIRE(s.is_ok());
    LinkInput in = make_link("launch");
    in.reserved = true;
    in.expired_url = "https://example.com/after";
    auto added = s->add_link(in, no_code);
    REQUIRE(added.is_ok());
    CHECK(added->reserved);
    auto got = s->get_link("", "launch");
    REQUIRE(got.is_ok());
    CHECK(got->reserved);
    CHECK(got->expired_url == "https://example.com/after");
    LinkFilter waiting;
    waiting.state = EffectiveState::not_yet_valid;
    waiting.now = 1'800'000'000;
    int listed = 0;
    REQUIRE(s->list_links(waiting, [&](const Link&) {
        ++listed;
        return true;
    }).is_ok());
    CHECK(listed == 1);
    LinkPatch live;
    live.not_before = 1'900'000'000;
    auto edited = s->edit_link("", "launch", live);
    REQUIRE(edited.is_ok());
    CHECK_FALSE(edited->reserved);
    CHECK(edited->not_before == 1'900'000'000);
    LinkPatch again;
    again.reserved = true;
    edited = s->edit_link("", "launch", again);
    REQUIRE(edited.is_ok());
    CHECK(edited->reserved);
    CHECK(edited->not_before == 0);  // reserving takes the start time away
    LinkPatch both;
    both.reserved = true;
    both.not_before = 1'900'000'000;
    CHECK(s->edit_link("", "launch", both).status().code() == Status::Code::invalid_argument);
    LinkPatch clear;
    clear.expired_url = std::string();
    edited = s->edit_link("", "launch", clear);
    REQUIRE(edited.is_ok());
    CHECK(edited->expired_url.empty());
    CHECK(s->verify_audit_log().is_ok());
}
