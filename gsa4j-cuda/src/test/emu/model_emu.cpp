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
//   model_emu conv DIR B T C W silu                 reads x w [cache] dy dw            writes y next dx dw
//   model_emu ce DIR V D rowsPerBlock lossScale     reads h w targets dw               writes loss dh dw
//   model_emu adamw DIR lr wd decays b1 b2 eps step invAccum maxNorm   reads p g1 g2 m v   writes p m v copy norm
#include "cuda_emu.h"
#include "../../main/resources/org/gsa4j/cuda/kernels/common.cu"
#include "../../main/resources/org/gsa4j/cuda/kernels/gsa.cu"
#include "../../main/resources/org/gsa4j/cuda/kernels/model.cu"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

static std::string dir;
static const unsigned ROW_THREADS = 128, ELEMENT_THREADS = 256;   // ModelKernels.ROW_THREADS, THREADS

static bool exists(const std::string& name) { return std::ifstream(dir + "/" + name + ".f32").good(); }

static std::vector<float> read(const std::string& name) {
    std::ifstream in(dir + "/" + name + ".f32", std::ios::binary | std::ios::ate);
    if (!in) { std::fprintf(stderr, "missing %s\n", name.c_str()); std::exit(2); }
    std::vector<float> v(in.tellg() / 4);
    in.seekg(0);
    in.read(reinterpret_cast<char*>(v.data()), v.size() * 4);
    return v;
}

static std::vector<float> readOptional(const std::string& name) { return exists(name) ? read(name) : std::vector<float>(); }

static std::vector<int> readInts(const std::string& name) {
    std::vector<float> f = read(name);
    return std::vector<int>(f.begin(), f.end());
}

static void write(const std::string& name, const std::vector<float>& v) {
    std::ofstream(dir + "/" + name + ".f32", std::ios::binary).write(reinterpret_cast<const char*>(v.data()), v.size() * 4);
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

int main(int argc, char** argv) {
    std::string op = argv[1];
    dir = argv[2];
    if (op == "rmsnorm") runRmsNorm(atoi(argv[3]), atoi(argv[4]), (float)atof(argv[5]));
    else if (op == "swiglu") runSwiglu(atol(argv[3]), atoi(argv[4]), atoi(argv[5]) != 0);
    else if (op == "embedding") runEmbedding(atoi(argv[3]), atoi(argv[4]));
    else if (op == "slotgate") runSlotGate((float)atof(argv[3]));
    else if (op == "glagate") runGlaGate((float)atof(argv[3]), (float)atof(argv[4]));
    else {
        std::fprintf(stderr, "unknown op %s\n", op.c_str());
        return 2;
    }
    return 0;
}
