#include "epilogue.h"

#include <algorithm>

#include "error_context.h"
#include "cpu/kernels.h"
#include "cpu/threading.h"

namespace lstmrt {

namespace {

// Elements per piece, what a thread takes at a time. Below kMinParallel elements a pass stays on
// one thread.
constexpr int64_t kPiece = 1024;
constexpr int64_t kMinParallel = 65536;

// y = y * sigmoid(y), as the Sigmoid node (the kernel table's activation) and the Mul would.
void silu(float* y, int64_t n, int threads) {
  const KernelTable& kt = kernels();
  const int64_t pieces = (n + kPiece - 1) / kPiece;
  parallel_for(pieces, n >= kMinParallel ? threads : 1, 1, [&](int64_t q0, int64_t q1) {
    const int64_t i0 = q0 * kPiece, i1 = std::min(n, q1 * kPiece);
    kt.silu(y + i0, i1 - i0);
  });
}

void add(float* y, const float* r, int64_t n, int threads) {
  const int64_t pieces = (n + kPiece - 1) / kPiece;
  parallel_for(pieces, n >= kMinParallel ? threads : 1, 1, [&](int64_t q0, int64_t q1) {
    const int64_t i1 = std::min(n, q1 * kPiece);
    for (int64_t i = q0 * kPiece; i < i1; ++i) y[i] += r[i];
  });
}

}  // namespace

void apply_epilogues(const std::vector<Epilogue>& epilogues, const std::vector<const Tensor*>& operands, Tensor& y,
                     Tensor& tmp, RunContext& ctx) {
  const int threads = resolve_threads(ctx.threads);
  for (const Epilogue& e : epilogues) {
    if (e.kind == Epilogue::Kind::Silu) {
      silu(y.data<float>(), y.numel(), threads);
      continue;
    }
    const Tensor* r = operands[e.operand];
    if (r && r->dtype() == DType::Float32 && r->shape() == y.shape()) {
      add(y.data<float>(), r->data<float>(), y.numel(), threads);
      continue;
    }
    // A residual that broadcasts (or is missing, or of another type): the Add as it was, from a
    // copy of y, with its own checks and messages.
    tmp.copy_from(y);
    std::vector<const Tensor*> in = {&tmp, r};
    if (e.operand_first) std::swap(in[0], in[1]);
    std::vector<Tensor*> out = {&y};
    // The Add keeps nothing between runs: it gets no scratch or state of the fused node's.
    RunContext add_ctx;
    add_ctx.threads = ctx.threads;
    naming_node(e.where, [&] { e.fallback->run(in, out, add_ctx); });
  }
}

}  // namespace lstmrt
