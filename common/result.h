// Result<T, E>: errors as values at module boundaries (std::expected is not usable with the
// clang 14 the fuzzers need). A module defines its own error enum and an error struct with a
// message; functions that can fail return Result<T, ThatError>.
#pragma once

#include <cstdlib>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace flotilla {

template <class E>
struct Unexpected {
  E error;
};

// Wraps an error so it converts into any Result<T, E>.
template <class E>
Unexpected<std::decay_t<E>> fail(E&& e) {
  return Unexpected<std::decay_t<E>>{std::forward<E>(e)};
}

template <class T, class E>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Unexpected<E> e) : v_(std::in_place_index<1>, std::move(e.error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return checked_value(); }
  const T& value() const& { return const_cast<Result*>(this)->checked_value(); }
  T&& value() && { return std::move(checked_value()); }
  T* operator->() { return &checked_value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return checked_value(); }
  const T& operator*() const& { return value(); }

  const E& error() const {
    if (ok()) std::abort();  // broken invariant: asked for the error of a success
    return std::get<1>(v_);
  }

 private:
  T& checked_value() {
    if (!ok()) std::abort();  // broken invariant: used a failed result's value
    return std::get<0>(v_);
  }
  std::variant<T, E> v_;
};

template <class E>
class [[nodiscard]] Result<void, E> {
 public:
  Result() = default;
  Result(Unexpected<E> e) : err_(std::move(e.error)), ok_(false) {}  // NOLINT: implicit by design

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const E& error() const {
    if (ok_) std::abort();
    return err_;
  }

 private:
  E err_{};
  bool ok_ = true;
};

// A generic error for small helpers that have no enum of their own.
struct SimpleError {
  std::string message;
};

}  // namespace flotilla
