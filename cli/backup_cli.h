// The database restore of `shortlink restore --backup FILE` (cli/cmd_backup.cpp), which the
// restore command (cli/cmd_state.cpp) hands over to when --backup is given.
#pragma once

#include <string>

#include "cli/command_table.h"

namespace shortlink::cli {

// Verifies the backup at `backup_path` and makes it the database --db names: conflict (exit 4)
// when that exists and `force` is false; throws cli::Error for every failure, leaving the
// database as it was.
void restore_from_backup(const GlobalOptions& globals, const std::string& backup_path, bool force);

}  // namespace shortlink::cli
