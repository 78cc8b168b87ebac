// shortlink keygen: a new Ed25519 signing key pair for snapshots.
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include <CLI/CLI.hpp>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/snapshot_cli.h"
#include "formats/keys.h"

namespace shortlink::cli {

namespace {

struct KeygenOptions {
    std::string out_dir = ".";
    std::string name = "shortlink";
    bool force = false;
    bool encrypt = false;
    bool json = false;
};

void run_keygen(const KeygenOptions& opt) {
    if (opt.name.empty() || opt.name.find('/') != std::string::npos) {
        throw Error(k_exit_usage, "--name must be a file name without '/'");
    }
    if (::mkdir(opt.out_dir.c_str(), 0755) != 0 && errno != EEXIST) {
        throw Error(k_exit_runtime, "cannot create " + opt.out_dir + ": " + std::strerror(errno));
    }
    const std::string secret_path = opt.out_dir + "/" + opt.name + ".key";
    const std::string public_path = opt.out_dir + "/" + opt.name + ".pub";
    // Refuse before writing either file, so a refusal leaves nothing half-made.
    if (!opt.force) {
        for (const std::string& p : {secret_path, public_path}) {
            struct stat st {};
            if (::stat(p.c_str(), &st) == 0) {
                throw Error(k_exit_conflict, p + " already exists (use --force to replace it)");
            }
        }
    }
    std::optional<std::string> passphrase = read_passphrase(opt.encrypt, true);
    if (opt.encrypt && !passphrase) {
        throw Error(k_exit_usage,
                    "--encrypt needs a terminal or SHORTLINK_KEY_PASSPHRASE for the passphrase");
    }
    const formats::SigningKey key = unwrap(formats::SigningKey::generate());
    check(key.write_secret(secret_path, passphrase, opt.force));
    check(key.write_public(public_path, opt.force));
    if (opt.json) {
        rapidjson::StringBuffer buf;
        rapidjson::Writer<rapidjson::StringBuffer> w(buf);
        w.StartObject();
        w.Key("key_id");
        w.String(key.key_id().c_str());
        w.Key("secret_key");
        w.String(secret_path.c_str());
        w.Key("public_key");
        w.String(public_path.c_str());
        w.Key("encrypted");
        w.Bool(passphrase.has_value());
        w.EndObject();
        std::cout << buf.GetString() << "\n";
        return;
    }
    std::cout << "key id " << key.key_id() << "\n"
              << "secret key " << secret_path << (passphrase ? " (encrypted)" : "")
              << " - keep it private; compile signs with it\n"
              << "public key " << public_path << " - give it to verify and serve (--trust)\n";
}

}  // namespace

void setup_keygen(CLI::App& app, const GlobalOptions& /*globals*/) {
    auto opt = std::make_shared<KeygenOptions>();
    CLI::App* sub = add_command(app, "keygen");
    sub->add_option("--out", opt->out_dir, "Directory for NAME.key and NAME.pub (default .)");
    sub->add_option("--name", opt->name, "Base name of the key files (default shortlink)");
    sub->add_flag("--force", opt->force, "Replace existing key files");
    sub->add_flag("--encrypt", opt->encrypt,
                  "Encrypt the secret key with a passphrase (asked on the terminal); "
                  "SHORTLINK_KEY_PASSPHRASE, when set, always encrypts");
    sub->add_flag("--json", opt->json, "Print the key id and file names as one JSON object");
    sub->callback([opt]() { run_keygen(*opt); });
}

}  // namespace shortlink::cli
