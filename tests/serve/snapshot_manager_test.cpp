// The snapshot manager's rules, one scan at a time: the highest acceptable serial wins, names only
// order the search, rollbacks are refused whether the name or the header tells, a changed file is
// judged again, a transient failure is retried, a lazily loaded file found damaged is withdrawn in
// favour of the next best, and the state directory holds what was verified.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "compiler/snapshot_builder.h"
#include "formats/snapshot.h"
#include "serve/snapshot_manager.h"
#include "tests/formats/snapshot_fixture.h"

using namespace shortlink;

namespace {

struct Fixture {
    formats::SigningKey key = test::test_key();
    formats::SigningKey stranger = test::test_key();
    test::TempDir dir;
    test::TempDir state;
    std::string log_path = dir.path + "/.log";

    // The bytes of a snapshot with serial `serial` whose link "v" goes to /v/<serial>.
    std::string snapshot(std::uint64_t serial, const formats::SigningKey& signer, int links = 50) const {
        compiler::SnapshotBuilder builder;
        auto d = builder.add_domain({.host = "*", .is_default = true});
        REQUIRE(d);
        REQUIRE(builder.add_link({.domain = *d, .code = "v",
                                  .destination = "https://e.example/v/" + std::to_string(serial)}));
        for (int i = 0; i < links; ++i) {
            REQUIRE(builder.add_link({.domain = *d, .code = "k" + std::to_string(i),
                                      .destination = "https://e.example/" + std::to_string(i)}));
        }
        auto compiled = std::move(builder).build();
        REQUIRE(compiled);
        test::TempDir tmp;
        REQUIRE(compiled->write_file(tmp.path + "/f", {.serial = serial, .created_at = 1000}, signer));
        return test::read_file(tmp.path + "/f");
    }
    void put(const std::string& name, const std::string& bytes) const {
        test::write_file(dir.path + "/" + name, bytes);
    }
    serve::SnapshotManager manager(bool with_state = true) const {
        return serve::SnapshotManager(dir.path, with_state ? state.path : "", {key.trusted()}, false,
                                      log_fd);
    }
    int log_fd = -1;
    Fixture() {
        log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    }
    ~Fixture() { ::close(log_fd); }
    std::string log() const { return test::read_file(log_path); }
};

std::uint64_t serving_serial(const serve::SnapshotManager& m) {
    const auto snapshot = m.current().first.snapshot;
    return snapshot ? snapshot->serial() : 0;
}

std::string destination_of_v(const serve::SnapshotManager& m) {
    const auto snapshot = m.current().first.snapshot;
    REQUIRE(snapshot);
    const auto link = snapshot->lookup(*snapshot->default_domain(), "v");
    REQUIRE(link);
    return std::string(link->destination);
}

}  // namespace

TEST_CASE("TheHighestValidSerialWinsAndOnlyAHigherOneReplacesIt", "[snapshot_manager]") {
    Fixture f;
    f.put("links-3.slsnap", f.snapshot(3, f.key));
    f.put("links-5.slsnap", f.snapshot(5, f.key));
    f.put("links-9.slsnap", f.snapshot(9, f.stranger));  // foreign: refused, 5 wins
    auto m = f.manager();
    REQUIRE(m.scan());
    CHECK(serving_serial(m) == 5);
    CHECK(m.report(0).metrics.refused_signature == 1);
    CHECK_FALSE(m.scan());  // nothing changed: nothing judged again
    CHECK(m.report(0).metrics.refused_signature == 1);

    f.put("links-7.slsnap", f.snapshot(7, f.key));
    REQUIRE(m.scan());
    CHECK(serving_serial(m) == 7);
    CHECK(destination_of_v(m) == "https://e.example/v/7");
}

TEST_CASE("RollbackIsRefusedByNameAndByHeader", "[snapshot_manager]") {
    Fixture f;
    f.put("links-5.slsnap", f.snapshot(5, f.key));
    auto m = f.manager();
    REQUIRE(m.scan());

    f.put("links-4.slsnap", f.snapshot(4, f.key));  // the name says older
    CHECK_FALSE(m.scan());
    CHECK(m.report(0).metrics.refused_rollback == 1);
    CHECK(m.report(0).last_refused.reason == "rollback");
    CHECK(m.report(0).last_refused.path == f.dir.path + "/links-4.slsnap");

    f.put("links-8.slsnap", f.snapshot(2, f.key));  // the name lies: the signed header says 2
    CHECK_FALSE(m.scan());
    CHECK(m.report(0).metrics.refused_rollback == 2);
    CHECK(m.report(0).last_refused.message.find("serial 2") != std::string::npos);
    CHECK(serving_serial(m) == 5);

    f.put("renamed.slsnap", f.snapshot(6, f.key));  // no serial in the name: the header decides
    REQUIRE(m.scan());
    CHECK(serving_serial(m) == 6);
}

TEST_CASE("AFileChangedAfterItWasJudgedIsJudgedAgain", "[snapshot_manager]") {
    Fixture f;
    f.put("links-5.slsnap", f.snapshot(5, f.key));
    auto m = f.manager();
    REQUIRE(m.scan());
    std::string half = f.snapshot(6, f.key);
    half.resize(half.size() / 2);  // caught half-written
    f.put("links-6.slsnap", half);
    CHECK_FALSE(m.scan());
    CHECK(m.report(0).metrics.refused_corrupt == 1);
    f.put("links-6.slsnap", f.snapshot(6, f.key));
    REQUIRE(m.scan());
    CHECK(serving_serial(m) == 6);
}

TEST_CASE("ATransientReadFailureIsRetriedWithoutAChange", "[snapshot_manager]") {
    Fixture f;
    f.put("links-5.slsnap", f.snapshot(5, f.key));
    auto m = f.manager();
    REQUIRE(m.scan());
    f.put("links-6.slsnap", f.snapshot(6, f.key));
    // One descriptor left: the file opens, but its private copy cannot be made.
    rlimit saved{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
    int highest = 0;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
        highest = std::max(highest, std::stoi(e.path().filename().string()));
    }
    rlimit tight = saved;
    tight.rlim_cur = static_cast<rlim_t>(highest) + 16;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &tight) == 0);
    std::vector<int> fillers;
    for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) {
        fillers.push_back(fd);
    }
    REQUIRE(!fillers.empty());
    ::close(fillers.back());
    fillers.pop_back();
    const bool swapped = m.scan();
    for (int fd : fillers) {
        ::close(fd);
    }
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &saved) == 0);
    CHECK_FALSE(swapped);
    CHECK(m.report(0).metrics.refused_io >= 1);
    CHECK(serving_serial(m) == 5);
    REQUIRE(m.scan());  // the same file, unchanged, judged again
    CHECK(serving_serial(m) == 6);
}

TEST_CASE("ALazilyLoadedFileFoundDamagedIsWithdrawnForTheNextBest", "[snapshot_manager]") {
    Fixture f;
    f.put("links-4.slsnap", f.snapshot(4, f.key, 20000));
    std::string damaged = f.snapshot(5, f.key, 20000);
    damaged[damaged.size() / 2] ^= 0x40;  // deep in the link records: only the full pass sees it
    f.put("links-5.slsnap", damaged);
    auto m = f.manager();
    REQUIRE(m.scan());  // cold start: opened lazily, answering at once
    CHECK(serving_serial(m) == 5);
    CHECK_FALSE(m.current().first.snapshot->fully_verified());
    std::atomic<bool> cancel{false};
    CHECK(m.settle(cancel));
    CHECK(serving_serial(m) == 4);
    CHECK(m.report(0).metrics.refused_corrupt + m.report(0).metrics.refused_signature == 1);
    CHECK(f.log().find("\"event\":\"snapshot_withdrawn\"") != std::string::npos);
    CHECK_FALSE(m.settle(cancel));  // the fallback verified; nothing more changes
    CHECK(m.current().first.snapshot->fully_verified());
}

TEST_CASE("ACancelledSettleLeavesTheSnapshotUnverifiedAndServing", "[snapshot_manager]") {
    Fixture f;
    f.put("links-5.slsnap", f.snapshot(5, f.key, 20000));
    auto m = f.manager();
    REQUIRE(m.scan());
    std::atomic<bool> cancel{true};
    CHECK_FALSE(m.settle(cancel));
    CHECK(serving_serial(m) == 5);
    CHECK_FALSE(m.current().first.snapshot->fully_verified());
    CHECK(f.log().find("snapshot_verified") == std::string::npos);
}

TEST_CASE("TheStateDirectoryKeepsTheVerifiedBytesAndTheFloor", "[snapshot_manager]") {
    Fixture f;
    const std::string five = f.snapshot(5, f.key);
    f.put("links-5.slsnap", five);
    {
        auto m = f.manager();
        REQUIRE(m.scan());
        std::atomic<bool> cancel{false};
        (void)m.settle(cancel);
    }
    CHECK(test::read_file(f.state.path + "/links-5.slsnap") == five);
    // The published file is damaged in place and an older one appears: a restart serves the kept
    // copy and refuses to go below serial 5.
    std::string changed = five;
    changed[changed.size() / 2] ^= 1;
    f.put("links-5.slsnap", changed);
    f.put("links-3.slsnap", f.snapshot(3, f.key));
    auto again = f.manager();
    REQUIRE(again.scan());
    CHECK(serving_serial(again) == 5);
    CHECK(again.current().first.snapshot->path() == f.state.path + "/links-5.slsnap");
    CHECK(again.report(0).metrics.refused_corrupt + again.report(0).metrics.refused_signature == 1);
}
