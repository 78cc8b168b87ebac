#include "serve/geoip.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <maxminddb.h>

#include "formats/clock.h"
#include "serve/log.h"

namespace shortlink::serve {

namespace {

// The path to a record's country code, as MMDB_aget_value takes it (no allocation per call).
constexpr const char* k_country_path[] = {"country", "iso_code", nullptr};

// Looks `address` up: an IPv4 address (mapped) as AF_INET, so that libmaxminddb starts at the
// IPv4 subtree of an IPv6 database whatever the database aliases. MMDB_SUCCESS or its error.
int lookup(MMDB_s* db, const Address16& address, MMDB_lookup_result_s& result) {
    int error = MMDB_SUCCESS;
    if (is_v4_mapped(address)) {
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        std::memcpy(&sa.sin_addr, address.data() + 12, 4);
        result = MMDB_lookup_sockaddr(db, reinterpret_cast<const sockaddr*>(&sa), &error);
    } else {
        sockaddr_in6 sa{};
        sa.sin6_family = AF_INET6;
        std::memcpy(&sa.sin6_addr, address.data(), 16);
        result = MMDB_lookup_sockaddr(db, reinterpret_cast<const sockaddr*>(&sa), &error);
    }
    return error;
}

Status open_error(const std::string& path, int status, int saved_errno) {
    if (status == MMDB_FILE_OPEN_ERROR || status == MMDB_IO_ERROR) {
        if (saved_errno == ENOENT) {
            return Status::not_found("GeoIP database " + path + " does not exist");
        }
        return Status::io_error("cannot read GeoIP database " + path + ": " +
                                (saved_errno != 0 ? std::strerror(saved_errno) : MMDB_strerror(status)));
    }
    if (status == MMDB_OUT_OF_MEMORY_ERROR) {
        return Status::io_error("cannot map GeoIP database " + path + ": out of memory");
    }
    return Status::corruption("GeoIP database " + path + " is not a valid MaxMind DB file: " +
                              MMDB_strerror(status));
}

}  // namespace

GeoIpDatabase::GeoIpDatabase() : m_db(std::make_unique<MMDB_s>()) {}

GeoIpDatabase::~GeoIpDatabase() { MMDB_close(m_db.get()); }

Result<std::shared_ptr<const GeoIpDatabase>> GeoIpDatabase::open(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return open_error(path, MMDB_FILE_OPEN_ERROR, errno);
    }
    if (!S_ISREG(st.st_mode)) {
        return Status::invalid_argument("GeoIP database " + path + " is not a regular file");
    }
    if (st.st_size == 0) {
        // mmap refuses an empty file with EINVAL, which would read as an I/O error.
        return Status::corruption("GeoIP database " + path + " is not a valid MaxMind DB file: it is empty");
    }
    std::shared_ptr<GeoIpDatabase> db(new GeoIpDatabase());
    errno = 0;
    const int status = MMDB_open(path.c_str(), MMDB_MODE_MMAP, db->m_db.get());
    if (status != MMDB_SUCCESS) {
        const int saved = errno;
        db->m_db = std::make_unique<MMDB_s>();  // MMDB_open cleans up after itself on failure
        return open_error(path, status, saved);
    }
    const MMDB_metadata_s& meta = db->m_db->metadata;
    if (meta.ip_version != 4 && meta.ip_version != 6) {
        return Status::corruption("GeoIP database " + path + " has IP version " +
                                  std::to_string(meta.ip_version) + " (4 or 6 expected)");
    }
    // The metadata can be sound while the tree is not: probe one address of each family the
    // database holds, so that a broken tree is refused here rather than failing every lookup.
    Address16 v4{};
    v4[10] = v4[11] = 0xff;
    v4[12] = 192;
    v4[15] = 1;
    MMDB_lookup_result_s result{};
    if (const int e = lookup(db->m_db.get(), v4, result); e != MMDB_SUCCESS) {
        return Status::corruption("GeoIP database " + path + ": a probe lookup failed: " + MMDB_strerror(e));
    }
    if (meta.ip_version == 6) {
        Address16 v6{};
        v6[0] = 0x20;
        v6[1] = 0x01;
        v6[2] = 0x0d;
        v6[3] = 0xb8;
        if (const int e = lookup(db->m_db.get(), v6, result); e != MMDB_SUCCESS) {
            return Status::corruption("GeoIP database " + path + ": a probe lookup failed: " + MMDB_strerror(e));
        }
    }
    db->m_type = meta.database_type != nullptr ? meta.database_type : "";
    db->m_build_epoch = meta.build_epoch;
    return std::shared_ptr<const GeoIpDatabase>(std::move(db));
}

bool GeoIpDatabase::country_of(const Address16& address, std::array<char, 2>& code) const {
    MMDB_lookup_result_s result{};
    if (lookup(m_db.get(), address, result) != MMDB_SUCCESS || !result.found_entry) {
        return false;
    }
    MMDB_entry_data_s data{};
    if (MMDB_aget_value(&result.entry, &data, k_country_path) != MMDB_SUCCESS || !data.has_data ||
        data.type != MMDB_DATA_TYPE_UTF8_STRING || data.data_size != 2) {
        return false;
    }
    for (std::size_t i = 0; i < 2; ++i) {
        char c = data.utf8_string[i];
        c = c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c;
        if (c < 'A' || c > 'Z') {
            return false;
        }
        code[i] = c;
    }
    return true;
}

Result<std::unique_ptr<GeoIpFile>> GeoIpFile::open(const std::string& path, int log_fd) {
    std::unique_ptr<GeoIpFile> file(new GeoIpFile(path, log_fd));
    struct stat st {};
    const bool stamped = ::stat(path.c_str(), &st) == 0;
    auto db = GeoIpDatabase::open(path);
    if (!db) {
        return db.status();
    }
    file->m_stamp = stamped ? FileStamp::of(st) : FileStamp{};
    file->m_current = std::move(db).value();
    file->m_report.path = path;
    file->m_report.type = file->m_current->database_type();
    file->m_report.build_epoch = file->m_current->build_epoch();
    file->m_report.loaded_at = clock::unix_seconds();
    file->m_generation.store(1, std::memory_order_release);
    LogLine("info", "geoip_loaded").str("path", path).str("type", file->m_report.type)
        .num("build_epoch", static_cast<std::int64_t>(file->m_report.build_epoch)).emit(log_fd);
    return file;
}

void GeoIpFile::check() {
    struct stat st {};
    if (::stat(m_path.c_str(), &st) != 0) {
        if (!m_missing) {
            // Between a delete and a rename into place, or gone for good: the loaded database
            // keeps answering either way.
            LogLine("warn", "geoip_missing").str("path", m_path)
                .str("detail", "the GeoIP database file is gone; the loaded one keeps answering").emit(m_log_fd);
            m_missing = true;
        }
        return;
    }
    m_missing = false;
    const FileStamp stamp = FileStamp::of(st);
    if (stamp == m_stamp) {
        return;
    }
    m_stamp = stamp;  // judged once: a refused version is not retried until it changes again
    auto db = GeoIpDatabase::open(m_path);
    if (!db) {
        LogLine("error", "geoip_refused").str("path", m_path).str("reason", db.status().message())
            .str("detail", "the previous GeoIP database keeps answering").emit(m_log_fd);
        std::lock_guard lock(m_mutex);
        ++m_report.refused;
        m_report.last_refused = db.status().message();
        return;
    }
    std::shared_ptr<const GeoIpDatabase> next = std::move(db).value();
    {
        std::lock_guard lock(m_mutex);
        m_current = next;
        ++m_report.reloads;
        m_report.type = next->database_type();
        m_report.build_epoch = next->build_epoch();
        m_report.loaded_at = clock::unix_seconds();
    }
    m_generation.fetch_add(1, std::memory_order_acq_rel);
    LogLine("info", "geoip_reloaded").str("path", m_path).str("type", next->database_type())
        .num("build_epoch", static_cast<std::int64_t>(next->build_epoch())).emit(m_log_fd);
}

std::shared_ptr<const GeoIpDatabase> GeoIpFile::current() const {
    std::lock_guard lock(m_mutex);
    return m_current;
}

GeoIpReport GeoIpFile::report() const {
    std::lock_guard lock(m_mutex);
    return m_report;
}

}  // namespace shortlink::serve
