// lstmrt._core.RnnLayer: a packed LSTM/GRU/RNN layer callable on NumPy arrays.
#include <pybind11/stl.h>

#include <memory>
#include <mutex>
#include <optional>

#include "bindings.h"

namespace lstmrt {
namespace {

CellKind parse_cell(const std::string& cell) {
  if (cell == "LSTM") return CellKind::LSTM;
  if (cell == "GRU") return CellKind::GRU;
  if (cell == "RNN") return CellKind::RNN;
  throw ValueError("cell: expected 'LSTM', 'GRU' or 'RNN', got '" + cell + "'");
}

// The layer plus the scratch memory that its calls reuse. A call that finds the workspace busy
// (another Python thread is inside run) uses a private one, so concurrent calls never share it.
class BoundLayer {
 public:
  BoundLayer(std::unique_ptr<RnnLayer> layer, int threads) : layer_(std::move(layer)), threads_(threads) {}

  py::tuple run(py::handle X_obj, py::handle lens_obj, py::handle h_obj, py::handle c_obj,
                std::optional<int> threads) {
    const auto X = float_array(X_obj, "X");
    if (!X) throw ValueError(layer_->context().empty() ? "X: the input sequence is required" : layer_->context() + ": X is required");
    const auto lens = int32_array(lens_obj, "sequence_lens");
    const auto h0 = float_array(h_obj, "initial_h");
    const auto c0 = float_array(c_obj, "initial_c");
    const std::vector<int64_t> lens_shape = lens ? shape_of(*lens) : std::vector<int64_t>{};
    const std::vector<int64_t> h_shape = h0 ? shape_of(*h0) : std::vector<int64_t>{};
    const std::vector<int64_t> c_shape = c0 ? shape_of(*c0) : std::vector<int64_t>{};
    const RnnShapes s = layer_->check_inputs(shape_of(*X), lens ? lens->data() : nullptr, lens ? &lens_shape : nullptr,
                                             h0 ? &h_shape : nullptr, c0 ? &c_shape : nullptr);
    py::array_t<float> Y(layer_->y_shape(s));
    py::array_t<float> Y_h(layer_->state_shape(s));
    py::array_t<float> Y_c;
    const bool lstm = layer_->cell() == CellKind::LSTM;
    if (lstm) Y_c = py::array_t<float>(layer_->state_shape(s));
    const float* x = X->data();
    const int32_t* l = lens ? lens->data() : nullptr;
    const float* h = h0 ? h0->data() : nullptr;
    const float* c = c0 ? c0->data() : nullptr;
    float* y = Y.mutable_data();
    float* yh = Y_h.mutable_data();
    float* yc = lstm ? Y_c.mutable_data() : nullptr;
    const int t = threads.value_or(threads_);
    {
      py::gil_scoped_release release;
      std::unique_lock<std::mutex> lock(mutex_, std::try_to_lock);
      if (lock.owns_lock()) {
        layer_->run(s, x, l, h, c, y, yh, yc, workspace_, t);
      } else {
        Workspace private_ws;
        layer_->run(s, x, l, h, c, y, yh, yc, private_ws, t);
      }
    }
    if (lstm) return py::make_tuple(Y, Y_h, Y_c);
    return py::make_tuple(Y, Y_h);
  }

  const RnnLayer& layer() const { return *layer_; }
  int threads() const { return threads_; }

 private:
  std::unique_ptr<RnnLayer> layer_;
  int threads_;
  std::mutex mutex_;
  Workspace workspace_;
};

}  // namespace

void register_rnn(py::module_& m) {
  py::class_<BoundLayer>(m, "RnnLayer", "A packed ONNX LSTM/GRU/RNN layer.")
      .def(py::init([](const std::string& cell, py::handle W, py::handle R, py::handle B, py::handle P,
                       std::optional<int64_t> hidden_size, const std::string& direction, int64_t layout,
                       std::vector<std::string> activations, std::vector<float> activation_alpha,
                       std::vector<float> activation_beta, std::optional<float> clip, int64_t input_forget,
                       int64_t linear_before_reset, const std::string& context, int threads) {
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
               layer = std::make_unique<RnnLayer>(a, float_arg(w), float_arg(r), float_arg(b), float_arg(p), threads);
             }
             return std::make_unique<BoundLayer>(std::move(layer), threads);
           }),
           py::arg("cell"), py::arg("W"), py::arg("R"), py::arg("B") = py::none(), py::arg("P") = py::none(),
           py::arg("hidden_size") = py::none(), py::arg("direction") = "forward", py::arg("layout") = 0,
           py::arg("activations") = std::vector<std::string>{}, py::arg("activation_alpha") = std::vector<float>{},
           py::arg("activation_beta") = std::vector<float>{}, py::arg("clip") = py::none(),
           py::arg("input_forget") = 0, py::arg("linear_before_reset") = 0, py::arg("context") = "",
           py::arg("threads") = 0)
      .def("run", &BoundLayer::run, py::arg("X"), py::arg("sequence_lens") = py::none(),
           py::arg("initial_h") = py::none(), py::arg("initial_c") = py::none(), py::arg("threads") = py::none(),
           "Runs the layer; returns (Y, Y_h, Y_c) for LSTM and (Y, Y_h) otherwise.")
      .def_property_readonly("cell", [](const BoundLayer& b) { return std::string(cell_name(b.layer().cell())); })
      .def_property_readonly("hidden_size", [](const BoundLayer& b) { return b.layer().hidden_size(); })
      .def_property_readonly("input_size", [](const BoundLayer& b) { return b.layer().input_size(); })
      .def_property_readonly("num_directions", [](const BoundLayer& b) { return b.layer().num_directions(); })
      .def_property_readonly("layout", [](const BoundLayer& b) { return b.layer().layout(); })
      .def_property_readonly("threads", &BoundLayer::threads)
      .def_property_readonly("activations", [](const BoundLayer& b) {
        py::list out;
        for (const Activation& a : b.layer().activations())
          out.append(py::make_tuple(activation_name(a.kind), a.alpha, a.beta));
        return out;
      });
}

}  // namespace lstmrt
