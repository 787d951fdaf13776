// Drives the GPU kernels under the CPU emulation (cuda_emu.h) in the order org.gsa4j.cuda.ops.CudaGla and CudaGsa
// launch them, on inputs a test wrote as raw little-endian float32 files (NAME.f32) in a folder, and writes the
// outputs there the same way. Compiled by EmulatedKernelsTest with -DGSA4J_BF16=0 or 1.
//   kernels_emu gla DIR KEY|VALUE|SCALAR B T H Dk Dv scale      (reads q k v [g | log_gamma] [s0] dO [dST])
//   kernels_emu gsa DIR B T H K V M scale                       (reads q k v s g [hk0 hv0] dO [dhkT dhvT])
#include "cuda_emu.h"
#include "emu_files.h"
#include "../../main/resources/org/gsa4j/cuda/kernels/common.cu"
#include "../../main/resources/org/gsa4j/cuda/kernels/gla_chunk.cu"
#include "../../main/resources/org/gsa4j/cuda/kernels/gsa.cu"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>


// Storage-type buffers (io_t: float or bf16) and float32 buffers; nullptr stands for an absent tensor.
struct Io {
    std::vector<io_t> data;
    explicit Io(size_t n) : data(n) {}
    explicit Io(const std::vector<float>& v) : data(v.size()) { for (size_t i = 0; i < v.size(); i++) put(&data[i], v[i]); }
    io_t* p() { return data.data(); }
    std::vector<float> floats() const { std::vector<float> v(data.size()); for (size_t i = 0; i < v.size(); i++) v[i] = to_f(data[i]); return v; }
};
static float* opt(std::vector<float>& v) { return v.empty() ? nullptr : v.data(); }
static int tiles(int n) { return (n + 63) / 64; }
static int smemBytes(int kernel) { static int sizes[7]; static bool done = false; if (!done) { emu::launch(gla_smem_bytes, {1, 1, 1}, {1, 1, 1}, sizes); done = true; } return sizes[kernel]; }

struct Gla {
    int decay, B, T, H, Dk, Dv;
    int chunks() const { return (T + 63) / 64; }
    void states(const io_t* x, const io_t* y, float* g, float* lg, int reverse, float* init, float* st, float* last, float xScale) const {
        if (smemBytes(0) > (int)sizeof(smem)) std::exit(3);
        const int decayed = decay == 1 ? Dv : Dk;
        std::vector<float> chunkDecay((size_t)B * H * chunks() * decayed);
        emu::launch(gla_chunk_local, {(unsigned)(tiles(Dk) * tiles(Dv)), (unsigned)chunks(), (unsigned)(B * H)}, {256, 1, 1},
                    x, y, g, lg, decay, reverse, st, chunkDecay.data(), B, T, H, Dk, Dv, xScale);
        const long elements = (long)B * H * Dk * Dv;
        emu::launch(gla_chunk_scan, {(unsigned)((elements + 255) / 256), 1, 1}, {256, 1, 1},
                    init, st, last, chunkDecay.data(), decay, reverse, B, H, chunks(), Dk, Dv);
    }
    size_t stateSize() const { return (size_t)B * H * chunks() * Dk * Dv; }
    // st receives the chunk states (stateSize() floats), which a backward may take instead of computing them again.
    void forward(Io& q, Io& k, Io& v, float* g, float* lg, float* s0, float scale, Io& o, float* oStrict, float* sT, std::vector<float>& st) const {
        st.assign(stateSize(), 0.f);
        states(k.p(), v.p(), g, lg, 0, s0, st.data(), sT, 1.f);
        Dim3 grid{(unsigned)tiles(Dv), (unsigned)chunks(), (unsigned)(B * H)};
        if (decay == 1) emu::launch(gla_fwd_value, grid, {256, 1, 1}, q.p(), k.p(), v.p(), g, st.data(), o.p(), oStrict, B, T, H, Dk, Dv, scale);
        else emu::launch(gla_fwd_key, grid, {256, 1, 1}, q.p(), k.p(), v.p(), g, lg, st.data(), o.p(), B, T, H, Dk, Dv, scale);
    }
    // kept: the forward's chunk states, or nullptr to compute them here from s0 (as CudaGla's two backward methods).
    void backward(Io& q, Io& k, Io& v, float* g, float* lg, float* s0, const float* kept, float scale, float* oStrict, Io& dO, float* dST,
                  Io& dq, Io& dk, Io& dv, float* dg, float* ds0) const {
        std::vector<float> computed, dst(stateSize());
        if (kept == nullptr) {
            computed.assign(stateSize(), 0.f);
            states(k.p(), v.p(), g, lg, 0, s0, computed.data(), nullptr, 1.f);
        }
        const float* st = kept != nullptr ? kept : computed.data();
        states(q.p(), dO.p(), g, lg, 1, dST, dst.data(), ds0, scale);
        Dim3 keyGrid{(unsigned)tiles(Dk), (unsigned)chunks(), (unsigned)(B * H)}, valueGrid{(unsigned)tiles(Dv), (unsigned)chunks(), (unsigned)(B * H)};
        if (decay == 1) {
            emu::launch(gla_bwd_value_dqk, keyGrid, {256, 1, 1}, q.p(), k.p(), v.p(), g, dO.p(), st, dst.data(), dq.p(), dk.p(), B, T, H, Dk, Dv, scale);
            emu::launch(gla_bwd_value_dvg, valueGrid, {256, 1, 1}, q.p(), k.p(), v.p(), g, dO.p(), oStrict, st, dst.data(), dv.p(), dg, B, T, H, Dk, Dv, scale);
        } else {
            emu::launch(gla_bwd_key_dqk, keyGrid, {256, 1, 1}, q.p(), k.p(), v.p(), g, lg, dO.p(), st, dst.data(), dq.p(), dk.p(), dg, B, T, H, Dk, Dv, scale);
            emu::launch(gla_bwd_key_dv, valueGrid, {256, 1, 1}, q.p(), k.p(), g, lg, dO.p(), dst.data(), dv.p(), B, T, H, Dk, Dv, scale);
        }
    }
};

int main(int argc, char** argv) {
    std::string op = argv[1];
    dir = argv[2];
    if (op == "gla") {
        std::string d = argv[3];
        Gla gla{d == "KEY" ? 0 : d == "VALUE" ? 1 : 2, atoi(argv[4]), atoi(argv[5]), atoi(argv[6]), atoi(argv[7]), atoi(argv[8])};
        float scale = (float)atof(argv[9]);
        const size_t nk = (size_t)gla.B * gla.T * gla.H * gla.Dk, nv = (size_t)gla.B * gla.T * gla.H * gla.Dv, ns = (size_t)gla.B * gla.H * gla.Dk * gla.Dv;
        Io q(read("q")), k(read("k")), v(read("v")), dO(read("dO"));
        std::vector<float> g = exists("g") ? read("g") : std::vector<float>(), lg = exists("log_gamma") ? read("log_gamma") : std::vector<float>();
        std::vector<float> s0 = exists("s0") ? read("s0") : std::vector<float>(), dST = exists("dST") ? read("dST") : std::vector<float>();
        Io o(nv), dq(nk), dk(nk), dv(nv);
        std::vector<float> oStrict(nv), sT(ns), dg(gla.decay == 2 ? 0 : g.size()), ds0(ns);
        std::vector<float> st;
        gla.forward(q, k, v, opt(g), opt(lg), opt(s0), scale, o, oStrict.data(), sT.data(), st);
        gla.backward(q, k, v, opt(g), opt(lg), opt(s0), nullptr, scale, oStrict.data(), dO, opt(dST), dq, dk, dv, opt(dg), ds0.data());
        write("o", o.floats()); write("sT", sT); write("dq", dq.floats()); write("dk", dk.floats()); write("dv", dv.floats());
        if (!dg.empty()) write("dg", dg);
        write("ds0", ds0);
    } else if (op == "gsa") {
        int B = atoi(argv[3]), T = atoi(argv[4]), H = atoi(argv[5]), K = atoi(argv[6]), V = atoi(argv[7]), M = atoi(argv[8]);
        float scale = (float)atof(argv[9]);
        const size_t rows = (size_t)B * T * H;
        Io q(read("q")), k(read("k")), v(read("v")), s(read("s")), dO(read("dO"));
        std::vector<float> g = read("g");
        std::vector<float> hk0 = exists("hk0") ? read("hk0") : std::vector<float>(), hv0 = exists("hv0") ? read("hv0") : std::vector<float>();
        std::vector<float> dhkT = exists("dhkT") ? read("dhkT") : std::vector<float>(), dhvT = exists("dhvT") ? read("dhvT") : std::vector<float>();
        Gla pass1{1, B, T, H, K, M}, pass2{0, B, T, H, M, V};
        Io a(rows * M), pq(rows * M), o(rows * V);
        std::vector<float> aStrict(rows * M), p(rows * M), hkT((size_t)B * H * K * M), hvT((size_t)B * H * M * V);
        std::vector<float> keyStates, valueStates;
        pass1.forward(q, k, s, g.data(), nullptr, opt(hk0), scale, a, aStrict.data(), hkT.data(), keyStates);
        emu::launch(gsa_softmax, {(unsigned)((rows + 7) / 8), 1, 1}, {256, 1, 1}, a.p(), p.data(), pq.p(), (long)rows, M);
        pass2.forward(pq, s, v, g.data(), nullptr, opt(hv0), 1.f, o, nullptr, hvT.data(), valueStates);
        Io dp(rows * M), ds2(rows * M), dv(rows * V), da(rows * M), dq(rows * K), dk(rows * K), ds(rows * M);
        std::vector<float> dg2(rows * M), dg(rows * M), dhv0((size_t)B * H * M * V), dhk0((size_t)B * H * K * M);
        pass2.backward(pq, s, v, g.data(), nullptr, nullptr, valueStates.data(), 1.f, nullptr, dO, opt(dhvT), dp, ds2, dv, dg2.data(), dhv0.data());
        emu::launch(gsa_softmax_backward, {(unsigned)((rows + 7) / 8), 1, 1}, {256, 1, 1}, p.data(), dp.p(), da.p(), (long)rows, M);
        pass1.backward(q, k, s, g.data(), nullptr, nullptr, keyStates.data(), scale, aStrict.data(), da, opt(dhkT), dq, dk, ds, dg.data(), dhk0.data());
        const long n = (long)(rows * M);
        emu::launch(add_into, {1, 1, 1}, {256, 1, 1}, ds.p(), ds2.p(), n);
        emu::launch(add_into_f32, {1, 1, 1}, {256, 1, 1}, dg.data(), dg2.data(), n);
        write("o", o.floats()); write("hkT", hkT); write("hvT", hvT); write("dq", dq.floats()); write("dk", dk.floats());
        write("dv", dv.floats()); write("ds", ds.floats()); write("dg", dg); write("dhk0", dhk0); write("dhv0", dhv0);
    } else {
        std::fprintf(stderr, "unknown op %s\n", op.c_str());
        return 2;
    }
    return 0;
}
