// GeoIP: the client's country from a local MaxMind DB file (serve --geoip FILE, resolve
// --geoip FILE), read with libmaxminddb: GeoLite2-Country, GeoIP2-City or any database whose
// records hold country.iso_code.
//
// Which country a rule sees: the trusted country header (serve --country-header) when the
// request carries it, since the proxy that sets it saw the client; else the database's answer
// for the client's address (serve/client_address.h); else none. The database is read only when
// a country condition is evaluated without the header (serve/rules_eval.h), and a lookup
// allocates nothing: MMDB_lookup_sockaddr walks the mapped tree, MMDB_aget_value takes its
// path as an array (MMDB_get_value would allocate one per call).
//
// GeoIpFile watches the file: check() (the control thread, at every --rescan-interval and on
// SIGHUP) reopens it when its stamp (serve/file_stamp.h) changed and publishes the new database
// with a generation counter; request threads hold a shared_ptr to the one they started with,
// so a lookup in flight finishes on the old mapping, unmapped when the last holder lets go. A
// file that does not open, or fails a probe lookup, is refused with a log line and the old
// database keeps answering. Replace the file by rename (as geoipupdate does): rewriting a
// mapped file in place changes the bytes under a lookup.
//
// Thread-safety: GeoIpDatabase is immutable after open(); any thread may look up. GeoIpFile:
// check() from one thread at a time; generation(), current() and report() from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "formats/status.h"
#include "serve/client_address.h"
#include "serve/file_stamp.h"
#include "serve/rules_eval.h"

struct MMDB_s;

namespace shortlink::serve {

class GeoIpDatabase final : public CountrySource {
public:
    // Maps and checks `path`: NotFound when it does not exist, Corruption when it is not a
    // MaxMind DB or its search tree is broken, IOError otherwise.
    static Result<std::shared_ptr<const GeoIpDatabase>> open(const std::string& path);
    ~GeoIpDatabase() override;
    GeoIpDatabase(const GeoIpDatabase&) = delete;
    GeoIpDatabase& operator=(const GeoIpDatabase&) = delete;

    // The country (ISO 3166-1 alpha-2, uppercase) of `address`; false when the database has no
    // record for it, the record no country.iso_code, or the code is not two letters.
    bool country_of(const Address16& address, std::array<char, 2>& code) const override;

    const std::string& database_type() const { return m_type; }
    std::uint64_t build_epoch() const { return m_build_epoch; }

private:
    GeoIpDatabase();
    std::unique_ptr<MMDB_s> m_db;
    std::string m_type;
    std::uint64_t m_build_epoch = 0;
};

struct GeoIpReport {
    std::string path;
    std::string type;            // metadata database_type ("GeoLite2-Country")
    std::uint64_t build_epoch = 0;
    std::int64_t loaded_at = 0;  // Unix seconds
    std::uint64_t reloads = 0;   // replacements published after the first load
    std::uint64_t refused = 0;   // new versions of the file refused
    std::string last_refused;    // why the last one was, empty: none
};

class GeoIpFile {
public:
    // At start: the file must open; its error is returned as is (the server does not start).
    static Result<std::unique_ptr<GeoIpFile>> open(const std::string& path, int log_fd);

    // Reopens the file when it changed since the last look, publishing it if it opens.
    void check();

    std::uint64_t generation() const { return m_generation.load(std::memory_order_acquire); }
    std::shared_ptr<const GeoIpDatabase> current() const;
    GeoIpReport report() const;

private:
    GeoIpFile(std::string path, int log_fd) : m_path(std::move(path)), m_log_fd(log_fd) {}

    const std::string m_path;
    const int m_log_fd;
    FileStamp m_stamp;  // of the last version judged, published or refused (check() only)
    bool m_missing = false;  // the last look found no file (logged once)
    mutable std::mutex m_mutex;
    std::shared_ptr<const GeoIpDatabase> m_current;
    GeoIpReport m_report;
    std::atomic<std::uint64_t> m_generation{0};
};

}  // namespace shortlink::serve
