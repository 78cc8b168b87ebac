#include "cli/snapshot_cli.h"

#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "cli/errors.h"
#include "compiler/publish.h"
#include "formats/file_names.h"

namespace shortlink::cli {

namespace {

// Reads one line from the terminal with echo off. nullopt when there is no terminal.
std::optional<std::string> read_hidden(const char* prompt) {
    std::FILE* tty = std::fopen("/dev/tty", "r+");
    if (tty == nullptr) {
        return std::nullopt;
    }
    const int fd = fileno(tty);
    termios old {};
    const bool have_termios = ::tcgetattr(fd, &old) == 0;
    if (have_termios) {
        termios quiet = old;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        ::tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    std::fputs(prompt, tty);
    std::fflush(tty);
    std::string line;
    for (int c = std::fgetc(tty); c != EOF && c != '\n'; c = std::fgetc(tty)) {
        line.push_back(static_cast<char>(c));
    }
    if (have_termios) {
        ::tcsetattr(fd, TCSAFLUSH, &old);
    }
    std::fputs("\n", tty);
    std::fclose(tty);
    return line;
}

bool have_terminal() { return ::isatty(STDIN_FILENO) == 1; }

}  // namespace

std::optional<std::string> read_passphrase(bool ask_terminal, bool confirm) {
    if (const char* env = std::getenv("SHORTLINK_KEY_PASSPHRASE"); env != nullptr && *env != '\0') {
        return std::string(env);
    }
    if (!ask_terminal || !have_terminal()) {
        return std::nullopt;
    }
    auto first = read_hidden("Passphrase: ");
    if (!first) {
        return std::nullopt;
    }
    if (first->empty()) {
        throw Error(k_exit_usage, "empty passphrase");
    }
    if (confirm) {
        auto again = read_hidden("Passphrase again: ");
        if (!again || *again != *first) {
            throw Error(k_exit_usage, "the passphrases differ");
        }
    }
    return first;
}

formats::SigningKey load_secret_key(const std::string& path) {
    const bool encrypted = unwrap(formats::SigningKey::is_encrypted(path));
    std::optional<std::string> passphrase;
    if (encrypted) {
        passphrase = read_passphrase(true, false);
    }
    return unwrap(formats::SigningKey::load(path, passphrase));
}

formats::TrustedKeys load_trusted_keys(const std::vector<std::string>& paths) {
    if (paths.empty()) {
        throw Error(k_exit_usage, "give at least one --trust PUBLIC_KEY");
    }
    formats::TrustedKeys keys;
    for (const std::string& p : paths) {
        keys.push_back(unwrap(formats::load_public_key(p)));
    }
    return keys;
}

std::shared_ptr<const formats::Snapshot> open_snapshot(const std::string& path,
                                                       const formats::TrustedKeys& trusted,
                                                       bool verify_signature) {
    formats::OpenOptions options;
    options.verify_signature = verify_signature;
    if (unwrap(formats::peek_file_kind(path)) == formats::format::FileKind::patch) {
        return unwrap(formats::Snapshot::open_patch(path, trusted, options));
    }
    return unwrap(formats::Snapshot::open(path, trusted, options));
}

std::shared_ptr<const formats::DenyOverlay> open_overlay(const std::string& path,
                                                         const formats::TrustedKeys& trusted,
                                                         bool verify_signature) {
    formats::OpenOptions options;
    options.verify_signature = verify_signature;
    return unwrap(formats::DenyOverlay::open(path, trusted, options));
}

std::shared_ptr<const formats::DenyOverlay> newest_overlay(const std::string& dir,
                                                           const formats::TrustedKeys& trusted,
                                                           bool verify_signature) {
    // As the server judges them: by the serial in the signed header, not the name.
    std::shared_ptr<const formats::DenyOverlay> best;
    for (const formats::PublishedName& name : compiler::list_published(dir)) {
        if (name.kind != formats::format::FileKind::deny) {
            continue;
        }
        const std::string path = dir + "/" + formats::published_file_name(name.kind, name.serial);
        formats::OpenOptions options;
        options.verify_signature = verify_signature;
        auto overlay = formats::DenyOverlay::open(path, trusted, options);
        if (!overlay) {
            std::cerr << "shortlink: warning: skipping " << overlay.status().message() << "\n";
        } else if (!best || (*overlay)->serial() > best->serial()) {
            best = std::move(overlay).value();
        }
    }
    return best;
}

std::shared_ptr<const formats::Snapshot> newest_patch(const std::string& dir, const formats::Snapshot& base,
                                                      const formats::TrustedKeys& keys) {
    std::shared_ptr<const formats::Snapshot> best;
    for (const formats::PublishedName& n : compiler::list_published(dir)) {
        if (n.kind != formats::format::FileKind::patch || n.base != base.serial()) {
            continue;
        }
        formats::OpenOptions options;
        options.verify_signature = !keys.empty();
        const std::string path = dir + "/" + formats::published_file_name(n.kind, n.serial, n.base);
        auto patch = formats::Snapshot::open_patch(path, keys, options);
        if (!patch) {
            std::cerr << "shortlink: warning: skipping " << patch.status().message() << "\n";
        } else if ((*patch)->base_serial() == base.serial() && (!best || (*patch)->serial() > best->serial())) {
            best = std::move(patch).value();
        }
    }
    return best;
}

std::shared_ptr<const formats::Snapshot> newest_snapshot(const std::string& dir,
                                                         const formats::TrustedKeys& trusted) {
    // Highest promised serial first: the first that verifies wins, unless its header's serial
    // (which decides) is below a file that promised less.
    std::vector<formats::PublishedName> names = compiler::list_published(dir);
    std::shared_ptr<const formats::Snapshot> best;
    for (auto n = names.rbegin(); n != names.rend(); ++n) {
        if (n->kind != formats::format::FileKind::snapshot || (best && n->serial <= best->serial())) {
            continue;
        }
        auto snapshot = formats::Snapshot::open(dir + "/" + formats::published_file_name(n->kind, n->serial),
                                                trusted, {});
        if (!snapshot) {
            std::cerr << "shortlink: warning: skipping " << snapshot.status().message() << "\n";
        } else if (!best || (*snapshot)->serial() > best->serial()) {
            best = std::move(snapshot).value();
        }
    }
    return best;
}

std::string deny_summary(const formats::DenySet& deny) {
    const auto plural = [](std::uint64_t n, const char* one, const char* many) {
        return std::to_string(n) + " " + (n == 1 ? one : many);
    };
    return plural(deny.size(), "entry", "entries") + " (" +
           plural(deny.link_count(), "link", "links") + ", " +
           plural(deny.domain_count(), "domain", "domains") + ", " +
           plural(deny.destination_count(), "destination", "destinations") + ")";
}

std::string link_key(const formats::Snapshot& snapshot, const formats::LinkView& link) {
    const formats::DomainView d = snapshot.domain(link.domain_index);
    return std::string(d.host) + "/" + std::string(link.code);
}

std::string human_bytes(std::uint64_t bytes) {
    char buf[32];
    if (bytes < 1024) {
        std::snprintf(buf, sizeof(buf), "%llu B", static_cast<unsigned long long>(bytes));
    } else if (bytes < 1024 * 1024) {
        std::snprintf(buf, sizeof(buf), "%.1f KiB", static_cast<double>(bytes) / 1024);
    } else if (bytes < 1024ULL * 1024 * 1024) {
        std::snprintf(buf, sizeof(buf), "%.1f MiB", static_cast<double>(bytes) / (1024 * 1024));
    } else {
        std::snprintf(buf, sizeof(buf), "%.2f GiB",
                      static_cast<double>(bytes) / (1024.0 * 1024 * 1024));
    }
    return buf;
}

}  // namespace shortlink::cli
