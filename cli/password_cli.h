// A link's password as add and edit take it: from a file or the terminal, never from the command
// line (where ps, shell history and audit tools would see it), hashed at once.
#pragma once

#include <string>

namespace shortlink::cli {

// The first line of `path` (its trailing "\n" or "\r\n" dropped): 1 to 1024 bytes, no NUL.
// Throws cli::Error: k_exit_not_found for a missing file, k_exit_usage for an empty, long or
// binary password, k_exit_runtime for a read error.
std::string read_password_file(const std::string& path);

// Asks twice on /dev/tty with echo off; throws cli::Error(k_exit_usage) without a terminal or
// when the two answers differ.
std::string prompt_password();

// The store's text form (formats::encode_password_text()) of a new scrypt hash of `password`.
std::string hash_password_arg(const std::string& password);

}  // namespace shortlink::cli
