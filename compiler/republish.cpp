#include "compiler/republish.h"

#include <algorithm>
#include <cstring>

#include "compiler/publish.h"
#include "formats/deny.h"
#include "formats/snapshot.h"

namespace shortlink::compiler {

Result<formats::WrittenFile> republish(const formats::Container& source,
                                       const formats::ContainerMeta& meta,
                                       const formats::SigningKey& key, const std::string& path) {
    if (!source.fully_verified() || !source.intact()) {
        return Status::invalid_argument(source.path() + ": only a fully verified file is republished");
    }
    std::vector<formats::SectionInfo> sections;
    for (const formats::SectionInfo& s : source.sections()) {
        if (s.type != static_cast<std::uint32_t>(formats::format::SectionType::digests)) {
            sections.push_back(s);
        }
    }
    auto file = AtomicFile::create(path);
    if (!file) {
        return file.status();
    }
    formats::ContainerWriter w(file->fd(), static_cast<std::uint32_t>(sections.size()));
    for (const formats::SectionInfo& s : sections) {
        if (Status st = w.begin_section(static_cast<formats::format::SectionType>(s.type)); !st) {
            return file->named(st);
        }
        if (Status st = w.append(source.base() + s.offset, s.length); !st) {
            return file->named(st);
        }
        if (Status st = w.end_section(); !st) {
            return file->named(st);
        }
    }
    formats::ContainerMeta header = meta;
    header.kind = source.kind();
    header.base_serial = source.base_serial();
    std::memcpy(header.payload_header.data(), source.payload_header(), header.payload_header.size());
    auto written = w.finish(header, key);
    if (!written) {
        return file->named(written.status());
    }
    // Reopen with the payload's own reader: every check a server runs, then the sections must be
    // the source's, byte for byte (their checksums).
    const formats::TrustedKeys trusted{key.trusted()};
    std::vector<formats::SectionInfo> copied;
    if (source.kind() != formats::format::FileKind::deny) {
        auto reopened = source.kind() == formats::format::FileKind::patch
                            ? formats::Snapshot::open_patch(file->temp_path(), trusted)
                            : formats::Snapshot::open(file->temp_path(), trusted);
        if (!reopened) {
            return Status::corruption("self-check: the republished file does not verify: " +
                                      reopened.status().message());
        }
        copied = (*reopened)->sections();
    } else {
        auto reopened = formats::DenyOverlay::open(file->temp_path(), trusted);
        if (!reopened) {
            return Status::corruption("self-check: the republished file does not verify: " +
                                      reopened.status().message());
        }
        copied = (*reopened)->file().sections();
    }
    for (const formats::SectionInfo& s : sections) {
        const bool same = std::any_of(copied.begin(), copied.end(), [&](const formats::SectionInfo& c) {
            return c.type == s.type && c.length == s.length && c.checksum == s.checksum;
        });
        if (!same) {
            return Status::corruption("self-check: " + formats::section_label(s.type) +
                                      " differs from the source's");
        }
    }
    if (Status st = file->commit(); !st) {
        return st;
    }
    return written;
}

}  // namespace shortlink::compiler
