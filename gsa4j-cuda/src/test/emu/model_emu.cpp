// Drives the model kernels (model.cu) under the CPU emulation (cuda_emu.h) with the launch shapes, workspaces and
// order of the org.gsa4j.cuda.ops classes that launch them (CudaRmsNorm, CudaSwiglu, CudaEmbedding, CudaGates,
// CudaShortConv, CudaCrossEntropy, CudaAdamW, CudaGradNorm), on inputs a test wrote as raw little-endian float32
// files (NAME.f32; integer inputs as exact float values) in a folder, writing the outputs there the same way.
// Compiled by EmulatedModelKernelsTest with -DGSA4J_BF16=0 or 1. The matrix products that CudaCrossEntropy hands to
// cuBLASLt are plain loops here (float32 accumulation over the stored operands).
//   model_emu rmsnorm DIR rows D eps                reads x [res] [w] dy [dhNext]     writes y [h] rstd dh [dw]
//   model_emu swiglu DIR rows I fused               reads a b dy (fused: ab)           writes y da db (fused: dab)
//   model_emu embedding DIR V D                     reads ids table dx dtable          writes x dtable
//   model_emu slotgate DIR tau                      reads f dg ds                      writes g s df
//   model_emu glagate DIR tau clampMin              reads x dg                         writes g dx
//   model_emu hgrn2 DIR D layer                     reads f dg dk [x dx: layer > 0]    writes g k df [dx]
//   model_emu conv DIR B T C W silu                 reads x w [cache] dy dw            writes y next [dx dw: no cache]
//   model_emu ce DIR V D rowsPerBlock lossScale     reads h w targets dw               writes loss dh dw
//   model_emu adamw DIR lr wd decays b1 b2 eps steps invAccum maxNorm   reads p e g1..gSTEPS   writes p m v copy norms
#include "cuda_emu.h"
#include "emu_files.h"
#include "../../main/resources/org/gsa4j/cuda/kernels/common.cu"
#include "../../main/resources/org/gsa4j/cuda/kernels/gsa.cu"
#include "../../main/resources/org/gsa4j/cuda/kernels/model.cu"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

static const unsigned ROW_THREADS = 128, ELEMENT_THREADS = 256;   // ModelKernels.ROW_THREADS, THREADS

static std::vector<float> readOptional(const std::string& name) { return exists(name) ? read(name) : std::vector<float>(); }

static std::vector<int> readInts(const std::string& name) {
    std::vector<float> f = read(name);
    return std::vector<int>(f.begin(), f.end());
}

// Storage-type buffers (io_t: float or bf16); empty stands for an absent tensor.
struct Io {
    std::vector<io_t> data;
    explicit Io(size_t n) : data(n) {}
    explicit Io(const std::vector<float>& v) : data(v.size()) { for (size_t i = 0; i < v.size(); i++) put(&data[i], v[i]); }
    io_t* p() { return data.empty() ? nullptr : data.data(); }
    std::vector<float> floats() const { std::vector<float> v(data.size()); for (size_t i = 0; i < v.size(); i++) v[i] = to_f(data[i]); return v; }
};
static float* opt(std::vector<float>& v) { return v.empty() ? nullptr : v.data(); }
static unsigned blocks(long n, long per) { return (unsigned)((n + per - 1) / per); }
static Dim3 grid1d(long n) { return {std::max(1u, (unsigned)std::min(65535L, (long)blocks(n, ELEMENT_THREADS))), 1, 1}; }

// ModelKernels.launch1d
template <class K, class... A>
static void elementwise(K kernel, long n, A... args) { emu::launch(kernel, grid1d(n), {ELEMENT_THREADS, 1, 1}, args...); }

static void runRmsNorm(int rows, int D, float eps) {
    Io x(read("x")), res(readOptional("res")), w(readOptional("w")), dy(read("dy")), dhNext(readOptional("dhNext"));
    const bool residual = !res.data.empty();
    Io y((size_t)rows * D), h(residual ? (size_t)rows * D : 0), dh((size_t)rows * D);
    std::vector<float> rstd(rows), dw(w.data.empty() ? 0 : D);
    emu::launch(rmsnorm_residual, {(unsigned)rows, 1, 1}, {ROW_THREADS, 1, 1}, x.p(), res.p(), w.p(), y.p(), h.p(), rstd.data(), D, eps);
    Io& hv = residual ? h : x;
    emu::launch(rmsnorm_residual_backward, {(unsigned)rows, 1, 1}, {ROW_THREADS, 1, 1}, hv.p(), w.p(), rstd.data(), dy.p(), dhNext.p(), dh.p(), D);
    if (!dw.empty()) {   // CudaRmsNorm.rowsPerSegment
        const int perSegment = (int)std::max(32L, (rows + 255L) / 256), segments = blocks(rows, perSegment);
        std::vector<float> partial((size_t)segments * D);
        emu::launch(rmsnorm_dw_partial, {blocks(D, ELEMENT_THREADS), (unsigned)segments, 1}, {ELEMENT_THREADS, 1, 1}, hv.p(), rstd.data(), dy.p(),
                    partial.data(), (long)rows, D, perSegment);
        emu::launch(add_column_sums, {blocks(D, ELEMENT_THREADS), 1, 1}, {ELEMENT_THREADS, 1, 1}, partial.data(), segments, D, dw.data());
        write("dw", dw);
    }
    write("y", y.floats()); write("rstd", rstd); write("dh", dh.floats());
    if (residual) write("h", h.floats());
}

static void runSwiglu(long rows, int I, bool fused) {
    const long n = rows * I;
    Io y(n), dy(read("dy"));
    if (fused) {
        Io ab(read("ab")), dab(2 * n);
        elementwise(swiglu, n, ab.p(), ab.p() + I, 2L * I, y.p(), rows, I);
        elementwise(swiglu_backward, n, ab.p(), ab.p() + I, 2L * I, dy.p(), dab.p(), dab.p() + I, rows, I);
        write("dab", dab.floats());
    } else {
        Io a(read("a")), b(read("b")), da(n), db(n);
        elementwise(swiglu, n, a.p(), b.p(), (long)I, y.p(), rows, I);
        elementwise(swiglu_backward, n, a.p(), b.p(), (long)I, dy.p(), da.p(), db.p(), rows, I);
        write("da", da.floats()); write("db", db.floats());
    }
    write("y", y.floats());
}

static void runEmbedding(int V, int D) {   // CudaEmbedding.upload's counting sort, then forward and backward
    std::vector<int> ids = readInts("ids");
    const int n = ids.size();
    std::vector<int> count(V + 1, 0);
    for (int id : ids) count[id + 1]++;
    for (int v = 0; v < V; v++) count[v + 1] += count[v];
    std::vector<int> order(n), next(count), starts, tokens;
    for (int i = 0; i < n; i++) order[next[ids[i]]++] = i;
    for (int v = 0; v < V; v++) if (count[v + 1] > count[v]) { tokens.push_back(v); starts.push_back(count[v]); }
    starts.push_back(n);
    Io table(read("table")), dx(read("dx")), x((size_t)n * D);
    std::vector<float> dtable = read("dtable");
    elementwise(embedding, (long)n * D, ids.data(), table.p(), x.p(), (long)n, D);
    emu::launch(embedding_backward, {(unsigned)tokens.size(), blocks(D, ELEMENT_THREADS), 1}, {ELEMENT_THREADS, 1, 1}, order.data(), starts.data(),
                tokens.data(), dx.p(), dtable.data(), D);
    write("x", x.floats()); write("dtable", dtable);
}

static void runSlotGate(float tau) {
    Io f(read("f")), ds(read("ds"));
    std::vector<float> dg = read("dg"), g(dg.size());
    const long n = dg.size();
    Io s(n), df(n);
    elementwise(gsa_slot_gate, n, f.p(), g.data(), s.p(), n, 1.f / tau);
    elementwise(gsa_slot_gate_backward, n, f.p(), dg.data(), ds.p(), df.p(), n, 1.f / tau);
    write("g", g); write("s", s.floats()); write("df", df.floats());
}

static void runGlaGate(float tau, float clampMin) {
    Io x(read("x"));
    std::vector<float> dg = read("dg"), g(dg.size());
    const long n = dg.size();
    Io dx(n);
    elementwise(log_sigmoid_gate, n, x.p(), g.data(), n, 1.f / tau, clampMin);
    elementwise(log_sigmoid_gate_backward, n, x.p(), dg.data(), dx.p(), n, 1.f / tau, clampMin);
    write("g", g); write("dx", dx.floats());
}

// CudaGates.hgrn2LowerBound (layer ≥ 1), hgrn2Gate, hgrn2GateBackward, hgrn2LowerBoundBackward.
static void runHgrn2(int D, int layer) {
    Io f(read("f")), dk(read("dk"));
    std::vector<float> dg = read("dg"), g(dg.size()), x = readOptional("x"), dx = readOptional("dx"), lb, dlb;
    const long n = dg.size(), rows = n / D;
    Io k(n), df(n);
    if (layer > 0) {
        lb.resize(D);
        dlb.assign(D, 0.f);
        elementwise(hgrn2_lower_bound, D, x.data(), lb.data(), (int)(x.size() / D), D, layer);
    }
    elementwise(hgrn2_gate, n, f.p(), opt(lb), g.data(), k.p(), n, D);
    elementwise(hgrn2_gate_backward, n, f.p(), opt(lb), dg.data(), dk.p(), df.p(), n, D);
    write("g", g); write("k", k.floats()); write("df", df.floats());
    if (layer == 0) return;
    const int perSegment = (int)std::max(32L, (rows + 255L) / 256), segments = blocks(rows, perSegment);   // CudaRmsNorm.rowsPerSegment
    std::vector<float> partial((size_t)segments * D);
    emu::launch(hgrn2_dlb_partial, {blocks(D, ELEMENT_THREADS), (unsigned)segments, 1}, {ELEMENT_THREADS, 1, 1}, f.p(), lb.data(),
                dg.data(), dk.p(), partial.data(), rows, D, perSegment);
    emu::launch(add_column_sums, {blocks(D, ELEMENT_THREADS), 1, 1}, {ELEMENT_THREADS, 1, 1}, partial.data(), segments, D, dlb.data());
    elementwise(hgrn2_lower_bound_backward, D, x.data(), dlb.data(), dx.data(), (int)(x.size() / D), D, layer);
    write("dx", dx);
}

static void runConv(int B, int T, int C, int W, bool silu) {   // CudaShortConv.forward, then backward from zeros
    Io x(read("x")), w(read("w")), cache(readOptional("cache")), dy(read("dy"));
    std::vector<float> dw = read("dw");
    const long n = (long)B * T * C;
    Io y(n), dx(n);
    elementwise(short_conv, n, x.p(), w.p(), cache.p(), y.p(), B, T, C, W, (int)silu);
    Io next = cache.data.empty() ? Io((size_t)B * (W - 1) * C) : cache;   // with a cache: updated in place
    if (W > 1) elementwise(short_conv_next_cache, (long)B * C, x.p(), cache.data.empty() ? nullptr : next.p(), next.p(), B, T, C, W);
    write("y", y.floats()); write("next", next.floats());
    if (!cache.data.empty()) return;
    std::vector<float> du(n);
    elementwise(short_conv_backward_du, n, x.p(), w.p(), dy.p(), du.data(), B, T, C, W, (int)silu);
    elementwise(short_conv_backward_dx, n, du.data(), w.p(), dx.p(), B, T, C, W);
    const int steps = 64, segments = blocks(T, steps);   // CudaShortConv.STEPS_PER_SEGMENT
    std::vector<float> partial((size_t)B * segments * C * W);
    emu::launch(short_conv_dw_partial, {blocks(C, ELEMENT_THREADS), (unsigned)segments, (unsigned)B}, {ELEMENT_THREADS, 1, 1}, x.p(),
                du.data(), partial.data(), T, C, W, steps);
    emu::launch(add_column_sums, {blocks((long)C * W, ELEMENT_THREADS), 1, 1}, {ELEMENT_THREADS, 1, 1}, partial.data(), B * segments,
                C * W, dw.data());
    write("dx", dx.floats()); write("dw", dw);
}

// CudaCrossEntropy.run: row blocks of the logits, the loss kernel, the two backward products, the mean.
static void runCrossEntropy(int V, int D, int rowsPerBlock, float lossScale) {
    Io h(read("h")), w(read("w"));
    std::vector<int> targets = readInts("targets");
    std::vector<float> dW = read("dw");
    const int N = targets.size(), R = std::min(rowsPerBlock, N);
    int labelled = 0;
    for (int t : targets) labelled += t != -100;
    std::vector<float> logits((size_t)R * V), rowLoss(N), loss(1);
    Io dh((size_t)N * D);
#if GSA4J_BF16
    Io dz((size_t)R * V);
    io_t* dlogits = dz.p();
#else
    io_t* dlogits = logits.data();
#endif
    const float gradScale = labelled == 0 ? 0.f : lossScale / labelled;
    for (int r0 = 0; r0 < N; r0 += R) {
        const int m = std::min(R, N - r0);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < V; j++) {
                float s = 0.f;
                for (int k = 0; k < D; k++) s = fmaf(to_f(h.data[(size_t)(r0 + i) * D + k]), to_f(w.data[(size_t)j * D + k]), s);
                logits[(size_t)i * V + j] = s;
            }
        emu::launch(cross_entropy_rows, {(unsigned)m, 1, 1}, {ROW_THREADS, 1, 1}, logits.data(), targets.data() + r0, rowLoss.data() + r0,
                    dlogits, V, gradScale, -100);
        for (int i = 0; i < m; i++)
            for (int k = 0; k < D; k++) {
                float s = 0.f;
                for (int j = 0; j < V; j++) s = fmaf(to_f(dlogits[(size_t)i * V + j]), to_f(w.data[(size_t)j * D + k]), s);
                put(&dh.data[(size_t)(r0 + i) * D + k], s);
            }
        for (int j = 0; j < V; j++)
            for (int k = 0; k < D; k++) {
                float s = 0.f;
                for (int i = 0; i < m; i++) s = fmaf(to_f(dlogits[(size_t)i * V + j]), to_f(h.data[(size_t)(r0 + i) * D + k]), s);
                dW[(size_t)j * D + k] += s;
            }
    }
    emu::launch(mean_loss, {1, 1, 1}, {ELEMENT_THREADS, 1, 1}, rowLoss.data(), (long)N, labelled == 0 ? 0.0 : 1.0 / labelled, loss.data());
    write("loss", loss); write("dh", dh.floats()); write("dw", dW);
}

// `steps` training steps as the GPU trainer runs them: CudaGradNorm.compute over {g_t, e}, then CudaAdamW.update of p
// with g_t and the clipping factor from the device.
static void runAdamW(double lr, double wd, bool decays, double beta1, double beta2, double eps, int steps, double invAccum,
                     double maxNorm) {
    std::vector<float> p = read("p"), e = read("e"), m(p.size()), v(p.size()), norms;
    std::vector<bf16_t> copy(p.size());
    std::vector<double> result(2);
    const long span = 1 << 16;   // CudaGradNorm.SPAN
    for (int t = 1; t <= steps; t++) {
        std::vector<float> g = read("g" + std::to_string(t));
        const unsigned gb = blocks(g.size(), span), eb = blocks(e.size(), span);
        std::vector<double> partial(gb + eb);
        emu::launch(sum_of_squares_partial, {gb, 1, 1}, {ELEMENT_THREADS, 1, 1}, g.data(), (long)g.size(), span, partial.data());
        emu::launch(sum_of_squares_partial, {eb, 1, 1}, {ELEMENT_THREADS, 1, 1}, e.data(), (long)e.size(), span, partial.data() + gb);
        emu::launch(grad_norm_finish, {1, 1, 1}, {ELEMENT_THREADS, 1, 1}, partial.data(), (int)(gb + eb), invAccum, maxNorm, result.data());
        norms.push_back((float)result[0]);
        const double decay = decays ? 1 - lr * wd : 1, bc1 = 1 - std::pow(beta1, t), bc2 = 1 - std::pow(beta2, t);
        elementwise(adamw, (long)p.size(), p.data(), g.data(), m.data(), v.data(), copy.data(), (long)p.size(), lr, decay, beta1, beta2,
                    eps, bc1, bc2, 1.0, (const double*)result.data());
    }
    std::vector<float> copyFloats(copy.size());
    for (size_t i = 0; i < copy.size(); i++) copyFloats[i] = bf16_to_float(copy[i]);
    write("p", p); write("m", m); write("v", v); write("copy", copyFloats); write("norms", norms);
}

int main(int argc, char** argv) {
    std::string op = argv[1];
    dir = argv[2];
    if (op == "rmsnorm") runRmsNorm(atoi(argv[3]), atoi(argv[4]), (float)atof(argv[5]));
    else if (op == "swiglu") runSwiglu(atol(argv[3]), atoi(argv[4]), atoi(argv[5]) != 0);
    else if (op == "embedding") runEmbedding(atoi(argv[3]), atoi(argv[4]));
    else if (op == "slotgate") runSlotGate((float)atof(argv[3]));
    else if (op == "glagate") runGlaGate((float)atof(argv[3]), (float)atof(argv[4]));
    else if (op == "hgrn2") runHgrn2(atoi(argv[3]), atoi(argv[4]));
    else if (op == "conv") runConv(atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atoi(argv[6]), atoi(argv[7]) != 0);
    else if (op == "ce") runCrossEntropy(atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), (float)atof(argv[6]));
    else if (op == "adamw")
        runAdamW(atof(argv[3]), atof(argv[4]), atoi(argv[5]) != 0, atof(argv[6]), atof(argv[7]), atof(argv[8]), atoi(argv[9]),
                 atof(argv[10]), atof(argv[11]));
    else {
        std::fprintf(stderr, "unknown op %s\n", op.c_str());
        return 2;
    }
    return 0;
}
