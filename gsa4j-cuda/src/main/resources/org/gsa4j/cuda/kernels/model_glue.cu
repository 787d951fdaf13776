// The element-wise glue of the GPU models (org.gsa4j.cuda.models): the activations between the
// projections and the operator, and grouped-head expansion with its reduction. Compiled after
// common.cu (io_t, to_f, put). Every kernel is a grid-stride loop over its elements, so any 1-D
// launch covers any size.

#define GRID_STRIDE(i, n) for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < (n); i += (long)gridDim.x * blockDim.x)

__device__ __forceinline__ float sigmoidf(float x) { return 1.f / (1.f + expf(-x)); }

// y = silu(x) = x·σ(x) (docs/MATH.md#gsa-layer: the feature map "swish", v's activation, the output gate).
extern "C" __global__ void silu_forward(const io_t* x, io_t* y, long n) {
    GRID_STRIDE(i, n) {
        const float v = to_f(x[i]);
        put(y + i, v / (1.f + expf(-v)));
    }
}

// dx = dy·σ(x)·(1 + x·(1 − σ(x))).
extern "C" __global__ void silu_backward(const io_t* x, const io_t* dy, io_t* dx, long n) {
    GRID_STRIDE(i, n) {
        const float v = to_f(x[i]);
        const float s = sigmoidf(v);
        put(dx + i, to_f(dy[i]) * s * (1.f + v * (1.f - s)));
    }
}

extern "C" __global__ void relu_forward(const io_t* x, io_t* y, long n) {
    GRID_STRIDE(i, n) put(y + i, fmaxf(to_f(x[i]), 0.f));
}

// dx = dy where x > 0, else 0 (the CPU engine's choice at x = 0).
extern "C" __global__ void relu_backward(const io_t* x, const io_t* dy, io_t* dx, long n) {
    GRID_STRIDE(i, n) put(dx + i, to_f(x[i]) > 0.f ? to_f(dy[i]) : 0.f);
}

// Grouped-query expansion: x [rows, hkv, d] → y [rows, hkv·groups, d], query head h·groups + j reading kv head h.
template <typename T>
__device__ __forceinline__ void repeat_heads(const T* x, T* y, long rows, int hkv, int d, int groups) {
    const long n = rows * hkv * groups * d;
    GRID_STRIDE(i, n) {
        const long c = i % d, head = (i / d) % ((long)hkv * groups), r = i / ((long)d * hkv * groups);
        y[i] = x[(r * hkv + head / groups) * d + c];
    }
}

// Its backward: dx [rows, hkv, d] = the sum over the group's query heads of dy [rows, hkv·groups, d], in head order.
template <typename T>
__device__ __forceinline__ void repeat_heads_backward(const T* dy, T* dx, long rows, int hkv, int d, int groups) {
    const long n = rows * hkv * d;
    GRID_STRIDE(i, n) {
        const long c = i % d, rh = i / d;   // rh = r·hkv + h
        const T* src = dy + rh * groups * d + c;
        float acc = 0.f;
        for (int j = 0; j < groups; j++) acc += to_f(src[(long)j * d]);
        put(dx + i, acc);
    }
}

extern "C" __global__ void repeat_heads_io(const io_t* x, io_t* y, long rows, int hkv, int d, int groups) {
    repeat_heads(x, y, rows, hkv, d, groups);
}
extern "C" __global__ void repeat_heads_f32(const float* x, float* y, long rows, int hkv, int d, int groups) {
    repeat_heads(x, y, rows, hkv, d, groups);
}
extern "C" __global__ void repeat_heads_backward_io(const io_t* dy, io_t* dx, long rows, int hkv, int d, int groups) {
    repeat_heads_backward(dy, dx, rows, hkv, d, groups);
}
extern "C" __global__ void repeat_heads_backward_f32(const float* dy, float* dx, long rows, int hkv, int d, int groups) {
    repeat_heads_backward(dy, dx, rows, hkv, d, groups);
}
