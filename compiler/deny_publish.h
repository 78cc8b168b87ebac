// Writes deny overlays (deny-<serial>.sldeny): the whole current deny set in the signed
// container, published atomically like a snapshot and checked before it is renamed into place.
//
// Thread-safety: none needed; a free function over its arguments.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "formats/deny.h"
#include "formats/keys.h"
#include "formats/status.h"
#include "formats/writer.h"

namespace shortlink::compiler {

struct OverlayMeta {
    std::uint64_t serial = 0;
    std::int64_t created_at = 0;  // Unix seconds
};

// Writes `entries` as a deny overlay at `path` (AtomicFile: temp file, fsync, rename, fsync of
// the directory), after reopening the temp file with the reader and finding every entry in it.
Result<formats::WrittenFile> write_deny_overlay(const std::string& path,
                                                std::vector<formats::DenyEntry> entries,
                                                const OverlayMeta& meta,
                                                const formats::SigningKey& key);

}  // namespace shortlink::compiler
