// Helpers shared by the store commands. See command_util.h.
#include "cli/command_util.h"

#include <cerrno>
#include <cstring>
#include <ctime>

#include <CLI/CLI.hpp>

#include "cli/errors.h"
#include "cli/output.h"
#include "cli/timefmt.h"
#include "cli/validate.h"

namespace shortlink::cli {
namespace {

constexpr std::size_t k_sink_flush_bytes = 64 * 1024;

template <class T>
T usage_unwrap(Result<T> r) {
    if (!r) {
        throw Error(k_exit_usage, r.status().message());
    }
    return std::move(r).value();
}

}  // namespace

CLI::App* add_command(CLI::App& app, std::string_view name) {
    std::string summary;
    for (const Command& c : command_table()) {
        if (c.name == name) {
            summary = std::string(c.summary);
        }
    }
    return app.add_subcommand(std::string(name), summary);
}

store::Store open_store(const GlobalOptions& globals) {
    store::Store s = unwrap(store::Store::open(globals.db_path));
    s.set_actor(globals.actor);
    return s;
}

std::string host_arg(const std::string& host) {
    if (host.empty()) {
        return host;
    }
    return usage_unwrap(validate::normalize_host(host));
}

std::string destination_arg(const std::string& url) { return usage_unwrap(validate::normalize_destination(url)); }

void code_arg(const std::string& code) {
    Status st = validate::check_code(code);
    if (!st) {
        throw Error(k_exit_usage, st.message());
    }
}

std::uint16_t type_arg(const std::string& type) { return usage_unwrap(validate::parse_redirect_type(type)); }

std::int64_t now_seconds() { return static_cast<std::int64_t>(std::time(nullptr)); }

std::int64_t time_arg(const std::string& text, const char* option) {
    auto t = timefmt::parse_time(text, now_seconds());
    if (!t) {
        throw Error(k_exit_usage, std::string(option) + ": " + t.status().message());
    }
    return *t;
}

void tags_arg(const std::vector<std::string>& tags) {
    for (const std::string& t : tags) {
        Status st = validate::check_tag(t);
        if (!st) {
            throw Error(k_exit_usage, st.message());
        }
    }
}

void add_link_selector(CLI::App* sub, std::string& code, std::string& domain) {
    sub->add_option("CODE", code, "The link's code")->required();
    sub->add_option("--domain", domain, "Domain of the link (default: the default domain)");
}

void print_changed_link(const store::Link& link, bool json, std::string_view verb) {
    if (json) {
        std::printf("%s\n", link_json(link).c_str());
    } else if (verb.empty()) {
        std::printf("%s\n", short_url(link).c_str());
    } else {
        std::printf("%.*s %s\n", static_cast<int>(verb.size()), verb.data(), short_url(link).c_str());
    }
}

OutputSink::~OutputSink() {
    if (!m_buffer.empty()) {
        std::fwrite(m_buffer.data(), 1, m_buffer.size(), m_file);
    }
    std::fflush(m_file);
}

void OutputSink::raw(std::string_view text) {
    m_buffer.append(text);
    if (m_buffer.size() >= k_sink_flush_bytes) {
        flush();
    }
}

void OutputSink::line(std::string_view text) {
    m_buffer.append(text);
    m_buffer.push_back('\n');
    if (m_buffer.size() >= k_sink_flush_bytes) {
        flush();
    }
}

void OutputSink::flush() {
    if (!m_buffer.empty() && std::fwrite(m_buffer.data(), 1, m_buffer.size(), m_file) != m_buffer.size()) {
        m_buffer.clear();
        throw Error(k_exit_runtime, std::string("cannot write output: ") + std::strerror(errno));
    }
    m_buffer.clear();
    if (std::fflush(m_file) != 0) {
        throw Error(k_exit_runtime, std::string("cannot write output: ") + std::strerror(errno));
    }
}

}  // namespace shortlink::cli
