// Setup functions of every subcommand, one per cli/cmd_<name>.cpp. See command_table.h.
#pragma once

#include "cli/command_table.h"

namespace shortlink::cli {

void setup_init(CLI::App& app, const GlobalOptions& globals);
void setup_domain(CLI::App& app, const GlobalOptions& globals);
void setup_add(CLI::App& app, const GlobalOptions& globals);
void setup_show(CLI::App& app, const GlobalOptions& globals);
void setup_list(CLI::App& app, const GlobalOptions& globals);
void setup_edit(CLI::App& app, const GlobalOptions& globals);
void setup_rule(CLI::App& app, const GlobalOptions& globals);
void setup_disable(CLI::App& app, const GlobalOptions& globals);
void setup_enable(CLI::App& app, const GlobalOptions& globals);
void setup_delete(CLI::App& app, const GlobalOptions& globals);
void setup_restore(CLI::App& app, const GlobalOptions& globals);
void setup_history(CLI::App& app, const GlobalOptions& globals);
void setup_import(CLI::App& app, const GlobalOptions& globals);
void setup_export(CLI::App& app, const GlobalOptions& globals);
void setup_apply(CLI::App& app, const GlobalOptions& globals);
void setup_block(CLI::App& app, const GlobalOptions& globals);
void setup_unblock(CLI::App& app, const GlobalOptions& globals);
void setup_blocks(CLI::App& app, const GlobalOptions& globals);
void setup_resolve(CLI::App& app, const GlobalOptions& globals);
void setup_keygen(CLI::App& app, const GlobalOptions& globals);
void setup_compile(CLI::App& app, const GlobalOptions& globals);
void setup_verify(CLI::App& app, const GlobalOptions& globals);
void setup_inspect(CLI::App& app, const GlobalOptions& globals);
void setup_diff(CLI::App& app, const GlobalOptions& globals);
void setup_overlay(CLI::App& app, const GlobalOptions& globals);
void setup_publish(CLI::App& app, const GlobalOptions& globals);
void setup_promote(CLI::App& app, const GlobalOptions& globals);
void setup_rollback(CLI::App& app, const GlobalOptions& globals);
void setup_serve(CLI::App& app, const GlobalOptions& globals);
void setup_probe(CLI::App& app, const GlobalOptions& globals);
void setup_qr(CLI::App& app, const GlobalOptions& globals);
void setup_stats(CLI::App& app, const GlobalOptions& globals);
void setup_backup(CLI::App& app, const GlobalOptions& globals);

}  // namespace shortlink::cli
