// Reading and validating the rows of an import file. See import_rows.h.
#include "store/import_rows.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <future>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "formats/password.h"
#include "store/bounded_read.h"
#include "store/csv.h"
#include "store/import_sources.h"
#include "store/timefmt.h"
#include "store/validate.h"

namespace shortlink::store {
namespace {

namespace src = import_sources;
using F = ImportField;

// A row's values by field, as the file wrote them (a foreign row's tags already cleaned and
// joined with ';', its missing values given the source's defaults).
using Row = std::array<std::string, k_import_field_count>;

constexpr std::size_t at(ImportField f) { return static_cast<std::size_t>(f); }

Status line_error(std::uint64_t line, const std::string& why) {
    return Status::invalid_argument("line " + std::to_string(line) + ": " + why);
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

// shortlink's own CSV splits tags on ';', ',' and spaces; another shortener's tags may hold
// spaces ("Spring Sale"), so theirs split on ';', ',' and '|' (Shlink's CSV) only.
std::vector<std::string> split_tags(std::string_view s, bool foreign) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : s) {
        if (c == ';' || c == ',' || (foreign ? c == '|' : c == ' ')) {
            if (!cur.empty()) {
                out.push_back(std::move(cur));
                cur.clear();
            }
        } else {
            cur.push_back(c);
        }
    }
    if (!cur.empty()) {
        out.push_back(std::move(cur));
    }
    return out;
}

// Validates one row into `in`; the failure says what is wrong, without the line, and `bad` the
// field it is about.
Status validate_row(const Row& row, const ImportSettings& settings, LinkInput& in, ImportField& bad) {
    in = LinkInput{};
    const bool foreign = src::profile(settings.format).foreign;
    std::optional<src::ShortUrl> short_url;
    if (!row[at(F::short_url)].empty()) {
        bad = F::short_url;
        auto split = src::split_short_url(row[at(F::short_url)]);
        if (!split) {
            return split.status();
        }
        short_url = std::move(split).value();
    }
    bad = F::domain;
    const std::string& domain = row[at(F::domain)];
    if (!domain.empty() && domain != k_default_host) {
        auto host = validate::normalize_host(foreign ? src::host_of(domain) : std::string_view(domain));
        if (!host) {
            return host.status();
        }
        in.host = std::move(host).value();
    } else if (domain.empty()) {
        in.host = short_url ? short_url->host : settings.default_host;
    }
    bad = row[at(F::code)].empty() && short_url ? F::short_url : F::code;
    in.code = row[at(F::code)].empty() && short_url ? short_url->code : row[at(F::code)];
    if (in.code.empty()) {
        return Status::invalid_argument("code is empty");
    }
    if (Status st = validate::check_code(in.code); !st) {
        return st;
    }
    bad = F::url;
    auto destination = validate::normalize_destination(row[at(F::url)]);
    if (!destination) {
        return destination.status();
    }
    in.destination = std::move(destination).value();
    bad = F::type;
    if (!row[at(F::type)].empty()) {
        auto type = validate::parse_redirect_type(row[at(F::type)]);
        if (!type) {
            return type.status();
        }
        in.redirect_type = *type;
    }
    for (auto [column, field] : {std::pair{F::expires, &in.expires}, std::pair{F::not_before, &in.not_before},
                                 std::pair{F::created_at, &in.created_at}}) {
        bad = column;
        const std::string& text = row[at(column)];
        if (!text.empty()) {
            // shortlink's own times may be relative ("7d"); another shortener's never are.
            auto when = foreign || column == F::created_at ? src::parse_time(text)
                                                           : timefmt::parse_time(text, settings.now);
            if (!when) {
                return when.status();
            }
            *field = *when;
        }
    }
    bad = F::tags;
    in.tags = split_tags(row[at(F::tags)], foreign);
    for (const std::string& t : in.tags) {
        if (Status st = validate::check_tag(t); !st) {
            return st;
        }
    }
    bad = F::title;
    if (!row[at(F::title)].empty()) {
        auto title = validate::normalize_title(row[at(F::title)]);
        if (!title) {
            return title.status();
        }
        in.title = std::move(title).value();
    }
    bad = F::status;
    if (!row[at(F::status)].empty()) {
        auto state = parse_link_state(row[at(F::status)]);
        if (!state) {
            return Status::invalid_argument("status '" + validate::printable(row[at(F::status)]) +
                                            "' is not active, disabled or deleted");
        }
        in.status = *state;
    }
    bad = F::forward_query;
    if (const std::string& fq = row[at(F::forward_query)]; !fq.empty()) {
        std::optional<bool> forward = src::parse_bool(fq);
        if (!forward) {
            return Status::invalid_argument("forward_query '" + validate::printable(fq) +
                                            "' is not true, false or empty");
        }
        in.forward_query = *forward ? 1 : 0;
    }
    // Settings a link cannot express: the row is refused rather than imported to answer
    // differently from where it came from.
    static constexpr std::pair<ImportField, std::string_view> k_refused[] = {
        {F::include_subdomains, "is true: a link answers on its own domain only, not on its subdomains"},
        {F::subpath_matching, "is true: a link matches its one path, not the paths under it"},
        {F::preserve_path_suffix, "is true: a link matches its one path, so there is no suffix to keep"},
        {F::password, "is set: the link is password-protected there, and its password is not in the export, "
                      "so it would become public (import the others, then add it with --password-file)"},
    };
    for (auto [field, why] : k_refused) {
        bad = field;
        const std::string& text = row[at(field)];
        if (text.empty()) {
            continue;
        }
        std::optional<bool> set = src::parse_bool(text);
        if (!set) {
            return Status::invalid_argument("'" + validate::printable(text) + "' is not true or false");
        }
        if (*set) {
            return Status::invalid_argument(std::string(import_field_name(field)) + " " + std::string(why));
        }
    }
    bad = F::rules;
    if (const std::string& rules = row[at(F::rules)]; !rules.empty()) {
        auto decoded = decode_rules(rules, settings.now);
        if (!decoded) {
            return decoded.status();
        }
        in.rules = std::move(decoded).value();
    }
    bad = F::expired_url;
    if (const std::string& url = row[at(F::expired_url)]; !url.empty()) {
        auto normalized = validate::normalize_destination(url);
        if (!normalized) {
            return normalized.status();
        }
        in.expired_url = std::move(normalized).value();
    }
    bad = F::reserved;
    if (const std::string& reserved = row[at(F::reserved)]; !reserved.empty()) {
        std::optional<bool> set = src::parse_bool(reserved);
        if (!set) {
            return Status::invalid_argument("reserved '" + validate::printable(reserved) + "' is not true, false or empty");
        }
        if (*set && in.not_before != 0) {
            return Status::invalid_argument("reserved is true: a reserved link has no not_before time");
        }
        in.reserved = *set;
    }
    bad = F::password_hash;
    if (const std::string& hash = row[at(F::password_hash)]; !hash.empty()) {
        // Checked as a snapshot reader would check it, so an edited export cannot plant a hash
        // that fails a compile or asks a server for gigabytes.
        if (auto parsed = formats::parse_password_text(hash); !parsed) {
            return parsed.status();
        }
        in.password_hash = hash;
    }
    bad = F::banned;
    if (const std::string& banned = row[at(F::banned)]; !banned.empty()) {
        std::optional<bool> set = src::parse_bool(banned);
        if (!set) {
            return Status::invalid_argument("'" + validate::printable(banned) + "' is not true or false");
        }
        if (*set) {
            in.status = LinkState::disabled;  // a banned link answers nothing there: kept, disabled
        }
    }
    return Status::ok();
}

// The lines of a stream, each at most k_max_import_line_bytes long (a longer one is refused
// before it is buffered whole). Reads in chunks; a line view is valid until the next call.
class LineReader {
public:
    explicit LineReader(std::istream& in) : m_in(*in.rdbuf()) {}

    enum class Next { line, end, too_long };

    Next next(std::string_view& line) {
        std::size_t scanned = 0;  // bytes after m_pos known to hold no '\n'
        while (true) {
            const char* start = m_buf.data() + m_pos;
            const std::size_t available = m_buf.size() - m_pos;
            if (const void* nl = std::memchr(start + scanned, '\n', available - scanned)) {
                const auto length = static_cast<std::size_t>(static_cast<const char*>(nl) - start);
                if (length > k_max_import_line_bytes) {
                    return Next::too_long;
                }
                line = std::string_view(start, length);
                m_pos += length + 1;
                return Next::line;
            }
            if (available > k_max_import_line_bytes) {
                return Next::too_long;
            }
            scanned = available;
            if (!fill()) {
                if (available == 0) {
                    return Next::end;
                }
                line = std::string_view(m_buf.data() + m_pos, available);  // the last line, without '\n'
                m_pos += available;
                return Next::line;
            }
        }
    }

private:
    static constexpr std::size_t k_chunk = 64 * 1024;

    // Drops the lines already returned and appends the next chunk; false at the end of input.
    bool fill() {
        m_buf.erase(0, m_pos);
        m_pos = 0;
        const std::size_t old = m_buf.size();
        m_buf.resize(old + k_chunk);
        const std::streamsize n = m_in.sgetn(m_buf.data() + old, static_cast<std::streamsize>(k_chunk));
        m_buf.resize(old + static_cast<std::size_t>(std::max<std::streamsize>(n, 0)));
        return n > 0;
    }

    std::streambuf& m_in;
    std::string m_buf;
    std::size_t m_pos = 0;
};

// A column's part once its name is resolved: a field, dropped (saying why once, or silently),
// or unknown (an input error unless unknown columns are ignored).
struct Slot {
    enum class Kind : std::uint8_t { field, dropped, unknown };
    Kind kind = Kind::unknown;
    ImportField field = F::ignore;
    std::string name;     // as the file writes it
    std::string_view why;  // a dropped column's reason; empty: silent
};

// A byte range read as a stream, without a copy.
class MemoryBuf : public std::streambuf {
public:
    MemoryBuf(char* data, std::size_t size) { setg(data, data, data + size); }
};

// Records where each object that is an element of an array starts, and at what depth, while
// forwarding every event to the handler building the document: the lines of a JSON document's
// links, which the document itself does not keep.
template <typename Handler>
class ItemTracker {
public:
    ItemTracker(Handler& h, const rapidjson::MemoryStream& stream,
                std::vector<std::pair<std::size_t, std::size_t>>& items)
        : m_h(h), m_stream(stream), m_items(items) {}

    bool Null() { return m_h.Null(); }
    bool Bool(bool b) { return m_h.Bool(b); }
    bool Int(int i) { return m_h.Int(i); }
    bool Uint(unsigned i) { return m_h.Uint(i); }
    bool Int64(std::int64_t i) { return m_h.Int64(i); }
    bool Uint64(std::uint64_t i) { return m_h.Uint64(i); }
    bool Double(double d) { return m_h.Double(d); }
    bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) { return m_h.RawNumber(s, n, copy); }
    bool String(const char* s, rapidjson::SizeType n, bool copy) { return m_h.String(s, n, copy); }
    bool Key(const char* s, rapidjson::SizeType n, bool copy) { return m_h.Key(s, n, copy); }
    bool StartObject() {
        if (!m_open.empty() && m_open.back()) {
            m_items.emplace_back(m_open.size(), m_stream.Tell());
        }
        m_open.push_back(false);
        return m_h.StartObject();
    }
    bool EndObject(rapidjson::SizeType n) {
        m_open.pop_back();
        return m_h.EndObject(n);
    }
    bool StartArray() {
        m_open.push_back(true);
        return m_h.StartArray();
    }
    bool EndArray(rapidjson::SizeType n) {
        m_open.pop_back();
        return m_h.EndArray(n);
    }

private:
    Handler& m_h;
    const rapidjson::MemoryStream& m_stream;
    std::vector<std::pair<std::size_t, std::size_t>>& m_items;  // (depth, offset)
    std::vector<bool> m_open;                                     // open containers: true for an array
};

// Iterative: a line of a million '[' must not recurse a million frames deep.
constexpr unsigned k_json_flags = rapidjson::kParseIterativeFlag;

// Produces raw rows one at a time: shortlink's CSV and JSON Lines streamed from the input, or
// another shortener's export read whole (CSV, JSON Lines, or one JSON document).
class RowReader {
public:
    RowReader(std::istream& in, const ImportSettings& settings)
        : m_settings(settings), m_profile(src::profile(settings.format)), m_in(in) {}

    // Skips a byte order mark and finds out what the input is; false with the error.
    Status open() {
        std::streambuf& buf = *m_in.rdbuf();
        if (buf.sgetc() == 0xEF) {
            buf.sbumpc();
            if (buf.sbumpc() != 0xBB || buf.sbumpc() != 0xBF) {
                return line_error(1, "starts with bytes that are not UTF-8 (a broken byte order mark?)");
            }
        }
        if (!m_profile.foreign) {
            m_mode = m_settings.format == ImportFormat::json_lines ? Mode::lines : Mode::csv;
            m_csv.emplace(m_in);
            m_lines.emplace(m_in);
            return Status::ok();
        }
        // Another shortener's export, read whole: one byte over the bound tells it is too large.
        if (!read_bounded(m_in, k_max_source_file_bytes, m_text)) {
            return Status::invalid_argument("larger than " + std::to_string(k_max_source_file_bytes >> 20) +
                                            " MiB; split the export");
        }
        if (const std::size_t nul = m_text.find('\0'); nul != std::string::npos) {
            return line_error(line_at(nul), "a NUL byte: this is not a text export");
        }
        const std::size_t first = m_text.find_first_not_of(" \t\r\n");
        if (first == std::string::npos) {
            return Status::invalid_argument("empty input: no links (expected " +
                                            std::string(import_format_name(m_settings.format)) +
                                            "'s export, CSV or JSON)");
        }
        m_buf.emplace(m_text.data(), m_text.size());
        m_stream.emplace(&*m_buf);
        m_csv.emplace(*m_stream);
        m_lines.emplace(*m_stream);
        if (m_text[first] != '{' && m_text[first] != '[') {
            m_mode = Mode::csv;
            return Status::ok();
        }
        return open_document();
    }

    // True with a row, false at the end of the input, or the error ("line N: ...") that ends it.
    Result<bool> next(Row& row) {
        switch (m_mode) {
            case Mode::csv:
                return next_csv(row);
            case Mode::lines:
                return next_line(row);
            case Mode::document:
                return next_item(row);
        }
        return false;
    }
    std::uint64_t line() const { return m_mode == Mode::csv ? m_csv->record_line() : m_line; }
    std::uint32_t item() const { return m_mode == Mode::document ? m_item : 0; }

    // The column a field came from, for a message about its value.
    std::string column_of(ImportField field) const {
        const std::string& name = m_field_columns[at(field)];
        return name.empty() ? std::string(import_field_name(field)) : name;
    }

private:
    enum class Mode : std::uint8_t { csv, lines, document };

    std::uint64_t line_at(std::size_t offset) {
        // Offsets asked for only grow: count on from the last one.
        if (offset < m_counted_to) {
            m_counted_to = 0;
            m_counted_lines = 1;
        }
        m_counted_lines += static_cast<std::uint64_t>(
            std::count(m_text.begin() + static_cast<std::ptrdiff_t>(m_counted_to),
                       m_text.begin() + static_cast<std::ptrdiff_t>(offset), '\n'));
        m_counted_to = offset;
        return m_counted_lines;
    }

    // The export as one JSON document: an array of links, the source's envelope around one
    // ({"shortUrls":{"data":[...]}}), or one link. JSON Lines do not parse as one document.
    Status open_document() {
        std::vector<std::pair<std::size_t, std::size_t>> starts;
        rapidjson::ParseResult result;
        rapidjson::MemoryStream stream(m_text.data(), m_text.size());
        auto generate = [&](rapidjson::Document& handler) {
            rapidjson::Reader reader;
            ItemTracker<rapidjson::Document> tracker(handler, stream, starts);
            result = reader.Parse<k_json_flags>(stream, tracker);
            return !result.IsError();
        };
        m_doc.Populate(generate);
        if (result.Code() == rapidjson::kParseErrorDocumentRootNotSingular) {
            m_doc.SetNull();
            m_mode = Mode::lines;
            return Status::ok();
        }
        if (result.IsError()) {
            return line_error(line_at(result.Offset()),
                              std::string("invalid JSON: ") + rapidjson::GetParseError_En(result.Code()));
        }
        m_mode = Mode::document;
        std::size_t depth = 1;
        const rapidjson::Value* list = &m_doc;
        std::string path;
        // A key of an object, or nullptr.
        auto member = [](const rapidjson::Value& v, std::string_view key) -> const rapidjson::Value* {
            if (!v.IsObject()) {
                return nullptr;
            }
            auto it = v.FindMember(rapidjson::Value(rapidjson::StringRef(key.data(), key.size())));
            return it == v.MemberEnd() ? nullptr : &it->value;
        };
        if (!m_profile.envelope.empty() && member(m_doc, m_profile.envelope[0]) != nullptr) {
            for (std::string_view key : m_profile.envelope) {
                path += path.empty() ? "" : ".";
                path += key;
                list = member(*list, key);
                if (list == nullptr) {
                    return line_error(1, "expected the list of links at " + path);
                }
            }
            depth = m_profile.envelope.size() + 1;
            if (!list->IsArray()) {
                return line_error(1, path + " is not an array");
            }
        }
        if (list->IsObject()) {
            m_items.push_back(list);  // one link
            m_item_lines.push_back(line_at(m_text.find('{')));
            return Status::ok();
        }
        if (!list->IsArray()) {
            return line_error(1, "expected a JSON array or object of links");
        }
        std::size_t k = 0;
        for (const rapidjson::Value& v : list->GetArray()) {
            if (!v.IsObject()) {
                return line_error(1, "item " + std::to_string(m_items.size() + 1) + ": expected a JSON object");
            }
            while (k < starts.size() && starts[k].first != depth) {
                ++k;
            }
            m_item_lines.push_back(k < starts.size() ? line_at(starts[k++].second) : 1);
            m_items.push_back(&v);
        }
        return Status::ok();
    }

    Result<bool> next_item(Row& row) {
        if (m_item == m_items.size()) {
            return false;
        }
        m_line = m_item_lines[m_item];
        m_line_for_notice = m_line;
        ++m_item;
        clear(row);
        if (Status st = read_object(*m_items[m_item - 1], row); !st) {
            return line_error(m_line, "item " + std::to_string(m_item) + ": " + st.message());
        }
        return true;
    }

    // The part of a column or key named `name`: --map first, then the format's own names.
    Slot resolve(std::string_view name) const {
        Slot slot;
        slot.name = std::string(name);
        const std::string key = lower(name);
        for (const auto& [column, field] : m_settings.column_map) {
            if (lower(column) == key) {
                slot.kind = field == F::ignore ? Slot::Kind::dropped : Slot::Kind::field;
                slot.field = field;
                return slot;
            }
        }
        if (const src::ColumnRule* rule = src::find_rule(m_profile, name)) {
            slot.kind = rule->field ? Slot::Kind::field : Slot::Kind::dropped;
            slot.field = rule->field.value_or(F::ignore);
            slot.why = rule->why;
        }
        return slot;
    }

    void notice(std::uint64_t line, const std::string& column, std::string message) {
        if (m_noticed.insert(lower(column)).second && m_settings.on_notice) {
            m_settings.on_notice(ImportNotice{line, column, std::move(message)});
        }
    }

    void dropped(const Slot& slot, std::uint64_t line) {
        if (!slot.why.empty()) {
            notice(line, slot.name, "dropped: " + std::string(slot.why));
        }
    }

    Status unknown_columns(const std::vector<std::string>& names, std::uint64_t line, bool json) {
        const char* what = json ? "key" : "column";
        if (m_settings.ignore_unknown_columns) {
            for (const std::string& name : names) {
                notice(line, name,
                       std::string("ignored: not a ") + what + " of --from " +
                           std::string(import_format_name(m_settings.format)));
            }
            return Status::ok();
        }
        std::string list;
        for (const std::string& name : names) {
            list += (list.empty() ? "'" : ", '") + validate::printable(name) + "'";
        }
        std::string message = std::string("unknown ") + what + (names.size() > 1 ? "s " : " ") + list;
        if (!json) {
            message += " (known: ";
            std::string known;
            for (const src::ColumnRule& rule : m_profile.columns) {
                if (rule.name.find('.') == std::string_view::npos) {
                    known += (known.empty() ? "" : ", ") + std::string(rule.name);
                }
            }
            message += known + ")";
        }
        const char* them = names.size() > 1 ? "them" : "it";
        return line_error(line, message + "; map " + them + " with --map COLUMN=FIELD or drop " + them +
                                    " with --ignore-unknown-columns");
    }

    // A foreign tag list (a JSON array's strings, or one CSV field) cleaned and joined with ';'.
    void add_tag(std::string& out, std::string_view tag, const std::string& column) {
        if (!m_profile.foreign) {
            out.append(tag);
            out += ';';
            return;
        }
        for (const std::string& t : split_tags(tag, true)) {
            std::string clean = src::clean_tag(t);
            if (clean != t) {
                notice(m_line_for_notice, column,
                       "tag '" + validate::printable(t) + "' became '" + clean +
                           "' (tags hold A-Z a-z 0-9 - _ . : only); later tags alike without a word");
            }
            if (!clean.empty()) {
                out += clean;
                out += ';';
            }
        }
    }

    void apply_defaults(Row& row) const {
        for (const src::FieldDefault& d : m_profile.defaults) {
            if (row[at(d.field)].empty()) {
                row[at(d.field)] = d.value;
            }
        }
    }

    static void clear(Row& row) {
        for (std::string& f : row) {
            f.clear();
        }
    }

    static bool csv_value_set(std::string_view v) {
        return !v.empty() && v != "0" && src::parse_bool(v) != std::optional<bool>(false);
    }

    Result<bool> next_csv(Row& row) {
        std::vector<std::string>& fields = m_fields;
        while (true) {
            auto more = m_csv->next(fields);
            if (!more) {
                return more.status();
            }
            if (!*more) {
                if (m_slots.empty()) {
                    return Status::invalid_argument(
                        m_profile.foreign ? "empty input: no header row and no links"
                                          : "empty input: a CSV header row with code,url is required");
                }
                return false;
            }
            if (fields.size() == 1 && fields[0].empty()) {
                continue;  // blank line
            }
            const std::uint64_t line = m_csv->record_line();
            m_line_for_notice = line;
            if (m_slots.empty()) {
                const auto& positional = m_profile.positional;
                if (positional.empty() || lower(fields[0]) == positional[0]) {
                    if (Status st = read_header(fields, line); !st) {
                        return st;
                    }
                    continue;
                }
                // No header row: the fields by position (the file's first record is a link).
                for (std::string_view name : positional) {
                    m_slots.push_back(resolve(name));
                    if (m_slots.back().kind == Slot::Kind::field) {
                        m_field_columns[at(m_slots.back().field)] = std::string(name);
                    }
                }
                m_positional = true;
            }
            if (m_positional) {
                if (fields.size() > m_slots.size()) {
                    std::string names;
                    for (const Slot& s : m_slots) {
                        names += (names.empty() ? "" : ", ") + s.name;
                    }
                    return line_error(line, std::to_string(fields.size()) + " fields, at most " +
                                                std::to_string(m_slots.size()) + " (" + names + ")");
                }
                if (fields.size() < 2) {
                    return line_error(line, "1 field: a row needs at least " + m_slots[0].name + " and " +
                                                m_slots[1].name);
                }
                fields.resize(m_slots.size());
            } else if (fields.size() != m_slots.size()) {
                return line_error(line, std::to_string(fields.size()) + " fields, the header has " +
                                            std::to_string(m_slots.size()));
            }
            // Swapped, not moved: the row's old buffers go back to the reader for the next record.
            clear(row);
            for (std::size_t i = 0; i < fields.size(); ++i) {
                const Slot& slot = m_slots[i];
                if (slot.kind == Slot::Kind::field) {
                    if (slot.field == F::tags && m_profile.foreign) {
                        add_tag(row[at(F::tags)], fields[i], slot.name);
                    } else {
                        row[at(slot.field)].swap(fields[i]);
                    }
                } else if (slot.kind == Slot::Kind::dropped && csv_value_set(fields[i])) {
                    dropped(slot, line);
                }
            }
            apply_defaults(row);
            return true;
        }
    }

    Status read_header(const std::vector<std::string>& fields, std::uint64_t line) {
        std::array<const Slot*, k_import_field_count> seen = {};
        std::vector<std::string> unknown;
        m_slots.reserve(fields.size());
        for (const std::string& name : fields) {
            m_slots.push_back(resolve(name));
        }
        for (const Slot& slot : m_slots) {
            if (slot.kind == Slot::Kind::unknown) {
                unknown.push_back(slot.name);
            } else if (slot.kind == Slot::Kind::field) {
                if (const Slot* before = seen[at(slot.field)]) {
                    if (lower(before->name) == lower(slot.name)) {
                        return line_error(line, "column '" + validate::printable(slot.name) + "' appears twice");
                    }
                    return line_error(line, "columns '" + validate::printable(before->name) + "' and '" +
                                                validate::printable(slot.name) + "' both give the field " +
                                                std::string(import_field_name(slot.field)));
                }
                seen[at(slot.field)] = &slot;
                m_field_columns[at(slot.field)] = slot.name;
            }
        }
        if (!unknown.empty()) {
            if (Status st = unknown_columns(unknown, line, false); !st) {
                return st;
            }
        }
        const bool has_code = seen[at(F::code)] != nullptr || seen[at(F::short_url)] != nullptr;
        if (!m_profile.foreign) {
            if (!has_code || seen[at(F::url)] == nullptr) {
                return line_error(line, "the header must name the columns code and url");
            }
            return Status::ok();
        }
        std::string from = std::string(import_format_name(m_settings.format));
        if (seen[at(F::url)] == nullptr) {
            return line_error(line, "the header names no column for the destination URL (" + from + ": " +
                                        src::names_of(m_profile, F::url) + "; or --map COLUMN=url)");
        }
        if (!has_code) {
            std::string names = src::names_of(m_profile, F::code);
            const std::string short_names = src::names_of(m_profile, F::short_url);
            names += names.empty() || short_names.empty() ? short_names : " or " + short_names;
            return line_error(line, "the header names no column for the code (" + from + ": " + names +
                                        "; or --map COLUMN=code)");
        }
        return Status::ok();
    }

    Result<bool> next_line(Row& row) {
        std::string_view text;
        while (true) {
            const LineReader::Next got = m_lines->next(text);
            if (got == LineReader::Next::end) {
                return false;
            }
            ++m_line;
            if (got == LineReader::Next::too_long) {
                return line_error(m_line, "longer than " + std::to_string(k_max_import_line_bytes) + " bytes");
            }
            if (!text.empty() && text.back() == '\r') {
                text.remove_suffix(1);
            }
            if (text.find_first_not_of(" \t") != std::string_view::npos) {
                break;
            }
        }
        m_line_for_notice = m_line;
        clear(row);
        constexpr unsigned k_flags = k_json_flags | rapidjson::kParseStopWhenDoneFlag;
        rapidjson::Document doc;
        rapidjson::MemoryStream stream(text.data(), text.size());
        doc.ParseStream<k_flags, rapidjson::UTF8<>>(stream);
        if (doc.HasParseError()) {
            return line_error(m_line, std::string("invalid JSON: ") + rapidjson::GetParseError_En(doc.GetParseError()));
        }
        if (text.find_first_not_of(" \t", stream.Tell()) != std::string_view::npos) {
            return line_error(m_line, std::string("invalid JSON: ") +
                                          rapidjson::GetParseError_En(rapidjson::kParseErrorDocumentRootNotSingular));
        }
        if (!doc.IsObject()) {
            return line_error(m_line, "expected a JSON object");
        }
        if (Status st = read_object(doc, row); !st) {
            return line_error(m_line, st.message());
        }
        return true;
    }

    // One link object into `row`; an object-valued key that is not a known name is read as its
    // members ("meta.validSince"). The error names the key, without the line.
    Status read_object(const rapidjson::Value& object, Row& row) {
        std::array<std::string, k_import_field_count> seen;
        std::vector<std::string> unknown;
        if (Status st = read_members(object, "", row, seen, unknown); !st) {
            return st;
        }
        if (!unknown.empty()) {
            if (Status st = unknown_columns(unknown, m_line, true); !st) {
                return Status::invalid_argument(st.message().substr(st.message().find(": ") + 2));
            }
        }
        apply_defaults(row);
        return Status::ok();
    }

    // Whether a dropped value says something: not null, false, 0, "", [] or an object of those
    // (Shlink's deviceLongUrls with every device null).
    static bool json_value_set(const rapidjson::Value& v) {
        if (v.IsObject()) {
            return std::any_of(v.MemberBegin(), v.MemberEnd(), [](const auto& m) { return json_value_set(m.value); });
        }
        return !(v.IsNull() || (v.IsBool() && !v.GetBool()) || (v.IsNumber() && v.GetDouble() == 0) ||
                 (v.IsString() && v.GetStringLength() == 0) || (v.IsArray() && v.Empty()));
    }

    Status read_members(const rapidjson::Value& object, const std::string& prefix, Row& row,
                        std::array<std::string, k_import_field_count>& seen, std::vector<std::string>& unknown) {
        for (const auto& member : object.GetObject()) {
            const std::string key = prefix + std::string(member.name.GetString(), member.name.GetStringLength());
            const rapidjson::Value& v = member.value;
            const Slot slot = resolve(key);
            if (slot.kind == Slot::Kind::unknown) {
                if (v.IsObject() && m_profile.foreign) {
                    if (Status st = read_members(v, key + ".", row, seen, unknown); !st) {
                        return st;
                    }
                } else {
                    unknown.push_back(key);
                }
                continue;
            }
            if (slot.kind == Slot::Kind::dropped) {
                if (json_value_set(v)) {
                    dropped(slot, m_line);
                }
                continue;
            }
            std::string& before = seen[at(slot.field)];
            if (!before.empty()) {
                if (lower(before) == lower(key)) {
                    return Status::invalid_argument("key '" + validate::printable(key) + "' appears twice");
                }
                return Status::invalid_argument("keys '" + validate::printable(before) + "' and '" +
                                                validate::printable(key) + "' both give the field " +
                                                std::string(import_field_name(slot.field)));
            }
            before = key;
            m_field_columns[at(slot.field)] = key;
            std::string& out = row[at(slot.field)];
            if (v.IsNull()) {
                out.clear();
            } else if (v.IsString() && slot.field == F::tags && m_profile.foreign) {
                add_tag(out, std::string_view(v.GetString(), v.GetStringLength()), key);
            } else if (v.IsString()) {
                out.assign(v.GetString(), v.GetStringLength());
            } else if (v.IsBool()) {
                out = v.GetBool() ? "true" : "false";
            } else if (v.IsInt64()) {
                out = std::to_string(v.GetInt64());
            } else if (v.IsArray() && slot.field == F::rules) {
                // Kept as JSON text, read by validate_row() like any field: "[]" clears a
                // link's rules on --update, an absent key leaves them.
                rapidjson::StringBuffer buf;
                rapidjson::Writer<rapidjson::StringBuffer> writer(buf);
                v.Accept(writer);
                out.assign(buf.GetString(), buf.GetSize());
            } else if (v.IsArray() && slot.field == F::tags) {
                out.clear();
                for (const auto& t : v.GetArray()) {
                    if (!t.IsString()) {
                        return Status::invalid_argument("tags must be strings");
                    }
                    add_tag(out, std::string_view(t.GetString(), t.GetStringLength()), key);
                }
            } else {
                return Status::invalid_argument("key '" + validate::printable(key) + "' has the wrong type");
            }
        }
        return Status::ok();
    }

    const ImportSettings& m_settings;
    const src::SourceProfile& m_profile;
    std::istream& m_in;
    Mode m_mode = Mode::csv;
    // A foreign export, whole, and the stream the readers read it through.
    std::string m_text;
    std::optional<MemoryBuf> m_buf;
    std::optional<std::istream> m_stream;
    std::optional<csv::Reader> m_csv;
    std::optional<LineReader> m_lines;
    std::vector<std::string> m_fields;  // the CSV reader's record, reused
    std::vector<Slot> m_slots;          // by CSV column
    bool m_positional = false;          // a CSV file without a header row
    std::array<std::string, k_import_field_count> m_field_columns;
    std::set<std::string> m_noticed;  // columns already noticed, lower case
    std::uint64_t m_line = 0;
    std::uint64_t m_line_for_notice = 0;
    // A JSON document's links and their lines.
    rapidjson::Document m_doc;
    std::vector<const rapidjson::Value*> m_items;
    std::vector<std::uint64_t> m_item_lines;
    std::uint32_t m_item = 0;
    std::size_t m_counted_to = 0;
    std::uint64_t m_counted_lines = 1;
};

void validate_rows(const std::vector<Row>& rows, std::vector<ImportRow>& out, std::vector<ImportField>& bad,
                   std::size_t begin, std::size_t end, const ImportSettings& settings) {
    for (std::size_t i = begin; i < end; ++i) {
        out[i].error = validate_row(rows[i], settings, out[i].input, bad[i]);
    }
}

// Validates rows [0, n) into `out` (and the field each error is about into `bad`), the second
// half on a helper thread when `settings` allow.
void validate_batch(const std::vector<Row>& rows, std::vector<ImportRow>& out, std::vector<ImportField>& bad,
                    std::size_t n, const ImportSettings& settings) {
    if (!settings.parallel || n < 64) {
        validate_rows(rows, out, bad, 0, n, settings);
        return;
    }
    const std::size_t half = n / 2;
    auto helper = std::async(std::launch::async, [&] { validate_rows(rows, out, bad, half, n, settings); });
    validate_rows(rows, out, bad, 0, half, settings);
    helper.get();
}

}  // namespace

Status read_import(std::istream& in, const ImportSettings& settings,
                   const std::function<void(const ImportRow&)>& on_row) {
    RowReader reader(in, settings);
    if (Status st = reader.open(); !st) {
        return st;
    }
    // Grown as rows arrive (a small import allocates for its rows only), then reused by every
    // batch: a row's strings keep their buffers from one batch to the next.
    std::vector<Row> raw;
    std::vector<ImportRow> rows;
    std::vector<ImportField> bad;
    while (true) {
        // A record that cannot be read ends the input here, but the rows before it are still
        // delivered first, so the first error in the file is the first one a caller sees.
        std::size_t n = 0;
        Status read_error;
        bool at_end = false;
        while (n < k_import_batch_rows) {
            if (n == raw.size()) {
                raw.emplace_back();
                rows.emplace_back();
                bad.emplace_back();
            }
            auto more = reader.next(raw[n]);
            if (!more || !*more) {
                read_error = more.status();
                at_end = true;
                break;
            }
            rows[n].line = reader.line();
            rows[n].item = reader.item();
            ++n;
        }
        validate_batch(raw, rows, bad, n, settings);
        for (std::size_t i = 0; i < n; ++i) {
            rows[i].column = rows[i].error ? std::string() : reader.column_of(bad[i]);
            on_row(rows[i]);
        }
        if (at_end) {
            return read_error;
        }
    }
}

}  // namespace shortlink::store
