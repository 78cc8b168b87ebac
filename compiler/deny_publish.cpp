#include "compiler/deny_publish.h"

#include "compiler/publish.h"

namespace shortlink::compiler {

namespace {

bool contains(const formats::DenySet& set, const formats::DenyEntry& e) {
    switch (e.kind) {
    case formats::DenyKind::link: return set.blocks_link(e.host, e.code);
    case formats::DenyKind::domain: return set.blocks_domain(e.host);
    case formats::DenyKind::destination: return set.blocks_destination("https://" + e.host + "/");
    }
    return false;
}

}  // namespace

Result<formats::WrittenFile> write_deny_overlay(const std::string& path,
                                                std::vector<formats::DenyEntry> entries,
                                                const OverlayMeta& meta,
                                                const formats::SigningKey& key) {
    auto section = formats::encode_deny_section(entries);
    if (!section) {
        return section.status();
    }
    auto file = AtomicFile::create(path);
    if (!file) {
        return file.status();
    }
    formats::ContainerMeta header;
    header.kind = formats::format::FileKind::deny;
    header.serial = meta.serial;
    header.created_at = meta.created_at;
    auto written = formats::write_container(
        file->fd(), header, {{formats::format::SectionType::deny, std::move(section).value()}}, key);
    if (!written) {
        return file->named(written.status());
    }
    auto reopened = formats::DenyOverlay::open(file->temp_path(), {key.trusted()});
    if (!reopened) {
        return Status::corruption("self-check: the written overlay does not verify: " +
                                  reopened.status().message());
    }
    for (const formats::DenyEntry& e : entries) {
        if (!contains((*reopened)->deny(), e)) {
            return Status::corruption("self-check: " + std::string(formats::deny_kind_name(e.kind)) +
                                      " entry " + e.host + (e.code.empty() ? "" : "/" + e.code) +
                                      " is not found in the written overlay");
        }
    }
    if (Status s = file->commit(); !s) {
        return s;
    }
    return written;
}

}  // namespace shortlink::compiler
