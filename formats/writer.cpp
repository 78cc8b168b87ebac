#include "formats/writer.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <openssl/evp.h>

#include "formats/bytes.h"

namespace shortlink::formats {

namespace {

constexpr std::size_t k_buffer_size = 1 << 20;  // 1 MiB: large sequential writes

std::uint64_t align_up(std::uint64_t v) {
    return (v + format::k_alignment - 1) & ~static_cast<std::uint64_t>(format::k_alignment - 1);
}

std::string to_hex(const unsigned char* p, std::size_t n) {
    static constexpr char k_hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(n * 2);
    for (std::size_t i = 0; i < n; ++i) {
        out += k_hex[p[i] >> 4];
        out += k_hex[p[i] & 15];
    }
    return out;
}

}  // namespace

SnapshotWriter::SnapshotWriter(int fd, std::uint32_t section_count)
    : m_fd(fd), m_section_count(section_count), m_checksum(std::make_unique<Checksum>()) {
    m_buffer.reserve(k_buffer_size);
    // Sections start after the header and the table, aligned.
    m_pos = align_up(format::k_header_size + section_count * format::k_section_entry_size);
    m_buffer_start = m_pos;
    if (section_count > format::k_max_sections) {
        m_failed = Status::invalid_argument("too many sections");
    }
}

SnapshotWriter::~SnapshotWriter() = default;

Status SnapshotWriter::write_at(std::uint64_t offset, const void* data, std::size_t length) {
    const auto* p = static_cast<const std::uint8_t*>(data);
    while (length > 0) {
        const ssize_t n = ::pwrite(m_fd, p, length, static_cast<off_t>(offset));
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return Status::io_error(std::string("cannot write snapshot: ") + std::strerror(errno));
        }
        p += n;
        offset += static_cast<std::uint64_t>(n);
        length -= static_cast<std::size_t>(n);
    }
    return Status::ok();
}

Status SnapshotWriter::flush() {
    if (!m_buffer.empty()) {
        Status s = write_at(m_buffer_start, m_buffer.data(), m_buffer.size());
        if (!s) {
            return s;
        }
    }
    m_buffer_start = m_pos;
    m_buffer.clear();
    return Status::ok();
}

Status SnapshotWriter::append(const void* data, std::size_t length) {
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

Status SnapshotWriter::pad_to_alignment() {
    static const std::uint8_t k_zeros[format::k_alignment] = {};
    const std::uint64_t pad = align_up(m_pos) - m_pos;
    m_buffer.insert(m_buffer.end(), k_zeros, k_zeros + pad);
    m_pos += pad;
    return Status::ok();
}

Status SnapshotWriter::begin_section(format::SectionType type) {
    if (!m_failed.is_ok()) {
        return m_failed;
    }
    const auto t = static_cast<std::uint32_t>(type);
    if (m_in_section || m_entries.size() >= m_section_count ||
        (!m_entries.empty() && m_entries.back().type >= t)) {
        return m_failed = Status::invalid_argument("sections must be written once each, in type order");
    }
    pad_to_alignment();
    m_entries.push_back(Entry{t, m_pos, 0, 0});
    m_checksum = std::make_unique<Checksum>();
    m_in_section = true;
    return Status::ok();
}

Status SnapshotWriter::end_section() {
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

Result<WrittenSnapshot> SnapshotWriter::finish(const SnapshotHeader& header,
                                               const SigningKey& key) {
    if (!m_failed.is_ok()) {
        return m_failed;
    }
    if (m_in_section || m_entries.size() != m_section_count) {
        return Status::invalid_argument("finish() before every section was written");
    }
    pad_to_alignment();
    const std::uint64_t signature_offset = m_pos;
    const std::uint64_t file_size = signature_offset + format::k_signature_size;
    if (Status s = flush(); !s) {
        return s;
    }

    // Header and section table.
    std::vector<std::uint8_t> head(format::k_header_size +
                                   m_section_count * format::k_section_entry_size);
    std::uint8_t* h = head.data();
    std::memcpy(h + format::k_off_magic, format::k_magic.data(), format::k_magic.size());
    bytes::store<std::uint32_t>(h + format::k_off_version, format::k_version);
    bytes::store<std::uint32_t>(h + format::k_off_header_size, format::k_header_size);
    bytes::store<std::uint64_t>(h + format::k_off_file_size, file_size);
    bytes::store<std::uint64_t>(h + format::k_off_serial, header.serial);
    bytes::store<std::int64_t>(h + format::k_off_created_at, header.created_at);
    bytes::store<std::int64_t>(h + format::k_off_not_after, header.not_after);
    // The key id is 16 hex digits; the header holds its 8 bytes.
    for (std::size_t i = 0; i < format::k_key_id_size; ++i) {
        h[format::k_off_key_id + i] =
            static_cast<std::uint8_t>(std::stoul(key.key_id().substr(2 * i, 2), nullptr, 16));
    }
    bytes::store<std::uint64_t>(h + format::k_off_link_count, header.link_count);
    bytes::store<std::uint32_t>(h + format::k_off_domain_count, header.domain_count);
    bytes::store<std::uint32_t>(h + format::k_off_section_count, m_section_count);
    bytes::store<std::uint64_t>(h + format::k_off_hash_seed, header.hash_seed);
    bytes::store<std::uint32_t>(h + format::k_off_hash_function, format::k_hash_slhash128_v1);
    bytes::store<std::uint32_t>(h + format::k_off_flags, 0);
    for (std::size_t i = 0; i < m_entries.size(); ++i) {
        std::uint8_t* e = h + format::k_header_size + i * format::k_section_entry_size;
        bytes::store<std::uint32_t>(e, m_entries[i].type);
        bytes::store<std::uint32_t>(e + 4, 0);
        bytes::store<std::uint64_t>(e + 8, m_entries[i].offset);
        bytes::store<std::uint64_t>(e + 16, m_entries[i].length);
        bytes::store<std::uint64_t>(e + 24, m_entries[i].checksum);
    }
    if (Status s = write_at(0, head.data(), head.size()); !s) {
        return s;
    }
    // Zero the padding between table and first section (a fresh file reads as zeros already, but
    // the writer must not depend on how the fd was created).
    const std::uint64_t table_end = head.size();
    const std::uint64_t first = align_up(table_end);
    if (first > table_end) {
        static const std::uint8_t k_zeros[format::k_alignment] = {};
        if (Status s = write_at(table_end, k_zeros, first - table_end); !s) {
            return s;
        }
    }

    // SHA-256 of everything before the signature, read back from the file.
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
    std::vector<std::uint8_t> chunk(k_buffer_size);
    std::uint64_t off = 0;
    while (off < signature_offset) {
        const std::size_t want = static_cast<std::size_t>(
            std::min<std::uint64_t>(chunk.size(), signature_offset - off));
        const ssize_t n = ::pread(m_fd, chunk.data(), want, static_cast<off_t>(off));
        if (n <= 0) {
            if (n < 0 && errno == EINTR) {
                continue;
            }
            EVP_MD_CTX_free(ctx);
            return Status::io_error("cannot read back snapshot for signing");
        }
        EVP_DigestUpdate(ctx, chunk.data(), static_cast<std::size_t>(n));
        off += static_cast<std::uint64_t>(n);
    }
    // The whole-file digest (recorded in the database) is the same stream plus the signature.
    EVP_MD_CTX* file_ctx = EVP_MD_CTX_new();
    EVP_MD_CTX_copy_ex(file_ctx, ctx);
    unsigned char content_digest[32];
    unsigned int digest_len = 0;
    EVP_DigestFinal_ex(ctx, content_digest, &digest_len);
    EVP_MD_CTX_free(ctx);

    std::string message(format::k_signature_context);
    message.push_back('\0');
    message.append(reinterpret_cast<const char*>(content_digest), 32);
    auto sig = key.sign(reinterpret_cast<const std::uint8_t*>(message.data()), message.size());
    Status status = sig.status();
    if (status) {
        status = write_at(signature_offset, sig->data(), sig->size());
    }
    unsigned char file_digest[32];
    if (status) {
        EVP_DigestUpdate(file_ctx, sig->data(), sig->size());
        EVP_DigestFinal_ex(file_ctx, file_digest, &digest_len);
    }
    EVP_MD_CTX_free(file_ctx);
    if (!status) {
        return status;
    }

    WrittenSnapshot out;
    out.bytes = file_size;
    out.sha256_hex = to_hex(file_digest, 32);
    out.key_id = key.key_id();
    return out;
}

}  // namespace shortlink::formats
