// lstmrt._core.RnnLayer: a packed LSTM/GRU/RNN layer callable on NumPy arrays.
#include <pybind11/stl.h>

#include <memory>
#include <mutex>
#include <optional>

#include <cstring>

#include "bindings.h"
#include "lstmrt/rnn_stream.h"
#include "cpu/threading.h"
#include "rnn/call_plan.h"

namespace lstmrt {
namespace {

CellKind parse_cell(const std::string& cell) {
  if (cell == "LSTM") return CellKind::LSTM;
  if (cell == "GRU") return CellKind::GRU;
  if (cell == "RNN") return CellKind::RNN;
  throw ValueError("cell: expected 'LSTM', 'GRU' or 'RNN', got '" + cell + "'");
}

// The plan a call of `layer` with these shapes would run (rnn/call_plan.h), as a dict. `threads`
// (<= 0: the default) is what the call may use, as the layer's own bound or run()'s; `l2_bytes`,
// when given, replaces this machine's L2 in the tuning (so a test can plan for another cache).
py::dict plan_dict(const RnnLayer& layer, int64_t seq, int64_t batch, int threads, bool has_lens, bool has_initial_h,
                   std::optional<int64_t> l2_bytes) {
  if (seq < 0 || batch < 0) throw ValueError("plan: seq and batch must be >= 0");
  const Tuning tune = l2_bytes ? tuning_for_l2(*l2_bytes) : tuning();
  const CallPlan plan =
      plan_call(call_shape(layer, RnnShapes{seq, batch}, has_lens, has_initial_h, resolve_threads(threads)), tune);
  py::dict d;
  d["threads"] = plan.threads;
  d["wake_workers"] = plan.wake_workers;
  d["whole_copy"] = plan.whole_copy;
  d["partitions"] = plan.partitions;
  d["parallel_directions"] = plan.parallel_directions;
  d["split"] = work_split_name(plan.split);
  d["team_size"] = plan.team_size;
  py::list projection;
  for (int dir = 0; dir < layer.num_directions(); ++dir)
    projection.append(plan.step_projection[dir] ? "per_step" : "up_front");
  d["projection"] = projection;
  return d;
}

// One call's arguments, converted and checked against the layer (or stream), and its outputs,
// allocated. Everything that can fail does so here, before any state is touched.
struct Call {
  std::optional<FloatArray> X, h0, c0;
  std::optional<Int32Array> lens;
  RnnShapes shapes;
  // Null until made (a default py::array_t would allocate an empty NumPy array on every call).
  py::object Y, Y_h, Y_c;
  float *y_data = nullptr, *yh_data = nullptr, *yc_data = nullptr;
  bool lstm = false;

  template <class Checker>
  Call(const RnnLayer& layer, py::handle X_obj, py::handle lens_obj, py::handle h_obj, py::handle c_obj,
       Checker&& check) {
    X = float_array(X_obj, "X");
    if (!X) throw ValueError(layer.context().empty() ? "X: the input sequence is required" : layer.context() + ": X is required");
    lens = int32_array(lens_obj, "sequence_lens");
    h0 = float_array(h_obj, "initial_h");
    c0 = float_array(c_obj, "initial_c");
    const std::vector<int64_t> lens_shape = lens ? shape_of(*lens) : std::vector<int64_t>{};
    const std::vector<int64_t> h_shape = h0 ? shape_of(*h0) : std::vector<int64_t>{};
    const std::vector<int64_t> c_shape = c0 ? shape_of(*c0) : std::vector<int64_t>{};
    shapes = check(shape_of(*X), lens ? lens->data() : nullptr, lens ? &lens_shape : nullptr, h0 ? &h_shape : nullptr,
                   c0 ? &c_shape : nullptr);
    lstm = layer.cell() == CellKind::LSTM;
    Y = make_output(layer.y_shape(shapes), &y_data);
    Y_h = make_output(layer.state_shape(shapes), &yh_data);
    if (lstm) Y_c = make_output(layer.state_shape(shapes), &yc_data);
  }
  static py::object make_output(const std::vector<int64_t>& shape, float** data) {
    py::array_t<float> a = empty_float_array(shape);
    *data = a.mutable_data();
    return std::move(a);
  }
  const float* x() const { return X->data(); }
  const int32_t* l() const { return lens ? lens->data() : nullptr; }
  const float* h() const { return h0 ? h0->data() : nullptr; }
  const float* c() const { return c0 ? c0->data() : nullptr; }
  float* y() { return y_data; }
  float* yh() { return yh_data; }
  float* yc() { return yc_data; }
  py::tuple result() const {
    if (lstm) return py::make_tuple(Y, Y_h, Y_c);
    return py::make_tuple(Y, Y_h);
  }
};

// The layer plus the scratch memory that its calls reuse. A call that finds the workspace busy
// (another Python thread is inside run) uses a private one, so concurrent calls never share it.
class BoundLayer : public Constructed {
 public:
  BoundLayer(std::unique_ptr<RnnLayer> layer, int threads) : layer_(std::move(layer)), threads_(threads) {}

  py::tuple run(py::handle X_obj, py::handle lens_obj, py::handle h_obj, py::handle c_obj) {
    const RnnLayer& layer = this->layer();
    Call call(layer, X_obj, lens_obj, h_obj, c_obj, [&](auto&&... a) { return layer.check_inputs(a...); });
    {
      py::gil_scoped_release release;
      std::unique_lock<std::mutex> lock(mutex_, std::try_to_lock);
      if (lock.owns_lock()) {
        layer.run(call.shapes, call.x(), call.l(), call.h(), call.c(), call.y(), call.yh(), call.yc(), workspace_,
                  threads_);
      } else {
        Workspace private_ws;
        layer.run(call.shapes, call.x(), call.l(), call.h(), call.c(), call.y(), call.yh(), call.yc(), private_ws,
                  threads_);
      }
    }
    return call.result();
  }

  const RnnLayer& layer() const {
    require("RnnLayer");
    return *layer_;
  }
  int threads() const {
    require("RnnLayer");
    return threads_;
  }

 private:
  std::unique_ptr<RnnLayer> layer_;
  int threads_;
  std::mutex mutex_;
  Workspace workspace_;
};

// A stateful handle on a layer. Calls on one stream are serialized by its mutex (taken with the
// GIL released, so a waiting thread does not block the interpreter).
class BoundStream {
 public:
  explicit BoundStream(BoundLayer& layer) : owner_(layer), stream_(layer.layer()) {}

  py::tuple run(py::handle X_obj, py::handle lens_obj, py::handle h_obj, py::handle c_obj) {
    const RnnLayer& layer = owner_.layer();
    std::optional<Call> call;
    // The check reads the stream's batch size: hold the lock from the check to the update.
    auto guard = lock_released(lock_);
    call.emplace(layer, X_obj, lens_obj, h_obj, c_obj, [&](auto&&... a) { return stream_.check(a...); });
    {
      py::gil_scoped_release release;
      stream_.run(call->shapes, call->x(), call->l(), call->h(), call->c(), call->y(), call->yh(), call->yc(),
                  owner_.threads());
    }
    return call->result();
  }

  void reset() {
    auto guard = lock_released(lock_);
    stream_.reset();
  }

  // Before the first call: the zero state of one row that the stream starts from, which
  // set_state() takes back.
  py::dict get_state() {
    auto guard = lock_released(lock_);
    py::dict d;
    const bool started = stream_.started();
    const std::vector<int64_t> shape = started ? stream_.state_shape() : owner_.layer().state_shape(RnnShapes{0, 1});
    auto copy = [&](const std::vector<float>& from) {
      py::array_t<float> a(shape);
      if (started)
        std::memcpy(a.mutable_data(), from.data(), from.size() * sizeof(float));
      else
        std::fill(a.mutable_data(), a.mutable_data() + a.size(), 0.0f);
      return a;
    };
    d["h"] = copy(stream_.h());
    if (owner_.layer().cell() == CellKind::LSTM) d["c"] = copy(stream_.c());
    return d;
  }

  void set_state(const py::dict& d) {
    const RnnLayer& layer = owner_.layer();
    const bool lstm = layer.cell() == CellKind::LSTM;
    if (!d.contains("h") || (lstm && !d.contains("c")))
      throw ValueError(std::string("state: expected a dict with ") + (lstm ? "'h' and 'c'" : "'h'"));
    const auto h = float_array(d["h"], "state['h']");
    const auto c = lstm ? float_array(d["c"], "state['c']") : std::nullopt;
    const std::vector<int64_t> hs = shape_of(*h);
    if (hs.size() != 3) throw ValueError("state['h']: expected rank 3, got shape " + shape_to_string(hs));
    const int64_t batch = layer.layout() == 0 ? hs[1] : hs[0];
    const std::vector<int64_t> expected = layer.state_shape(RnnShapes{0, batch});
    if (hs != expected)
      throw ValueError("state['h']: expected shape " + shape_to_string(expected) + ", got " + shape_to_string(hs));
    if (lstm && shape_of(*c) != expected)
      throw ValueError("state['c']: expected shape " + shape_to_string(expected) + ", got " +
                       shape_to_string(shape_of(*c)));
    auto guard = lock_released(lock_);
    stream_.set_state(batch, h->data(), lstm ? c->data() : nullptr);
  }

 private:
  BoundLayer& owner_;
  RnnStream stream_;
  std::mutex lock_;
};

// RnnLayer(...) from Python: the attributes and weights converted, then packed without the GIL.
std::unique_ptr<BoundLayer> make_bound_layer(const std::string& cell, py::handle W, py::handle R, py::handle B,
                                             py::handle P, std::optional<int64_t> hidden_size,
                                             const std::string& direction, int64_t layout,
                                             std::vector<std::string> activations, std::vector<float> activation_alpha,
                                             std::vector<float> activation_beta, std::optional<float> clip,
                                             int64_t input_forget, int64_t linear_before_reset,
                                             const std::string& context, int threads, const std::string& precision) {
  const WeightType weights = parse_weight_type(precision);
  RnnAttributes a;
  a.cell = parse_cell(cell);
  a.has_hidden_size = hidden_size.has_value();
  a.hidden_size = hidden_size.value_or(0);
  a.direction = direction;
  a.layout = layout;
  a.activations = std::move(activations);
  a.activation_alpha = std::move(activation_alpha);
  a.activation_beta = std::move(activation_beta);
  a.has_clip = clip.has_value();
  a.clip = clip.value_or(0.0f);
  a.input_forget = input_forget;
  a.linear_before_reset = linear_before_reset;
  a.context = context;
  const auto w = float_array(W, "W");
  const auto r = float_array(R, "R");
  const auto b = float_array(B, "B");
  const auto p = float_array(P, "P");
  std::unique_ptr<RnnLayer> layer;
  {
    py::gil_scoped_release release;  // packing large weights takes a while
    layer = std::make_unique<RnnLayer>(a, float_arg(w), float_arg(r), float_arg(b), float_arg(p), threads, weights);
  }
  return std::make_unique<BoundLayer>(std::move(layer), threads);
}

// The shapes of a layer call, shared by the docstrings of run and __call__.
#define CALL_DOC \
  "X: float32 [seq_length, batch_size, input_size] (layout 1: [batch_size, seq_length, input_size]); " \
  "sequence_lens: int32 [batch_size] or None; initial_h/initial_c: float32 [num_directions, batch_size, " \
  "hidden_size] or None (zeros). Returns (Y, Y_h, Y_c) for LSTM and (Y, Y_h) otherwise: Y [seq_length, " \
  "num_directions, batch_size, hidden_size], Y_h/Y_c [num_directions, batch_size, hidden_size] " \
  "(layout 1: batch first)."

void register_stream_class(py::module_& m) {
  py::class_<BoundStream>(m, "RnnStream", "A layer in stateful mode: the state is carried between calls.")
      .def("run", &BoundStream::run, py::arg("X"), py::arg("sequence_lens") = py::none(),
           py::arg("initial_h") = py::none(), py::arg("initial_c") = py::none(),
           "Runs one chunk from the carried state (or from initial_h/initial_c when fed). " CALL_DOC)
      .def("__call__", &BoundStream::run, py::arg("X"), py::arg("sequence_lens") = py::none(),
           py::arg("initial_h") = py::none(), py::arg("initial_c") = py::none(), "The same as run(). " CALL_DOC)
      .def("reset", &BoundStream::reset, "Forgets the state: the next call starts from zeros.")
      .def("get_state", &BoundStream::get_state, "Copies of the state: {'h': ..., 'c': ...} (before the first call, the zero state of one row).")
      .def("set_state", &BoundStream::set_state, py::arg("state"), "Replaces the state with copies of the given arrays.");

}

void register_layer_class(py::module_& m) {
  py::class_<BoundLayer>(m, "RnnLayer", "A packed ONNX LSTM/GRU/RNN layer.")
      .def(py::init(&make_bound_layer),
           py::arg("cell"), py::arg("W"), py::arg("R"), py::arg("B") = py::none(), py::arg("P") = py::none(),
           py::arg("hidden_size") = py::none(), py::arg("direction") = "forward", py::arg("layout") = 0,
           py::arg("activations") = std::vector<std::string>{}, py::arg("activation_alpha") = std::vector<float>{},
           py::arg("activation_beta") = std::vector<float>{}, py::arg("clip") = py::none(),
           py::arg("input_forget") = 0, py::arg("linear_before_reset") = 0, py::arg("context") = "",
           py::arg("threads") = 0, py::arg("precision") = "fp32")
      .def("run", &BoundLayer::run, py::arg("X"), py::arg("sequence_lens") = py::none(),
           py::arg("initial_h") = py::none(), py::arg("initial_c") = py::none(),
           "Runs the layer on a whole sequence. " CALL_DOC)
      .def("__call__", &BoundLayer::run, py::arg("X"), py::arg("sequence_lens") = py::none(),
           py::arg("initial_h") = py::none(), py::arg("initial_c") = py::none(), "The same as run(). " CALL_DOC)
      .def("stream", [](BoundLayer& self) { return std::make_unique<BoundStream>(self); }, py::keep_alive<0, 1>(),
           "A stateful handle: the recurrent state is carried from one call to the next.")
      .def("plan", [](const BoundLayer& b, int64_t seq, int64_t batch, std::optional<int> threads, bool has_lens,
                      bool has_initial_h, std::optional<int64_t> l2_bytes) {
             return plan_dict(b.layer(), seq, batch, threads.value_or(b.threads()), has_lens, has_initial_h, l2_bytes);
           },
           py::arg("seq"), py::arg("batch"), py::arg("threads") = py::none(), py::arg("has_lens") = false,
           py::arg("has_initial_h") = false, py::arg("l2_bytes") = py::none(),
           "How a call with these shapes would run, if it got the threads it asks for: a dict with 'threads' "
           "(claimed), 'wake_workers', 'whole_copy' (the unsplit copy), 'partitions' (per direction), "
           "'parallel_directions', 'split' ('units' or 'rows'), 'team_size' (threads per direction) and "
           "'projection' (per direction: 'per_step' or 'up_front'). threads: the call's bound (None: the "
           "layer's); l2_bytes: plan for that L2 per core instead of this machine's.")
      .def_property_readonly("partition_count", [](const BoundLayer& b) { return b.layer().partitions(); },
                             "Partitions of the hidden units per direction in the split for threads.")
      .def_property_readonly("cell", [](const BoundLayer& b) { return std::string(cell_name(b.layer().cell())); }, "The cell: 'LSTM', 'GRU' or 'RNN'.")
      .def_property_readonly("hidden_size", [](const BoundLayer& b) { return b.layer().hidden_size(); }, "The hidden size (int).")
      .def_property_readonly("input_size", [](const BoundLayer& b) { return b.layer().input_size(); }, "The input size (int): X's last axis.")
      .def_property_readonly("num_directions", [](const BoundLayer& b) { return b.layer().num_directions(); }, "1, or 2 for a bidirectional layer.")
      .def_property_readonly("layout", [](const BoundLayer& b) { return b.layer().layout(); }, "0: X is [seq_length, batch_size, input_size]; 1: batch first.")
      .def_property_readonly("precision", [](const BoundLayer& b) { return std::string(weight_type_name(b.layer().weight_type())); },
                             "The type the weights are packed in: 'fp32', 'bf16' or 'int8'.")
      .def_property_readonly("lost_weight_fraction", [](const BoundLayer& b) {
        return py::make_tuple(b.layer().lost_weight_fraction(false), b.layer().lost_weight_fraction(true));
      }, "int8: (W, R), the largest share of one output channel's nonzero weights rounded to 0 (0 otherwise).")
      .def_property_readonly("threads", &BoundLayer::threads, "The thread bound of a call (0: the default, all cores).")
      .def_property_readonly("activations", [](const BoundLayer& b) {
        py::list out;
        for (const Activation& a : b.layer().activations())
          out.append(py::make_tuple(activation_name(a.kind), a.alpha, a.beta));
        return out;
      }, "The activations in use, in ONNX order: a list of (name, alpha, beta).");
}

#undef CALL_DOC

}  // namespace

void register_rnn(py::module_& m) {
  register_stream_class(m);
  register_layer_class(m);
}

}  // namespace lstmrt
