// The HTML report of `shortlink stats report`. See stats_report.h.
//
// Each section is one query with the defaults of `shortlink stats` (people only, outcomes
// redirect and password_ok) unless it says otherwise, and every number is printed as text in a
// table cell marked with data-key and a class naming the figure, so a test (or a reader) can check
// it against `stats --json`. Charts are inline SVG drawn from the same numbers.
#include "cli/stats_report.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <string_view>

#include "cli/errors.h"
#include "formats/clicks.h"
#include "store/idna.h"
#include "store/timefmt.h"
#include "store/validate.h"

namespace shortlink::cli {
namespace {

std::string escape(std::string_view text) {
    const std::string valid = display_text(text);
    std::string out;
    out.reserve(valid.size());
    for (char c : valid) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break;
        default: out.push_back(c);
        }
    }
    return out;
}

std::string number(std::uint64_t n) { return std::to_string(n); }

// The largest click count of the rows (1 at least): the full length of their bars.
std::uint64_t most_clicks(const std::vector<stats::Row>& rows) {
    std::uint64_t max = 1;
    for (const stats::Row& row : rows) {
        max = std::max(max, row.clicks);
    }
    return max;
}

// One row of a figures table: the row's key as data-key (what `stats --json` calls it), a label,
// its clicks and visitors in cells a reader (or a test) finds by class, and optional extra cells.
std::string figure_row(const stats::Row& row, std::string_view label, std::string_view extra = {}) {
    return "<tr data-key=\"" + escape(row.key) + "\"><td class=\"key\">" + escape(label) +
           "</td><td class=\"clicks\">" + number(row.clicks) + "</td><td class=\"visitors\">" +
           number(row.visitors) + "</td>" + std::string(extra) + "</tr>";
}

std::string date_text(std::int64_t ms) { return ms == 0 ? std::string() : timefmt::format_time(ms / 1000).substr(0, 10); }

constexpr const char* k_style = R"css(
:root { color-scheme: light; --ink: #1d2330; --muted: #5d6677; --line: #dde1e8; --bar: #3867d6; --bot: #e17055; --qr: #00a884; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); margin: 0; background: #f6f7f9; }
header { padding: 24px 32px 8px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 0 0 12px; }
.muted { color: var(--muted); }
main { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; padding: 16px 32px 32px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; }
section.wide { grid-column: 1 / -1; }
.cards { display: flex; flex-wrap: wrap; gap: 24px; }
.card .value { font-size: 26px; font-weight: 600; }
.card .label { color: var(--muted); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid var(--line); vertical-align: middle; }
th { color: var(--muted); font-weight: 500; }
td.clicks, td.visitors, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.key { word-break: break-all; }
td.bar { width: 35%; }
svg { display: block; }
.empty { color: var(--muted); font-style: italic; }
footer { padding: 0 32px 24px; color: var(--muted); font-size: 12px; }
)css";

class ReportBuilder {
public:
    ReportBuilder(stats::StatsDb& db, const ReportSpec& spec) : m_db(db), m_spec(spec) {}

    stats::QueryResult query(stats::GroupBy by, stats::Bots bots, std::vector<std::uint8_t> outcomes,
                             std::uint64_t top) {
        stats::Query q;
        q.domain = m_spec.domain;
        q.since_ms = m_spec.since_ms;
        q.until_ms = m_spec.until_ms;
        q.by = by;
        q.bots = bots;
        q.outcomes = std::move(outcomes);
        q.top = top;
        auto r = m_db.query(q);
        if (!r) {
            throw Error(exit_code_for(r.status()), r.status().message());
        }
        return std::move(*r);
    }

    std::string build();

private:
    void card(const char* id, const char* label, std::uint64_t value) {
        m_html += "<div class=\"card\" id=\"" + std::string(id) + "\"><div class=\"value\" data-key=\"" + id + "\">" +
                  number(value) + "</div><div class=\"label\">" + label + "</div></div>";
    }
    void ranking(const char* id, const char* title, const char* column, const stats::QueryResult& r, bool wide,
                 const char* note = nullptr);
    void series(const stats::QueryResult& r);

    stats::StatsDb& m_db;
    const ReportSpec& m_spec;
    std::string m_html;
};

// A table of rows with a bar each, scaled to the first (largest) row.
void ReportBuilder::ranking(const char* id, const char* title, const char* column, const stats::QueryResult& r,
                            bool wide, const char* note) {
    m_html += std::string("<section id=\"") + id + "\"" + (wide ? " class=\"wide\"" : "") + "><h2>" + title + "</h2>";
    if (note != nullptr) {
        m_html += std::string("<p class=\"muted\">") + note + "</p>";
    }
    if (r.rows.empty()) {
        m_html += "<p class=\"empty\">No clicks.</p></section>";
        return;
    }
    const std::uint64_t max = most_clicks(r.rows);
    m_html += std::string("<table><thead><tr><th>") + column +
              "</th><th class=\"num\">Clicks</th><th class=\"num\">Visitors</th><th></th></tr></thead><tbody>";
    for (const stats::Row& row : r.rows) {
        std::string key = row.key;
        if (key.empty()) {
            key = std::string_view(id) == "referrers" ? "(none)" : "(unknown)";
        }
        const double share = static_cast<double>(row.clicks) / static_cast<double>(max);
        char bar[160];
        std::snprintf(bar, sizeof bar,
                      "<svg width=\"100%%\" height=\"12\" viewBox=\"0 0 100 12\" preserveAspectRatio=\"none\">"
                      "<rect width=\"%.2f\" height=\"12\" rx=\"2\" fill=\"var(--bar)\"/></svg>",
                      std::max(0.5, share * 100.0));
        m_html += figure_row(row, key, std::string("<td class=\"bar\">") + bar + "</td>");
    }
    m_html += "</tbody></table>";
    if (r.groups > r.rows.size()) {
        m_html += "<p class=\"muted\">" + number(r.rows.size()) + " of " + number(r.groups) + " shown.</p>";
    }
    m_html += "</section>";
}

// Clicks per day as an SVG bar chart, with the numbers in a table below it.
void ReportBuilder::series(const stats::QueryResult& r) {
    m_html += "<section id=\"days\" class=\"wide\"><h2>Clicks per day</h2>";
    if (r.rows.empty()) {
        m_html += "<p class=\"empty\">No clicks.</p></section>";
        return;
    }
    const std::uint64_t max = most_clicks(r.rows);
    constexpr double k_width = 960;
    constexpr double k_height = 220;
    constexpr double k_left = 56;
    constexpr double k_bottom = 24;
    const double plot_w = k_width - k_left - 8;
    const double plot_h = k_height - k_bottom - 8;
    const double step = plot_w / static_cast<double>(r.rows.size());
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "<svg viewBox=\"0 0 %.0f %.0f\" width=\"100%%\" role=\"img\" aria-label=\"Clicks per day\">"
                  "<line x1=\"%.0f\" y1=\"8\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#dde1e8\"/>"
                  "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#dde1e8\"/>"
                  "<text x=\"%.0f\" y=\"16\" font-size=\"11\" text-anchor=\"end\" fill=\"#5d6677\">%" PRIu64 "</text>"
                  "<text x=\"%.0f\" y=\"%.0f\" font-size=\"11\" text-anchor=\"end\" fill=\"#5d6677\">0</text>",
                  k_width, k_height, k_left, k_left, 8 + plot_h, k_left, 8 + plot_h, k_width - 8, 8 + plot_h,
                  k_left - 6, max, k_left - 6, 8 + plot_h);
    m_html += buf;
    for (std::size_t i = 0; i < r.rows.size(); ++i) {
        const stats::Row& row = r.rows[i];
        const double h = plot_h * static_cast<double>(row.clicks) / static_cast<double>(max);
        std::snprintf(buf, sizeof buf,
                      "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"#3867d6\">"
                      "<title>%s: %" PRIu64 " clicks</title></rect>",
                      k_left + step * static_cast<double>(i) + step * 0.1, 8 + plot_h - h, std::max(step * 0.8, 0.5), h,
                      row.key.c_str(), row.clicks);
        m_html += buf;
    }
    std::snprintf(buf, sizeof buf,
                  "<text x=\"%.0f\" y=\"%.0f\" font-size=\"11\" fill=\"#5d6677\">%s</text>"
                  "<text x=\"%.0f\" y=\"%.0f\" font-size=\"11\" text-anchor=\"end\" fill=\"#5d6677\">%s</text></svg>",
                  k_left, k_height - 6, r.rows.front().key.c_str(), k_width - 8, k_height - 6,
                  r.rows.back().key.c_str());
    m_html += buf;
    m_html += "<details><summary>Numbers</summary><table><thead><tr><th>Day</th><th class=\"num\">Clicks</th>"
              "<th class=\"num\">Visitors</th></tr></thead><tbody>";
    for (const stats::Row& row : r.rows) {
        m_html += figure_row(row, row.key);
    }
    m_html += "</tbody></table></details></section>";
}

// One horizontal bar split in two parts with a legend: bots against people, QR against the rest.
std::string split_bar(const char* first_label, std::uint64_t first, const char* first_color, const char* second_label,
                      std::uint64_t second, const char* second_color) {
    const double total = static_cast<double>(std::max<std::uint64_t>(first + second, 1));
    const double w = 100.0 * static_cast<double>(first) / total;
    char buf[768];
    std::snprintf(buf, sizeof buf,
                  "<svg viewBox=\"0 0 100 10\" width=\"100%%\" height=\"22\" preserveAspectRatio=\"none\" role=\"img\">"
                  "<rect width=\"%.3f\" height=\"10\" fill=\"%s\"><title>%s</title></rect>"
                  "<rect x=\"%.3f\" width=\"%.3f\" height=\"10\" fill=\"%s\"><title>%s</title></rect></svg>"
                  "<p class=\"muted\"><svg width=\"10\" height=\"10\" style=\"display:inline\"><rect width=\"10\" "
                  "height=\"10\" fill=\"%s\"/></svg> %s &#160; <svg width=\"10\" height=\"10\" style=\"display:inline\">"
                  "<rect width=\"10\" height=\"10\" fill=\"%s\"/></svg> %s</p>",
                  w, first_color, first_label, w, 100.0 - w, second_color, second_label, first_color, first_label,
                  second_color, second_label);
    return buf;
}

std::string ReportBuilder::build() {
    using stats::Bots;
    using stats::GroupBy;
    const auto& clicks_outcomes = stats::default_outcomes();
    const stats::QueryResult totals = query(GroupBy::none, Bots::exclude, clicks_outcomes, 0);
    const stats::QueryResult days = query(GroupBy::day, Bots::exclude, clicks_outcomes, 0);
    const stats::QueryResult links = query(GroupBy::link, Bots::exclude, clicks_outcomes, m_spec.top);
    const stats::QueryResult countries = query(GroupBy::country, Bots::exclude, clicks_outcomes, m_spec.top);
    const stats::QueryResult devices = query(GroupBy::device, Bots::exclude, clicks_outcomes, m_spec.top);
    const stats::QueryResult referrers = query(GroupBy::referrer, Bots::exclude, clicks_outcomes, m_spec.top);
    const stats::QueryResult bots = query(GroupBy::bot, Bots::include, clicks_outcomes, 0);
    const stats::QueryResult qr = query(GroupBy::qr, Bots::exclude, clicks_outcomes, 0);
    const std::vector<std::uint8_t> miss = {static_cast<std::uint8_t>(formats::clicks::Outcome::miss)};
    const stats::QueryResult orphans = query(GroupBy::link, Bots::include, miss, m_spec.top);

    std::uint64_t bot_clicks = 0;
    std::uint64_t person_clicks = 0;
    for (const stats::Row& row : bots.rows) {
        (row.key == "person" ? person_clicks : bot_clicks) += row.clicks;
    }
    std::uint64_t qr_clicks = 0;
    for (const stats::Row& row : qr.rows) {
        qr_clicks += row.key == "qr" ? row.clicks : 0;
    }

    const std::string range = date_text(totals.since_ms) + " to " +
                              date_text(totals.until_ms == 0 ? 0 : totals.until_ms - 1);
    m_html = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
             "<title>shortlink clicks " + escape(range) + "</title><style>" + k_style + "</style></head><body>";
    m_html += "<header><h1>Clicks" + (m_spec.domain ? " on " + escape(*m_spec.domain) : std::string()) + "</h1>" +
              "<div class=\"muted\" id=\"range\" data-since=\"" + escape(timefmt::format_time(totals.since_ms / 1000)) +
              "\" data-until=\"" + escape(timefmt::format_time(totals.until_ms / 1000)) + "\">" + escape(range) +
              " (UTC). Clicks are requests that reached a link's destination, from people unless a section says "
              "otherwise; visitors are counted once per link and day.</div></header><main>";

    m_html += "<section id=\"summary\" class=\"wide\"><div class=\"cards\">";
    card("clicks", "clicks", totals.clicks);
    card("visitors", "visitors", totals.visitors);
    card("bot-clicks", "bot requests", bot_clicks);
    card("qr-clicks", "QR scans", qr_clicks);
    card("orphan-visits", "orphan visits (unknown codes)", orphans.clicks);
    m_html += "</div></section>";

    series(days);
    ranking("links", "Top links", "Link", links, false);
    ranking("countries", "Countries", "Country", countries, false);
    ranking("devices", "Devices", "Device", devices, false);
    ranking("referrers", "Referrers", "Referrer", referrers, false);

    m_html += "<section id=\"bots\"><h2>Bots and people</h2>" +
              split_bar("people", person_clicks, "#3867d6", "bots", bot_clicks, "#e17055");
    m_html += "<table><thead><tr><th>Verdict</th><th class=\"num\">Clicks</th><th class=\"num\">Visitors</th></tr>"
              "</thead><tbody>";
    for (const stats::Row& row : bots.rows) {
        m_html += figure_row(row, row.key);
    }
    m_html += "</tbody></table></section>";

    m_html += "<section id=\"qr\"><h2>QR scans and other clicks</h2>" +
              split_bar("QR scans", qr_clicks, "#00a884", "other clicks", qr.clicks - qr_clicks, "#3867d6");
    m_html += "<table><tbody>";
    for (const stats::Row& row : qr.rows) {
        m_html += figure_row(row, row.key == "qr" ? "QR scans" : "other clicks");
    }
    m_html += "</tbody></table></section>";

    ranking("orphans", "Orphan visits", "Unknown code asked for", orphans, true,
            "Requests for codes no link has (outcome miss), bots included.");

    m_html += "</main><footer>Generated by shortlink " + escape(timefmt::format_time(m_spec.generated_ms / 1000)) +
              " from " + number(totals.days_from_rollups) + " days of rollups and " + number(totals.days_from_raw) +
              " of raw events.</footer></body></html>\n";
    return std::move(m_html);
}

}  // namespace

std::string display_text(std::string_view text) {
    if (std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c < 0x7f; }) ||
        validate::decode_utf8(text)) {
        return std::string(text);
    }
    return validate::printable(text, text.size());
}

std::string stats_report_html(stats::StatsDb& db, const ReportSpec& spec) { return ReportBuilder(db, spec).build(); }

}  // namespace shortlink::cli
