// Laying a directory out as a static origin (SPEC.md "Origin index"): the newest valid snapshot,
// its newest patch and a current deny overlay, then index-<channel>.slindex naming them, written
// last and atomically, so a host pulling from any static server never sees an index that names a
// file not yet there. Shared by `shortlink publish` and the commands with --publish.
// They throw cli::Error; only cli/ code calls them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

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
};

struct PublishedIndex {
    std::string path;
    formats::OriginIndex::Contents contents;
    std::vector<std::string> copied;   // files copied into out_dir
    std::vector<std::string> removed;  // older files pruned from out_dir
    bool refreshed = false;            // only the index was re-signed
};

// Publishes the newest files that verify against `key` (copying them from from_dir when given)
// and a new index naming them.
PublishedIndex publish_origin(const OriginRequest& request, const formats::SigningKey& key);

// Re-signs the current index of the channel with a new serial and expiry, naming the same files,
// after checking they are still in the directory with their sizes.
PublishedIndex refresh_origin(const OriginRequest& request, const formats::SigningKey& key);

// One line per file and the index, or one JSON object with --json.
void print_published_index(const PublishedIndex& published, bool json);

}  // namespace shortlink::cli
