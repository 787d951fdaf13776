// What the GLA, RetNet and HGRN2 mixers of the GPU models (org.gsa4j.cuda.models) need around the primitive
// besides model_glue.cu: a bias on the rows of a projection with its gradient, and the rotary position
// embedding with its inverse. Compiled after common.cu (io_t, to_f, put). Grid-stride loops, so any 1-D
// launch covers any size.

#define MIX_STRIDE(i, n) for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < (n); i += (long)gridDim.x * blockDim.x)

// y [rows, width] += bias [width] (float32: the master weight), GLA's gk_proj.1.bias.
extern "C" __global__ void add_row_bias(io_t* y, const float* bias, long rows, int width) {
    MIX_STRIDE(i, rows * width) put(y + i, to_f(y[i]) + bias[i % width]);
}

// db [width] += Σ_rows dy [rows, width] (float32), one thread per column summing the rows in order: the same
// bits for every launch shape.
extern "C" __global__ void bias_gradient(const io_t* dy, float* db, long rows, int width) {
    MIX_STRIDE(c, (long)width) {
        float acc = 0.f;
        for (long r = 0; r < rows; r++) acc += to_f(dy[r * width + c]);
        db[c] += acc;
    }
}

// The rotary position embedding in place (docs/MATH.md#causal-softmax-attention, "half-split" layout): x
// [B, T, H, D], token t at position offset + t, each head's pair (x_i, x_{i+D/2}) rotated by θ = p·inv_freq_i,
// or by −θ when inverse (the backward: the rotation is orthogonal). As the CPU engine's Rotary: inv_freq is its
// float32 table, θ a float32 product, cos θ and sin θ evaluated in float64 and rounded to float32.
extern "C" __global__ void rotary(io_t* x, const float* invFreq, long rows, int T, int H, int D, int offset, int inverse) {
    const int half = D / 2;
    MIX_STRIDE(e, rows * H * half) {
        const int i = (int)(e % half);
        const long rh = e / half;   // (b·T + t)·H + h
        const long row = rh / H;
        const float theta = (float)(offset + (int)(row % T)) * invFreq[i];
        const float c = (float)cos((double)theta);
        float s = (float)sin((double)theta);
        if (inverse) s = -s;
        io_t* p = x + rh * D + i;
        const float x1 = to_f(p[0]), x2 = to_f(p[half]);
        put(p, x1 * c - x2 * s);
        put(p + half, x2 * c + x1 * s);
    }
}
