// Helpers shared by the snapshot and key commands (keygen, compile, verify, inspect, diff):
// passphrases, trusted keys, opening snapshots with CLI exit codes, and JSON output.
// They throw cli::Error; only cli/ code calls them.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "formats/deny.h"
#include "formats/keys.h"
#include "formats/snapshot.h"

namespace shortlink::cli {

// The passphrase of a secret key: $SHORTLINK_KEY_PASSPHRASE if set, else read from the
// terminal (echo off; twice when `confirm`) if `ask_terminal` and there is one, else nullopt.
std::optional<std::string> read_passphrase(bool ask_terminal, bool confirm);

// Loads the secret key at `path`, asking for its passphrase when it is encrypted.
formats::SigningKey load_secret_key(const std::string& path);

// Loads every --trust file; a usage error when there are none.
formats::TrustedKeys load_trusted_keys(const std::vector<std::string>& paths);

// Opens and verifies a snapshot or a patch (by the kind its header names); exit 3 for a missing
// file, 5 for one that fails a check.
std::shared_ptr<const formats::Snapshot> open_snapshot(const std::string& path,
                                                       const formats::TrustedKeys& trusted,
                                                       bool verify_signature);

// Opens and verifies a deny overlay; exit codes as open_snapshot.
std::shared_ptr<const formats::DenyOverlay> open_overlay(const std::string& path,
                                                         const formats::TrustedKeys& trusted,
                                                         bool verify_signature);

// The deny overlay in `dir` with the highest serial among those that verify against `trusted`
// (nullptr when none does): what a server watching `dir` would load. Files that fail are
// skipped, with a warning on stderr.
std::shared_ptr<const formats::DenyOverlay> newest_overlay(const std::string& dir,
                                                           const formats::TrustedKeys& trusted,
                                                           bool verify_signature);

// The newest patch for `base` in `dir` that verifies against `trusted` (structure only when
// `trusted` is empty), as a server would apply it; nullptr when none does. Files that fail are
// skipped, with a warning on stderr.
std::shared_ptr<const formats::Snapshot> newest_patch(const std::string& dir, const formats::Snapshot& base,
                                                      const formats::TrustedKeys& keys);

// The full snapshot in `dir` with the highest serial among those that verify against `trusted`;
// nullptr when none does. Files that fail are skipped, with a warning on stderr.
std::shared_ptr<const formats::Snapshot> newest_snapshot(const std::string& dir,
                                                         const formats::TrustedKeys& trusted);

// "5 entries (2 links, 1 domain, 2 destinations)"
std::string deny_summary(const formats::DenySet& deny);

// "https://go.example/abc" for a named domain, "*/abc" for the default domain.
std::string link_key(const formats::Snapshot& snapshot, const formats::LinkView& link);

// 1.5 MiB style sizes for humans.
std::string human_bytes(std::uint64_t bytes);

}  // namespace shortlink::cli
