// The names published files go by: links-<serial>.slsnap for snapshots, deny-<serial>.sldeny for
// deny overlays, patch-<base>-<serial>.slpatch for patches (SPEC.md "File names"). One place builds and parses them, for the compiler's
// publication and pruning and for the server's directory scans.
//
// A name only orders a search: readers judge a file by its signed header, never by its name.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "formats/container_format.h"

namespace shortlink::formats {

struct PublishedName {
    format::FileKind kind = format::FileKind::snapshot;
    std::uint64_t serial = 0;
    std::uint64_t base = 0;  // patches: the serial of their base snapshot; 0 otherwise
};

// "links-42.slsnap", "deny-42.sldeny", "patch-40-42.slpatch" (`base` for patches only).
std::string published_file_name(format::FileKind kind, std::uint64_t serial, std::uint64_t base = 0);

// The kind and serial a name promises; nullopt for any other name (temporary files, a serial
// with leading zeros or a sign, other suffixes), so that a name parses iff it round-trips.
std::optional<PublishedName> parse_published_name(std::string_view name);

// The kind a name's suffix claims (".slsnap", ".sldeny", ".slpatch"), whatever the rest of the
// name is.
std::optional<format::FileKind> kind_of_suffix(std::string_view name);

}  // namespace shortlink::formats
