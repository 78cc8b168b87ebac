// The bodies of the fuzz targets, shared by the libFuzzer binaries (fuzz_main.cpp, built with
// -DSHORTLINK_FUZZ=ON) and the corpus replay test that every ctest run executes
// (corpus_replay_test.cpp). tests/fuzz/README.md lists the targets and how to run them.
//
// Each takes one input and returns 1 if it was accepted (a file opened, a request stream
// answered, an import read without a bad row, a value validated) and 0 if it was refused, so the
// replay test can pin seeds named valid-* and bad-*. Beyond crashes and sanitizer reports, each
// checks properties of what it accepted (a normalized value normalizes to itself, a written
// response is well framed, ...) and aborts with a message when one fails, so the fuzzer reports
// wrong answers too.
#pragma once

#include <cstddef>
#include <cstdint>

namespace shortlink::fuzz {

// Snapshot, deny overlay and patch files (formats/snapshot.h, formats/deny.h), opened as each
// kind, then every lookup path and the redirect answer for every link. Before opening it
// recomputes the checksum of every section whose table entry is in bounds, so that mutations
// get past the checksums and reach the payload checks (the signature check is off for the same
// reason; a second pass re-signs the bytes with a trusted key and opens them lazily).
int fuzz_reader_one(const std::uint8_t* data, std::size_t size);

// A byte stream on one connection: requests (possibly pipelined, with bodies) parsed by
// serve::RequestParser and answered by serve::answer() from a small snapshot built in memory,
// each response written by serve::write_response(). The first byte says how the stream arrives
// (the size of each read) and what answers (the snapshot, or the snapshot with a patch; the
// snapshot's deny set, or an overlay's).
int fuzz_http_one(const std::uint8_t* data, std::size_t size);

// An import file (store/import_rows.h), CSV or JSON Lines; CSV records also go through a
// write-and-read-back round trip (store/csv.h).
int fuzz_import_csv_one(const std::uint8_t* data, std::size_t size);
int fuzz_import_json_one(const std::uint8_t* data, std::size_t size);
// Another shortener's export (import --from): the first byte picks the source, 0 bitly, 1 yourls,
// 2 shlink, 3 kutt, 4 cloudflare (modulo 5); the rest is the file.
int fuzz_import_foreign_one(const std::uint8_t* data, std::size_t size);

// A links file (store/links_file.h), as `shortlink apply` reads it. What it accepts is written
// back as `export --format yaml` writes it and must read as the same domains and links.
int fuzz_links_file_one(const std::uint8_t* data, std::size_t size);

// Validation and normalization (store/validate.h, store/idna.h, store/timefmt.h). The first
// byte picks the function, the rest is its argument.
int fuzz_validate_one(const std::uint8_t* data, std::size_t size);

// Key files (formats/keys.h): a secret key, encrypted or not, and a public key. The first byte
// says whether the rest is the file's text or DER to wrap in a PEM block (and which label), and
// whether a passphrase is given.
int fuzz_keys_one(const std::uint8_t* data, std::size_t size);

// The certificate a TLS handshake gets (serve/certificates.h): lines naming the files of a
// certificate directory, then the server name a client sends. Each file name goes through
// parse_cert_file_name(), the hosts they name make a CertTable, and its select() must agree with
// name_covers(), in any case and with a root dot. Accepted when a certificate was chosen,
// refused when the handshake would end with unrecognized_name.
int fuzz_sni_one(const std::uint8_t* data, std::size_t size);

// An ACME challenge request-target (serve/acme.h) answered from a webroot with a challenge file,
// a symbolic link to a secret outside it, a directory and a FIFO; accepted when it is the
// challenge file.
int fuzz_acme_one(const std::uint8_t* data, std::size_t size);

// A click segment file (formats/clicks.h) as `stats ingest` finds it. The first byte says whether
// it is named as a .part or a sealed segment (bit 0) and whether its header, block and end record
// checks are recomputed first (bit 1), so that mutations reach the sizes, zstd and the events.
// Every block is read, every event decoded, the read resumed from a block boundary, and a .part
// sealed as an orphan. Accepted when a sealed segment reads to its end record, or a .part to the
// end of what was written (or to an end record) without damage.
int fuzz_clicks_one(const std::uint8_t* data, std::size_t size);

}  // namespace shortlink::fuzz
