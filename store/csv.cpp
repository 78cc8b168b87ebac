// RFC 4180 CSV reader and writer. See csv.h.
#include "store/csv.h"

namespace shortlink::csv {

Result<bool> Reader::next(std::vector<std::string>& fields) {
    using traits = std::char_traits<char>;
    int c = m_in.sgetc();
    if (c == traits::eof()) {
        fields.clear();
        return false;
    }
    m_record_line = m_line;
    // Fields are written into the caller's strings, reused from the last record: a 1M-row import
    // then allocates no memory per field.
    std::size_t used = 0;
    std::string* field = nullptr;
    auto start_field = [&] {
        if (used == fields.size()) {
            fields.emplace_back();
        }
        field = &fields[used++];
        field->clear();
    };
    auto end_record = [&] {
        fields.resize(used);
        return true;
    };
    start_field();
    std::size_t record_bytes = 0;
    auto error = [&](const std::string& what) {
        return Status::invalid_argument("line " + std::to_string(m_line) + ": " + what);
    };
    while (true) {
        c = m_in.sbumpc();
        if (c == traits::eof()) {
            return end_record();
        }
        if (++record_bytes > k_max_record_bytes) {
            return Status::invalid_argument("line " + std::to_string(m_record_line) + ": record longer than " +
                                            std::to_string(k_max_record_bytes) + " bytes");
        }
        if (c == '"' && field->empty()) {
            // Quoted field: runs to the closing quote; "" is a literal quote.
            while (true) {
                c = m_in.sbumpc();
                if (c == traits::eof()) {
                    return Status::invalid_argument("line " + std::to_string(m_record_line) +
                                                    ": unterminated quoted field");
                }
                if (++record_bytes > k_max_record_bytes) {
                    return Status::invalid_argument("line " + std::to_string(m_record_line) +
                                                    ": record longer than " + std::to_string(k_max_record_bytes) +
                                                    " bytes (unterminated quote?)");
                }
                if (c == '\n') {
                    ++m_line;
                }
                if (c == '"') {
                    if (m_in.sgetc() == '"') {
                        m_in.sbumpc();
                        field->push_back('"');
                        continue;
                    }
                    break;
                }
                field->push_back(static_cast<char>(c));
            }
            int after = m_in.sgetc();
            if (after != ',' && after != '\r' && after != '\n' && after != traits::eof()) {
                return error("unexpected character after a closing quote");
            }
            c = m_in.sbumpc();
            if (c == ',') {
                start_field();
                continue;
            }
            if (c == '\r' && m_in.sgetc() == '\n') {
                m_in.sbumpc();
            }
            if (c == '\n' || c == '\r') {
                ++m_line;
            }
            return end_record();
        }
        if (c == ',') {
            start_field();
            continue;
        }
        if (c == '\r') {
            if (m_in.sgetc() == '\n') {
                m_in.sbumpc();
            }
            ++m_line;
            return end_record();
        }
        if (c == '\n') {
            ++m_line;
            return end_record();
        }
        if (c == '"') {
            return error("quote inside an unquoted field");
        }
        field->push_back(static_cast<char>(c));
    }
}

void write_field(std::string& out, std::string_view field) {
    bool quote = !field.empty() && (field.front() == ' ' || field.back() == ' ');
    for (char c : field) {
        if (c == ',' || c == '"' || c == '\r' || c == '\n') {
            quote = true;
            break;
        }
    }
    if (!quote) {
        out.append(field);
        return;
    }
    out.push_back('"');
    for (char c : field) {
        if (c == '"') {
            out.push_back('"');
        }
        out.push_back(c);
    }
    out.push_back('"');
}

void append_record(std::string& out, const std::vector<std::string>& fields) {
    for (std::size_t i = 0; i < fields.size(); ++i) {
        if (i > 0) {
            out.push_back(',');
        }
        write_field(out, fields[i]);
    }
    out += "\r\n";
}

}  // namespace shortlink::csv
