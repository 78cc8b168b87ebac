// Laying a directory out as a static origin (SPEC.md "Origin index"): the newest valid snapshot,
// its newest patch and a current deny overlay, then index-<channel>.slindex naming them, written
// last and atomically, so a host pulling from any static server never sees an index that names a
// file not yet there. Shared by `shortlink publish` and the commands with --publish.
// They throw cli::Error; only cli/ code calls them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "formats/keys.h"
#include "formats/origin_index.h"

namespace shortlink::cli {

// How long an index is valid unless --expires says otherwise.
inline constexpr std::int64_t k_default_index_lifetime_s = 5 * 60;

struct OriginRequest {
    std::string out_dir;    // the origin directory
    std::string from_dir;   // where the files come from; empty: out_dir itself
    std::string channel = "stable";
    std::int64_t expires_at = 0;  // Unix seconds
    std::uint32_t keep = 5;       // with from_dir: files of each kind kept in out_dir
    bool zstd = false;            // also offer <name>.zst of each file (formats/transport.h)
};

struct PublishedIndex {
    std::string path;
    formats::OriginIndex::Contents contents;
    std::vector<std::string> copied;   // files copied into out_dir
    std::vector<std::string> removed;  // older files pruned from out_dir
    bool refreshed = false;            // only the index was re-signed
    std::string promoted_from;         // promote: the channel whose files these are
    std::size_t checks_passed = 0;     // promote: canary checks that passed
};

// Publishes the newest files that verify against `key` (copying them from from_dir when given)
// and a new index naming them.
PublishedIndex publish_origin(const OriginRequest& request, const formats::SigningKey& key);

// The options of `publish` that compile, overlay and rollback take after --publish DIR, with the
// same meanings; what they then publish is what they just wrote into their --out.
struct PublishAfter {
    std::string dir;               // --publish DIR; empty: nothing is published
    std::string channel = "stable";
    std::string expires = "5m";
    bool zstd = false;
};
void add_publish_after_options(CLI::App& command, PublishAfter& options);
// Refuses a bad --channel or --expires before the command does its work (exit 2).
void check_publish_after(const PublishAfter& options);
// Publishes `out_dir` (the command's --out) into options.dir when --publish was given; throws,
// saying how to publish by hand, when that fails (what the command wrote stays in out_dir).
std::optional<PublishedIndex> publish_after(const PublishAfter& options, const std::string& out_dir,
                                            std::uint32_t keep, const formats::SigningKey& key);

// Re-signs the current index of the channel with a new serial and expiry, naming the same files,
// after checking they are still in the directory with their sizes.
PublishedIndex refresh_origin(const OriginRequest& request, const formats::SigningKey& key);

// A file of canary checks for promote: one per line, "URL LOCATION [STATUS]" (blank lines and
// lines starting with # skipped).
struct ProbeCheck {
    std::string url;
    std::string location;
    std::optional<int> status;
    std::size_t line = 0;
};
std::vector<ProbeCheck> read_probe_file(const std::string& path);

struct PromoteRequest {
    std::string out_dir;
    std::string from_channel;
    std::string to_channel;
    std::int64_t expires_at = 0;
    std::vector<ProbeCheck> checks;  // all must pass before anything is written
    double probe_timeout_s = 5;
    std::string ca;                  // for https:// checks; empty: the system's store
};

// Points `to_channel` at the files `from_channel`'s index names (a new index, signed, with its
// own serial above the one it replaces), after every check passed. Exit 5 naming the first
// failed check otherwise, with nothing written.
PublishedIndex promote_origin(const PromoteRequest& request, const formats::SigningKey& key);

// The files of an index as a JSON array of {name, kind, serial, bytes, sha256} (publish, promote,
// inspect).
void write_indexed_files(rapidjson::Writer<rapidjson::StringBuffer>& w, const std::vector<formats::IndexedFile>& files);

// One line per file and the index, or one JSON object with --json.
void print_published_index(const PublishedIndex& published, bool json);
// The JSON object print_published_index() prints.
void write_published_index(rapidjson::Writer<rapidjson::StringBuffer>& w, const PublishedIndex& published);

}  // namespace shortlink::cli
