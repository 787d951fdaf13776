// Drives the GPU models' element-wise glue (model_glue.cu) under the CPU emulation (cuda_emu.h) with the launch
// shape of org.gsa4j.cuda.models.GlueKernels (grid-stride, 256 threads, at most 65535 blocks), for
// GlueKernelsEmulatedTest. Inputs and outputs are raw little-endian float32 files NAME.f32 in a folder.
//   glue_emu DIR rows hkv d groups    reads x [rows·hkv·groups·d], dy [same], xk [rows·hkv·d]
//                                     writes silu, silu_dx, relu, relu_dx (of x, dy), rep (xk expanded), rep_dx (dy reduced)
#include "cuda_emu.h"
#include "emu_files.h"
#include "../../main/resources/org/gsa4j/cuda/kernels/common.cu"
#include "../../main/resources/org/gsa4j/cuda/kernels/model_glue.cu"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>


static void writeStored(const std::string& name, const std::vector<io_t>& v) {
    std::vector<float> f(v.size());
    for (size_t i = 0; i < v.size(); i++) f[i] = to_f(v[i]);
    write(name, f);
}

static std::vector<io_t> stored(const std::vector<float>& v) {
    std::vector<io_t> s(v.size());
    for (size_t i = 0; i < v.size(); i++) put(&s[i], v[i]);
    return s;
}

// GlueKernels.launch
template <class K, class... A>
static void launch(K kernel, long n, A... args) {
    const unsigned blocks = (unsigned)std::max(1L, std::min(65535L, (n + 255) / 256));
    emu::launch(kernel, {blocks, 1, 1}, {256, 1, 1}, args...);
}

int main(int argc, char** argv) {
    if (argc != 6) { std::fprintf(stderr, "usage: glue_emu DIR rows hkv d groups\n"); return 2; }
    dir = argv[1];
    const long rows = std::atol(argv[2]);
    const int hkv = std::atoi(argv[3]), d = std::atoi(argv[4]), groups = std::atoi(argv[5]);
    std::vector<io_t> x = stored(read("x")), dy = stored(read("dy")), xk = stored(read("xk"));
    const long n = (long)x.size();
    std::vector<io_t> y(n), dx(n), rep(n), repDx(xk.size());
    launch(silu_forward, n, x.data(), y.data(), n);
    launch(silu_backward, n, x.data(), dy.data(), dx.data(), n);
    writeStored("silu", y);
    writeStored("silu_dx", dx);
    launch(relu_forward, n, x.data(), y.data(), n);
    launch(relu_backward, n, x.data(), dy.data(), dx.data(), n);
    writeStored("relu", y);
    writeStored("relu_dx", dx);
    launch(repeat_heads_io, n, xk.data(), rep.data(), rows, hkv, d, groups);
    launch(repeat_heads_backward_io, (long)repDx.size(), dy.data(), repDx.data(), rows, hkv, d, groups);
    writeStored("rep", rep);
    writeStored("rep_dx", repDx);
    return 0;
}
