// Republishes the content of a verified file under a new serial and signature: what
// `shortlink rollback` does to an older snapshot so that every server, which refuses older
// serials, accepts its content again within one swap.
//
// Thread-safety: none needed; a free function over its arguments.
#pragma once

#include <cstdint>
#include <string>

#include "formats/container.h"
#include "formats/keys.h"
#include "formats/status.h"
#include "formats/writer.h"

namespace shortlink::compiler {

// Writes every section of `source` (except its digests, which are computed anew) and its payload
// header into a new file at `path` with the serial, created_at and not_after of `meta` (its kind
// and base serial come from `source`), signed with `key`; published atomically after the new
// file is verified and every section's checksum is found equal to the source's.
Result<formats::WrittenFile> republish(const formats::Container& source,
                                       const formats::ContainerMeta& meta,
                                       const formats::SigningKey& key, const std::string& path);

}  // namespace shortlink::compiler
