// Container: the verified bytes of one signed shortlink file (snapshot, deny overlay), whatever
// its payload. It maps the file read-only (or keeps an owned copy of a buffer) and proves what
// SPEC.md "Validation" lists for every kind: header, version, sizes, the section table (every
// offset and length against the end of the mapping, without overflow), section checksums, the
// digests section, the Ed25519 signature against the trusted keys and the signed block digests.
// Payload readers (formats/snapshot.h, formats/deny.h) then check their own sections.
//
// A lazy open (OpenOptions::lazy_content) defers the checksums and block digests of the sections
// the payload names (the large ones); prove() checks the blocks under a range on first use and
// finish() completes the rest. The first failure, on either path, marks the file failed for good.
//
// Thread-safety: immutable after verify() apart from the verification state, which is atomic;
// any number of threads may call the const methods at once, finish() included.
// Ownership: the Container owns its mapping and unmaps it in its destructor (in paced pieces when
// OpenOptions::pace is set). Payload objects own their Container.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "formats/container_format.h"
#include "formats/sha256.h"
#include "formats/status.h"

namespace shortlink::formats {

// An Ed25519 public key the reader trusts. key_id is derived from the key bytes (SPEC.md).
struct TrustedKey {
    std::string key_id;
    std::array<std::uint8_t, 32> public_key{};
};
using TrustedKeys = std::vector<TrustedKey>;

// One entry of the section table, for inspect.
struct SectionInfo {
    std::uint32_t type = 0;
    std::string_view name;  // "domains", "index", "slots", "strings", "deny", ...
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
    std::uint64_t checksum = 0;
};

struct OpenOptions {
    // Check the signature and the block digests against the trusted keys. Only `shortlink
    // inspect` and `diff` turn this off; serve, verify and resolve always verify.
    bool verify_signature = true;
    // Defer the large sections (checksums, block digests, the payload's walk) to first touch and
    // finish_verification(). Only with verify_signature; for a server's cold start.
    bool lazy_content = false;
    // Called between bounded pieces of the long passes over the file: verifying (at most one
    // 64 KiB block or a few thousand slots apart; a lazy open's own milliseconds excepted),
    // prefault() and the unmapping when the last holder drops the file. A server passes a
    // function that gives the core back to its request threads now and then; the passes run on
    // whatever thread calls them, and the request path never calls it. Empty: run through.
    std::function<void()> pace;
    // Read the file into a sealed in-memory copy (memfd_create, sealed against writes, growing
    // and shrinking) and check and read that copy instead of mapping the file. What was verified
    // then can never change: the file may be written in place, truncated or replaced while it is
    // served, and nothing that reads the copy sees it (no unsigned byte, no SIGBUS). Costs one
    // copy (a sequential read of the file) and memory the size of the file. For a server.
    bool private_copy = false;
};

// What a payload expects of its container. Bit t of a mask stands for section type t.
struct ContainerLayout {
    format::FileKind kind = format::FileKind::snapshot;
    std::uint32_t required = 0;  // sections that must be present (the digests section always is)
    std::uint32_t allowed = 0;   // sections that may be present; any other type is an error
    std::uint32_t deferred = 0;  // sections a lazy open leaves to prove() and finish()
};

constexpr std::uint32_t section_bit(format::SectionType type) {
    return std::uint32_t{1} << static_cast<std::uint32_t>(type);
}

// "section 3 (slots)": how every message names a section.
std::string section_label(std::uint32_t type);

class Container {
public:
    Container(const Container&) = delete;
    Container& operator=(const Container&) = delete;
    ~Container();

    // Maps `path` read-only; nothing is checked yet.
    static Result<std::unique_ptr<Container>> map_file(const std::string& path);
    // Copies `path` into a sealed memory file and maps that (OpenOptions::private_copy).
    static Result<std::unique_ptr<Container>> copy_file(const std::string& path);
    // map_file() or copy_file(), as `options` asks.
    static Result<std::unique_ptr<Container>> open_file(const std::string& path,
                                                        const OpenOptions& options);
    // Keeps a copy of `bytes`; `name` stands in for the path in messages.
    static std::unique_ptr<Container> copy_buffer(std::string_view bytes, std::string name);

    // Runs the container's checks for a file of `layout`. On success every section of the table
    // is in bounds, and every byte outside the deferred sections is proven signed (when
    // options.verify_signature). Call once.
    Status verify(const ContainerLayout& layout, const TrustedKeys& trusted, OpenOptions options);

    // --- after verify() ---
    const std::uint8_t* base() const { return m_base; }
    std::uint64_t size() const { return m_size; }
    const std::string& path() const { return m_path; }
    bool mapped() const { return m_mapped; }
    std::uint32_t version() const { return m_version; }
    format::FileKind kind() const { return m_kind; }
    std::uint64_t serial() const { return m_serial; }
    std::uint64_t base_serial() const { return m_base_serial; }
    std::int64_t created_at() const { return m_created_at; }
    std::int64_t not_after() const { return m_not_after; }
    const std::string& key_id() const { return m_key_id; }  // 16 hex digits
    const std::vector<SectionInfo>& sections() const { return m_sections; }
    const SectionInfo* section(format::SectionType type) const;  // nullptr: absent
    const std::uint8_t* payload_header() const { return m_base + format::k_off_payload_header; }
    std::string digest_hex() const;  // what the signature signs (SPEC.md "Signature")

    // --- verification state ---
    bool fully_verified() const { return m_state.load(std::memory_order_acquire) == k_verified; }
    bool intact() const { return m_state.load(std::memory_order_acquire) != k_failed; }
    // True when every block under [p, p + length) (inside the content region) matches its
    // signed digest; checks the unproven ones. A mismatch fails the file.
    bool prove(const std::uint8_t* p, std::uint64_t length) const;
    // Runs the deferred checksums and every unproven block digest, in the order of a full
    // verify(). The payload then runs its own deferred walk and calls mark_verified(). Returns
    // Code::cancelled, the file still unverified, when `cancel` turns true.
    Status finish(const std::atomic<bool>* cancel) const;
    // The payload's deferred checks passed too; returns the failure if one was recorded meanwhile.
    Status mark_verified() const;
    // Records the first failure and marks the file failed for good; returns the failure that is
    // kept (the first one).
    Status fail(const Status& status) const;
    // The same, where the caller reports the failure by other means (a lookup that answers
    // "no such link", a proof that returns false).
    void record_failure(const Status& status) const { (void)fail(status); }
    Status failure() const;
    void pause() const {
        if (m_pace) {
            m_pace();
        }
    }

    // How a checksum mismatch of `s` is worded; used by payloads that check sections later.
    Status check_checksum(const SectionInfo& s) const;

private:
    Status verify_deferred(const std::atomic<bool>* cancel) const;  // finish() but its wording
    // copy_file() where memory files are not allowed; takes ownership of `fd`.
    static Result<std::unique_ptr<Container>> copy_to_anonymous_memory(int fd, const std::string& path,
                                                                       std::uint64_t size);
    static constexpr std::uint8_t k_verified = 0;
    static constexpr std::uint8_t k_verifying = 1;
    static constexpr std::uint8_t k_failed = 2;

    Container() = default;
    Status check_header(const ContainerLayout& layout);
    Status check_sections(const ContainerLayout& layout);
    Status check_digests(const SectionInfo& digests);
    Status check_signature(const TrustedKeys& trusted);
    void compute_digest();
    std::pair<std::uint64_t, std::uint64_t> block_range(std::uint64_t i) const;
    bool block_matches(std::uint64_t i) const;
    Status block_mismatch(std::uint64_t i) const;
    Status explain_block(std::uint64_t i) const;

    // Either a read-only mapping (of the file, or of its sealed copy) or an owned copy
    // (copy_buffer).
    const std::uint8_t* m_base = nullptr;
    std::uint64_t m_size = 0;
    bool m_mapped = false;
    std::string m_owned;
    std::string m_path;

    std::uint32_t m_version = 0;
    format::FileKind m_kind = format::FileKind::snapshot;
    std::uint64_t m_serial = 0;
    std::uint64_t m_base_serial = 0;
    std::int64_t m_created_at = 0;
    std::int64_t m_not_after = 0;
    std::string m_key_id;
    std::vector<SectionInfo> m_sections;

    // The content region and its signed block digests.
    std::uint64_t m_content_start = 0;
    std::uint64_t m_content_end = 0;
    std::uint64_t m_block_size = 0;
    std::uint64_t m_block_count = 0;
    const std::uint8_t* m_block_digests = nullptr;
    Sha256Digest m_digest{};

    // Lazy opens: what is still to prove. block_state: 0 unproven, 1 good, 2 bad.
    std::unique_ptr<std::atomic<std::uint8_t>[]> m_block_state;
    std::vector<SectionInfo> m_deferred;  // sections whose checksum is outstanding
    mutable std::mutex m_failure_mutex;
    mutable Status m_failure;                          // guarded by m_failure_mutex
    mutable std::atomic<std::int64_t> m_failed_block{-1};  // set when prove() met a bad block
    mutable std::atomic<std::uint8_t> m_state{k_verified};

    std::function<void()> m_pace;
};

// The file kind a file claims in its header, read without verifying anything else (to choose
// the reader for `verify`, `inspect` and `resolve`). Errors name the path.
Result<format::FileKind> peek_file_kind(const std::string& path);

}  // namespace shortlink::formats
