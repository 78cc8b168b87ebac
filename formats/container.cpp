// The container verifier: SPEC.md "Validation" steps 1 to 5, for every file kind.
#include "formats/container.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#include "formats/bytes.h"
#include "formats/hash.h"
#include "formats/keys.h"
#include "formats/records.h"

namespace shortlink::formats {

namespace fmt = format;

namespace {

// The paced unmapping works in pieces of this size.
constexpr std::size_t k_unmap_piece = std::size_t{1} << 20;

std::uint64_t align_up(std::uint64_t v) {
    return (v + fmt::k_alignment - 1) & ~static_cast<std::uint64_t>(fmt::k_alignment - 1);
}

bool has(std::uint32_t mask, std::uint32_t type) {
    return type < 32 && (mask & (std::uint32_t{1} << type)) != 0;
}

// "a snapshot", "an origin index"
std::string with_article(std::string_view noun) {
    const bool vowel = !noun.empty() && std::string_view("aeiou").find(noun.front()) != std::string_view::npos;
    return (vowel ? "an " : "a ") + std::string(noun);
}

}  // namespace

std::string section_label(std::uint32_t type) {
    return "section " + std::to_string(type) + " (" + std::string(fmt::section_name(type)) + ")";
}

Container::~Container() {
    if (!m_mapped || m_base == nullptr) {
        return;
    }
    // Unmapping 1 GB is tens of milliseconds in the kernel: in pieces, pausing between them,
    // when the owner asked for pauses.
    std::size_t done = 0;
    while (m_pace && m_size - done > k_unmap_piece) {
        ::munmap(const_cast<std::uint8_t*>(m_base) + done, k_unmap_piece);
        done += k_unmap_piece;
        m_pace();
    }
    ::munmap(const_cast<std::uint8_t*>(m_base) + done, m_size - done);
}

Result<std::unique_ptr<Container>> Container::map_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            return Status::not_found(path + ": no such file");
        }
        return Status::io_error(path + ": cannot open: " + std::strerror(errno));
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        return Status::io_error(path + ": not a regular file");
    }
    std::unique_ptr<Container> c(new Container());
    c->m_path = path;
    c->m_size = static_cast<std::uint64_t>(st.st_size);
    if (c->m_size > 0) {
        void* p = ::mmap(nullptr, c->m_size, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            const int err = errno;
            ::close(fd);
            return Status::io_error(path + ": cannot map: " + std::strerror(err));
        }
        c->m_base = static_cast<const std::uint8_t*>(p);
        c->m_mapped = true;
    } else {
        c->m_base = reinterpret_cast<const std::uint8_t*>("");
    }
    ::close(fd);  // the mapping keeps the file alive
    return c;
}

namespace {

// The file name for a memory file's name (shown in /proc/PID/maps as /memfd:NAME).
std::string base_name(const std::string& path) {
    const std::size_t slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Linux 6.3+: the memory file can never be made executable (required where vm.memfd_noexec=2).
#ifdef MFD_NOEXEC_SEAL
constexpr unsigned k_noexec_seal = MFD_NOEXEC_SEAL;
#else
constexpr unsigned k_noexec_seal = 0;
#endif

}  // namespace

// Where memory files are not allowed: the same private copy in anonymous memory, made read-only.
// Not sealed, but no other process can reach it. Takes ownership of `in`.
Result<std::unique_ptr<Container>> Container::copy_to_anonymous_memory(int in, const std::string& path,
                                                                       std::uint64_t size) {
    void* p = size == 0 ? nullptr
                        : ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        const int err = errno;
        ::close(in);
        return Status::io_error(path + ": cannot allocate a memory copy: " + std::strerror(err));
    }
    std::uint64_t done = 0;
    while (done < size) {
        const ssize_t n = ::pread(in, static_cast<std::uint8_t*>(p) + done,
                                  static_cast<std::size_t>(std::min<std::uint64_t>(size - done, 1u << 30)),
                                  static_cast<off_t>(done));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            const int err = errno;
            ::close(in);
            ::munmap(p, size);
            return Status::io_error(path + (n == 0 ? ": changed while it was copied"
                                                   : ": cannot copy: " + std::string(std::strerror(err))));
        }
        done += static_cast<std::uint64_t>(n);
    }
    ::close(in);
    std::unique_ptr<Container> c(new Container());
    c->m_path = path;
    c->m_size = size;
    if (size > 0) {
        ::mprotect(p, size, PROT_READ);
        c->m_base = static_cast<const std::uint8_t*>(p);
        c->m_mapped = true;
    } else {
        c->m_base = reinterpret_cast<const std::uint8_t*>("");
    }
    return c;
}

Result<std::unique_ptr<Container>> Container::copy_file(const std::string& path) {
    const int in = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        if (errno == ENOENT) {
            return Status::not_found(path + ": no such file");
        }
        return Status::io_error(path + ": cannot open: " + std::strerror(errno));
    }
    struct stat st {};
    if (::fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(in);
        return Status::io_error(path + ": not a regular file");
    }
    const auto size = static_cast<std::uint64_t>(st.st_size);
    int out = ::memfd_create(base_name(path).c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING | k_noexec_seal);
    if (out < 0 && errno == EINVAL && k_noexec_seal != 0) {
        out = ::memfd_create(base_name(path).c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);  // before Linux 6.3
    }
    if (out < 0 && (errno == ENOSYS || errno == EPERM || errno == EACCES)) {
        return copy_to_anonymous_memory(in, path, size);  // memfd_create filtered (seccomp)
    }
    if (out < 0) {
        const int err = errno;
        ::close(in);
        return Status::io_error(path + ": cannot create a memory copy: " + std::strerror(err));
    }
    const auto fail = [&](std::string what) -> Status {
        ::close(in);
        ::close(out);
        return Status::io_error(path + ": " + what);
    };
    if (::ftruncate(out, static_cast<off_t>(size)) != 0) {
        return fail(std::string("cannot size the memory copy: ") + std::strerror(errno));
    }
    // sendfile copies in the kernel without mapping the source, so a file truncated meanwhile
    // gives a short copy (caught below), never a SIGBUS.
    std::uint64_t done = 0;
    while (done < size) {
        off_t offset = static_cast<off_t>(done);
        const std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(size - done, 1u << 30));
        if (::lseek(out, offset, SEEK_SET) < 0) {
            return fail(std::string("cannot copy: ") + std::strerror(errno));
        }
        const ssize_t n = ::sendfile(out, in, &offset, chunk);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return fail(std::string("cannot copy: ") + std::strerror(errno));
        }
        if (n == 0) {
            return fail("changed while it was copied: " + std::to_string(done) + " of " +
                        std::to_string(size) + " bytes read");
        }
        done += static_cast<std::uint64_t>(n);
    }
    ::close(in);
    if (::fcntl(out, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
        const int err = errno;
        ::close(out);
        return Status::io_error(path + ": cannot seal the memory copy: " + std::strerror(err));
    }
    std::unique_ptr<Container> c(new Container());
    c->m_path = path;
    c->m_size = size;
    if (size > 0) {
        void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, out, 0);
        if (p == MAP_FAILED) {
            const int err = errno;
            ::close(out);
            return Status::io_error(path + ": cannot map the memory copy: " + std::strerror(err));
        }
        c->m_base = static_cast<const std::uint8_t*>(p);
        c->m_mapped = true;
    } else {
        c->m_base = reinterpret_cast<const std::uint8_t*>("");
    }
    ::close(out);  // the mapping keeps the memory file alive
    return c;
}

Result<std::unique_ptr<Container>> Container::open_file(const std::string& path,
                                                        const OpenOptions& options) {
    return options.private_copy ? copy_file(path) : map_file(path);
}

std::unique_ptr<Container> Container::copy_buffer(std::string_view bytes, std::string name) {
    std::unique_ptr<Container> c(new Container());
    c->m_path = std::move(name);
    c->m_owned.assign(bytes.data(), bytes.size());
    c->m_base = reinterpret_cast<const std::uint8_t*>(c->m_owned.data());
    c->m_size = c->m_owned.size();
    return c;
}

const SectionInfo* Container::section(format::SectionType type) const {
    for (const SectionInfo& s : m_sections) {
        if (s.type == static_cast<std::uint32_t>(type)) {
            return &s;
        }
    }
    return nullptr;
}

std::string Container::digest_hex() const { return bytes::hex_encode(m_digest.data(), m_digest.size()); }

Status Container::check_checksum(const SectionInfo& s) const {
    if (checksum(m_base + s.offset, s.length, m_pace) != s.checksum) {
        return Status::corruption(m_path + ": " + section_label(s.type) + " checksum mismatch");
    }
    return Status::ok();
}

std::pair<std::uint64_t, std::uint64_t> Container::block_range(std::uint64_t i) const {
    const std::uint64_t begin = m_content_start + i * m_block_size;
    return {begin, std::min(begin + m_block_size, m_content_end)};
}

bool Container::block_matches(std::uint64_t i) const {
    const auto [begin, end] = block_range(i);
    const Sha256Digest digest = sha256(m_base + begin, end - begin);
    return std::memcmp(digest.data(), m_block_digests + i * fmt::k_block_digest_size,
                       fmt::k_block_digest_size) == 0;
}

Status Container::block_mismatch(std::uint64_t i) const {
    const auto [begin, end] = block_range(i);
    std::string where;  // every section the block overlaps
    for (const SectionInfo& s : m_sections) {
        if (s.offset < end && begin < s.offset + s.length) {
            where += (where.empty() ? ", in " : " and ") + section_label(s.type);
        }
    }
    return Status::permission_denied(m_path + ": block " + std::to_string(i) + " (bytes " +
                                     std::to_string(begin) + ".." + std::to_string(end) + where +
                                     ") does not match its signed digest");
}

// Why block i does not match its digest, as precisely as the format can say: a section checksum
// that fails too means damage inside that section ("corrupt", as a full open reports it first);
// otherwise the change kept the checksums right or sits in padding, which only the signed digest
// covers.
Status Container::explain_block(std::uint64_t i) const {
    const auto [begin, end] = block_range(i);
    for (const SectionInfo& s : m_sections) {
        if (s.offset < end && begin < s.offset + s.length) {
            if (Status st = check_checksum(s); !st) {
                return st;
            }
        }
    }
    return block_mismatch(i);
}

Status Container::check_header(const ContainerLayout& layout) {
    const std::string& name = m_path;
    const std::uint8_t* h = m_base;
    if (m_size < fmt::k_header_size) {
        return Status::corruption(name + ": truncated: file is " + std::to_string(m_size) +
                                  " bytes, header needs " + std::to_string(fmt::k_header_size));
    }
    if (std::memcmp(h, fmt::k_magic.data(), fmt::k_magic.size()) != 0) {
        return Status::corruption(name + ": not a shortlink file (bad magic number)");
    }
    const records::ContainerHeader header = records::ContainerHeader::decode(h);
    m_version = header.version;
    if (m_version < fmt::k_min_version) {
        return Status::unsupported(name + ": format version " + std::to_string(m_version) +
                                   " is too old (this build reads versions " +
                                   std::to_string(fmt::k_min_version) + " to " +
                                   std::to_string(fmt::k_version) + "; compile it again)");
    }
    if (m_version > fmt::k_version) {
        return Status::unsupported(name + ": format version " + std::to_string(m_version) +
                                   " is too new (this build reads versions up to " +
                                   std::to_string(fmt::k_version) + "; upgrade shortlink)");
    }
    if (header.header_size != fmt::k_header_size) {
        return Status::corruption(name + ": header size field is not " +
                                  std::to_string(fmt::k_header_size) + " (byte 12)");
    }
    if (m_size < header.file_size) {
        return Status::corruption(name + ": truncated at byte " + std::to_string(m_size) +
                                  " (header says the file is " + std::to_string(header.file_size) +
                                  " bytes)");
    }
    if (m_size > header.file_size) {
        return Status::corruption(name + ": " + std::to_string(m_size - header.file_size) +
                                  " trailing bytes after the declared end at byte " +
                                  std::to_string(header.file_size));
    }
    if (fmt::file_kind_name(header.file_kind) == "unknown") {
        return Status::corruption(name + ": unknown file kind " + std::to_string(header.file_kind));
    }
    if (header.file_kind != static_cast<std::uint32_t>(layout.kind)) {
        return Status::invalid_argument(
            name + ": is " + with_article(fmt::file_kind_name(header.file_kind)) + " (file kind " +
            std::to_string(header.file_kind) + "), not " +
            with_article(fmt::file_kind_name(static_cast<std::uint32_t>(layout.kind))));
    }
    for (std::size_t i = fmt::k_off_reserved; i < fmt::k_off_payload_header; ++i) {
        if (h[i] != 0) {
            return Status::corruption(name + ": reserved header byte " + std::to_string(i) +
                                      " is not zero");
        }
    }
    m_kind = layout.kind;
    m_serial = header.serial;
    m_base_serial = header.base_serial;
    m_created_at = header.created_at;
    m_not_after = header.not_after;
    m_key_id = bytes::hex_encode(header.key_id, fmt::k_key_id_size);
    return Status::ok();
}

Status Container::check_sections(const ContainerLayout& layout) {
    const std::string& name = m_path;
    if (m_size < fmt::k_header_size + fmt::k_signature_size) {
        return Status::corruption(name + ": truncated at byte " + std::to_string(m_size) +
                                  " (no room for a signature)");
    }
    const std::uint64_t signature_offset = m_size - fmt::k_signature_size;
    const std::uint32_t count = bytes::load<std::uint32_t>(m_base + fmt::k_off_section_count);
    if (count > fmt::k_max_sections) {
        return Status::corruption(name + ": section count " + std::to_string(count) +
                                  " exceeds the limit of " + std::to_string(fmt::k_max_sections));
    }
    const std::uint64_t table_end = fmt::k_header_size + std::uint64_t{count} * fmt::k_section_entry_size;
    if (table_end > signature_offset) {
        return Status::corruption(name + ": section table ends at byte " +
                                  std::to_string(table_end) + ", past the signature at byte " +
                                  std::to_string(signature_offset));
    }
    const std::uint32_t allowed = layout.allowed | section_bit(fmt::SectionType::digests);
    const std::uint32_t required = layout.required | section_bit(fmt::SectionType::digests);
    std::uint64_t previous_end = table_end;
    std::uint32_t previous_type = 0;
    std::uint32_t present = 0;
    m_sections.clear();
    for (std::uint32_t i = 0; i < count; ++i) {
        const records::SectionEntry e =
            records::SectionEntry::decode(m_base + fmt::k_header_size + i * fmt::k_section_entry_size);
        SectionInfo s{e.type, fmt::section_name(e.type), e.offset, e.length, e.checksum};
        const std::string where = name + ": section table entry " + std::to_string(i) + " (" +
                                  section_label(s.type) + ")";
        if (s.type == 0 || s.type > fmt::k_max_section_type || e.zero != 0 ||
            fmt::section_name(s.type) == "unknown") {
            return Status::corruption(where + ": unknown section type");
        }
        if (!has(allowed, s.type)) {
            return Status::corruption(where + ": not a section of " +
                                      with_article(fmt::file_kind_name(static_cast<std::uint32_t>(layout.kind))));
        }
        if (s.type <= previous_type) {
            return Status::corruption(where + ": sections out of order or repeated");
        }
        if (s.offset % fmt::k_alignment != 0 || s.offset < previous_end) {
            return Status::corruption(where + ": offset " + std::to_string(s.offset) +
                                      " is misaligned or overlaps what precedes it");
        }
        if (s.offset > signature_offset || s.length > signature_offset - s.offset) {
            return Status::corruption(where + ": [" + std::to_string(s.offset) + ", +" +
                                      std::to_string(s.length) + ") runs past byte " +
                                      std::to_string(signature_offset));
        }
        previous_end = s.offset + s.length;
        previous_type = s.type;
        present |= std::uint32_t{1} << s.type;
        m_sections.push_back(s);
    }
    if ((present & required) != required) {
        std::string missing;
        for (std::uint32_t t = 1; t <= fmt::k_max_section_type; ++t) {
            if (has(required, t) && !has(present, t)) {
                missing += (missing.empty() ? "" : ", ") + std::string(fmt::section_name(t));
            }
        }
        return Status::corruption(name + ": a required section is missing (" + missing + ")");
    }
    return Status::ok();
}

// The digests section's layout: it must describe exactly the content region before it, in blocks.
Status Container::check_digests(const SectionInfo& sec) {
    const std::string where = m_path + ": " + section_label(sec.type);
    const std::uint64_t content_start =
        align_up(fmt::k_header_size + m_sections.size() * fmt::k_section_entry_size);
    if (sec.length < fmt::k_digests_header_size) {
        return Status::corruption(where + ": shorter than its " +
                                  std::to_string(fmt::k_digests_header_size) + "-byte header");
    }
    const std::uint8_t* p = m_base + sec.offset;
    const records::DigestsHeader d = records::DigestsHeader::decode(p);
    for (std::size_t i = records::DigestsHeader::k_used; i < fmt::k_digests_header_size; ++i) {
        if (p[i] != 0) {
            return Status::corruption(where + ": reserved byte " + std::to_string(i) + " is not zero");
        }
    }
    m_block_size = d.block_size;
    m_content_start = d.content_start;
    m_content_end = d.content_end;
    m_block_count = d.block_count;
    if (m_block_size < fmt::k_min_block_size || m_block_size > fmt::k_max_block_size ||
        (m_block_size & (m_block_size - 1)) != 0) {
        return Status::corruption(where + ": block size " + std::to_string(m_block_size) +
                                  " is not a power of two in [4 KiB, 16 MiB]");
    }
    if (&sec != &m_sections.back() || m_content_start != content_start ||
        m_content_end != sec.offset) {
        return Status::corruption(where + ": does not describe the content region [" +
                                  std::to_string(content_start) + ", " +
                                  std::to_string(sec.offset) + ") or is not the last section");
    }
    const std::uint64_t content = m_content_end - m_content_start;
    const std::uint64_t blocks = (content + m_block_size - 1) / m_block_size;
    if (m_block_count != blocks ||
        (sec.length - fmt::k_digests_header_size) / fmt::k_block_digest_size != blocks ||
        (sec.length - fmt::k_digests_header_size) % fmt::k_block_digest_size != 0) {
        return Status::corruption(where + ": " + std::to_string(m_block_count) +
                                  " block digests do not match the content size or the length");
    }
    m_block_digests = p + fmt::k_digests_header_size;
    return Status::ok();
}

// The file digest: SHA-256 of the bytes before the content region and of those from the digests
// section to the signature (the block digests stand in for the content).
void Container::compute_digest() {
    Sha256 sha;
    sha.update(m_base, m_content_start);
    sha.update(m_base + m_content_end, m_size - fmt::k_signature_size - m_content_end);
    m_digest = sha.finish();
}

Status Container::check_signature(const TrustedKeys& trusted) {
    const TrustedKey* key = nullptr;
    for (const TrustedKey& k : trusted) {
        if (k.key_id == m_key_id) {
            key = &k;
            break;
        }
    }
    if (key == nullptr) {
        return Status::permission_denied(m_path + ": signed by key " + m_key_id +
                                         ", which is not among the " +
                                         std::to_string(trusted.size()) + " trusted key(s)");
    }
    const std::string message = signature_message(m_digest);
    SignatureBytes sig{};
    std::memcpy(sig.data(), m_base + m_size - fmt::k_signature_size, sig.size());
    if (!verify_signature(*key, reinterpret_cast<const std::uint8_t*>(message.data()),
                          message.size(), sig)) {
        return Status::permission_denied(m_path + ": signature does not verify against key " +
                                         m_key_id + " (file modified after signing)");
    }
    return Status::ok();
}

Status Container::verify(const ContainerLayout& layout, const TrustedKeys& trusted,
                         OpenOptions options) {
    const bool lazy = options.lazy_content && options.verify_signature;
    // A lazy open is milliseconds by design and a server's first answer waits for it: it runs
    // through, and only the passes it leaves (finish, prefault, unmapping) pause.
    if (!lazy) {
        m_pace = std::move(options.pace);
    }
    if (Status s = check_header(layout); !s) {
        return s;
    }
    if (Status s = check_sections(layout); !s) {
        return s;
    }
    const auto deferred = [&](const SectionInfo& s) { return lazy && has(layout.deferred, s.type); };
    for (const SectionInfo& sec : m_sections) {
        if (deferred(sec)) {
            m_deferred.push_back(sec);
        } else if (Status s = check_checksum(sec); !s) {
            return s;
        }
    }
    if (Status s = check_digests(m_sections.back()); !s) {
        return s;
    }
    compute_digest();
    if (options.verify_signature) {
        if (Status s = check_signature(trusted); !s) {
            return s;
        }
        // The signature covers the content through the block digests: prove them now, or in a
        // lazy open only those under the sections it does not defer.
        m_block_state = std::make_unique<std::atomic<std::uint8_t>[]>(m_block_count);
        for (std::uint64_t i = 0; i < m_block_count; ++i) {
            bool needed = !lazy;
            const auto [begin, end] = block_range(i);
            for (const SectionInfo& sec : m_sections) {
                needed = needed || (!deferred(sec) && sec.offset < end && begin < sec.offset + sec.length);
            }
            if (!needed) {
                continue;
            }
            pause();
            if (!block_matches(i)) {
                return explain_block(i);
            }
            m_block_state[i].store(1, std::memory_order_relaxed);
        }
    }
    if (lazy) {
        m_pace = std::move(options.pace);
    }
    m_state.store(lazy ? k_verifying : k_verified, std::memory_order_release);
    return Status::ok();
}

Status Container::fail(const Status& status) const {
    std::lock_guard lock(m_failure_mutex);
    if (m_failure.is_ok()) {
        m_failure = status;
    }
    m_state.store(k_failed, std::memory_order_release);
    return m_failure;
}

Status Container::failure() const {
    std::lock_guard lock(m_failure_mutex);
    return m_failure;
}

Status Container::finish(const std::atomic<bool>* cancel) const {
    const Status status = verify_deferred(cancel);
    const std::int64_t block = m_failed_block.exchange(-1);
    if (status.is_ok() || status.code() == Status::Code::cancelled || block < 0) {
        return status;
    }
    // prove() met a bad block: its message says only that the block's digest did not match.
    // Whichever check failed first, say what a full open would have said about that block.
    std::lock_guard lock(m_failure_mutex);
    if (m_failure.message() == block_mismatch(static_cast<std::uint64_t>(block)).message()) {
        m_failure = explain_block(static_cast<std::uint64_t>(block));
    }
    return m_failure;
}

Status Container::verify_deferred(const std::atomic<bool>* cancel) const {
    const auto cancelled = [&] { return cancel != nullptr && cancel->load(std::memory_order_relaxed); };
    if (m_state.load(std::memory_order_acquire) == k_failed) {
        return failure();
    }
    // The same order as a full open, so a damaged file gets the same message either way.
    for (const SectionInfo& sec : m_deferred) {
        if (cancelled()) {
            return Status::cancelled("verification stopped before the checksums were checked");
        }
        if (Status s = check_checksum(sec); !s) {
            return fail(s);
        }
    }
    for (std::uint64_t i = 0; i < m_block_count && m_block_state; ++i) {
        if (cancelled()) {
            return Status::cancelled("verification stopped before every block was proven");
        }
        const std::uint8_t state = m_block_state[i].load(std::memory_order_acquire);
        if (state == 1) {
            continue;
        }
        pause();
        if (state == 2 || !block_matches(i)) {
            m_block_state[i].store(2, std::memory_order_release);
            return fail(explain_block(i));
        }
        m_block_state[i].store(1, std::memory_order_release);
    }
    return Status::ok();
}

Status Container::mark_verified() const {
    std::uint8_t expected = k_verifying;
    if (!m_state.compare_exchange_strong(expected, k_verified, std::memory_order_acq_rel) &&
        expected == k_failed) {
        return failure();  // prove() found a bad block meanwhile
    }
    return Status::ok();
}

bool Container::prove(const std::uint8_t* p, std::uint64_t length) const {
    if (p < m_base) {
        return false;
    }
    const auto begin = static_cast<std::uint64_t>(p - m_base);
    if (length == 0 || begin < m_content_start || begin > m_content_end ||
        length > m_content_end - begin || !m_block_state) {
        return false;  // not reachable from a well-formed record: callers bound offsets first
    }
    for (std::uint64_t i = (begin - m_content_start) / m_block_size;
         i <= (begin + length - 1 - m_content_start) / m_block_size; ++i) {
        const std::uint8_t state = m_block_state[i].load(std::memory_order_acquire);
        if (state == 1) {
            continue;
        }
        if (state == 2 || !block_matches(i)) {
            m_block_state[i].store(2, std::memory_order_release);
            std::int64_t none = -1;
            m_failed_block.compare_exchange_strong(none, static_cast<std::int64_t>(i));
            record_failure(block_mismatch(i));  // finish() refines the message
            return false;
        }
        m_block_state[i].store(1, std::memory_order_release);
    }
    return true;
}

Result<format::FileKind> peek_file_kind(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            return Status::not_found(path + ": no such file");
        }
        return Status::io_error(path + ": cannot open: " + std::strerror(errno));
    }
    std::uint8_t head[fmt::k_off_file_kind + 4] = {};
    const ssize_t n = ::pread(fd, head, sizeof(head), 0);
    ::close(fd);
    if (n < static_cast<ssize_t>(sizeof(head))) {
        return Status::corruption(path + ": truncated: file is shorter than a header");
    }
    if (std::memcmp(head, fmt::k_magic.data(), fmt::k_magic.size()) != 0) {
        return Status::corruption(path + ": not a shortlink file (bad magic number)");
    }
    const auto version = bytes::load<std::uint32_t>(head + fmt::k_off_version);
    if (version < fmt::k_min_version || version > fmt::k_version) {
        return format::FileKind::snapshot;  // the snapshot reader words the version error
    }
    const auto kind = bytes::load<std::uint32_t>(head + fmt::k_off_file_kind);
    if (fmt::file_kind_name(kind) == "unknown") {
        return Status::corruption(path + ": unknown file kind " + std::to_string(kind));
    }
    return static_cast<format::FileKind>(kind);
}

}  // namespace shortlink::formats
