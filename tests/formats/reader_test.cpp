// The reader is a verifier: every corruption, truncation, foreign signature or unknown version
// is rejected with the error that names it (leveldb's corruption_test.cc in spirit).
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <iterator>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "compiler/snapshot_builder.h"
#include "formats/bytes.h"
#include "formats/snapshot.h"
#include "formats/snapshot_format.h"
#include "tests/formats/snapshot_fixture.h"

using namespace shortlink;
namespace fmt = shortlink::formats::format;

namespace {

// A small valid snapshot with two domains, signed by `key`.
std::string make_snapshot(const formats::SigningKey& key, int links = 300) {
    test::TempDir dir;
    compiler::SnapshotBuilder builder;
    auto d = builder.add_domain({.host = "*", .root_url = "https://root.example/", .is_default = true});
    auto g = builder.add_domain({.host = "go.example", .default_redirect = 301});
    for (int i = 0; i < links; ++i) {
        (void)builder.add_link({.domain = (i % 2) ? *d : *g, .code = "k" + std::to_string(i),
                                .destination = "https://e.example/" + std::to_string(i),
                                .not_before = (i % 5 == 0) ? 100 : 0});
    }
    auto compiled = std::move(builder).build();
    REQUIRE(compiled);
    const std::string path = dir.path + "/s";
    REQUIRE(compiled->write_file(path, {.serial = 3, .created_at = 1000}, key));
    return test::read_file(path);
}

Status open_bytes(const std::string& bytes, const formats::SigningKey& key) {
    return formats::Snapshot::open_buffer(bytes, {key.trusted()}).status();
}

bool contains(const Status& s, const std::string& what) {
    return s.message().find(what) != std::string::npos;
}

}  // namespace

TEST_CASE("ValidSnapshotOpens", "[reader]") {
    auto key = test::test_key();
    const std::string bytes = make_snapshot(key);
    auto snap = formats::Snapshot::open_buffer(bytes, {key.trusted()});
    REQUIRE(snap);
    REQUIRE((*snap)->sections().size() == 5);
    CHECK((*snap)->sections().back().name == "digests");
    CHECK((*snap)->key_id() == key.key_id());
    CHECK((*snap)->digest_hex().size() == 64);
    CHECK((*snap)->fully_verified());
}

TEST_CASE("ChecksumMismatchInEverySection", "[reader]") {
    auto key = test::test_key();
    const std::string bytes = make_snapshot(key);
    auto snap = formats::Snapshot::open_buffer(bytes, {key.trusted()});
    REQUIRE(snap);
    for (const formats::SectionInfo& s : (*snap)->sections()) {
        // First, middle and last byte of each section.
        for (std::uint64_t at : {s.offset, s.offset + s.length / 2, s.offset + s.length - 1}) {
            std::string bad = bytes;
            bad[at] = static_cast<char>(bad[at] ^ 0x40);
            const Status st = open_bytes(bad, key);
            INFO("flip at byte " << at << ": " << st.to_string());
            CHECK(st.code() == Status::Code::corruption);
            CHECK(contains(st, "section " + std::to_string(s.type) + " (" + std::string(s.name) +
                                   ") checksum mismatch"));
        }
    }
}

TEST_CASE("EveryByteFlipIsRejected", "[reader]") {
    auto key = test::test_key();
    const std::string bytes = make_snapshot(key, 40);
    // Every single byte of a small file: nothing may open, crash or read out of bounds.
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        std::string bad = bytes;
        bad[i] = static_cast<char>(bad[i] ^ 0x01);
        const Status st = open_bytes(bad, key);
        INFO("byte " << i << ": " << st.to_string());
        // Refused as a file that fails verification (exit 5), never as something else.
        REQUIRE((st.code() == Status::Code::corruption || st.code() == Status::Code::permission_denied ||
                 st.code() == Status::Code::unsupported));
    }
}

TEST_CASE("TruncatedAtManyLengths", "[reader]") {
    auto key = test::test_key();
    const std::string bytes = make_snapshot(key);
    for (std::size_t len = 0; len < bytes.size(); len += (len < 300 ? 1 : 97)) {
        const Status st = open_bytes(bytes.substr(0, len), key);
        INFO("length " << len << ": " << st.to_string());
        REQUIRE(st.code() == Status::Code::corruption);
        if (len < fmt::k_header_size) {
            CHECK(contains(st, "truncated: file is " + std::to_string(len) + " bytes"));
        } else {
            CHECK(contains(st, "truncated at byte " + std::to_string(len)));
        }
    }
}

TEST_CASE("TrailingGarbageRejected", "[reader]") {
    auto key = test::test_key();
    const Status st = open_bytes(make_snapshot(key) + "x", key);
    CHECK(st.code() == Status::Code::corruption);
    CHECK(contains(st, "trailing bytes"));
}

TEST_CASE("SignatureByAnotherKey", "[reader]") {
    auto key = test::test_key();
    auto other = test::test_key();
    const std::string bytes = make_snapshot(key);
    const Status st = formats::Snapshot::open_buffer(bytes, {other.trusted()}).status();
    CHECK(st.code() == Status::Code::permission_denied);
    CHECK(contains(st, "signed by key " + key.key_id() + ", which is not among the 1 trusted"));
    // Both trusted: opens (key rotation).
    CHECK(formats::Snapshot::open_buffer(bytes, {other.trusted(), key.trusted()}));
    // Forged key id: the file claims `other` signed it.
    std::string forged = bytes;
    for (std::size_t i = 0; i < 8; ++i) {
        forged[fmt::k_off_key_id + i] =
            static_cast<char>(std::stoul(other.key_id().substr(2 * i, 2), nullptr, 16));
    }
    const Status f = formats::Snapshot::open_buffer(forged, {other.trusted()}).status();
    CHECK(f.code() == Status::Code::permission_denied);
    CHECK(contains(f, "signature does not verify"));
}

TEST_CASE("ModifiedHeaderFailsSignature", "[reader]") {
    auto key = test::test_key();
    std::string bytes = make_snapshot(key);
    formats::bytes::store<std::uint64_t>(reinterpret_cast<std::uint8_t*>(bytes.data()) + fmt::k_off_serial, 999);
    const Status st = open_bytes(bytes, key);
    CHECK(st.code() == Status::Code::permission_denied);
    CHECK(contains(st, "signature does not verify"));
    // Without signature checking (inspect) the same file opens and shows the forged serial.
    auto snap = formats::Snapshot::open_buffer(bytes, {}, {.verify_signature = false});
    REQUIRE(snap);
    CHECK((*snap)->serial() == 999);
}

TEST_CASE("TooNewAndTooOldVersions", "[reader]") {
    auto key = test::test_key();
    std::string bytes = make_snapshot(key);
    auto* p = reinterpret_cast<std::uint8_t*>(bytes.data());
    formats::bytes::store<std::uint32_t>(p + fmt::k_off_version, fmt::k_version + 1);
    Status st = open_bytes(bytes, key);
    CHECK(st.code() == Status::Code::unsupported);
    CHECK(contains(st, "format version 4 is too new"));
    formats::bytes::store<std::uint32_t>(p + fmt::k_off_version, 0);
    st = open_bytes(bytes, key);
    CHECK(st.code() == Status::Code::unsupported);
    CHECK(contains(st, "format version 0 is too old"));
    // Version 1 had no block digests, version 2 no file kind: refused as too old, not misread.
    formats::bytes::store<std::uint32_t>(p + fmt::k_off_version, 1);
    st = open_bytes(bytes, key);
    CHECK(st.code() == Status::Code::unsupported);
    CHECK(contains(st, "format version 1 is too old"));
    formats::bytes::store<std::uint32_t>(p + fmt::k_off_version, 2);
    st = open_bytes(bytes, key);
    CHECK(st.code() == Status::Code::unsupported);
    CHECK(contains(st, "format version 2 is too old"));
}

TEST_CASE("BadMagic", "[reader]") {
    auto key = test::test_key();
    std::string bytes = make_snapshot(key);
    bytes[1] = 'X';
    const Status st = open_bytes(bytes, key);
    CHECK(contains(st, "bad magic number"));
    CHECK(contains(open_bytes(std::string(200, '\0'), key), "bad magic number"));
}

TEST_CASE("SectionOffsetPastEndRejectedBeforeUse", "[reader]") {
    auto key = test::test_key();
    std::string bytes = make_snapshot(key);
    auto* p = reinterpret_cast<std::uint8_t*>(bytes.data());
    // Section entry 2 (slots): offset far past the end.
    formats::bytes::store<std::uint64_t>(p + fmt::k_header_size + 2 * 32 + 8, std::uint64_t{1} << 40);
    const Status st = open_bytes(bytes, key);
    CHECK(st.code() == Status::Code::corruption);
    CHECK(contains(st, "section table entry 2 (section 3 (slots))"));
    // Length that wraps around.
    bytes = make_snapshot(key);
    p = reinterpret_cast<std::uint8_t*>(bytes.data());
    formats::bytes::store<std::uint64_t>(p + fmt::k_header_size + 3 * 32 + 16, ~std::uint64_t{0} - 10);
    CHECK(contains(open_bytes(bytes, key), "runs past byte"));
}

TEST_CASE("MissingFileIsNotFound", "[reader]") {
    auto st = formats::Snapshot::open("/nonexistent/links-1.slsnap", {}).status();
    CHECK(st.code() == Status::Code::not_found);
}

namespace {

formats::SectionInfo section_named(const std::string& bytes, const std::string& name) {
    auto snap = formats::Snapshot::open_buffer(bytes, {}, {.verify_signature = false});
    REQUIRE(snap);
    for (const formats::SectionInfo& s : (*snap)->sections()) {
        if (s.name == name) {
            return s;
        }
    }
    FAIL("no section " << name);
    return {};
}

std::string code_of(int i) { return "k" + std::to_string(i); }
std::uint32_t domain_of(const formats::Snapshot& s, int i) {
    return *s.find_domain((i % 2) ? "*" : "go.example");
}

}  // namespace

TEST_CASE("BlockDigestMismatchNamesTheBlock", "[reader]") {
    // Padding between sections is in no checksum: only its block's signed digest covers it.
    auto key = test::test_key();
    const std::string bytes = make_snapshot(key, 5000);  // several 64 KiB blocks
    int padded = 0;
    auto snap = formats::Snapshot::open_buffer(bytes, {key.trusted()});
    REQUIRE(snap);
    for (const formats::SectionInfo& sec : (*snap)->sections()) {
        if (sec.length % fmt::k_alignment == 0 || sec.name == "digests") {
            continue;
        }
        ++padded;
        std::string bad = bytes;
        bad[sec.offset + sec.length] = 1;
        const Status st = open_bytes(bad, key);
        INFO(sec.name << ": " << st.to_string());
        CHECK(st.code() == Status::Code::permission_denied);
        CHECK(contains(st, "does not match its signed digest"));
        CHECK(contains(st, "section " + std::to_string(sec.type) + " (" + std::string(sec.name)));
    }
    CHECK(padded > 0);
}

TEST_CASE("LazyOpenAnswersBeforeFullVerification", "[reader]") {
    auto key = test::test_key();
    const std::string bytes = make_snapshot(key, 5000);
    auto snap = formats::Snapshot::open_buffer(bytes, {key.trusted()}, {.lazy_content = true});
    REQUIRE(snap);
    const formats::Snapshot& s = **snap;
    CHECK_FALSE(s.fully_verified());
    for (int i = 0; i < 5000; i += 7) {
        auto link = s.lookup(domain_of(s, i), code_of(i));
        REQUIRE(link);
        CHECK(link->destination == "https://e.example/" + std::to_string(i));
    }
    CHECK_FALSE(s.lookup(domain_of(s, 1), "absent"));
    CHECK(s.intact());
    REQUIRE(s.finish_verification().is_ok());
    CHECK(s.fully_verified());
    CHECK(s.lookup(domain_of(s, 4999), code_of(4999)));
}

TEST_CASE("LazyOpenStillChecksTheSignatureAndSmallSections", "[reader]") {
    auto key = test::test_key();
    const std::string bytes = make_snapshot(key, 5000);
    const formats::OpenOptions lazy{.lazy_content = true};
    CHECK(formats::Snapshot::open_buffer(bytes, {test::test_key().trusted()}, lazy).status().code() ==
          Status::Code::permission_denied);
    std::string bad = bytes;
    const formats::SectionInfo index = section_named(bytes, "index");
    bad[index.offset + index.length - 1] ^= 0x01;  // a pilot
    const Status st = formats::Snapshot::open_buffer(bad, {key.trusted()}, lazy).status();
    CHECK(contains(st, "section 2 (index) checksum mismatch"));
}

TEST_CASE("LazyOpenTamperedBlockFailsOnTouchAndInBackground", "[reader]") {
    auto key = test::test_key();
    std::string bytes = make_snapshot(key, 5000);
    // Records are in slot order: the links listed first sit in the first half of section 4,
    // before the damage below, whatever the hash placed where.
    std::vector<std::pair<std::uint32_t, std::string>> in_slot_order;
    {
        auto pristine = formats::Snapshot::open_buffer(bytes, {key.trusted()});
        REQUIRE(pristine);
        CHECK((*pristine)->for_each_link([&](const formats::LinkView& l) {
            in_slot_order.emplace_back(l.domain_index, std::string(l.code));
        }));
    }
    REQUIRE(in_slot_order.size() == 5000);
    const formats::SectionInfo strings = section_named(bytes, "strings");
    for (std::uint64_t at = strings.offset + strings.length / 2; at < strings.offset + strings.length;
         at += 4096) {
        bytes[at] = static_cast<char>(bytes[at] ^ 0x20);
    }
    auto snap = formats::Snapshot::open_buffer(bytes, {key.trusted()}, {.lazy_content = true});
    REQUIRE(snap);  // the damage is in a deferred section
    const formats::Snapshot& s = **snap;
    const auto& [first_domain, first_code] = in_slot_order.front();
    CHECK(s.lookup(first_domain, first_code));  // an intact block answers before the damage is met
    int answered = 0;
    for (const auto& [domain, code] : in_slot_order) {
        answered += s.lookup(domain, code) ? 1 : 0;
    }
    CHECK(answered > 0);
    CHECK(answered < 5000);
    CHECK_FALSE(s.intact());    // and nothing answers after it
    CHECK_FALSE(s.lookup(first_domain, first_code));
    // Reported as a full open reports it: the section checksum names the damage.
    const Status st = s.finish_verification();
    CHECK(st.code() == Status::Code::corruption);
    CHECK(contains(st, "section 4 (strings) checksum mismatch"));
    CHECK_FALSE(s.fully_verified());
}

// A request meets the damaged block while the background pass is checking the section checksums
// (here from the pass's own pace hook, which runs between checksum pieces): the report must not
// depend on which of them got there first.
TEST_CASE("LazyOpenDamageMetByALookupDuringTheBackgroundPassIsReportedAsCorruption", "[reader]") {
    auto key = test::test_key();
    std::string bytes = make_snapshot(key, 5000);
    std::vector<std::pair<std::uint32_t, std::string>> links;
    {
        auto pristine = formats::Snapshot::open_buffer(bytes, {key.trusted()});
        REQUIRE(pristine);
        CHECK((*pristine)->for_each_link([&](const formats::LinkView& l) {
            links.emplace_back(l.domain_index, std::string(l.code));
        }));
    }
    const formats::SectionInfo strings = section_named(bytes, "strings");
    bytes[strings.offset + strings.length - 100] ^= 0x20;
    test::TempDir dir;
    const std::string path = dir.path + "/links-3.slsnap";
    test::write_file(path, bytes);

    const formats::Snapshot* opened = nullptr;
    bool met = false;
    formats::OpenOptions options;
    options.lazy_content = true;
    options.pace = [&] {
        if (opened == nullptr || met) {
            return;
        }
        met = true;
        for (auto it = links.rbegin(); it != links.rend() && opened->intact(); ++it) {
            (void)opened->lookup(it->first, it->second);  // the last records sit in the damage
        }
    };
    auto snap = formats::Snapshot::open(path, {key.trusted()}, options);
    REQUIRE(snap);
    opened = snap->get();
    const Status st = (*snap)->finish_verification();
    CHECK(met);
    CHECK_FALSE((*snap)->intact());
    CHECK(st.code() == Status::Code::corruption);
    CHECK(contains(st, "section 4 (strings) checksum mismatch"));
    CHECK((*snap)->finish_verification().code() == Status::Code::corruption);
}

TEST_CASE("LazyOpenMalformedSlotSignedByTrustedKey", "[reader]") {
    // A trusted key signed a file whose slot points outside section 4 (a compiler bug, say):
    // the lazy lookup must refuse it without reading out of bounds, and so must the slot walk.
    auto key = test::test_key();
    std::string bytes = make_snapshot(key, 5000);
    const formats::SectionInfo slots = section_named(bytes, "slots");
    auto* p = reinterpret_cast<std::uint8_t*>(bytes.data());
    std::uint64_t broken = 0;
    for (std::uint64_t off = slots.offset + slots.length - 16; off > slots.offset; off -= 16) {
        if (formats::bytes::load<std::uint32_t>(p + off + 4) & fmt::k_meta_occupied) {
            formats::bytes::store<std::uint64_t>(p + off + 8, std::uint64_t{1} << 40);
            broken = off;
            break;
        }
    }
    REQUIRE(broken != 0);
    bytes = test::reseal(bytes, key);
    CHECK(contains(open_bytes(bytes, key), "is past the end of the strings section"));
    auto snap = formats::Snapshot::open_buffer(bytes, {key.trusted()}, {.lazy_content = true});
    REQUIRE(snap);
    const formats::Snapshot& s = **snap;
    for (int i = 0; i < 5000 && s.intact(); ++i) {
        (void)s.lookup(domain_of(s, i), code_of(i));
    }
    CHECK_FALSE(s.intact());
    CHECK(contains(s.finish_verification(), "slot"));
}

TEST_CASE("PaceRunsBetweenBoundedPiecesOfEveryLongPass", "[reader]") {
    // A server's loader passes OpenOptions::pace to give its core back during seconds of
    // verification: it must run between 64 KiB blocks, during prefault() and the unmapping, and
    // never on the request path. Every answer and error stays what it is without it.
    auto key = test::test_key();
    test::TempDir dir;
    const std::string path = dir.path + "/links-3.slsnap";
    test::write_file(path, make_snapshot(key, 80000));
    const std::uint64_t size = test::read_file(path).size();
    const std::uint64_t blocks = size / fmt::k_block_size;
    REQUIRE(size > 3 * (std::uint64_t{1} << 20));  // several unmapping pieces

    std::uint64_t calls = 0;
    formats::OpenOptions options;
    options.pace = [&calls] { ++calls; };
    {
        auto snap = formats::Snapshot::open(path, {key.trusted()}, options);
        REQUIRE(snap);
        CHECK((*snap)->fully_verified());
        CHECK(calls >= 2 * blocks);  // the section checksums' chunks, then every block digest
        const std::uint64_t after_open = calls;
        for (int i = 0; i < 80000; i += 13) {
            REQUIRE((*snap)->lookup(domain_of(**snap, i), code_of(i)));
        }
        CHECK(calls == after_open);
        (*snap)->prefault();
        CHECK(calls >= after_open + size / (std::uint64_t{1} << 20));
        calls = 0;
    }
    CHECK(calls >= size / (std::uint64_t{1} << 20) - 1);  // unmapped in pieces

    calls = 0;
    options.lazy_content = true;
    auto lazy = formats::Snapshot::open(path, {key.trusted()}, options);
    REQUIRE(lazy);
    const std::uint64_t after_lazy_open = calls;
    CHECK(after_lazy_open == 0);  // milliseconds by design: the first answer waits for it
    for (int i = 0; i < 80000; i += 13) {
        REQUIRE((*lazy)->lookup(domain_of(**lazy, i), code_of(i)));
    }
    CHECK(calls == after_lazy_open);  // block proofs on lookup never pause
    REQUIRE((*lazy)->finish_verification().is_ok());
    CHECK(calls > after_lazy_open);

    std::string damaged = test::read_file(path);
    const formats::SectionInfo strings = section_named(damaged, "strings");
    damaged[strings.offset + strings.length / 2] ^= 0x20;
    test::write_file(path, damaged);
    options.lazy_content = false;
    const Status paced = formats::Snapshot::open(path, {key.trusted()}, options).status();
    CHECK(paced.message() == formats::Snapshot::open(path, {key.trusted()}).status().message());
    CHECK(contains(paced, "section 4 (strings) checksum mismatch"));
}

TEST_CASE("PrivateCopyIsImmuneToChangesOfTheFile", "[reader]") {
    // A server reads every file into a sealed private copy: writing the file in place or
    // truncating it afterwards changes no answer and faults no lookup (a shared mapping of the
    // file would answer the new bytes, or raise SIGBUS past the new end).
    auto key = test::test_key();
    test::TempDir dir;
    const std::string path = dir.path + "/links-3.slsnap";
    const std::string original = make_snapshot(key, 5000);
    test::write_file(path, original);
    formats::OpenOptions options;
    options.private_copy = true;
    for (const bool lazy : {false, true}) {
        test::write_file(path, original);
        options.lazy_content = lazy;
        auto snap = formats::Snapshot::open(path, {key.trusted()}, options);
        REQUIRE(snap);
        const formats::Snapshot& s = **snap;
        const auto before = s.lookup(domain_of(s, 7), code_of(7));
        REQUIRE(before);
        const std::string destination(before->destination);

        std::string changed = original;
        const std::size_t at = changed.find(destination);
        REQUIRE(at != std::string::npos);
        changed[at + 8] = 'X';  // same length, in place
        {
            std::FILE* f = std::fopen(path.c_str(), "r+b");
            REQUIRE(f != nullptr);
            REQUIRE(std::fwrite(changed.data(), 1, changed.size(), f) == changed.size());
            std::fclose(f);
        }
        const auto after = s.lookup(domain_of(s, 7), code_of(7));
        REQUIRE(after);
        CHECK(after->destination == destination);

        REQUIRE(::truncate(path.c_str(), 0) == 0);
        for (int i = 0; i < 5000; i += 7) {
            REQUIRE(s.lookup(domain_of(s, i), code_of(i)));
        }
        CHECK(s.finish_verification().is_ok());
        CHECK(s.fully_verified());
    }
    // A file shorter than its header when copied is refused like any truncated file.
    REQUIRE(::truncate(path.c_str(), 100) == 0);
    const Status short_copy = formats::Snapshot::open(path, {key.trusted()}, options).status();
    CHECK(short_copy.code() == Status::Code::corruption);
    CHECK(contains(short_copy, "truncated"));
    CHECK(formats::Snapshot::open(dir.path + "/absent", {key.trusted()}, options).status().code() ==
          Status::Code::not_found);
}

TEST_CASE("EveryCountIsBoundedByItsSection", "[reader]") {
    // Files a trusted key signed that still lie about their counts: each count must be checked
    // against the length of the section holding its records, without overflow, before use.
    auto key = test::test_key();
    const std::string good = make_snapshot(key);
    const formats::SectionInfo index = section_named(good, "index");
    const auto with = [&](std::size_t offset, auto value) {
        std::string bytes = good;
        formats::bytes::store(reinterpret_cast<std::uint8_t*>(bytes.data()) + offset, value);
        return open_bytes(test::reseal(bytes, key), key);
    };
    struct Case {
        const char* what;
        Status status;
        const char* message;
    };
    const std::uint64_t huge = ~std::uint64_t{0};
    const Case cases[] = {
        {"link count past the strings section", with(fmt::k_off_link_count, std::uint64_t{1} << 39),
         "links cannot fit in"},
        {"link count that overflows any product", with(fmt::k_off_link_count, huge), "links cannot fit in"},
        {"domain count past the domains section", with(fmt::k_off_domain_count, std::uint32_t{100000}),
         "domain records do not fit"},
        {"slot count far above the keys", with(index.offset + 8, std::uint64_t{1} << 40),
         "inconsistent perfect-hash parameters"},
        {"slot count that overflows", with(index.offset + 8, huge), "inconsistent perfect-hash parameters"},
        {"slot count below the keys", with(index.offset + 8, std::uint64_t{10}),
         "inconsistent perfect-hash parameters"},
        {"bucket count that overflows", with(index.offset + 16, huge), "inconsistent perfect-hash parameters"},
        {"key count other than the link count", with(index.offset, std::uint64_t{299}),
         "differs from the header's link count"},
    };
    for (const Case& c : cases) {
        INFO(c.what << ": " << c.status.to_string());
        CHECK(c.status.code() == Status::Code::corruption);
        CHECK(contains(c.status, c.message));
    }
    CHECK(open_bytes(test::reseal(good, key), key).is_ok());  // reseal alone changes nothing
}

TEST_CASE("PrivateCopyWithoutMemoryFiles", "[reader]") {
    // Where a seccomp filter refuses memfd_create (as some service managers' sandboxes do), the
    // private copy is made in anonymous memory instead, with the same guarantees for the reader.
    auto key = test::test_key();
    test::TempDir dir;
    const std::string path = dir.path + "/links-3.slsnap";
    test::write_file(path, make_snapshot(key, 2000));
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        sock_filter filter[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_memfd_create, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        sock_fprog program{static_cast<unsigned short>(std::size(filter)), filter};
        if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
            ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) {
            ::_exit(2);
        }
        if (::memfd_create("probe", 0) >= 0 || errno != EPERM) {
            ::_exit(3);
        }
        formats::OpenOptions options;
        options.private_copy = true;
        auto snap = formats::Snapshot::open(path, {key.trusted()}, options);
        if (!snap) {
            ::_exit(4);
        }
        ::truncate(path.c_str(), 0);
        for (int i = 0; i < 2000; ++i) {
            if (!(*snap)->lookup(domain_of(**snap, i), code_of(i))) {
                ::_exit(5);
            }
        }
        ::_exit(0);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}
