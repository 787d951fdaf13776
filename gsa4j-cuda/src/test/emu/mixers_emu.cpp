// Drives the mixers' kernels (mixers.cu: row bias, rotary; attention.cu: causal softmax attention) under the CPU
// emulation (cuda_emu.h) with the launch shapes of org.gsa4j.cuda.models.MixerKernels and
// org.gsa4j.cuda.ops.CudaAttention, for MixerKernelsEmulatedTest. Files are raw little-endian float32 DIR/NAME.f32.
//   mixers_emu DIR bias ROWS WIDTH                 reads y, bias, dy, db     writes y_bias (y + bias), db_sum (db + Σ dy)
//   mixers_emu DIR rotary B T H D OFFSET           reads x, inv_freq         writes rot, unrot (x by +θ and by −θ)
//   mixers_emu DIR attention B T H HKV D WINDOW SCALE PREFIX
//       reads q, k, v [B,T,·,D], dO; writes o, lse, dq, dk, dv of the training form, and o_tail: the rows
//       PREFIX..T−1 attended through a decoding cache (capacity T + 3) that holds the keys and values 0..T−1
#include "cuda_emu.h"
#include "emu_files.h"
#include "../../main/resources/org/gsa4j/cuda/kernels/common.cu"
#include "../../main/resources/org/gsa4j/cuda/kernels/mixers.cu"
#include "../../main/resources/org/gsa4j/cuda/kernels/attention.cu"

#include <algorithm>

// The 1-D launches of MixerKernels and CudaAttention: 256 threads, at most 65535 blocks.
template <class K, class... A>
static void launch1d(K kernel, long n, A... args) {
    const unsigned blocks = (unsigned)std::max(1L, std::min(65535L, (n + 255) / 256));
    emu::launch(kernel, {blocks, 1, 1}, {256, 1, 1}, args...);
}

static Dim3 grid(long x, long y) { return {(unsigned)x, (unsigned)y, 1}; }

int main(int argc, char** argv) {
    if (argc < 3) { std::fprintf(stderr, "usage: mixers_emu DIR bias|rotary|attention ...\n"); return 2; }
    dir = argv[1];
    const std::string mode = argv[2];
    if (mode == "bias" && argc == 5) {
        const long rows = std::atol(argv[3]);
        const int width = std::atoi(argv[4]);
        std::vector<float> y = read("y"), bias = read("bias"), dy = read("dy"), db = read("db");
        launch1d(add_row_bias, rows * width, y.data(), bias.data(), rows, width);
        launch1d(bias_gradient, (long)width, dy.data(), db.data(), rows, width);
        write("y_bias", y);
        write("db_sum", db);
        return 0;
    }
    if (mode == "rotary" && argc == 8) {
        const int B = std::atoi(argv[3]), T = std::atoi(argv[4]), H = std::atoi(argv[5]), D = std::atoi(argv[6]);
        const int offset = std::atoi(argv[7]);
        std::vector<float> x = read("x"), invFreq = read("inv_freq"), back = x;
        const long rows = (long)B * T;
        launch1d(rotary, rows * H * (D / 2), x.data(), invFreq.data(), rows, T, H, D, offset, 0);
        launch1d(rotary, rows * H * (D / 2), back.data(), invFreq.data(), rows, T, H, D, offset, 1);
        write("rot", x);
        write("unrot", back);
        return 0;
    }
    if (mode == "attention" && argc == 11) {
        const int B = std::atoi(argv[3]), T = std::atoi(argv[4]), H = std::atoi(argv[5]), Hkv = std::atoi(argv[6]);
        const int D = std::atoi(argv[7]), window = std::atoi(argv[8]), prefix = std::atoi(argv[10]);
        const float scale = std::atof(argv[9]);
        std::vector<float> q = read("q"), k = read("k"), v = read("v"), dO = read("dO");
        std::vector<float> o(q.size()), lse((size_t)B * H * T), delta(lse.size()), dq(q.size()), dk(k.size()), dv(v.size());
        const long rowBlocks = (T + ATT_ROWS - 1) / ATT_ROWS;
        emu::launch(attention_forward, grid(rowBlocks, (long)B * H), {ATT_THREADS, 1, 1}, q.data(), k.data(), v.data(), o.data(),
                    lse.data(), T, T, T, H, Hkv, D, 0, window, scale);
        launch1d(attention_delta, (long)B * T * H, o.data(), dO.data(), delta.data(), B, T, H, D);
        emu::launch(attention_backward_dq, grid(rowBlocks, (long)B * H), {ATT_THREADS, 1, 1}, q.data(), k.data(), v.data(),
                    dO.data(), lse.data(), delta.data(), dq.data(), T, H, Hkv, D, window, scale);
        emu::launch(attention_backward_dkv, grid(rowBlocks, (long)B * Hkv), {ATT_THREADS, 1, 1}, q.data(), k.data(), v.data(),
                    dO.data(), lse.data(), delta.data(), dk.data(), dv.data(), T, H, Hkv, D, window, scale);
        write("o", o);
        write("lse", lse);
        write("dq", dq);
        write("dk", dk);
        write("dv", dv);

        // decoding: the cache (capacity T + 3) filled by two appends, then the rows prefix..T−1 as one pass
        const int cap = T + 3, width = Hkv * D, tail = T - prefix;
        std::vector<float> kc((size_t)B * cap * width, NAN), vc(kc.size(), NAN), qTail((size_t)B * tail * H * D);
        std::vector<float> kTail((size_t)B * tail * width), vTail(kTail.size());
        launch1d(copy_rows, (long)B * prefix * width, k.data(), (long)T, kc.data(), (long)cap, B, prefix, width, 0);
        launch1d(copy_rows, (long)B * prefix * width, v.data(), (long)T, vc.data(), (long)cap, B, prefix, width, 0);
        for (int b = 0; b < B; b++) {
            std::copy_n(q.begin() + ((long)b * T + prefix) * H * D, (long)tail * H * D, qTail.begin() + (long)b * tail * H * D);
            std::copy_n(k.begin() + ((long)b * T + prefix) * width, (long)tail * width, kTail.begin() + (long)b * tail * width);
            std::copy_n(v.begin() + ((long)b * T + prefix) * width, (long)tail * width, vTail.begin() + (long)b * tail * width);
        }
        launch1d(copy_rows, (long)B * tail * width, kTail.data(), (long)tail, kc.data(), (long)cap, B, tail, width, prefix);
        launch1d(copy_rows, (long)B * tail * width, vTail.data(), (long)tail, vc.data(), (long)cap, B, tail, width, prefix);
        std::vector<float> oTail(qTail.size()), lseTail((size_t)B * H * tail);
        emu::launch(attention_forward, grid((tail + ATT_ROWS - 1) / ATT_ROWS, (long)B * H), {ATT_THREADS, 1, 1}, qTail.data(),
                    kc.data(), vc.data(), oTail.data(), lseTail.data(), tail, T, cap, H, Hkv, D, prefix, window, scale);
        write("o_tail", oTail);
        return 0;
    }
    std::fprintf(stderr, "bad arguments for mode %s\n", mode.c_str());
    return 2;
}
