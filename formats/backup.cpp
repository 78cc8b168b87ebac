#include "formats/backup.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include <zstd.h>
#include <zstd_errors.h>

#include "formats/bytes.h"
#include "formats/fd_io.h"

namespace shortlink::formats::backup {

namespace {

struct CCtxFree {
    void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxFree {
    void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

std::string zstd_error(std::size_t code) { return ZSTD_getErrorName(code); }

Status damaged(const std::string& path, const std::string& what) {
    return Status::corruption("backup " + path + ": " + what);
}

}  // namespace

std::array<std::uint8_t, k_header_size> encode_header(const Header& header) {
    std::array<std::uint8_t, k_header_size> out{};
    std::memcpy(out.data() + k_off_magic, k_magic.data(), k_magic.size());
    bytes::store<std::uint32_t>(out.data() + k_off_version, header.version);
    bytes::store<std::uint32_t>(out.data() + k_off_schema_version, header.schema_version);
    bytes::store<std::uint64_t>(out.data() + k_off_database_bytes, header.database_bytes);
    bytes::store<std::uint64_t>(out.data() + k_off_payload_bytes, header.payload_bytes);
    bytes::store<std::int64_t>(out.data() + k_off_created_at, header.created_at);
    std::memcpy(out.data() + k_off_database_sha256, header.database_sha256.data(), header.database_sha256.size());
    const Sha256Digest own = sha256(out.data(), k_off_header_sha256);
    std::memcpy(out.data() + k_off_header_sha256, own.data(), own.size());
    return out;
}

Result<Header> decode_header(const std::uint8_t* p, std::size_t size, const std::string& path) {
    if (size == 0) {
        return Status::invalid_argument("backup " + path + " is empty, not a shortlink backup");
    }
    if (size < k_magic.size() || std::memcmp(p + k_off_magic, k_magic.data(), k_magic.size()) != 0) {
        return Status::invalid_argument("backup " + path + " is not a shortlink backup (wrong magic)");
    }
    if (size < k_header_size) {
        return damaged(path, "truncated: " + std::to_string(size) + " bytes, shorter than the " +
                                 std::to_string(k_header_size) + "-byte header");
    }
    Header h;
    h.version = bytes::load<std::uint32_t>(p + k_off_version);
    // The version is read before the checksum: a newer writer may lay the header out otherwise.
    if (h.version != k_version) {
        return Status::unsupported("backup " + path + " is format version " + std::to_string(h.version) +
                                   "; this shortlink reads version " + std::to_string(k_version));
    }
    const Sha256Digest own = sha256(p, k_off_header_sha256);
    if (std::memcmp(own.data(), p + k_off_header_sha256, own.size()) != 0) {
        return damaged(path, "header checksum mismatch (bytes 0.." + std::to_string(k_header_size - 1) + ")");
    }
    h.schema_version = bytes::load<std::uint32_t>(p + k_off_schema_version);
    h.database_bytes = bytes::load<std::uint64_t>(p + k_off_database_bytes);
    h.payload_bytes = bytes::load<std::uint64_t>(p + k_off_payload_bytes);
    h.created_at = bytes::load<std::int64_t>(p + k_off_created_at);
    std::memcpy(h.database_sha256.data(), p + k_off_database_sha256, h.database_sha256.size());
    return h;
}

Result<Header> write(int database_fd, const std::string& database_path, int out_fd, const std::string& out_path,
                     std::uint32_t schema_version, std::int64_t created_at) {
    struct stat info {};
    if (::fstat(database_fd, &info) != 0) {
        return Status::io_error(database_path + ": stat: " + std::strerror(errno));
    }
    Header header;
    header.schema_version = schema_version;
    header.created_at = created_at;
    header.database_bytes = static_cast<std::uint64_t>(info.st_size);

    std::unique_ptr<ZSTD_CCtx, CCtxFree> cctx(ZSTD_createCCtx());
    if (!cctx) {
        return Status::io_error("zstd: out of memory");
    }
    ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, k_zstd_level);
    ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_checksumFlag, 1);
    // The frame declares its content size, so a reader can compare it with the header up front.
    ZSTD_CCtx_setPledgedSrcSize(cctx.get(), header.database_bytes);

    // A zero header first: a file cut short never carries the magic.
    const std::array<std::uint8_t, k_header_size> zero{};
    if (Status s = write_all(out_fd, reinterpret_cast<const char*>(zero.data()), zero.size(), out_path); !s) {
        return s;
    }
    std::vector<char> in(ZSTD_CStreamInSize());
    std::vector<char> out(ZSTD_CStreamOutSize());
    Sha256 sha;
    std::uint64_t offset = 0;
    bool last = false;
    while (!last) {
        auto got = read_at(database_fd, in.data(), in.size(), offset, database_path);
        if (!got) {
            return got.status();
        }
        sha.update(in.data(), *got);
        offset += *got;
        last = *got < in.size();
        ZSTD_inBuffer input{in.data(), *got, 0};
        const ZSTD_EndDirective mode = last ? ZSTD_e_end : ZSTD_e_continue;
        bool done = false;
        while (!done) {
            ZSTD_outBuffer output{out.data(), out.size(), 0};
            const std::size_t remaining = ZSTD_compressStream2(cctx.get(), &output, &input, mode);
            if (ZSTD_isError(remaining) != 0U) {
                return Status::io_error("compressing " + database_path + ": zstd: " + zstd_error(remaining));
            }
            if (Status s = write_all(out_fd, out.data(), output.pos, out_path); !s) {
                return s;
            }
            header.payload_bytes += output.pos;
            done = last ? remaining == 0 : input.pos == input.size;
        }
    }
    if (offset != header.database_bytes) {
        return Status::io_error(database_path + " changed size while it was read (" +
                                std::to_string(header.database_bytes) + " then " + std::to_string(offset) +
                                " bytes)");
    }
    header.database_sha256 = sha.finish();
    const auto bytes = encode_header(header);
    if (::lseek(out_fd, 0, SEEK_SET) != 0) {
        return Status::io_error(out_path + ": seek: " + std::strerror(errno));
    }
    if (Status s = write_all(out_fd, reinterpret_cast<const char*>(bytes.data()), bytes.size(), out_path); !s) {
        return s;
    }
    return header;
}

Result<Header> read(int in_fd, const std::string& in_path, int database_fd, const std::string& database_path) {
    struct stat info {};
    if (::fstat(in_fd, &info) != 0) {
        return Status::io_error(in_path + ": stat: " + std::strerror(errno));
    }
    const auto file_bytes = static_cast<std::uint64_t>(info.st_size);
    std::array<std::uint8_t, k_header_size> head{};
    auto got = read_at(in_fd, reinterpret_cast<char*>(head.data()), head.size(), 0, in_path);
    if (!got) {
        return got.status();
    }
    auto decoded = decode_header(head.data(), *got, in_path);
    if (!decoded) {
        return decoded.status();
    }
    const Header header = *decoded;
    const std::uint64_t expected = k_header_size + header.payload_bytes;
    if (header.payload_bytes > file_bytes || file_bytes < expected) {
        return damaged(in_path, "truncated: " + std::to_string(file_bytes) + " of " + std::to_string(expected) +
                                    " bytes");
    }
    if (file_bytes > expected) {
        return damaged(in_path, std::to_string(file_bytes - expected) + " bytes after the end of the payload (byte " +
                                    std::to_string(expected) + ")");
    }

    std::unique_ptr<ZSTD_DCtx, DCtxFree> dctx(ZSTD_createDCtx());
    if (!dctx) {
        return Status::io_error("zstd: out of memory");
    }
    ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, k_max_window_log);

    std::vector<char> in(ZSTD_DStreamInSize());
    std::vector<char> out(ZSTD_DStreamOutSize());
    Sha256 sha;
    std::uint64_t written = 0;
    std::uint64_t offset = k_header_size;
    bool frame_done = false;
    bool first = true;
    // Hashes and writes what one call produced; refuses output past the header's size.
    auto take = [&](const ZSTD_outBuffer& output) -> Status {
        if (output.pos > header.database_bytes - written) {
            return damaged(in_path, "the zstd frame decompresses to more than the header's " +
                                        std::to_string(header.database_bytes) + " bytes");
        }
        sha.update(out.data(), output.pos);
        written += output.pos;
        if (database_fd >= 0) {
            return write_all(database_fd, out.data(), output.pos, database_path);
        }
        return Status::ok();
    };
    while (offset < file_bytes) {
        const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(in.size(), file_bytes - offset));
        auto n = read_at(in_fd, in.data(), want, offset, in_path);
        if (!n) {
            return n.status();
        }
        if (*n != want) {
            return damaged(in_path, "truncated at byte " + std::to_string(offset + *n) + " while it was read");
        }
        if (first) {
            first = false;
            const unsigned long long declared = ZSTD_getFrameContentSize(in.data(), *n);
            if (declared == ZSTD_CONTENTSIZE_ERROR || declared == ZSTD_CONTENTSIZE_UNKNOWN) {
                return damaged(in_path, "the payload at byte " + std::to_string(k_header_size) +
                                            " is not a zstd frame that declares its size");
            }
            if (declared != header.database_bytes) {
                return damaged(in_path, "the zstd frame declares " + std::to_string(declared) +
                                            " bytes; the header says " + std::to_string(header.database_bytes));
            }
        }
        ZSTD_inBuffer input{in.data(), *n, 0};
        while (input.pos < input.size) {
            if (frame_done) {
                return damaged(in_path, "bytes after the end of the zstd frame at byte " +
                                            std::to_string(offset + input.pos));
            }
            ZSTD_outBuffer output{out.data(), out.size(), 0};
            const std::size_t r = ZSTD_decompressStream(dctx.get(), &output, &input);
            if (ZSTD_isError(r) != 0U && ZSTD_getErrorCode(r) == ZSTD_error_frameParameter_windowTooLarge) {
                return damaged(in_path, "the zstd frame needs a window over " +
                                            std::to_string((1U << k_max_window_log) >> 20) +
                                            " MiB, more than a reader allows");
            }
            if (ZSTD_isError(r) != 0U) {
                return damaged(in_path, "zstd frame damaged near byte " + std::to_string(offset + input.pos) + ": " +
                                            zstd_error(r));
            }
            if (Status s = take(output); !s) {
                return s;
            }
            frame_done = r == 0;
        }
        offset += *n;
    }
    // Output the decoder still holds once the input is used up.
    while (!frame_done) {
        ZSTD_inBuffer input{nullptr, 0, 0};
        ZSTD_outBuffer output{out.data(), out.size(), 0};
        const std::size_t r = ZSTD_decompressStream(dctx.get(), &output, &input);
        if (ZSTD_isError(r) != 0U) {
            return damaged(in_path, std::string("zstd frame damaged at its end: ") + zstd_error(r));
        }
        if (output.pos == 0 && r != 0) {
            return damaged(in_path, "the zstd frame ends early (truncated payload)");
        }
        if (Status s = take(output); !s) {
            return s;
        }
        frame_done = r == 0;
    }
    if (written != header.database_bytes) {
        return damaged(in_path, "the payload decompresses to " + std::to_string(written) + " bytes; the header says " +
                                    std::to_string(header.database_bytes));
    }
    if (sha.finish() != header.database_sha256) {
        return damaged(in_path, "SHA-256 of the decompressed database does not match the header");
    }
    return header;
}

}  // namespace shortlink::formats::backup
