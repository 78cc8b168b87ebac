// The check `shortlink probe` runs, for the commands that gate on it (promote --probe-file).
// It throws cli::Error only for a usage error in `url`.
#pragma once

#include <optional>
#include <string>

namespace shortlink::cli {

// GETs `url` (http:// or https://, the certificate checked as probe checks it) and compares the
// answer with `expect_location` and, when given, `expect_status`. Empty when it answered as
// expected; otherwise why not, in one sentence.
std::string check_answer(const std::string& url, const std::string& expect_location,
                         std::optional<int> expect_status, double timeout_s, const std::string& ca);

}  // namespace shortlink::cli
