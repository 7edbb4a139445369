#include "cpu/packed_matrix.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <cstring>
#include <new>

#include "cpu/aligned_buffer.h"
#include "cpu/lowp_convert.h"
#include "lstmrt/errors.h"

namespace lstmrt {

namespace {
constexpr int64_t kMaxInt8Depth = 32768;
}  // namespace

void AlignedDeleter::operator()(float* p) const { aligned_free(p); }

AlignedBuffer aligned_alloc_floats(size_t count) {
  const size_t bytes = count * sizeof(float);
  void* p = aligned_alloc_bytes(bytes);
  if (p == nullptr) throw std::bad_alloc();
  std::memset(p, 0, aligned_size(bytes));
  return AlignedBuffer(static_cast<float*>(p));
}

PackedMatrix::PackedMatrix(const float* w, int64_t n, int64_t k, int64_t ldw, WeightType type)
    : type_(type), n_(n), k_(k) {
  const int64_t kg = k_group(type);
  kp_ = (k + kg - 1) / kg * kg;
  // A reduction padded to whole AMX tile rows (64 bytes of k) runs on the tiles where the CPU has
  // them; it is padded so when that adds at most a quarter to it.
  if (type != WeightType::F32) {
    const int64_t tile_k = 64 / static_cast<int64_t>(bytes_per_weight(type));
    const int64_t tiled = (k + tile_k - 1) / tile_k * tile_k;
    if (4 * tiled <= 5 * k) kp_ = tiled;
  }
  const size_t bytes = static_cast<size_t>(panels() * panel_bytes());
  capacity_ = (bytes + sizeof(float) - 1) / sizeof(float);
  data_ = aligned_alloc_floats(capacity_);
  switch (type) {
    case WeightType::F32:
      pack_f32(w, ldw);
      break;
    case WeightType::BF16:
      pack_bf16(w, ldw);
      break;
    case WeightType::I8:
      pack_i8(w, ldw);
      break;
  }
}

int64_t PackedMatrix::panel_bytes() const {
  return kp_ * kPanelWidth * static_cast<int64_t>(bytes_per_weight(type_));
}

const void* PackedMatrix::panel_data(int64_t p) const {
  return reinterpret_cast<const char*>(data_.get()) + p * panel_bytes();
}

void PackedMatrix::pack_f32(const float* w, int64_t ldw) {
  for (int64_t p = 0; p < panels(); ++p) {
    for (int64_t j = 0; j < kPanelWidth; ++j) {
      const int64_t row = p * kPanelWidth + j;
      if (row >= n_) break;  // the rest of the panel stays zero
      const float* src = w + row * ldw;
      float* dst = data_.get() + p * k_ * kPanelWidth + j;
      for (int64_t kk = 0; kk < k_; ++kk) dst[kk * kPanelWidth] = src[kk];
    }
  }
}

void PackedMatrix::pack_bf16(const float* w, int64_t ldw) {
  uint16_t* out = reinterpret_cast<uint16_t*>(data_.get());
  for (int64_t p = 0; p < panels(); ++p) {
    for (int64_t j = 0; j < kPanelWidth && p * kPanelWidth + j < n_; ++j) {
      const float* src = w + (p * kPanelWidth + j) * ldw;
      uint16_t* dst = out + p * kp_ * kPanelWidth + j * 2;
      for (int64_t kk = 0; kk < k_; ++kk) dst[(kk / 2) * 2 * kPanelWidth + kk % 2] = float_to_bf16(src[kk]);
    }
  }
}

void PackedMatrix::pack_i8(const float* w, int64_t ldw) {
  // The int32 sums of 255 * 127 products, less the zero point's share, must not overflow.
  if (kp_ > kMaxInt8Depth)
    throw ValueError("cannot run int8 with a reduction over " + std::to_string(k_) + " inputs (at most " +
                     std::to_string(kMaxInt8Depth) + "; precision='bf16' has no such limit)");
  const size_t columns = static_cast<size_t>(panels() * kPanelWidth);
  scales_ = aligned_alloc_floats(columns);
  sums_ = aligned_alloc_floats(columns);
  int32_t* sums = reinterpret_cast<int32_t*>(sums_.get());
  int8_t* out = reinterpret_cast<int8_t*>(data_.get());
  for (int64_t n = 0; n < n_; ++n) {
    const float* src = w + n * ldw;
    float amax = 0.0f;
    for (int64_t kk = 0; kk < k_; ++kk) {
      if (!std::isfinite(src[kk]))
        throw ValueError("cannot quantize to int8: weight [" + std::to_string(n) + "][" + std::to_string(kk) +
                         "] is " + (std::isnan(src[kk]) ? "NaN" : "infinite") + " (precision='fp32' keeps it)");
      amax = std::max(amax, std::fabs(src[kk]));
    }
    const float scale = amax > 0.0f ? amax / 127.0f : 1.0f;
    scales_[n] = scale;
    int8_t* dst = out + (n / kPanelWidth) * kp_ * kPanelWidth + (n % kPanelWidth) * 4;
    int32_t sum = 0;
    int64_t nonzero = 0, lost = 0;
    for (int64_t kk = 0; kk < k_; ++kk) {
      const float q = std::min(127.0f, std::max(-127.0f, std::nearbyint(src[kk] / scale)));
      dst[(kk / 4) * 4 * kPanelWidth + kk % 4] = static_cast<int8_t>(q);
      sum += static_cast<int32_t>(q);
      nonzero += src[kk] != 0.0f;
      lost += src[kk] != 0.0f && q == 0.0f;
    }
    sums[n] = sum;
    if (nonzero > 0) lost_fraction_ = std::max(lost_fraction_, static_cast<double>(lost) / static_cast<double>(nonzero));
  }
}

void PackedMatrix::resize(int64_t n, int64_t k) {
  const size_t need = static_cast<size_t>((n + kPanelWidth - 1) / kPanelWidth * k * kPanelWidth);
  if (need > capacity_) {
    data_ = aligned_alloc_floats(need);
    capacity_ = need;
  }
  type_ = WeightType::F32;
  n_ = n;
  k_ = k;
  kp_ = k;
}

}  // namespace lstmrt
