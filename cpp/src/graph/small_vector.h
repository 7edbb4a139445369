// A vector with room for N elements inside itself, for the shapes, strides and axis lists that
// ops compute on every run: with the ranks that models use (well under 8) they then cost no heap
// allocation. Past N elements it moves to the heap, so any rank still works.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

namespace lstmrt {

template <class T, size_t N>
class SmallVector {
 public:
  SmallVector() = default;
  explicit SmallVector(size_t n, const T& value = T()) { resize(n, value); }
  template <class It, class = std::enable_if_t<!std::is_integral<It>::value>>
  SmallVector(It first, It last) {
    for (; first != last; ++first) push_back(*first);
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T* data() { return on_heap() ? heap_.data() : inline_.data(); }
  const T* data() const { return on_heap() ? heap_.data() : inline_.data(); }
  T* begin() { return data(); }
  T* end() { return data() + size_; }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size_; }
  T& operator[](size_t i) { return data()[i]; }
  const T& operator[](size_t i) const { return data()[i]; }
  T& back() { return data()[size_ - 1]; }
  const T& back() const { return data()[size_ - 1]; }
  std::vector<T> to_vector() const { return std::vector<T>(begin(), end()); }

  void clear() { resize(0); }
  void push_back(const T& value) {
    if (!on_heap() && size_ < N) {
      inline_[size_++] = value;
      return;
    }
    if (!on_heap()) spill(2 * N);
    heap_.push_back(value);
    ++size_;
  }
  void resize(size_t n, const T& value = T()) {
    if (!on_heap() && n <= N) {
      for (size_t i = size_; i < n; ++i) inline_[i] = value;
      size_ = n;
      return;
    }
    if (!on_heap()) spill(n);
    heap_.resize(n, value);  // back inline (heap_ empty) when n is 0
    size_ = n;
  }

 private:
  // While on the heap, heap_ holds all size_ elements; inline_ is unused.
  bool on_heap() const { return !heap_.empty(); }
  void spill(size_t capacity) {
    heap_.reserve(capacity);
    heap_.assign(inline_.begin(), inline_.begin() + size_);
  }

  std::array<T, N> inline_{};
  std::vector<T> heap_;
  size_t size_ = 0;
};

// A shape, strides or an axis list computed by an op during a run.
using DimVector = SmallVector<int64_t, 8>;

}  // namespace lstmrt
