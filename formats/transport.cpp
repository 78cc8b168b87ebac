#include "formats/transport.h"

#include <algorithm>
#include <vector>

#include <zstd.h>

#include "formats/fd_io.h"

namespace shortlink::formats {

struct ZstdInflater::Context {
    ZSTD_DCtx* dctx = nullptr;
    std::vector<char> out;
    ~Context() { ZSTD_freeDCtx(dctx); }
};

ZstdInflater::ZstdInflater(std::uint64_t plain_size) : m_context(std::make_unique<Context>()), m_plain_size(plain_size) {
    m_context->dctx = ZSTD_createDCtx();
    if (m_context->dctx == nullptr) {
        fail(Problem::bad_frame, "zstd: out of memory");
        return;
    }
    ZSTD_DCtx_setParameter(m_context->dctx, ZSTD_d_windowLogMax, k_transport_window_log_max);
    m_context->out.resize(ZSTD_DStreamOutSize());
}

ZstdInflater::~ZstdInflater() = default;

bool ZstdInflater::fail(Problem p, std::string detail) {
    if (m_problem == Problem::none) {
        m_problem = p;
        m_detail = std::move(detail);
    }
    return false;
}

bool ZstdInflater::feed(const char* data, std::size_t n, const Sink& sink) {
    if (m_problem != Problem::none) {
        return false;
    }
    ZSTD_inBuffer in{data, n, 0};
    ZSTD_outBuffer out{};
    // One call of the decompressor into the output buffer, its output checked and handed on.
    const auto step = [&] {
        out = {m_context->out.data(), m_context->out.size(), 0};
        const std::size_t rc = ZSTD_decompressStream(m_context->dctx, &out, &in);
        if (ZSTD_isError(rc)) {
            return fail(Problem::bad_frame, std::string("not a usable zstd frame: ") + ZSTD_getErrorName(rc) +
                                                " (after " + std::to_string(m_produced) + " bytes)");
        }
        if (out.pos > m_plain_size - m_produced) {
            return fail(Problem::too_large, "it decompresses past the " + std::to_string(m_plain_size) +
                                                " bytes the index gives");
        }
        m_produced += out.pos;
        if (out.pos > 0) {
            sink(m_context->out.data(), out.pos);
        }
        m_frame_done = rc == 0;
        return true;
    };
    while (in.pos < in.size) {
        if (m_frame_done) {
            return fail(Problem::bad_frame, "bytes follow the end of the zstd frame");
        }
        if (!step()) {
            return false;
        }
        // A full output buffer may hold more output back: go round again even with no input left.
        while (!m_frame_done && in.pos == in.size && out.pos == out.size) {
            if (!step()) {
                return false;
            }
        }
    }
    return true;
}

bool ZstdInflater::finish() {
    if (m_problem != Problem::none) {
        return false;
    }
    if (!m_frame_done) {
        return fail(Problem::bad_frame, "the zstd frame is truncated (" + std::to_string(m_produced) +
                                            " bytes decompressed)");
    }
    if (m_produced != m_plain_size) {
        return fail(Problem::bad_frame, "it decompresses to " + std::to_string(m_produced) + " bytes where the index says " +
                                            std::to_string(m_plain_size));
    }
    return true;
}

Result<std::uint64_t> zstd_compress_fd(int from_fd, std::uint64_t size, int to_fd, int level, int threads) {
    std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> cctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
    if (!cctx) {
        return Status::io_error("zstd: out of memory");
    }
    ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, level);
    ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_checksumFlag, 1);
    ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_contentSizeFlag, 1);
    // A host refuses windows above k_transport_window_log_max whatever the level asks for.
    ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_windowLog, k_transport_window_log);
    if (threads > 1) {
        // Without multithreading in this libzstd the parameter is refused and one thread compresses.
        ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_nbWorkers, threads);
    }
    const std::size_t pledged = ZSTD_CCtx_setPledgedSrcSize(cctx.get(), size);
    if (ZSTD_isError(pledged)) {
        return Status::invalid_argument(std::string("zstd: ") + ZSTD_getErrorName(pledged));
    }
    std::vector<char> in_buf(std::size_t{1} << 20);
    std::vector<char> out_buf(ZSTD_CStreamOutSize());
    std::uint64_t read = 0;
    std::uint64_t written = 0;
    while (true) {
        std::size_t got = 0;
        if (read < size) {
            auto r = read_at(from_fd, in_buf.data(), static_cast<std::size_t>(std::min<std::uint64_t>(in_buf.size(), size - read)),
                             read, "zstd input");
            if (!r) {
                return r.status();
            }
            got = *r;
            if (got == 0) {
                return Status::io_error("the file shrank while it was compressed");
            }
            read += got;
        }
        const ZSTD_EndDirective mode = read == size ? ZSTD_e_end : ZSTD_e_continue;
        ZSTD_inBuffer in{in_buf.data(), got, 0};
        bool finished = false;
        while (!finished) {
            ZSTD_outBuffer out{out_buf.data(), out_buf.size(), 0};
            const std::size_t left = ZSTD_compressStream2(cctx.get(), &out, &in, mode);
            if (ZSTD_isError(left)) {
                return Status::io_error(std::string("zstd: ") + ZSTD_getErrorName(left));
            }
            if (Status s = write_all(to_fd, out_buf.data(), out.pos, "zstd output"); !s) {
                return s;
            }
            written += out.pos;
            finished = mode == ZSTD_e_end ? left == 0 : in.pos == in.size;
        }
        if (mode == ZSTD_e_end) {
            return written;
        }
    }
}

}  // namespace shortlink::formats
