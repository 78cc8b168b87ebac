// The hash chain of the audit log: how one row's hash is computed from the previous row's hash and
// every column of the row. The writer (store.cpp, store_links.cpp), migration 3 (store_schema.cpp)
// and `shortlink history --verify` all hash through this header, so they cannot drift apart.
//
// hash(row) = SHA-256 of the canonical encoding
//     "shortlink audit v1" NUL
//     previous row's hash (32 bytes; 32 zero bytes before the first row)
//     each column in the order of k_audit_chain_columns, as
//         NULL     0x00
//         INTEGER  0x01, 8 bytes little-endian two's complement
//         REAL     0x02, 8 bytes little-endian IEEE 754 bits
//         TEXT     0x03, 8-byte little-endian length, the UTF-8 bytes
//         BLOB     0x04, 8-byte little-endian length, the bytes
// Columns are encoded by SQLite storage class, so a value rewritten with another type (the text
// '5' for the integer 5) changes the hash too. man/shortlink-history.1 documents the same.
//
// Thread-safety: the functions are pure; an AuditChainHasher is one hashing state for one thread.
#pragma once

#include <sqlite3.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "formats/sha256.h"

namespace shortlink::store::detail {

using AuditHash = formats::Sha256Digest;

// Every column of audit_log except the hash itself, in the order they are hashed.
inline constexpr const char* k_audit_chain_columns =
    "id, at, actor, action, host, code, link_id, before, after, last_link_id";
inline constexpr int k_audit_chain_column_count = 10;

// One column's value by storage class, as SQLite holds it. Text and blob views must outlive the
// AuditChainHasher::add() that reads them.
struct AuditValue {
    int type = SQLITE_NULL;      // SQLITE_NULL, SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_BLOB
    std::int64_t integer = 0;
    double real = 0;
    std::string_view bytes;

    static AuditValue null() { return {}; }
    static AuditValue of(std::int64_t v) { return {SQLITE_INTEGER, v, 0, {}}; }
    static AuditValue of(std::string_view v) { return {SQLITE_TEXT, 0, 0, v}; }
    // An optional integer column the store leaves NULL when it is 0 or less (link_id, last_link_id).
    static AuditValue id_or_null(std::int64_t v) { return v > 0 ? of(v) : null(); }
    // An optional text column the store leaves NULL when it is empty (before, after).
    static AuditValue text_or_null(std::string_view v) { return v.empty() ? null() : of(v); }
};

// Reads column `col` of a stepped statement as the chain encodes it.
AuditValue audit_value(sqlite3_stmt* stmt, int col);

// Hashes rows one after another; the encoding buffer is reused between rows.
class AuditChainHasher {
public:
    // The hash of a row whose columns (k_audit_chain_columns order) are `values`, chained to
    // `previous`.
    AuditHash row_hash(const AuditHash& previous, const AuditValue (&values)[k_audit_chain_column_count]);

private:
    formats::Sha256 m_sha;
    std::string m_buffer;
};

}  // namespace shortlink::store::detail
