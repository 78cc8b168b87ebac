#include "formats/origin_index.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "formats/bytes.h"
#include "formats/fd_io.h"
#include "formats/file_names.h"
#include "formats/unique_fd.h"

namespace shortlink::formats {

namespace fmt = format;

namespace {

// Payload header: the channel name, NUL-padded, then zero bytes.
constexpr std::size_t k_channel_size = 32;
// A files record: u32 kind, u32 flags (zero), u64 serial, u64 base, u64 size, 32-byte SHA-256.
constexpr std::size_t k_file_record_size = 64;
constexpr std::size_t k_max_files = 3;
// A zstd form record, after the file record it describes: u32 kind 16, u32 zero, u64 compressed
// size, 16 zero bytes, 32-byte SHA-256 of the compressed file. Its kind is no file kind, so a
// reader that predates it refuses the index rather than misread it.
constexpr std::uint32_t k_record_zstd_form = 16;

std::string kind_word(fmt::FileKind kind) { return std::string(fmt::file_kind_name(static_cast<std::uint32_t>(kind))); }

}  // namespace

std::string IndexedFile::name() const { return published_file_name(kind, serial, base); }

std::string channel_name_problem(std::string_view channel) {
    if (channel.empty()) {
        return "a channel name cannot be empty";
    }
    if (channel.size() > k_channel_size) {
        return "a channel name has at most " + std::to_string(k_channel_size) + " characters";
    }
    for (std::size_t i = 0; i < channel.size(); ++i) {
        const char c = channel[i];
        const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-'))) {
            return i == 0 ? "a channel name starts with a lowercase letter or a digit"
                          : "a channel name holds only a-z, 0-9, '.', '_' and '-'";
        }
    }
    return {};
}

std::string index_file_name(std::string_view channel) { return "index-" + std::string(channel) + ".slindex"; }

std::string index_contents_problem(const OriginIndex::Contents& c) {
    if (std::string why = channel_name_problem(c.channel); !why.empty()) {
        return why;
    }
    if (c.serial == 0) {
        return "the index serial is 0";
    }
    if (c.expires_at <= c.created_at) {
        return "the index expires before it was made";
    }
    const auto check = [](const IndexedFile& f, fmt::FileKind kind) -> std::string {
        if (f.kind != kind) {
            return "a " + kind_word(kind) + " entry holds a " + kind_word(f.kind);
        }
        if (f.serial == 0) {
            return "the " + kind_word(kind) + "'s serial is 0";
        }
        if (f.size < fmt::k_header_size + fmt::k_signature_size) {
            return "the " + kind_word(kind) + " is " + std::to_string(f.size) +
                   " bytes, too small for a signed file";
        }
        if (f.zstd_size == 0 && f.zstd_sha256 != Sha256Digest{}) {
            return "the " + kind_word(kind) + " has a compressed form's digest without its size";
        }
        if ((kind == fmt::FileKind::patch) != (f.base != 0)) {
            return kind == fmt::FileKind::patch ? "the patch has no base serial"
                                                : "the " + kind_word(kind) + " has a base serial";
        }
        return {};
    };
    if (std::string why = check(c.snapshot, fmt::FileKind::snapshot); !why.empty()) {
        return why;
    }
    std::uint64_t newest = c.snapshot.serial;
    if (c.patch) {
        if (std::string why = check(*c.patch, fmt::FileKind::patch); !why.empty()) {
            return why;
        }
        if (c.patch->base != c.snapshot.serial) {
            return "the patch's base " + std::to_string(c.patch->base) + " is not the snapshot " +
                   std::to_string(c.snapshot.serial);
        }
        if (c.patch->serial <= c.snapshot.serial) {
            return "the patch's serial is not above its base's";
        }
        newest = c.patch->serial;
    }
    if (c.overlay) {
        if (std::string why = check(*c.overlay, fmt::FileKind::deny); !why.empty()) {
            return why;
        }
        if (c.overlay->serial <= newest) {
            return "the deny overlay's serial " + std::to_string(c.overlay->serial) +
                   " is not above the snapshot's or the patch's (" + std::to_string(newest) +
                   "): that deny set is already retired";
        }
    }
    return {};
}

std::vector<IndexedFile> OriginIndex::Contents::files() const {
    std::vector<IndexedFile> out{snapshot};
    if (patch) {
        out.push_back(*patch);
    }
    if (overlay) {
        out.push_back(*overlay);
    }
    return out;
}

Result<WrittenFile> write_origin_index(int fd, const OriginIndex::Contents& c, const SigningKey& key) {
    if (std::string why = index_contents_problem(c); !why.empty()) {
        return Status::invalid_argument("cannot write an origin index: " + why);
    }
    ContainerMeta meta;
    meta.kind = fmt::FileKind::index;
    meta.serial = c.serial;
    meta.created_at = c.created_at;
    meta.not_after = c.expires_at;
    std::memcpy(meta.payload_header.data(), c.channel.data(), c.channel.size());
    std::string records;
    for (const IndexedFile& f : c.files()) {
        bytes::append<std::uint32_t>(records, static_cast<std::uint32_t>(f.kind));
        bytes::append<std::uint32_t>(records, 0);
        bytes::append<std::uint64_t>(records, f.serial);
        bytes::append<std::uint64_t>(records, f.base);
        bytes::append<std::uint64_t>(records, f.size);
        records.append(reinterpret_cast<const char*>(f.sha256.data()), f.sha256.size());
        if (f.zstd_size != 0) {
            // Only where a form is offered: an index without one reads in hosts that predate it.
            bytes::append<std::uint32_t>(records, k_record_zstd_form);
            bytes::append<std::uint32_t>(records, 0);
            bytes::append<std::uint64_t>(records, f.zstd_size);
            records.append(16, '\0');
            records.append(reinterpret_cast<const char*>(f.zstd_sha256.data()), f.zstd_sha256.size());
        }
    }
    return write_container(fd, meta, {{fmt::SectionType::files, std::move(records)}}, key);
}

Result<OriginIndex> OriginIndex::load(std::unique_ptr<Container> file, const TrustedKeys& trusted,
                                      bool verify_signature) {
    ContainerLayout layout;
    layout.kind = fmt::FileKind::index;
    layout.required = section_bit(fmt::SectionType::files);
    layout.allowed = layout.required;
    OpenOptions options;
    options.verify_signature = verify_signature;
    if (Status s = file->verify(layout, trusted, options); !s) {
        return s;
    }
    const std::string& name = file->path();
    const auto bad = [&](const std::string& why) { return Status::corruption(name + ": " + why); };
    const std::uint8_t* header = file->payload_header();
    std::size_t channel_length = 0;
    while (channel_length < k_channel_size && header[channel_length] != 0) {
        ++channel_length;
    }
    for (std::size_t i = channel_length; i < fmt::k_payload_header_size; ++i) {
        if (header[i] != 0) {
            return bad("byte " + std::to_string(fmt::k_off_payload_header + i) +
                       (i < k_channel_size ? " follows the channel name's end and is not zero"
                                           : " is reserved and not zero"));
        }
    }
    if (file->base_serial() != 0) {
        return bad("an origin index has no base serial (byte 64)");
    }
    Contents c;
    c.channel.assign(reinterpret_cast<const char*>(header), channel_length);
    c.serial = file->serial();
    c.created_at = file->created_at();
    c.expires_at = file->not_after();
    if (c.expires_at == 0) {
        return bad("an origin index must carry an expiry (not_after is 0)");
    }
    const SectionInfo& files = *file->section(fmt::SectionType::files);
    const std::uint64_t record_count = files.length / k_file_record_size;
    if (files.length == 0 || files.length % k_file_record_size != 0 || record_count > 2 * k_max_files) {
        return bad(section_label(files.type) + " is " + std::to_string(files.length) +
                   " bytes: it holds 1 to " + std::to_string(2 * k_max_files) + " records of " +
                   std::to_string(k_file_record_size) + " bytes");
    }
    bool seen[5] = {};
    IndexedFile* last = nullptr;  // the file record a zstd form record describes
    for (std::uint64_t i = 0; i < record_count; ++i) {
        const std::uint8_t* r = file->base() + files.offset + i * k_file_record_size;
        const std::string which = "file record " + std::to_string(i);
        const auto kind = bytes::load<std::uint32_t>(r);
        if (kind == k_record_zstd_form) {
            if (last == nullptr) {
                return bad(which + " is a zstd form that follows no file record");
            }
            if (bytes::load<std::uint32_t>(r + 4) != 0) {
                return bad(which + " (a zstd form) has flags set; none are defined");
            }
            const auto size = bytes::load<std::uint64_t>(r + 8);
            if (size == 0) {
                return bad(which + " gives a zstd form of 0 bytes");
            }
            for (std::size_t b = 16; b < 32; ++b) {
                if (r[b] != 0) {
                    return bad(which + " (a zstd form): byte " + std::to_string(b) + " is reserved and not zero");
                }
            }
            last->zstd_size = size;
            std::memcpy(last->zstd_sha256.data(), r + 32, last->zstd_sha256.size());
            last = nullptr;
            continue;
        }
        if (kind != 1 && kind != 2 && kind != 3) {
            return bad(which + " names file kind " + std::to_string(kind) +
                       "; an index lists snapshots (1), deny overlays (2) and patches (3), each optionally "
                       "followed by its zstd form (16)");
        }
        if (seen[kind]) {
            return bad(which + " is a second " + std::string(fmt::file_kind_name(kind)));
        }
        seen[kind] = true;
        if (bytes::load<std::uint32_t>(r + 4) != 0) {
            return bad(which + " has flags set; none are defined");
        }
        IndexedFile f;
        f.kind = static_cast<fmt::FileKind>(kind);
        f.serial = bytes::load<std::uint64_t>(r + 8);
        f.base = bytes::load<std::uint64_t>(r + 16);
        f.size = bytes::load<std::uint64_t>(r + 24);
        std::memcpy(f.sha256.data(), r + 32, f.sha256.size());
        switch (f.kind) {
        case fmt::FileKind::snapshot: c.snapshot = f; last = &c.snapshot; break;
        case fmt::FileKind::patch: c.patch = f; last = &*c.patch; break;
        default: c.overlay = f; last = &*c.overlay; break;
        }
    }
    if (!seen[1]) {
        return bad("it names no snapshot");
    }
    if (std::string why = index_contents_problem(c); !why.empty()) {
        return bad(why);
    }
    OriginIndex index;
    index.m_contents = std::move(c);
    index.m_key_id = file->key_id();
    index.m_bytes = file->size();
    return index;
}

Result<OriginIndex> OriginIndex::open(const std::string& path, const TrustedKeys& trusted,
                                      bool verify_signature) {
    auto file = Container::open_file(path, {});
    if (!file) {
        return file.status();
    }
    return load(std::move(file).value(), trusted, verify_signature);
}

Result<OriginIndex> OriginIndex::open_buffer(std::string_view bytes, const TrustedKeys& trusted,
                                             std::string name) {
    return load(Container::copy_buffer(bytes, std::move(name)), trusted, true);
}

Result<std::pair<Sha256Digest, std::uint64_t>> sha256_file(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
        if (errno == ENOENT) {
            return Status::not_found(path + ": no such file");
        }
        return Status::io_error(path + ": cannot open: " + std::strerror(errno));
    }
    Sha256 hash;
    std::uint64_t total = 0;
    std::string buffer(1 << 20, '\0');
    while (true) {
        auto got = read_at(fd.get(), buffer.data(), buffer.size(), total, path);
        if (!got) {
            return got.status();
        }
        hash.update(buffer.data(), *got);
        total += *got;
        if (*got < buffer.size()) {
            break;
        }
    }
    return std::pair{hash.finish(), total};
}

}  // namespace shortlink::formats
