#include "rnn/layer_packing.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "lstmrt/errors.h"

namespace lstmrt {

int64_t partition_start(int64_t H, int p, int parts) {
  return std::min<int64_t>(H, (H * p / parts + kPanelWidth - 1) / kPanelWidth * kPanelWidth);
}

int64_t recurrent_sum_split(int64_t H) { return partition_start(H, 1, 2); }

int64_t max_partitions(int64_t hidden) { return std::max<int64_t>(1, hidden / kPanelWidth); }

namespace {

// The biases of one partition. B = [Wb, Rb] per direction, each G*H. Everything that is simply
// added before an activation is folded into one vector added by the input GEMM; GRU's Rbh with
// linear_before_reset=1 sits inside r ⊙ (H·Rhᵀ + Rbh) and stays apart.
void pack_biases(const RnnLayer& layer, const float* Wb, Partition& part) {
  const int G = gate_count(layer.cell());
  const int64_t H = layer.hidden_size(), u = part.units;
  const bool split_h = layer.cell() == CellKind::GRU && layer.linear_before_reset();
  part.bias = aligned_alloc_floats(static_cast<size_t>(G * u));
  if (split_h) part.rb_h = aligned_alloc_floats(static_cast<size_t>(u));  // zeros without B
  if (!Wb) return;
  const float* Rb = Wb + G * H;
  for (int g = 0; g < G; ++g) {
    for (int64_t j = 0; j < u; ++j) {
      const int64_t src = g * H + part.j0 + j;
      const bool inside_reset = split_h && g == 2;
      part.bias[g * u + j] = Wb[src] + (inside_reset ? 0.0f : Rb[src]);
      if (inside_reset) part.rb_h[j] = Rb[src];
    }
  }
}

}  // namespace

PartitionSet pack_partitions(const RnnLayer& layer, const FloatArg& W, const FloatArg& R, const FloatArg& B,
                             const FloatArg& P, int parts) {
  const CellKind cell = layer.cell();
  const int G = gate_count(cell);
  const int64_t H = layer.hidden_size(), GH = G * H, I = layer.input_size();
  std::vector<int64_t> bounds = {0};
  for (int p = 1; p < parts; ++p) bounds.push_back(partition_start(H, p, parts));
  bounds.push_back(H);

  PartitionSet out(static_cast<size_t>(layer.num_directions()));
  std::vector<float> rows;
  for (int d = 0; d < layer.num_directions(); ++d) {
    const float* Wd = W.data + d * GH * I;
    const float* Rd = R.data + d * GH * H;
    for (int p = 0; p < parts; ++p) {
      Partition part;
      part.j0 = bounds[p];
      part.units = bounds[p + 1] - bounds[p];
      const int64_t u = part.units;
      if (u == 0) continue;
      // Gathers rows g*H + j0 .. g*H + j0 + u of a [G*H, cols] matrix for the given gates.
      auto gather = [&](const float* m, int64_t cols, int g_begin, int g_end, const char* name) {
        rows.assign(static_cast<size_t>((g_end - g_begin) * u * cols), 0.0f);
        for (int g = g_begin; g < g_end; ++g)
          std::memcpy(rows.data() + (g - g_begin) * u * cols, m + (g * H + part.j0) * cols,
                      static_cast<size_t>(u * cols) * sizeof(float));
        try {
          return PackedMatrix(rows.data(), (g_end - g_begin) * u, cols, cols, layer.weight_type());
        } catch (const ValueError& e) {
          throw ValueError(layer.where(name) + " (direction " + std::to_string(d) + "): " + e.what());
        }
      };
      part.w = gather(Wd, I, 0, G, "W");
      if (cell == CellKind::GRU && !layer.linear_before_reset()) {
        // GRU gate order z, r, h: z and r come from H_{t-1} directly, h from r ⊙ H_{t-1}.
        part.r = gather(Rd, H, 0, 2, "R");
        part.r_h = gather(Rd, H, 2, 3, "R");
      } else {
        part.r = gather(Rd, H, 0, G, "R");
      }
      pack_biases(layer, B.present() ? B.data + d * 2 * GH : nullptr, part);
      if (P.present()) {
        part.peephole = aligned_alloc_floats(static_cast<size_t>(3 * u));
        for (int g = 0; g < 3; ++g)
          std::memcpy(part.peephole.get() + g * u, P.data + d * 3 * H + g * H + part.j0,
                      static_cast<size_t>(u) * sizeof(float));
      }
      out[d].push_back(std::move(part));
    }
  }
  return out;
}

}  // namespace lstmrt
