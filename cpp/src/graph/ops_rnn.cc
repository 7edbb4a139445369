// LSTM, GRU and RNN nodes: the foundation's RnnLayer, with the weights packed once at load.
//
// ONNX input slots: X, W, R, B, sequence_lens, initial_h, initial_c (LSTM), P (LSTM).
// Outputs: Y, Y_h, Y_c (LSTM). Gate order of W/R/B: LSTM i, o, f, c; GRU z, r, h (the layer
// packs them; nothing is reordered here).
#include <cstring>

#include "builders.h"
#include "lstmrt/errors.h"
#include "op_util.h"

namespace lstmrt {

namespace {

enum Slot { kX = 0, kW = 1, kR = 2, kB = 3, kLens = 4, kH0 = 5, kC0 = 6, kP = 7 };

// The one place where a recurrent node's attributes are decoded, for all three cells and every
// opset (layout arrived in opset 14; nothing else changed between 7 and 22).
RnnAttributes decode_attributes(const BuildContext& ctx, CellKind cell) {
  static const char* const known[] = {"activation_alpha", "activation_beta", "activations", "clip", "direction",
                                      "hidden_size", "input_forget", "layout", "linear_before_reset"};
  for (const auto& kv : ctx.node().attributes) {
    bool ok = false;
    for (const char* k : known) ok = ok || kv.first == k;
    if (!ok) ctx.fail("unknown attribute '" + kv.first + "'");
  }
  RnnAttributes a;
  a.cell = cell;
  a.hidden_size = ctx.get_int("hidden_size", 0);
  a.direction = ctx.get_string("direction", "forward");
  a.layout = ctx.get_int("layout", 0);
  if (a.layout != 0 && ctx.opset() < 14) ctx.fail("attribute 'layout' needs opset 14 or later");
  a.activations = ctx.get_strings("activations");
  a.activation_alpha = ctx.get_floats("activation_alpha");
  a.activation_beta = ctx.get_floats("activation_beta");
  a.has_clip = ctx.has_attr("clip");
  a.clip = ctx.get_float("clip", 0.0f);
  a.input_forget = cell == CellKind::LSTM ? ctx.get_int("input_forget", 0) : 0;
  if (cell != CellKind::LSTM && ctx.has_attr("input_forget")) ctx.fail("attribute 'input_forget' is LSTM's only");
  a.linear_before_reset = cell == CellKind::GRU ? ctx.get_int("linear_before_reset", 0) : 0;
  if (cell != CellKind::GRU && ctx.has_attr("linear_before_reset"))
    ctx.fail("attribute 'linear_before_reset' is GRU's only");
  a.context = ctx.where();
  return a;
}

FloatArg float_arg_of(const Tensor* t, const char* what) {
  FloatArg f;
  if (!t) return f;
  expect_dtype(*t, DType::Float32, what);
  f.data = t->data<float>();
  f.shape = t->shape();
  return f;
}

// What a recurrent node keeps between runs of one plan: the input shapes it last checked, and
// what the check gave. Valid only for the node's own packed layer (weights fed as graph inputs
// are packed anew each run) and without sequence_lens (whose values are checked too).
struct CheckedShapes final : OpState {
  bool valid = false;
  Shape x, h, c;
  bool has_h = false, has_c = false;
  RnnShapes shapes;
  Shape y_shape, state_shape;

  bool matches(const Tensor& X, const Tensor* h0, const Tensor* c0) const {
    return valid && Dims(X.shape()) == Dims(x) && (h0 != nullptr) == has_h && (c0 != nullptr) == has_c &&
           (!h0 || Dims(h0->shape()) == Dims(h)) && (!c0 || Dims(c0->shape()) == Dims(c));
  }
  void remember(const Tensor& X, const Tensor* h0, const Tensor* c0) {
    x = X.shape();
    has_h = h0 != nullptr;
    has_c = c0 != nullptr;
    if (h0) h = h0->shape();
    if (c0) c = c0->shape();
  }
};

class RecurrentOp final : public Op {
 public:
  RecurrentOp(const BuildContext& ctx, CellKind cell) : cell_(cell), attributes_(decode_attributes(ctx, cell)) {
    ctx.require_input(kX, "X");
    ctx.require_input(kW, "W");
    ctx.require_input(kR, "R");
    if (cell != CellKind::LSTM && ctx.num_inputs() > kC0)
      ctx.fail("has " + std::to_string(ctx.num_inputs()) + " inputs; " + cell_name(cell) + " takes at most 6");
    const bool weights_constant = ctx.constant(kW) && ctx.constant(kR) && (!ctx.has_input(kB) || ctx.constant(kB)) &&
                                  (!ctx.has_input(kP) || ctx.constant(kP));
    if (weights_constant) {
      // Packed once, here, for every run.
      layer_ = std::make_unique<RnnLayer>(attributes_, float_arg_of(ctx.constant(kW), "W"),
                                          float_arg_of(ctx.constant(kR), "R"), float_arg_of(ctx.constant(kB), "B"),
                                          float_arg_of(ctx.constant(kP), "P"), 0, ctx.weight_type());
      ctx.warn_if_int8_lost(layer_->lost_weight_fraction(false), "W");
      ctx.warn_if_int8_lost(layer_->lost_weight_fraction(true), "R");
    }
  }

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) const override {
    auto input = [&](size_t i) -> const Tensor* { return i < in.size() ? in[i] : nullptr; };
    const Tensor* X = input(kX);
    expect_dtype(*X, DType::Float32, "X");
    // Weights that depend on the graph inputs: pack them for this run only.
    std::unique_ptr<RnnLayer> dynamic;
    const RnnLayer* layer = layer_.get();
    if (!layer) {
      dynamic = std::make_unique<RnnLayer>(attributes_, float_arg_of(input(kW), "W"), float_arg_of(input(kR), "R"),
                                           float_arg_of(input(kB), "B"), float_arg_of(input(kP), "P"));
      layer = dynamic.get();
    }
    const Tensor* lens = input(kLens);
    const int32_t* lens_data = nullptr;
    if (lens) {
      if (lens->dtype() == DType::Int32) {
        lens_data = lens->data<int32_t>();
      } else if (lens->dtype() == DType::Int64) {
        Tensor& l32 = ctx.scratch_tensor(0);
        l32.ensure(DType::Int32, lens->shape());
        for (int64_t i = 0; i < lens->numel(); ++i) l32.data<int32_t>()[i] = static_cast<int32_t>(lens->data<int64_t>()[i]);
        lens_data = l32.data<int32_t>();
      } else {
        throw TypeError("sequence_lens: expected int32, got " + std::string(dtype_name(lens->dtype())));
      }
    }
    const Tensor* h0 = ctx.initial_h ? ctx.initial_h : input(kH0);
    const Tensor* c0 = ctx.initial_c ? ctx.initial_c : input(kC0);
    if (h0) expect_dtype(*h0, DType::Float32, "initial_h");
    if (c0) expect_dtype(*c0, DType::Float32, "initial_c");
    // The checked shapes of the last run in this plan: a run with the same shapes (every run of a
    // stream) reuses them instead of checking and building the output shapes again.
    if (!*ctx.state) *ctx.state = std::make_unique<CheckedShapes>();
    CheckedShapes& checked = static_cast<CheckedShapes&>(**ctx.state);
    if (!checked.matches(*X, h0, c0) || dynamic || lens) {
      checked.valid = false;
      checked.shapes = layer->check_inputs(X->shape(), lens_data, lens ? &lens->shape() : nullptr,
                                           h0 ? &h0->shape() : nullptr, c0 ? &c0->shape() : nullptr);
      checked.y_shape = layer->y_shape(checked.shapes);
      checked.state_shape = layer->state_shape(checked.shapes);
      checked.remember(*X, h0, c0);
      checked.valid = !dynamic && !lens;
    }
    const RnnShapes& s = checked.shapes;
    Tensor* Y = out.size() > 0 ? out[0] : nullptr;
    Tensor* Y_h = out.size() > 1 ? out[1] : nullptr;
    Tensor* Y_c = out.size() > 2 && cell_ == CellKind::LSTM ? out[2] : nullptr;
    if (Y) Y->ensure(DType::Float32, checked.y_shape);
    if (Y_h) Y_h->ensure(DType::Float32, checked.state_shape);
    if (Y_c) Y_c->ensure(DType::Float32, checked.state_shape);
    layer->run(s, X->data<float>(), lens_data, h0 ? h0->data<float>() : nullptr, c0 ? c0->data<float>() : nullptr,
               Y ? Y->data<float>() : nullptr, Y_h ? Y_h->data<float>() : nullptr, Y_c ? Y_c->data<float>() : nullptr,
               *ctx.workspace, ctx.threads);
  }

  const RnnLayer* recurrent_layer() const override { return layer_.get(); }
  bool always_computes(size_t k) const override { return k >= 1; }  // Y_h, Y_c
  bool skips_unread_outputs() const override { return true; }  // Y is not written when nobody reads it

 private:
  CellKind cell_;
  RnnAttributes attributes_;
  std::unique_ptr<RnnLayer> layer_;
};

}  // namespace

OpPtr build_lstm(const BuildContext& ctx) { return std::make_unique<RecurrentOp>(ctx, CellKind::LSTM); }
OpPtr build_gru(const BuildContext& ctx) { return std::make_unique<RecurrentOp>(ctx, CellKind::GRU); }
OpPtr build_rnn(const BuildContext& ctx) { return std::make_unique<RecurrentOp>(ctx, CellKind::RNN); }

}  // namespace lstmrt
