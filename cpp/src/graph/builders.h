// The op builders, one per ONNX operator (or one per family with the operator passed along),
// defined in ops_*.cc and listed in the registry table in registry.cc.
#pragma once

#include <memory>

#include "lstmrt/graph/op.h"

namespace lstmrt {

using OpPtr = std::unique_ptr<Op>;

// ops_rnn.cc
OpPtr build_lstm(const BuildContext& ctx);
OpPtr build_gru(const BuildContext& ctx);
OpPtr build_rnn(const BuildContext& ctx);

// ops_unary.cc
OpPtr build_unary(const BuildContext& ctx);      // Relu, Sigmoid, Tanh, Exp, Neg, ... by op_type
OpPtr build_clip(const BuildContext& ctx);
OpPtr build_cast(const BuildContext& ctx);
OpPtr build_cast_like(const BuildContext& ctx);

// ops_binary.cc
OpPtr build_binary(const BuildContext& ctx);     // Add, Sub, Mul, Div, Pow, Mod, PRelu
OpPtr build_variadic(const BuildContext& ctx);   // Max, Min, Sum, Mean

// ops_logic.cc
OpPtr build_compare(const BuildContext& ctx);    // Equal, Less, Greater, LessOrEqual, GreaterOrEqual
OpPtr build_logical(const BuildContext& ctx);    // And, Or, Xor
OpPtr build_not(const BuildContext& ctx);
OpPtr build_where(const BuildContext& ctx);

// ops_view.cc
OpPtr build_identity(const BuildContext& ctx);
OpPtr build_dropout(const BuildContext& ctx);
OpPtr build_reshape(const BuildContext& ctx);
OpPtr build_flatten(const BuildContext& ctx);
OpPtr build_squeeze(const BuildContext& ctx);
OpPtr build_unsqueeze(const BuildContext& ctx);

// ops_shape_values.cc
OpPtr build_constant(const BuildContext& ctx);
OpPtr build_constant_of_shape(const BuildContext& ctx);
OpPtr build_shape(const BuildContext& ctx);
OpPtr build_size(const BuildContext& ctx);
OpPtr build_range(const BuildContext& ctx);

// ops_movement.cc
OpPtr build_transpose(const BuildContext& ctx);
OpPtr build_concat(const BuildContext& ctx);
OpPtr build_split(const BuildContext& ctx);
OpPtr build_slice(const BuildContext& ctx);
OpPtr build_expand(const BuildContext& ctx);
OpPtr build_tile(const BuildContext& ctx);
OpPtr build_gather(const BuildContext& ctx);

// ops_index.cc
OpPtr build_topk(const BuildContext& ctx);
OpPtr build_gather_elements(const BuildContext& ctx);
OpPtr build_scatter_elements(const BuildContext& ctx);  // ScatterElements, Scatter
OpPtr build_reverse_sequence(const BuildContext& ctx);

// ops_control.cc
OpPtr build_loop(const BuildContext& ctx);

// ops_if.cc
OpPtr build_if(const BuildContext& ctx);

// ops_conv.cc, ops_conv_transpose.cc
OpPtr build_conv(const BuildContext& ctx);
OpPtr build_conv_transpose(const BuildContext& ctx);

// ops_norm.cc
OpPtr build_batch_norm(const BuildContext& ctx);
OpPtr build_instance_norm(const BuildContext& ctx);
OpPtr build_layer_norm(const BuildContext& ctx);
OpPtr build_softmax(const BuildContext& ctx);    // Softmax, LogSoftmax

// ops_pad.cc
OpPtr build_pad(const BuildContext& ctx);

// ops_pool.cc
OpPtr build_pool(const BuildContext& ctx);         // MaxPool, AveragePool
OpPtr build_global_pool(const BuildContext& ctx);  // GlobalAveragePool, GlobalMaxPool

// ops_scan.cc
OpPtr build_scan(const BuildContext& ctx);

// ops_spectral.cc
OpPtr build_dft(const BuildContext& ctx);
OpPtr build_stft(const BuildContext& ctx);

// ops_matmul.cc
OpPtr build_gemm(const BuildContext& ctx);
OpPtr build_matmul(const BuildContext& ctx);

// ops_reduce.cc
OpPtr build_reduce(const BuildContext& ctx);     // ReduceMean, ReduceSum, ReduceMax, ...
OpPtr build_arg_reduce(const BuildContext& ctx); // ArgMax, ArgMin

// ops_quantized.cc
OpPtr build_quantize_linear(const BuildContext& ctx);
OpPtr build_dequantize_linear(const BuildContext& ctx);
OpPtr build_dynamic_quantize_linear(const BuildContext& ctx);
OpPtr build_conv_integer(const BuildContext& ctx);
OpPtr build_matmul_integer(const BuildContext& ctx);
OpPtr build_dynamic_quantize_lstm(const BuildContext& ctx);

}  // namespace lstmrt
