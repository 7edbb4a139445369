// Context added to an error on its way out (the node it happened in, the iteration of a Loop body,
// the branch of an If), in one place, so that every message reads "<context>: <reason>" and keeps
// its Python exception type; and the lists of names that messages give.
#pragma once

#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "lstmrt/errors.h"

namespace lstmrt {

// "a, b, c" for a message; past `limit` names (0: no limit), "..., (n more)".
inline std::string join(const std::vector<std::string>& names, size_t limit = 0) {
  std::string s;
  for (size_t i = 0; i < names.size(); ++i) {
    if (limit && i == limit) {
      s += ", ... (" + std::to_string(names.size() - limit) + " more)";
      break;
    }
    s += (i ? ", " : "") + names[i];
  }
  return s;
}

// Throws a copy of `e`, of the same type, whose message is "<context>: <e's message>".
template <class E>
[[noreturn]] void rethrow_with_context(const std::string& context, const E& e) {
  throw E(context + ": " + e.what());
}

// Runs fn(); a ValueError or TypeError it raises is rethrown with context() in front of its
// message. context is called only on failure, so a caller in a loop builds no string per pass.
template <class Context, class Fn>
void with_error_context(Context&& context, Fn&& fn) {
  try {
    fn();
  } catch (const ValueError& e) {
    rethrow_with_context(context(), e);
  } catch (const TypeError& e) {
    rethrow_with_context(context(), e);
  }
}

namespace detail {
// Names the node unless the message already starts with its description (a builder's
// BuildContext::fail names it itself).
template <class E>
[[noreturn]] void rethrow_naming(const std::string& where, const E& e) {
  const std::string msg = e.what();
  if (msg.rfind(where, 0) == 0) throw E(msg);
  rethrow_with_context(where, e);
}
}  // namespace detail

// Runs fn() for the node described by `where` (describe_node): any lstmrt error it raises names
// the node, and a failed allocation anywhere in it (a buffer, a vector) becomes a MemoryError
// that names the node too.
template <class Fn>
void naming_node(const std::string& where, Fn&& fn) {
  try {
    fn();
  } catch (const TypeError& e) {
    detail::rethrow_naming(where, e);
  } catch (const ValueError& e) {
    detail::rethrow_naming(where, e);
  } catch (const UnsupportedError& e) {
    detail::rethrow_naming(where, e);
  } catch (const MemoryError& e) {
    detail::rethrow_naming(where, e);
  } catch (const std::bad_alloc&) {
    throw MemoryError(where + ": out of memory");
  } catch (const std::length_error& e) {
    throw MemoryError(where + ": out of memory (" + e.what() + ")");
  }
}

}  // namespace lstmrt
