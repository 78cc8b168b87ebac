// What the commands that publish files share (compile, overlay, block/unblock --publish,
// rollback): the deny set from the store, serials that never go back, and publishing a deny
// overlay. They throw cli::Error; only cli/ code calls them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cli/origin_cli.h"
#include "store/store.h"
#include "formats/container_format.h"
#include "formats/deny.h"
#include "formats/keys.h"
#include "formats/writer.h"

namespace shortlink::cli {

// Keep the newest N files of a kind in the output directory unless --keep says otherwise.
inline constexpr std::uint32_t k_default_keep = 5;

// The store's current deny set, as the compiler bakes it in and an overlay carries it.
std::vector<formats::DenyEntry> deny_entries(store::Store& db);

// Creates `dir` if needed, and removes the temporary files a killed writer left in it.
void prepare_out_dir(const std::string& dir);

// Reserves the serial of the next file published into `out_dir` (SPEC.md "Serials"): above the
// clock in milliseconds, every serial this database issued and every file in `out_dir`. With
// `requested`, exactly that serial, refused (exit 4) when it is not above both.
std::uint64_t issue_serial(store::Store& db, const std::string& out_dir, std::string_view kind,
                           std::optional<std::uint64_t> requested);

// The serial issue_serial() reserved for a file about to be written to `path`. Unless
// published() is called once the file is recorded, the reservation is released when this goes
// out of scope (an error thrown while writing: a full disk, a read-only directory), so a failed
// run leaves the database as it was; never while a file sits under `path`.
class SerialReservation {
public:
    SerialReservation(store::Store& db, std::uint64_t serial, std::string path)
        : m_db(db), m_serial(serial), m_path(std::move(path)) {}
    ~SerialReservation();
    SerialReservation(const SerialReservation&) = delete;
    SerialReservation& operator=(const SerialReservation&) = delete;
    void published() { m_published = true; }

private:
    store::Store& m_db;
    std::uint64_t m_serial;
    std::string m_path;
    bool m_published = false;
};

// Records a file just published into `path` (as reserved by issue_serial()) in the database:
// its digest, size, key, counts and, for a full snapshot, the audit mark of what it holds.
void record_published(store::Store& db, std::uint64_t serial, const std::string& path,
                      const formats::WrittenFile& written, std::int64_t created_at,
                      std::uint64_t link_count = 0, std::uint32_t domain_count = 0,
                      std::int64_t audit_mark = -1);

struct PublishedOverlay {
    std::string path;
    std::uint64_t serial = 0;
    formats::WrittenFile written;
    std::vector<formats::DenyEntry> entries;
    std::vector<std::string> removed;  // older overlays pruned
};

// Writes the store's whole deny set as deny-<serial>.sldeny into `out_dir`, records it, keeps the
// newest `keep` overlays there.
PublishedOverlay publish_overlay(store::Store& db, const formats::SigningKey& key,
                                 const std::string& out_dir, std::uint32_t keep);

// Prints what publish_overlay() did, and the index --publish wrote when there is one: lines, or
// one JSON object with --json (its "published" member is what publish --json prints, or null).
void print_overlay(const PublishedOverlay& overlay, bool json,
                   const std::optional<PublishedIndex>& published = std::nullopt);

}  // namespace shortlink::cli
