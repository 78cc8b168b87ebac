#include "formats/writer.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "formats/bytes.h"
#include "formats/records.h"
#include "formats/sha256.h"

namespace shortlink::formats {

namespace {

constexpr std::size_t k_buffer_size = 1 << 20;  // 1 MiB: large sequential writes

std::uint64_t align_up(std::uint64_t v) {
    return (v + format::k_alignment - 1) & ~static_cast<std::uint64_t>(format::k_alignment - 1);
}

}  // namespace

// SHA-256 of each k_block_size block of the content region, fed in file order as the buffer is
// flushed (the region starts at a block boundary by definition).
class ContainerWriter::BlockDigests {
public:
    void update(const std::uint8_t* p, std::size_t n) {
        while (n > 0) {
            const std::size_t take =
                static_cast<std::size_t>(std::min<std::uint64_t>(n, format::k_block_size - m_fill));
            m_sha.update(p, take);
            m_fill += take;
            p += take;
            n -= take;
            if (m_fill == format::k_block_size) {
                close_block();
            }
        }
    }
    // Closes the last, shorter block; returns one 32-byte digest per block.
    const std::vector<std::uint8_t>& finish() {
        if (m_fill > 0) {
            close_block();
        }
        return m_digests;
    }

private:
    void close_block() {
        const std::size_t at = m_digests.size();
        m_digests.resize(at + format::k_block_digest_size);
        m_sha.finish(m_digests.data() + at);
        m_fill = 0;
    }

    Sha256 m_sha;
    std::uint64_t m_fill = 0;
    std::vector<std::uint8_t> m_digests;
};

ContainerWriter::ContainerWriter(int fd, std::uint32_t section_count)
    : m_fd(fd),
      m_section_count(section_count + 1),  // the caller's sections and the digests section
      m_checksum(std::make_unique<Checksum>()),
      m_blocks(std::make_unique<BlockDigests>()) {
    m_buffer.reserve(k_buffer_size);
    // Sections start after the header and the table, aligned.
    m_pos = align_up(format::k_header_size + m_section_count * format::k_section_entry_size);
    m_buffer_start = m_pos;
    if (m_section_count > format::k_max_sections) {
        m_failed = Status::invalid_argument("too many sections");
    }
}

ContainerWriter::~ContainerWriter() = default;

Status ContainerWriter::write_at(std::uint64_t offset, const void* data, std::size_t length) {
    const auto* p = static_cast<const std::uint8_t*>(data);
    while (length > 0) {
        const ssize_t n = ::pwrite(m_fd, p, length, static_cast<off_t>(offset));
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return Status::io_error(std::string("write: ") + std::strerror(errno));
        }
        p += n;
        offset += static_cast<std::uint64_t>(n);
        length -= static_cast<std::size_t>(n);
    }
    return Status::ok();
}

Status ContainerWriter::flush() {
    if (!m_buffer.empty()) {
        m_blocks->update(m_buffer.data(), m_buffer.size());
        Status s = write_at(m_buffer_start, m_buffer.data(), m_buffer.size());
        if (!s) {
            return s;
        }
    }
    m_buffer_start = m_pos;
    m_buffer.clear();
    return Status::ok();
}

Status ContainerWriter::append(const void* data, std::size_t length) {
    if (!m_failed.is_ok()) {
        return m_failed;
    }
    if (!m_in_section) {
        return m_failed = Status::invalid_argument("append outside a section");
    }
    m_checksum->update(data, length);
    const auto* p = static_cast<const std::uint8_t*>(data);
    while (length > 0) {
        const std::size_t take = std::min(length, k_buffer_size - m_buffer.size());
        m_buffer.insert(m_buffer.end(), p, p + take);
        m_pos += take;
        p += take;
        length -= take;
        if (m_buffer.size() == k_buffer_size) {
            if (Status s = flush(); !s) {
                return m_failed = s;
            }
        }
    }
    return Status::ok();
}

void ContainerWriter::pad_to_alignment() {
    static const std::uint8_t k_zeros[format::k_alignment] = {};
    const std::uint64_t pad = align_up(m_pos) - m_pos;
    m_buffer.insert(m_buffer.end(), k_zeros, k_zeros + pad);
    m_pos += pad;
}

Status ContainerWriter::begin_section(format::SectionType type) {
    if (!m_failed.is_ok()) {
        return m_failed;
    }
    const auto t = static_cast<std::uint32_t>(type);
    if (m_in_section || m_entries.size() + 1 >= m_section_count ||
        type == format::SectionType::digests ||
        (!m_entries.empty() && m_entries.back().type >= t)) {
        return m_failed = Status::invalid_argument("sections must be written once each, in type order");
    }
    pad_to_alignment();
    m_entries.push_back(Entry{t, m_pos, 0, 0});
    m_checksum = std::make_unique<Checksum>();
    m_in_section = true;
    return Status::ok();
}

Status ContainerWriter::end_section() {
    if (!m_failed.is_ok()) {
        return m_failed;
    }
    if (!m_in_section) {
        return m_failed = Status::invalid_argument("end_section without begin_section");
    }
    Entry& e = m_entries.back();
    e.length = m_pos - e.offset;
    e.checksum = m_checksum->digest();
    m_in_section = false;
    return Status::ok();
}

Result<WrittenFile> ContainerWriter::finish(const ContainerMeta& meta, const SigningKey& key) {
    if (!m_failed.is_ok()) {
        return m_failed;
    }
    if (m_in_section || m_entries.size() + 1 != m_section_count) {
        return Status::invalid_argument("finish() before every section was written");
    }
    const std::uint64_t content_start =
        align_up(format::k_header_size + m_section_count * format::k_section_entry_size);
    pad_to_alignment();
    if (Status s = flush(); !s) {
        return s;
    }
    const std::uint64_t content_end = m_pos;

    // The digests section: the block digests, then zero padding up to the signature. Everything
    // from here to the signature is built in memory: it is signed directly.
    const std::vector<std::uint8_t>& blocks = m_blocks->finish();
    records::DigestsHeader digests;
    digests.block_size = format::k_block_size;
    digests.content_start = content_start;
    digests.content_end = content_end;
    digests.block_count = blocks.size() / format::k_block_digest_size;
    std::vector<std::uint8_t> tail(format::k_digests_header_size + blocks.size());
    digests.encode(tail.data());
    std::memcpy(tail.data() + format::k_digests_header_size, blocks.data(), blocks.size());
    m_entries.push_back(Entry{static_cast<std::uint32_t>(format::SectionType::digests),
                              content_end, tail.size(), checksum(tail.data(), tail.size())});
    tail.resize(align_up(content_end + tail.size()) - content_end, 0);
    const std::uint64_t signature_offset = content_end + tail.size();

    // Header, section table and the zero padding up to the first section.
    std::vector<std::uint8_t> head(content_start, 0);
    records::ContainerHeader header;
    header.file_size = signature_offset + format::k_signature_size;
    header.serial = meta.serial;
    header.created_at = meta.created_at;
    header.not_after = meta.not_after;
    header.file_kind = static_cast<std::uint32_t>(meta.kind);
    header.section_count = m_section_count;
    header.base_serial = meta.base_serial;
    // The key id is 16 hex digits; the header holds its 8 bytes.
    for (std::size_t i = 0; i < format::k_key_id_size; ++i) {
        header.key_id[i] =
            static_cast<std::uint8_t>(std::stoul(key.key_id().substr(2 * i, 2), nullptr, 16));
    }
    header.encode(head.data());
    std::memcpy(head.data() + format::k_off_payload_header, meta.payload_header.data(),
                meta.payload_header.size());
    for (std::size_t i = 0; i < m_entries.size(); ++i) {
        records::SectionEntry e;
        e.type = m_entries[i].type;
        e.offset = m_entries[i].offset;
        e.length = m_entries[i].length;
        e.checksum = m_entries[i].checksum;
        e.encode(head.data() + format::k_header_size + i * format::k_section_entry_size);
    }

    // The file digest: what precedes the content, then the digests region.
    Sha256 sha;
    sha.update(head.data(), head.size());
    sha.update(tail.data(), tail.size());
    const Sha256Digest digest = sha.finish();
    const std::string message = signature_message(digest);
    auto sig = key.sign(reinterpret_cast<const std::uint8_t*>(message.data()), message.size());
    if (!sig) {
        return sig.status();
    }
    tail.insert(tail.end(), sig->begin(), sig->end());
    if (Status s = write_at(content_end, tail.data(), tail.size()); !s) {
        return s;
    }
    if (Status s = write_at(0, head.data(), head.size()); !s) {
        return s;
    }

    WrittenFile out;
    out.bytes = header.file_size;
    out.digest_hex = bytes::hex_encode(digest.data(), digest.size());
    out.key_id = key.key_id();
    return out;
}

Result<WrittenFile> write_container(
    int fd, const ContainerMeta& meta,
    const std::vector<std::pair<format::SectionType, std::string>>& sections, const SigningKey& key) {
    ContainerWriter w(fd, static_cast<std::uint32_t>(sections.size()));
    for (const auto& [type, bytes] : sections) {
        if (Status s = w.begin_section(type); !s) {
            return s;
        }
        if (Status s = w.append(bytes.data(), bytes.size()); !s) {
            return s;
        }
        if (Status s = w.end_section(); !s) {
            return s;
        }
    }
    return w.finish(meta, key);
}

}  // namespace shortlink::formats
