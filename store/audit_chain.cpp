// The canonical encoding of an audit row for its chain hash (store/audit_chain.h).
#include "store/audit_chain.h"

#include <cstring>

#include "formats/bytes.h"

namespace shortlink::store::detail {
namespace {

// Names the encoding; a later layout of the row would hash under "v2" and never collide with it.
constexpr std::string_view k_chain_context("shortlink audit v1\0", 19);

enum Tag : char { tag_null = 0, tag_integer = 1, tag_real = 2, tag_text = 3, tag_blob = 4 };

}  // namespace

AuditValue audit_value(sqlite3_stmt* stmt, int col) {
    AuditValue v;
    v.type = sqlite3_column_type(stmt, col);
    switch (v.type) {
    case SQLITE_INTEGER: v.integer = sqlite3_column_int64(stmt, col); break;
    case SQLITE_FLOAT: v.real = sqlite3_column_double(stmt, col); break;
    case SQLITE_TEXT: {
        const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, col));
        v.bytes = std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt, col)));
        break;
    }
    case SQLITE_BLOB: {
        const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt, col));
        const auto n = static_cast<std::size_t>(sqlite3_column_bytes(stmt, col));
        v.bytes = n == 0 ? std::string_view() : std::string_view(p, n);
        break;
    }
    default: v.type = SQLITE_NULL; break;
    }
    return v;
}

AuditHash AuditChainHasher::row_hash(const AuditHash& previous,
                                     const AuditValue (&values)[k_audit_chain_column_count]) {
    std::string& out = m_buffer;
    out.assign(k_chain_context);
    out.append(reinterpret_cast<const char*>(previous.data()), previous.size());
    for (const AuditValue& v : values) {
        switch (v.type) {
        case SQLITE_INTEGER:
            out.push_back(tag_integer);
            formats::bytes::append<std::int64_t>(out, v.integer);
            break;
        case SQLITE_FLOAT: {
            std::uint64_t bits = 0;
            std::memcpy(&bits, &v.real, sizeof bits);
            out.push_back(tag_real);
            formats::bytes::append<std::uint64_t>(out, bits);
            break;
        }
        case SQLITE_TEXT:
        case SQLITE_BLOB:
            out.push_back(v.type == SQLITE_TEXT ? tag_text : tag_blob);
            formats::bytes::append<std::uint64_t>(out, v.bytes.size());
            out.append(v.bytes);
            break;
        default: out.push_back(tag_null); break;
        }
    }
    m_sha.update(out.data(), out.size());
    return m_sha.finish();
}

}  // namespace shortlink::store::detail
