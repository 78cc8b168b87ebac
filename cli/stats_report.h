// The HTML report of `shortlink stats report`: one self-contained file (inline CSS and SVG, no
// script, nothing fetched) built from the same queries `shortlink stats --json` answers, so every
// number in it is one `stats` prints. Throws cli::Error as the commands do.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "store/stats_db.h"

namespace shortlink::cli {

struct ReportSpec {
    std::optional<std::string> domain;
    std::int64_t since_ms = 0;  // 0: from the first day with events
    std::int64_t until_ms = 0;  // 0: through the last
    std::uint64_t top = 10;     // rows of each ranking
    std::int64_t generated_ms = 0;
};

std::string stats_report_html(stats::StatsDb& db, const ReportSpec& spec);

// `text` as valid UTF-8 to print or embed: unchanged when it is, else with every byte outside
// printable ASCII written as \xHH (a miss records the path a client sent, whatever its bytes).
std::string display_text(std::string_view text);

}  // namespace shortlink::cli
